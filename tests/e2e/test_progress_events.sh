#!/usr/bin/env bash
# KACHE_PROGRESS=1 prints one line per hit; the event log has one JSON line per
# invocation, with outcomes that match what really happened (the rustc shim's
# count is the reference).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ws=$(new_workspace ws)

note "cold build, no KACHE_PROGRESS: no progress lines"
kcargo "$ws" build
cold=$(count_real_compiles)
assert_file_not_contains "$LAST_ERR" '\[kache\]' "progress lines without KACHE_PROGRESS"
ls "$KACHE_CACHE_DIR"/events/*.jsonl >/dev/null 2>&1 || fail "no events/*.jsonl after a build"

# check_events PHASE EXPECTED_OUTCOME EXPECTED_COUNT: the events of the last
# build (those after the first MARK lines) are well-formed, and EXPECTED_COUNT
# of them have EXPECTED_OUTCOME.
check_events() {
  local phase=$1 outcome=$2 want=$3 skip=$4
  events_json > "$TEST_TMP/events.json" || fail "event log unreadable"
  python3 - "$TEST_TMP/events.json" "$outcome" "$want" "$skip" "$phase" <<'PY' || fail "$phase: event log check failed (see above)"
import json, sys
events = json.load(open(sys.argv[1]))[int(sys.argv[4]):]
outcome, want, phase = sys.argv[2], int(sys.argv[3]), sys.argv[5]
need = {"ts_ms": int, "pid": int, "crate": str, "outcome": str, "wrapper_us": int,
        "compile_us": int, "bytes": int, "reason": str}
bad = 0
for e in events:
    for k, t in need.items():
        if k not in e or not isinstance(e[k], t):
            print("%s: event lacks %s (%s): %s" % (phase, k, t.__name__, e)); bad += 1; break
    if e.get("outcome") not in ("hit", "miss", "passthrough", "error"):
        print("%s: bad outcome: %s" % (phase, e)); bad += 1
got = [e for e in events if e.get("outcome") == outcome]
print("%s: %d events, %d %s: %s" % (phase, len(events), len(got), outcome,
      sorted(e.get("crate") for e in got)))
if len(got) != want:
    print("%s: expected %d %s events, got %d" % (phase, want, outcome, len(got))); bad += 1
crates = {e.get("crate") for e in got}
for c in ("leaf", "mid", "itoa", "pmacro", "native"):
    if want and c not in crates:
        print("%s: no %s event for crate %s" % (phase, outcome, c)); bad += 1
if outcome == "hit":
    for e in got:
        if e["bytes"] <= 0:
            print("%s: hit with bytes <= 0: %s" % (phase, e)); bad += 1
errors = [e for e in events if e.get("outcome") == "error"]
if errors:
    print("%s: error events: %s" % (phase, errors)); bad += 1
sys.exit(1 if bad else 0)
PY
}

check_events cold miss "$cold" 0
n_cold=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$TEST_TMP/events.json")
assert_ge "$n_cold" "$cold" "events after the cold build (one per invocation, probes included)"

note "warm build with KACHE_PROGRESS=1"
pcargo "$ws" clean
KACHE_PROGRESS=1 kcargo "$ws" build
assert_no_real_compiles "warm build"
hits=$(grep -cE '^\[kache\] [A-Za-z0-9_-]+( \([a-z -]+\))?: hit \([0-9.]+ ?[mµu]?s, [0-9.]+ ?[kKMG]?i?B\)$' "$LAST_ERR" || true)
grep '^\[kache\]' "$LAST_ERR" | head -20
assert_eq "$hits" "$cold" "'[kache] <crate>: hit (<time>, <size>)' lines on a warm build with KACHE_PROGRESS=1"
assert_file_contains "$LAST_ERR" '^\[kache\] leaf: hit' "progress line for leaf"
assert_file_contains "$LAST_ERR" '^\[kache\] itoa: hit' "progress line for itoa"
check_events warm hit "$cold" "$n_cold"

note "stats agree"
assert_eq "$(stats_field hits)" "$cold" "kache stats: hits after one warm build"
assert_eq "$(stats_field misses)" "$cold" "kache stats: misses after one cold build"
assert_eq "$(stats_field errors)" 0 "kache stats: errors"
