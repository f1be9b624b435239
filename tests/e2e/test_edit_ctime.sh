#!/usr/bin/env bash
# Edits that put the mtime back (`cp -p`, `touch -d`, `rsync -a`, `tar x`) move
# only the ctime, and nobody can set that back. Three cases, each in a fresh
# workspace with a fresh store:
#   during  a source edited while rustc runs, mtime restored: must not be
#           recorded under its new content (after `cargo clean`, the new code
#           is compiled, not the old one served);
#   between a big (> the hash cache's threshold) include_str! file edited in
#           place between two builds, size and mtime kept: the lookup must not
#           trust the stat cache's old digest;
#   memo    a small source edited in place the same way, after the store
#           remembered the stamps its input set matched under;
#   archive a native archive that K1 hashed, swapped after the key was computed
#           and before rustc read it: must not be recorded under the key of the
#           earlier archive.
# The archive case fails without the re-check of K1's files after the compile;
# the during case without the ctime check of the recorded input set.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

STORES=$TEST_TMP/stores
mkdir -p "$STORES"

# fresh_case NAME: a new workspace and an empty store for one case.
fresh_case() {
  export KACHE_CACHE_DIR=$STORES/$1
  ws=$(new_workspace "$1")
}

# ---------------------------------------------------------------- during
case_during() {
note "[during] util.rs rewritten in place just after leaf compiles, mtime put back"
fresh_case during
cp -p "$ws/leaf/src/util.rs" "$TEST_TMP/util.rs.orig"
sed s/module-one/module-two/ "$ws/leaf/src/util.rs" > "$TEST_TMP/util.rs.new"
E2E_SHIM_HOOK_UNIT=leaf:leaf \
E2E_SHIM_HOOK="cat '$TEST_TMP/util.rs.new' > '$ws/leaf/src/util.rs'; touch -r '$TEST_TMP/util.rs.orig' '$ws/leaf/src/util.rs'" \
  kcargo "$ws" build
grep -q module-two "$ws/leaf/src/util.rs" || fail "test harness: the shim hook did not edit util.rs"
[[ $(stat -c %Y "$ws/leaf/src/util.rs") == $(stat -c %Y "$TEST_TMP/util.rs.orig") ]] ||
  fail "test harness: the mtime of util.rs was not put back"
assert_app "$ws" debug module=module-one

note "[during] cargo clean + build: the source now says module-two"
pcargo "$ws" clean
kcargo "$ws" build
assert_compiled 'leaf:leaf' "[during] build after clean (kache served leaf recorded under the edited util.rs)"
assert_app "$ws" debug module=module-two
note "[during] and that result is cached"
pcargo "$ws" clean
kcargo "$ws" build
assert_no_real_compiles "[during] second build after clean"
assert_app "$ws" debug module=module-two
}

# ---------------------------------------------------------------- between
case_between() {
note "[between] a 128 KiB include_str! file, edited in place with size and mtime kept"
fresh_case between
big=$ws/leaf/data/big.txt
{ echo "big-one"; head -c 131072 /dev/zero | tr '\0' 'x'; echo; } > "$big"
touch -d '2020-01-02 03:04:05' "$big"
cat >> "$ws/leaf/src/lib.rs" <<'EOF'

pub const BIG: &str = include_str!("../data/big.txt");
EOF
replace_in "$ws/app/src/main.rs" 'fn main() {' 'fn main() {
    println!("big={}", leaf::BIG.lines().next().unwrap_or(""));'
# Older than the hash cache's racy window (ctime included), so its digest is remembered.
sleep 3
kcargo "$ws" build
assert_app "$ws" debug big=big-one
note "[between] rewrite in place (same inode, size, mtime)"
cp -p "$big" "$TEST_TMP/big.orig"
sed '1s/big-one/big-two/' "$TEST_TMP/big.orig" > "$TEST_TMP/big.new"
inode=$(stat -c %i "$big")
cat "$TEST_TMP/big.new" > "$big"
touch -r "$TEST_TMP/big.orig" "$big"
[[ $(stat -c %i "$big") == "$inode" ]] || fail "test harness: big.txt was not written in place"
[[ $(stat -c %Y "$big") == $(stat -c %Y "$TEST_TMP/big.orig") ]] || fail "test harness: mtime not put back"
[[ $(stat -c %s "$big") == $(stat -c %s "$TEST_TMP/big.orig") ]] || fail "test harness: size changed"
note "[between] cargo clean + build: the lookup must see the new content"
pcargo "$ws" clean
kcargo "$ws" build
assert_compiled 'leaf:leaf' "[between] build after an in-place edit (kache trusted the stat cache's old digest)"
assert_app "$ws" debug big=big-two
}

