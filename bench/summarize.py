#!/usr/bin/env python3
"""Turns the raw output of bench/run.sh into OUT/results.json and OUT/results.md,
and prints the markdown.

  summarize.py --raw OUT/raw --out OUT

raw/rows.tsv           config, rep, seconds (one row per timed build)
raw/meta.json          date, machine, tools, options, skipped rows
raw/events/CFG-repN/   kache's event log of that one build (events*.jsonl)
raw/stats/CFG-repN.json  `kache stats --json` or `sccache --show-stats --stats-format=json`
"""
import argparse
import glob
import json
import math
import os
import statistics

CONFIGS = [
    ("nocache-cold", "no cache: cold (`cargo clean && cargo build`)"),
    ("nocache-noop", "no cache: second build, nothing to do"),
    ("floor", "floor: replay shim (compiled; argv hash, hardlinks, no key work)"),
    ("kache-cold", "kache: cold (empty store)"),
    ("kache-warm", "kache: warm (`cargo clean`, then build)"),
    ("kache-relocated", "kache: relocated (same sources, other path)"),
    ("kache-remote-warm", "kache: remote-warm, S3 (empty local store, daemon, other path)"),
    ("kache-remote-warm-fs", "kache: remote-warm, shared directory (empty local store, daemon, other path)"),
    ("edit-member-nocache", "edit loop: append to the big member, no cache (cargo's incremental)"),
    ("edit-member-kache", "edit loop: append to the big member, kache"),
    ("edit-leaf-nocache", "edit loop: append to the leaf binary, no cache"),
    ("edit-leaf-kache", "edit loop: append to the leaf binary, kache"),
    ("sccache-cold", "sccache: cold (empty local cache)"),
    ("sccache-warm", "sccache: warm (`cargo clean`, then build)"),
]
SETUP = {"floor-record": "floor: recording build (untimed setup, once)",
         "kache-remote-fill": "kache: filling the S3 remote (untimed setup, once)",
         "kache-remote-fill-fs": "kache: filling the shared-directory remote (untimed setup, once)"}
# The headline rows (issue 11's table), each a ratio of two configurations and its target.
HEADLINE = [
    ("edit one big workspace member, `cargo build`", "edit-member-kache", "edit-member-nocache", 1.05),
    ("edit the leaf binary, `cargo build`", "edit-leaf-kache", "edit-leaf-nocache", 1.05),
    ("warm rebuild after `cargo clean` / floor", "kache-warm", "floor", 1.10),
    ("remote-warm, S3 / local warm", "kache-remote-warm", "kache-warm", 1.3),
    ("remote-warm, shared directory / local warm", "kache-remote-warm-fs", "kache-warm", 1.3),
    ("cold build / no cache", "kache-cold", "nocache-cold", 1.03),
]
RATIOS = [
    ("kache cold / no cache cold", "kache-cold", "nocache-cold"),
    ("kache warm / sccache warm", "kache-warm", "sccache-warm"),
    ("kache warm / floor", "kache-warm", "floor"),
    ("kache remote-warm S3 / kache warm", "kache-remote-warm", "kache-warm"),
    ("kache remote-warm shared dir / kache warm", "kache-remote-warm-fs", "kache-warm"),
    ("edit member: kache / no cache", "edit-member-kache", "edit-member-nocache"),
    ("edit leaf: kache / no cache", "edit-leaf-kache", "edit-leaf-nocache"),
    ("kache relocated / kache warm", "kache-relocated", "kache-warm"),
    ("sccache cold / no cache cold", "sccache-cold", "nocache-cold"),
]


def pct(sorted_vals, p):
    """Nearest-rank percentile of an ascending list."""
    if not sorted_vals:
        return None
    k = max(1, math.ceil(p / 100.0 * len(sorted_vals)))
    return sorted_vals[k - 1]


