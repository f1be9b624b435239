#!/usr/bin/env bash
# Recording reads each output once: on a miss the wrapper hashes an output into the
# store and scans it for raw root paths in the same read (issue 11). The wrapper is
# traced (its own process only, not rustc) while it records the fixture's binary, the
# largest output of the chain workspace; what it reads must stay well under twice the
# outputs' size. The raw-path scan still works: a binary whose RUNPATH holds the
# checkout is recorded path-specific and never served to another checkout.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

command -v strace >/dev/null || skip "strace is not installed"
strace -qq -o /dev/null true 2>/dev/null || skip "strace cannot trace here (ptrace not permitted)"
command -v readelf >/dev/null || skip "readelf (binutils) is not installed"

real_kache=$KACHE
traces=$TEST_TMP/traces
mkdir -p "$traces"
# KACHE is what kcargo sets as RUSTC_WRAPPER: a script that traces the wrapper's
# reads and names the trace by crate.
KACHE=$TEST_TMP/traced-kache
cat > "$KACHE" <<EOF
#!/usr/bin/env bash
crate=probe
prev=
for a in "\$@"; do [[ \$prev == --crate-name ]] && crate=\$a; prev=\$a; done
exec strace -qq -e trace=read,pread64 -o "$traces/\$crate.\$\$" "$real_kache" "\$@"
EOF
chmod +x "$KACHE"

# read_bytes CRATE: bytes the wrapper process read while handling CRATE.
read_bytes() {
  local files=("$traces/$1".*)
  [[ -e ${files[0]} ]] || fail "no trace of the wrapper for $1"
  awk '/^(read|pread64)\(/ { n = $NF; if (n > 0) sum += n } END { print sum + 0 }' "${files[@]}"
}

ws=$(new_workspace one chain)
note "cold build, each wrapper traced"
kcargo "$ws" build
assert_ge "$(count_real_compiles)" 5 "cold build: real compiles"

bin=$ws/target/debug/fixture-app
[[ -f $bin ]] || fail "the fixture's binary was not built"
out_bytes=0
for f in "$ws"/target/debug/deps/fixture_app-*; do
  [[ $f == *.d ]] || out_bytes=$((out_bytes + $(stat -c %s "$f")))
done
read=$(read_bytes fixture_app)
note "fixture_app: outputs $out_bytes bytes, the wrapper read $read bytes"
assert_ge "$out_bytes" 1000000 "size of the binary (too small to tell one read from two)"
# One read of the outputs, plus the small files the key and the input set hash.
assert_le "$read" $((out_bytes * 3 / 2)) "bytes the wrapper read while recording fixture_app (twice the outputs means a second pass)"

note "the scan still sees a raw path: an rpath into the checkout makes the binary path-specific"
ws2=$(new_workspace two/place pathspec)
ws3=$(new_workspace three/other/place pathspec)
KACHE=$real_kache
kcargo "$ws2" build
rp=$(readelf -d "$ws2/target/debug/rpath" | sed -n 's/.*(\(RUNPATH\|RPATH\)).*\[\(.*\)\]/\2/p')
[[ $rp == "$ws2/"* ]] || fail "the first checkout's RUNPATH is '$rp', expected a path in $ws2"
kcargo "$ws3" build
rp3=$(readelf -d "$ws3/target/debug/rpath" | sed -n 's/.*(\(RUNPATH\|RPATH\)).*\[\(.*\)\]/\2/p')
[[ $rp3 == "$ws3/"* ]] || fail "the second checkout was served the binary with RUNPATH '$rp3' (a raw path was not detected)"
assert_compiled_set 'pmuser:pmuser rpath:rpath' "the second checkout (only the path-specific units compile)"
note "ok"
