#!/usr/bin/env bash
# The CLI conventions: --help everywhere, usage errors exit 2 with one line, kache config
# sources, binary sizes, daemon without a subcommand, daemon log with no daemon, completions,
# stats --since, list --sort, gc --max-age.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# HOME stays (rustup needs it); the config file is named by KACHE_CONFIG.
export KACHE_CONFIG=$TEST_TMP/config.toml
run() { krc=0; "$KACHE" "$@" >"$TEST_TMP/o" 2>"$TEST_TMP/e" || krc=$?; }

note "--help exits 0 and prints usage"
for c in stats list purge gc doctor config sync completions daemon "daemon start" "daemon stop" "daemon restart" \
         "daemon status" "daemon log" "daemon run" "daemon install" "daemon uninstall"; do
  run $c --help
  assert_eq "$krc" 0 "kache $c --help exit"
  grep -q '^usage:' "$TEST_TMP/o" || fail "kache $c --help: no usage line"
done

note "usage errors exit 2 with one line"
for c in "stats --foo" "sync --jobs 4x" "daemon status --foo" "list --sort bogus" "gc --max-age 3x" "stats --since x"; do
  run $c
  assert_eq "$krc" 2 "kache $c exit"
  assert_eq "$(wc -l <"$TEST_TMP/e")" 1 "kache $c: stderr lines"
  grep -q -- '--help' "$TEST_TMP/e" || fail "kache $c: no pointer to --help"
done

note "daemon without subcommand, daemon log with no daemon"
run daemon; assert_eq "$krc" 3 "kache daemon (none running)"
grep -q 'running *no' "$TEST_TMP/o" || fail "kache daemon: no status"
run daemon status --json; assert_eq "$krc" 3 "kache daemon status --json (none running)"
rc=0; timeout 10 "$KACHE" daemon log >"$TEST_TMP/o" 2>"$TEST_TMP/e" || rc=$?
assert_eq "$rc" 1 "kache daemon log with no daemon ever"
grep -q 'has not run' "$TEST_TMP/e" || fail "daemon log: $(cat "$TEST_TMP/e")"

note "config sources and sizes"
echo 'max_size = "20G"' >"$KACHE_CONFIG"
run config; assert_eq "$krc" 0 "kache config"
grep -Eq '^max_size +20\.0 GiB +file .*config.toml' "$TEST_TMP/o" || fail "max_size: $(cat "$TEST_TMP/o")"
grep -Eq '^progress +false +default' "$TEST_TMP/o" || fail "progress default: $(cat "$TEST_TMP/o")"
KACHE_PROGRESS=1 "$KACHE" config | grep -Eq '^progress +true +variable KACHE_PROGRESS' || fail "progress from env"
"$KACHE" config --json | python3 -c 'import json,sys; d=json.load(sys.stdin); s={x["key"]:x for x in d["settings"]}; assert s["max_size"]["source"]=="file", s' \
  || fail "config --json"
KACHE_LOG=bogus "$KACHE" config >/dev/null 2>"$TEST_TMP/e"
assert_eq "$(grep -c KACHE_LOG "$TEST_TMP/e")" 1 "one warning for an unknown KACHE_LOG"

note "completions"
"$KACHE" completions bash >"$TEST_TMP/c.bash"
out=$(bash -c 'source "$1"; complete -p kache; COMP_WORDS=(kache st); COMP_CWORD=1; _kache; echo "${COMPREPLY[*]}"' _ "$TEST_TMP/c.bash")
grep -q 'complete -F _kache kache' <<<"$out" || fail "complete -p kache: $out"
grep -qw stats <<<"$out" || fail "kache st<TAB>: $out"
out=$(bash -c 'source "$1"; COMP_WORDS=(kache daemon status --); COMP_CWORD=3; _kache; echo "${COMPREPLY[*]}"' _ "$TEST_TMP/c.bash")
grep -q -- --json <<<"$out" || fail "kache daemon status --<TAB>: $out"
for sh in zsh fish; do run completions $sh; assert_eq "$krc" 0 "completions $sh"; done

note "stats --since, list --sort, gc --max-age"
ws=$(new_workspace ws)
kcargo "$ws" build
units=$(count_real_compiles)
run stats --json --since 1h; python3 -c 'import json,sys; assert json.load(open(sys.argv[1]))["misses"]>0' "$TEST_TMP/o" || fail "stats --since 1h"
sleep 2
run stats --json --since 1s; python3 -c 'import json,sys; assert json.load(open(sys.argv[1]))["misses"]==0' "$TEST_TMP/o" || fail "stats --since 1s"
run list --sort size; assert_eq "$krc" 0 "list --sort size"
python3 - "$TEST_TMP/o" <<'PY' || fail "list --sort size is not largest first"
import re, sys
u = {"B": 1, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3}
sizes = [float(m.group(1)) * u[m.group(2)] for m in (re.search(r"files +([\d.]+) (B|KiB|MiB|GiB)", l) for l in open(sys.argv[1])) if m]
assert sizes and sizes == sorted(sizes, reverse=True), sizes
PY
old=$(find "$KACHE_CACHE_DIR/entries" -type f | head -n 1)
touch -d '10 days ago' "$old"
run gc --max-age 7d; assert_eq "$krc" 0 "gc --max-age 7d"
[[ ! -e $old ]] || fail "gc --max-age 7d left an entry unused for 10 days"
assert_eq "$(count_entries)" "$(( units - 1 ))" "entries after gc --max-age"