def read_events(d):
    evs = []
    for f in sorted(glob.glob(os.path.join(d, "events*.jsonl"))):
        with open(f, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                line = line.strip()
                if not line:
                    continue
                try:
                    evs.append(json.loads(line))
                except ValueError:
                    pass
    return evs


def sccache_counts(path):
    try:
        with open(path) as fh:
            s = json.load(fh)
    except (OSError, ValueError):
        return None
    st = s.get("stats", s)

    def total(v):
        if isinstance(v, dict):
            if "counts" in v:
                return sum(v["counts"].values())
            return sum(total(x) for x in v.values())
        return v if isinstance(v, int) else 0
    return {"hits": total(st.get("cache_hits", 0)), "misses": total(st.get("cache_misses", 0)),
            "non_cacheable": total(st.get("requests_not_cacheable", 0)),
            "compile_requests": total(st.get("compile_requests", 0)),
            "cache_errors": total(st.get("cache_errors", 0))}


def dist_ms(us_values):
    v = sorted(us_values)
    if not v:
        return None
    return {"n": len(v), "median_ms": statistics.median(v) / 1000.0, "p90_ms": pct(v, 90) / 1000.0,
            "p99_ms": pct(v, 99) / 1000.0, "max_ms": v[-1] / 1000.0, "mean_ms": statistics.fmean(v) / 1000.0,
            "total_s": sum(v) / 1e6}


def fmt_s(x):
    return "-" if x is None else (f"{x:.2f}" if x < 10 else f"{x:.1f}")


def fmt_ms(x):
    return "-" if x is None else (f"{x:.1f}" if x < 100 else f"{x:.0f}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--raw", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    with open(os.path.join(a.raw, "meta.json")) as fh:
        meta = json.load(fh)

    runs = {}
    with open(os.path.join(a.raw, "rows.tsv")) as fh:
        next(fh)
        for line in fh:
            cfg, rep, secs = line.rstrip("\n").split("\t")
            runs.setdefault(cfg, {})[int(rep)] = float(secs)

    configs = {}
    for cfg, label in CONFIGS + list(SETUP.items()):
        if cfg not in runs:
            configs[cfg] = {"label": label, "available": False,
                            "note": meta.get("skipped", {}).get(cfg, "not run")} if cfg not in SETUP else None
            continue
        r = runs[cfg]
        secs = [r[k] for k in sorted(r)]
        c = {"label": label, "available": True, "seconds": secs,
             "median_s": statistics.median(secs), "min_s": min(secs), "max_s": max(secs), "counts": []}
        for rep in sorted(r):
            ev_dir = os.path.join(a.raw, "events", f"{cfg}-rep{rep}")
            if os.path.isdir(ev_dir):
                evs = read_events(ev_dir)
                cnt = {k: 0 for k in ("hit", "miss", "passthrough", "error")}
                for e in evs:
                    cnt[e.get("outcome", "error")] = cnt.get(e.get("outcome", "error"), 0) + 1
                cnt["wrapper_s"] = sum(e.get("wrapper_us", 0) for e in evs) / 1e6
                cnt["compile_s"] = sum(e.get("compile_us", 0) for e in evs) / 1e6
                cnt["remote_hits"] = sum(1 for e in evs if e.get("outcome") == "hit" and e.get("source") == "remote")
                cnt["prefetched_hits"] = sum(1 for e in evs
                                             if e.get("outcome") == "hit" and e.get("source") == "prefetched")
                c["counts"].append(cnt)
            elif cfg.startswith("sccache"):
                sc = sccache_counts(os.path.join(a.raw, "stats", f"{cfg}-rep{rep}.json"))
                if sc:
                    c["counts"].append(sc)
        configs[cfg] = c
    configs = {k: v for k, v in configs.items() if v is not None}

    ratios = []
    for name, num, den in RATIOS:
        cn, cd = configs.get(num), configs.get(den)
        if not (cn and cd and cn["available"] and cd["available"]):
            continue
        paired = [runs[num][k] / runs[den][k] for k in runs[num] if k in runs[den] and runs[den][k] > 0]
        ratios.append({"name": name, "of_medians": cn["median_s"] / cd["median_s"],
                       "paired_median": statistics.median(paired) if paired else None,
                       "paired_min": min(paired) if paired else None, "paired_max": max(paired) if paired else None})

    # Per-invocation wrapper time, pooled over the repetitions.
    def pooled(cfg, outcome, field="wrapper_us"):
        vals, evs_all = [], []
        for d in sorted(glob.glob(os.path.join(a.raw, "events", f"{cfg}-rep*"))):
            for e in read_events(d):
                if e.get("outcome") == outcome:
                    vals.append(e.get(field, 0))
                    evs_all.append(e)
        return vals, evs_all
    wrapper = {}
    for key, cfg, outcome in [("hit_warm", "kache-warm", "hit"), ("hit_relocated", "kache-relocated", "hit"),
                              ("hit_remote_warm", "kache-remote-warm", "hit"),
                              ("hit_remote_warm_fs", "kache-remote-warm-fs", "hit"), ("miss_cold", "kache-cold", "miss"),
                              ("passthrough_cold", "kache-cold", "passthrough"),
                              ("passthrough_warm", "kache-warm", "passthrough")]:
        vals, evs = pooled(cfg, outcome)
        d = dist_ms(vals)
        if d is None:
            continue
        if outcome == "miss":
            d["compile_total_s"] = sum(e.get("compile_us", 0) for e in evs) / 1e6
            d["share_of_compile"] = d["total_s"] / d["compile_total_s"] if d["compile_total_s"] else None
        if outcome == "hit":
            slow = sorted(evs, key=lambda e: -e.get("wrapper_us", 0))[:5]
            d["slowest"] = [{"crate": e.get("crate"), "ms": e.get("wrapper_us", 0) / 1000.0,
                             "bytes": e.get("bytes", 0)} for e in slow]
            d["bytes_median"] = statistics.median(e.get("bytes", 0) for e in evs)
        wrapper[key] = d

    # The floor shim's own time per replayed unit (FLOOR_TIMES): the same span under the
    # same load, what any wrapper pays here before doing kache's work.
    floor_us = []
    for f in sorted(glob.glob(os.path.join(a.raw, "events", "floor-rep*.times"))):
        for line in open(f):
            if line.strip().isdigit():
                floor_us.append(int(line))
    if floor_us:
        wrapper["floor_replay"] = dist_ms(floor_us)

    sizes = {}
    for key, pattern in (("kache_store_mib", "kache-store-kb-rep*"), ("sccache_dir_mib", "sccache-dir-kb-rep*")):
        vals = []
        for f in glob.glob(os.path.join(a.raw, "stats", pattern)):
            try:
                vals.append(int(open(f).read().split()[0]) / 1024.0)
            except (OSError, ValueError, IndexError):
                pass
        if vals:
            sizes[key] = statistics.median(vals)

    headline = []
    for name, num, den, target in HEADLINE:
        cn, cd = configs.get(num), configs.get(den)
        if cn and cd and cn["available"] and cd["available"] and cd["median_s"] > 0:
            headline.append({"measure": name, "ratio": cn["median_s"] / cd["median_s"], "target": target,
                             "kache_s": cn["median_s"], "base_s": cd["median_s"]})
        else:
            why = next((c["note"] for c in (cn, cd) if c and not c["available"]), "not run")
            headline.append({"measure": name, "ratio": None, "target": target, "note": why})
    hit = wrapper.get("hit_warm")
    results = {"meta": meta, "headline": headline, "configs": configs, "ratios": ratios, "wrapper": wrapper,
               "sizes": sizes}
    with open(os.path.join(a.out, "results.json"), "w") as fh:
        json.dump(results, fh, indent=1)

    # ---------------------------------------------------------------- markdown
    m = meta["machine"]
    t = meta["tools"]
    L = []
    scope = f"`-p {meta['package']}`" if meta.get("package") else "the whole workspace"
    L.append(f"Benchmark of {meta['date'][:10]} ({meta['date']}), {meta['profile']} profile, "
             f"{meta['reps']} repetition(s), {scope}{', smoke run' if meta.get('smoke') else ''}.")
    L.append(f"Machine: {m['cores']} cores ({m['cpu']}), {m['memory_gib']} GiB, {m['os']}, Linux {m['kernel']}; "
             f"load average {m['loadavg_start']} at the start, {m['loadavg_end']} at the end.")
    L.append(f"Tools: {t['rustc']}; {t['kache'] or 'kache'} ({t['kache_buildtype']} build, {t['kache_commit']})"
             + (f"; {t['sccache']}" if t.get("sccache") else "") + ".")
    L.append("")
    L.append("| measure (issue 11) | kache / baseline | seconds (medians) | target |")
    L.append("| --- | --- | --- | --- |")
    for h in headline:
        if h["ratio"] is None:
            L.append(f"| {h['measure']} | n/a ({h['note']}) | | ≤ {h['target']:.2f}× |")
        else:
            L.append(f"| {h['measure']} | **{h['ratio']:.2f}×** | {fmt_s(h['kache_s'])} vs {fmt_s(h['base_s'])} "
                     f"| ≤ {h['target']:.2f}× |")
    if hit:
        L.append(f"| wrapper time on a hit (warm, from the event log) | median {hit['median_ms']:.2f} ms, "
                 f"p99 {hit['p99_ms']:.2f} ms | n = {hit['n']} | median ≤ 1 ms, p99 ≤ 3 ms |")
        fl = wrapper.get("floor_replay")
        if fl:
            L.append(f"| the floor shim's own time per replayed unit, same span and build load | median "
                     f"{fl['median_ms']:.2f} ms, p99 {fl['p99_ms']:.2f} ms | n = {fl['n']} | (what no work costs here) |")
    else:
        L.append("| wrapper time on a hit (warm, from the event log) | n/a (no warm hits) | | median ≤ 1 ms, p99 ≤ 3 ms |")
    L.append("")
    L.append("| configuration | median s | min–max s | runs | hits / misses / passthrough (or non-cacheable) |")
    L.append("| --- | --- | --- | --- | --- |")
    for cfg, _ in CONFIGS:
        c = configs[cfg]
        if not c["available"]:
            L.append(f"| {c['label']} | {c['note']} | | | |")
            continue
        counts = "-"
        if c["counts"]:
            if "hit" in c["counts"][0]:
                cs = sorted({f"{x['hit']} / {x['miss']} / {x['passthrough']}"
                             + (f" (+{x['error']} errors)" if x["error"] else "")
                             + (f" (remote {x['remote_hits']}, prefetched {x['prefetched_hits']})"
                                if x.get("remote_hits") or x.get("prefetched_hits") else "")
                             for x in c["counts"]})
            else:
                cs = sorted({f"{x['hits']} / {x['misses']} / {x['non_cacheable']}" for x in c["counts"]})
            counts = "; ".join(cs)
        L.append(f"| {c['label']} | {fmt_s(c['median_s'])} | {fmt_s(c['min_s'])}–{fmt_s(c['max_s'])} "
                 f"| {len(c['seconds'])} | {counts} |")
    L.append("")
    if ratios:
        L.append("| ratio | of the medians | per repetition: median, min–max |")
        L.append("| --- | --- | --- |")
        for r in ratios:
            rng = "-" if r["paired_min"] is None else \
                f"{r['paired_median']:.2f}, {r['paired_min']:.2f}–{r['paired_max']:.2f}"
            L.append(f"| {r['name']} | {r['of_medians']:.2f} | {rng} |")
        missing = [n for n, num, den in RATIOS[:4] if n not in {r['name'] for r in ratios}]
        for n in missing:
            L.append(f"| {n} | n/a | |")
        L.append("")
    if wrapper:
        labels = {"hit_warm": "hit (warm)", "hit_relocated": "hit (relocated)",
                  "hit_remote_warm": "hit (remote-warm, S3)", "hit_remote_warm_fs": "hit (remote-warm, shared dir)",
                  "miss_cold": "miss, outside the compiler (cold)",
                  "passthrough_cold": "passthrough (cold)", "passthrough_warm": "passthrough (warm)",
                  "floor_replay": "the floor shim, a replayed unit (no key work)"}
        L.append("| kache's own time per invocation | n | median ms | p90 ms | p99 ms | max ms | sum s |")
        L.append("| --- | --- | --- | --- | --- | --- | --- |")
        for k, lab in labels.items():
            if k in wrapper:
                d = wrapper[k]
                L.append(f"| {lab} | {d['n']} | {fmt_ms(d['median_ms'])} | {fmt_ms(d['p90_ms'])} | "
                         f"{fmt_ms(d['p99_ms'])} | {fmt_ms(d['max_ms'])} | {d['total_s']:.2f} |")
        L.append("")
        if "miss_cold" in wrapper and wrapper["miss_cold"].get("share_of_compile"):
            d = wrapper["miss_cold"]
            L.append(f"On misses kache spent {d['total_s']:.2f} s outside the compiler against "
                     f"{d['compile_total_s']:.1f} s of compiling ({100 * d['share_of_compile']:.1f} %), summed over "
                     f"the cold builds.")
        if "hit_warm" in wrapper:
            sl = ", ".join(f"{s['crate']} {s['ms']:.1f} ms ({s['bytes'] / 1e6:.1f} MB)"
                           for s in wrapper["hit_warm"]["slowest"])
            L.append(f"Slowest warm hits: {sl}.")
        L.append("")
    if sizes:
        parts = []
        if "kache_store_mib" in sizes:
            parts.append(f"kache's store {sizes['kache_store_mib']:.0f} MiB (after cold, warm and relocated)")
        if "sccache_dir_mib" in sizes:
            parts.append(f"sccache's cache dir {sizes['sccache_dir_mib']:.0f} MiB")
        L.append("Cache sizes: " + "; ".join(parts) + ".")
    setup = [f"{SETUP[k]}: {configs[k]['median_s']:.1f} s" for k in SETUP if k in configs]
    if setup:
        L.append("Setup, not in the ratios: " + "; ".join(setup) + ".")
        L.append("")
    md = "\n".join(L)
    with open(os.path.join(a.out, "results.md"), "w") as fh:
        fh.write(md)
    print(md)


if __name__ == "__main__":
    main()