# ---------------------------------------------------------------- memo
# A lookup checks the files of an input set it matched before with one stat
# each (the store's memo of their stamps); an in-place edit of a small source
# that keeps size and mtime must still be seen.
case_memo() {
note "[memo] util.rs edited in place between builds, size and mtime kept, after the stamps were remembered"
fresh_case memo
# Older than the racy window (ctime included), so the record remembers the stamps.
sleep 3
kcargo "$ws" build
assert_app "$ws" debug module=module-one
pcargo "$ws" clean
kcargo "$ws" build
assert_no_real_compiles "[memo] warm build"
memos=$(find "$KACHE_CACHE_DIR/seen" -type f 2>/dev/null | wc -l)
assert_ge "$memos" 3 "[memo] input-stamp memos in the store"
util=$ws/leaf/src/util.rs
cp -p "$util" "$TEST_TMP/util.memo.orig"
inode=$(stat -c %i "$util")
sed s/module-one/module-six/ "$TEST_TMP/util.memo.orig" > "$TEST_TMP/util.memo.new"
cat "$TEST_TMP/util.memo.new" > "$util"
touch -r "$TEST_TMP/util.memo.orig" "$util"
[[ $(stat -c %i "$util") == "$inode" ]] || fail "test harness: util.rs was not written in place"
[[ $(stat -c %Y "$util") == $(stat -c %Y "$TEST_TMP/util.memo.orig") ]] || fail "test harness: mtime not put back"
[[ $(stat -c %s "$util") == $(stat -c %s "$TEST_TMP/util.memo.orig") ]] || fail "test harness: size changed"
pcargo "$ws" clean
kcargo "$ws" build
assert_compiled 'leaf:leaf' "[memo] build after an in-place edit (kache trusted remembered stamps)"
assert_app "$ws" debug module=module-six
}

# ---------------------------------------------------------------- archive
case_archive() {
note "[archive] libfoo.a swapped after K1 was computed, before rustc reads it"
fresh_case archive
command -v cc >/dev/null && command -v ar >/dev/null || skip "cc or ar missing"
mkdir -p "$TEST_TMP/alt"
echo 'int foo_value(void) { return 2; }' > "$TEST_TMP/alt/foo.c"
(cd "$TEST_TMP/alt" && cc -c -O1 -fPIC foo.c -o foo.o && ar crs libfoo.a foo.o) || fail "cannot build the other archive"
# A compiler in front of the test shim: for the native crate, when armed, it
# replaces OUT_DIR/libfoo.a (same mtime) before the real compile starts.
mkdir -p "$TEST_TMP/pre"
cat > "$TEST_TMP/pre/rustc" <<EOF
#!/usr/bin/env bash
if [[ -f '$TEST_TMP/arm' && \${CARGO_PKG_NAME:-} == native && " \$* " == *" --crate-name native "* ]]; then
  rm -f '$TEST_TMP/arm'
  cp -p "\$OUT_DIR/libfoo.a" '$TEST_TMP/libfoo.orig'
  cat '$TEST_TMP/alt/libfoo.a' > "\$OUT_DIR/libfoo.a"
  touch -r '$TEST_TMP/libfoo.orig' "\$OUT_DIR/libfoo.a"
fi
exec '$RUSTC' "\$@"
EOF
chmod +x "$TEST_TMP/pre/rustc"
touch "$TEST_TMP/arm"
RUSTC=$TEST_TMP/pre/rustc kcargo "$ws" build
[[ ! -e $TEST_TMP/arm ]] || fail "test harness: the archive was not swapped"
# This build linked what rustc read: the swapped archive.
assert_app "$ws" debug native=2

note "[archive] cargo clean + build: the build script writes the original archive again"
pcargo "$ws" clean
RUSTC=$TEST_TMP/pre/rustc kcargo "$ws" build
assert_compiled 'native:native' "[archive] build after clean (kache served native recorded under the earlier archive's key)"
assert_app "$ws" debug native=1
grep -rqs 'changed during the compile' "$KACHE_CACHE_DIR/events" ||
  fail "[archive] no event says why the compile was not recorded"
}

# E2E_CASES="during archive" runs only those (to check one case against another build).
for c in ${E2E_CASES:-during between memo archive}; do
  "case_$c"
done
