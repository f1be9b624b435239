#!/usr/bin/env bash
# kache report: a cold build, a warm one and an edit are three build sessions
# with the right hits, misses and miss reasons in every format; json agrees with
# `kache stats --json` and the event log; the trace opens as complete events
# whose overlapping units never share a track; --since, --output, --top and a
# bad --format behave.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ws=$(new_workspace ws)

note "cold build, then a warm one after cargo clean"
kcargo "$ws" build
cold=$(count_real_compiles)
assert_ge "$cold" 5 "real compiles of the cold build"
pcargo "$ws" clean
kcargo "$ws" build
assert_no_real_compiles "warm build"

R=$TEST_TMP/report
mkdir -p "$R"

note "text: one block per session with its hit and miss counts"
"$KACHE" report > "$R/text" || fail "kache report failed"
cat "$R/text"
assert_eq "$(grep -c '^session [0-9]*: cargo pid [0-9]*,' "$R/text")" 2 "sessions in the text report"
assert_file_contains "$R/text" "^session 1: cargo pid [0-9]+, .*" "first session"
s1=$(grep -A1 '^session 1:' "$R/text" | tail -n 1)
s2=$(grep -A1 '^session 2:' "$R/text" | tail -n 1)
[[ $s1 =~ ^\ \ hits\ 0\ .*misses\ $cold\ \(new\ $cold\) ]] || fail "session 1 should be $cold misses (new): '$s1'"
[[ $s2 =~ ^\ \ hits\ $cold\ \(local\ $cold,.*misses\ 0, ]] || fail "session 2 should be $cold local hits: '$s2'"
assert_file_contains "$R/text" '^top crates by time' "the top crates table"
pid1=$(sed -n 's/^session 1: cargo pid \([0-9]*\),.*/\1/p' "$R/text")
pid2=$(sed -n 's/^session 2: cargo pid \([0-9]*\),.*/\1/p' "$R/text")
assert_ne "$pid1" "$pid2" "the two sessions' cargo pids"

note "an edit of a module file: leaf misses with 'inputs changed'"
replace_in "$ws/leaf/src/util.rs" '"module-one"' '"module-two"'
kcargo "$ws" build
assert_compiled 'leaf:leaf' "leaf after the edit"

note "json: the schema, three sessions, per-crate counts that add up to kache stats"
"$KACHE" report --format json --top 0 > "$R/json" || fail "kache report --format json failed"
"$KACHE" stats --json > "$R/stats" || fail "kache stats --json failed"
events_json > "$R/events" || fail "event log unreadable"
python3 - "$R/json" "$R/stats" "$R/events" "$cold" <<'PY' || fail "json report check failed (see above)"
import json, sys, collections
r = json.load(open(sys.argv[1]))
stats = json.load(open(sys.argv[2]))
events = json.load(open(sys.argv[3]))
cold = int(sys.argv[4])
bad = []
def check(cond, msg):
    if not cond:
        bad.append(msg)
check(r.get("schema") == "kache-report-1", "schema: %r" % r.get("schema"))
s = r["sessions"]
check(len(s) == 3, "sessions: %d" % len(s))
check(s[0]["totals"]["misses"] == cold and s[0]["totals"]["hits"] == 0, "session 1 totals: %s" % s[0]["totals"])
check(s[0]["totals"]["miss_reasons"] == {"new": cold}, "session 1 miss reasons: %s" % s[0]["totals"]["miss_reasons"])
check(s[1]["totals"]["hits"] == cold and s[1]["totals"]["misses"] == 0, "session 2 totals: %s" % s[1]["totals"])
check(s[1]["totals"]["local_hits"] == cold, "session 2 local hits: %s" % s[1]["totals"])
check(s[1]["totals"]["saved_ms"] >= 0 and s[1]["totals"]["bytes_restored"] > 0, "session 2 saved/bytes")
check(s[0]["start_ms"] <= s[0]["end_ms"] <= s[1]["start_ms"], "sessions in order")
leaf = [c for c in s[2]["crates"] if c["crate"] == "leaf"]
check(len(leaf) == 1 and leaf[0]["miss_reasons"] == {"inputs changed": 1},
      "session 3: leaf should miss with 'inputs changed': %s" % leaf)
for k in ("hits", "misses", "local_hits", "remote_hits", "prefetched_hits", "passthroughs", "errors"):
    total = sum(c[k] for c in r["crates"])
    check(total == stats[k], "%s: crates sum to %d, kache stats says %d" % (k, total, stats[k]))
    check(r["totals"][k] == stats[k], "%s: totals %d, kache stats says %d" % (k, r["totals"][k], stats[k]))
check(r["crates_omitted"] == 0, "--top 0 omits nothing")
by_crate = collections.Counter((e["crate"], e["outcome"]) for e in events)
for c in r["crates"]:
    check(c["hits"] == by_crate[(c["crate"], "hit")], "crate %s hits %d, log %d" % (c["crate"], c["hits"], by_crate[(c["crate"], "hit")]))
    check(c["misses"] == by_crate[(c["crate"], "miss")], "crate %s misses" % c["crate"])
for e in events:
    for k in ("session", "start_us", "key", "miss_reason"):
        check(k in e, "event lacks %s: %s" % (k, e))
    if e["outcome"] in ("hit", "miss"):
        check(len(e.get("key", "")) == 32, "hit/miss without a key: %s" % e)
for m in bad:
    print("json:", m)
sys.exit(1 if bad else 0)
PY

note "--top 2 limits the per-crate rows"
"$KACHE" report --format json --top 2 > "$R/json2" || fail "kache report --top 2 failed"
python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
assert len(r["crates"]) == 2 and r["crates_omitted"] > 0, (len(r["crates"]), r["crates_omitted"])
assert all(len(s["crates"]) <= 2 for s in r["sessions"])
' "$R/json2" || fail "--top 2 did not limit the crate rows"

note "markdown and github: tables"
"$KACHE" report --format markdown > "$R/md" || fail "kache report --format markdown failed"
assert_file_contains "$R/md" '^\| crate \|' "markdown crate table header"
assert_file_contains "$R/md" '^\|---' "markdown table rule"
assert_file_contains "$R/md" '^\| leaf \|' "markdown row for leaf"
"$KACHE" report --format github > "$R/gh" || fail "kache report --format github failed"
assert_file_contains "$R/gh" '^\*\*3 build sessions' "github summary line"
assert_file_contains "$R/gh" '^\| session \|' "github session table"
assert_file_contains "$R/gh" '^<details><summary>' "github folded per-crate rows"
assert_file_contains "$R/gh" '^\| leaf \|' "github row for leaf"

note "trace: complete events, overlapping units on separate tracks"
"$KACHE" report --format trace > "$R/trace" || fail "kache report --format trace failed"
python3 - "$R/trace" "$R/json" <<'PY' || fail "trace check failed (see above)"
import json, sys
t = json.load(open(sys.argv[1]))
r = json.load(open(sys.argv[2]))
ev = t["traceEvents"]
bad = []
if len(ev) != r["totals"]["units"]:
    bad.append("%d trace events for %d units" % (len(ev), r["totals"]["units"]))
for e in ev:
    ok = (e.get("ph") == "X" and isinstance(e.get("ts"), int) and isinstance(e.get("dur"), int)
          and e["dur"] >= 0 and "pid" in e and "tid" in e and isinstance(e.get("name"), str)
          and {"outcome", "source", "key", "reason"} <= set(e.get("args", {})))
    if not ok:
        bad.append("malformed: %s" % e)
tracks = {}
for e in ev:
    tracks.setdefault((e["pid"], e["tid"]), []).append(e)
for key, es in tracks.items():
    es.sort(key=lambda e: e["ts"])
    for a, b in zip(es, es[1:]):
        if b["ts"] < a["ts"] + a["dur"]:
            bad.append("overlap on track %s: %s and %s" % (key, a, b))
if len({e["pid"] for e in ev}) != 3:
    bad.append("expected 3 sessions (pids) in the trace")
if not any(e["args"]["reason"] == "inputs changed" for e in ev):
    bad.append("no unit with reason 'inputs changed'")
for m in bad[:20]:
    print("trace:", m)
sys.exit(1 if bad else 0)
PY

note "--since"
"$KACHE" report --format json --since 0s > "$R/since0" || fail "--since 0s failed"
assert_eq "$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(len(r["sessions"]), r["totals"]["units"])' "$R/since0")" "0 0" "--since 0s keeps nothing"
"$KACHE" report --format json --since 1h > "$R/since1h" || fail "--since 1h failed"
assert_eq "$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["sessions"]))' "$R/since1h")" 3 "--since 1h keeps the three sessions"
"$KACHE" report --since 0s > "$R/since0.txt" || fail "--since 0s (text) failed"
assert_file_contains "$R/since0.txt" 'no units' "empty text report"

note "--output writes the file (and nothing to stdout)"
"$KACHE" report --output "$R/out.txt" > "$R/stdout" || fail "--output failed"
[[ -s $R/out.txt ]] || fail "--output wrote no file"
[[ ! -s $R/stdout ]] || fail "--output also printed to stdout"
"$KACHE" report > "$R/text.now"
assert_same_file "$R/out.txt" "$R/text.now" "--output writes what stdout would show"
[[ -z $(find "$R" -name '*.tmp*' -o -name '.kache*') ]] || fail "--output left a temp file: $(ls -a "$R")"

note "usage errors exit 2"
rc=0; "$KACHE" report --format xml 2>"$R/err" || rc=$?
assert_eq "$rc" 2 "exit status of --format xml"
assert_file_contains "$R/err" 'kache report --help' "the usage error names kache report --help"
rc=0; "$KACHE" report --top 3x 2>/dev/null || rc=$?
assert_eq "$rc" 2 "exit status of --top 3x"
rc=0; "$KACHE" report --since forever 2>/dev/null || rc=$?
assert_eq "$rc" 2 "exit status of --since forever"
"$KACHE" report --help > "$R/help" || fail "kache report --help failed"
assert_file_contains "$R/help" 'kache-report-1' "help names the json schema"

note "stats still reads the log"
assert_eq "$(stats_field misses)" "$(( cold + $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["sessions"][2]["totals"]["misses"])' "$R/json") ))" "kache stats misses"
