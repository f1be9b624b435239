#!/usr/bin/env bash
# Other users on the machine cannot get their artifact served to your build, nor
# read your store. Two throw-away users, a victim and an attacker, build with real
# cargo (DAC applies: neither is root):
#  1. the attacker pre-creates a world-writable cache dir holding a swapped entry:
#     the victim's build runs uncached with one warning, and the program is right;
#  2. HOME unset: the attacker plants /tmp/kache-<victim uid> (a symlink to their
#     store, then a directory they own): refused, the program is right; left to
#     itself, kache creates that directory private and caches in it;
#  3. after a normal build, the attacker can neither list nor read the victim's
#     blobs, entries, manifests or event log;
#  4. a store left readable by an earlier version is made private, not refused;
#     a world-writable one of the victim's own is refused, by the CLI too.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ $(id -u) == 0 ]] || skip "needs root to create the users"
command -v useradd >/dev/null && command -v userdel >/dev/null || skip "useradd is not available"
command -v setpriv >/dev/null || skip "setpriv is not available"

victim=kache-e2e-victim
attacker=kache-e2e-attacker
created_users=()
for u in "$victim" "$attacker"; do
  if ! id "$u" >/dev/null 2>&1; then
    useradd -m -U -s /bin/sh "$u" >/dev/null 2>&1 || skip "useradd $u failed"
    created_users+=("$u")
  fi
done
vuid=$(id -u "$victim")
planted=/tmp/kache-$vuid
_users_cleanup() {
  rm -rf "$planted"
  local u
  for u in "${created_users[@]}"; do userdel -r "$u" >/dev/null 2>&1 || true; done
}
trap '_rc=$?; _users_cleanup; (exit $_rc); _cleanup' EXIT
rm -rf "$planted"

# The toolchain lives under /root, which the two users cannot enter: their builds keep
# CAP_DAC_READ_SEARCH (read anything, write only what DAC allows). The attacker's
# reading attempts in part 3 run without it.
as_builder() { local u=$1; shift; setpriv --reuid="$(id -u "$u")" --regid="$(id -g "$u")" --clear-groups \
  --inh-caps=+dac_read_search --ambient-caps=+dac_read_search -- "$@"; }
as_plain() { local u=$1; shift; setpriv --reuid="$(id -u "$u")" --regid="$(id -g "$u")" --clear-groups -- "$@"; }
as_builder "$victim" head -c1 "$REAL_RUSTC" >/dev/null 2>&1 || skip "setpriv cannot keep CAP_DAC_READ_SEARCH here"

chmod 711 "$TEST_TMP"
chmod 755 "$TEST_TMP/shim"
chmod 666 "$COMPILE_LOG"
pub=$TEST_TMP/pub
mkdir -m 755 "$pub"
toolbin=$(dirname "$REAL_RUSTC")
[[ -x $toolbin/cargo ]] || skip "no cargo beside $REAL_RUSTC"

# ubuild USER DIR [VAR=VALUE...]: `cargo build` in DIR as USER, with only the given
# variables besides the toolchain's (no HOME unless given).
ubuild() {
  local u=$1 dir=$2; shift 2
  : > "$COMPILE_LOG"
  LAST_CMD="cargo build as $u ($*)"
  LAST_DIR=$dir
  local rc=0
  (cd "$dir" && umask 022 && as_builder "$u" env -i PATH="$toolbin:/usr/bin:/bin" CARGO_HOME="$pub/$u-cargo" \
    RUSTC="$RUSTC" RUSTC_WRAPPER="$KACHE" CARGO_TERM_COLOR=never CARGO_TERM_PROGRESS_WHEN=never "$@" \
    "$toolbin/cargo" build) >"$LAST_OUT" 2>"$LAST_ERR" || rc=$?
  echo "   \$ $LAST_CMD [in ${dir#$TEST_TMP/}] -> exit $rc, real compiles: $(count_real_compiles)"
  [[ $rc == 0 ]] || fail "cargo build as $u failed with exit $rc"
}
warnings() { grep -c '^kache: warning:' "$LAST_ERR" || true; }
program() { "$1/target/debug/hello"; }

# make_app DIR OWNER MESSAGE: a one-crate program printing MESSAGE.
make_app() {
  mkdir -p "$1/src"
  printf '[package]\nname = "hello"\nversion = "0.1.0"\nedition = "2021"\n' > "$1/Cargo.toml"
  echo "fn main() { println!(\"$3\"); }" > "$1/src/main.rs"
  chown -R "$2:" "$1"
}
for u in "$victim" "$attacker"; do mkdir -m 755 "$pub/$u-cargo" && chown "$u:" "$pub/$u-cargo"; done
app=$pub/victim-app
make_app "$app" "$victim" "good program"

note "the attacker builds the victim's program and an evil one into a store, then swaps the entries"
mkdir -m 755 "$pub/attacker-home" && chown "$attacker:" "$pub/attacker-home"
store_a=$pub/attacker-home/store
make_app "$pub/attacker-good" "$attacker" "good program"
make_app "$pub/attacker-evil" "$attacker" "evil program"
ubuild "$attacker" "$pub/attacker-good" KACHE_CACHE_DIR="$store_a"
good_entry=$(find "$store_a/entries" -type f)
[[ $(wc -l <<<"$good_entry") == 1 ]] || fail "expected one entry after the attacker's first build: $good_entry"
ubuild "$attacker" "$pub/attacker-evil" KACHE_CACHE_DIR="$store_a"
evil_entry=$(find "$store_a/entries" -type f ! -path "$good_entry")
[[ $(wc -l <<<"$evil_entry") == 1 ]] || fail "expected one more entry after the evil build: $evil_entry"
good_k2=$(awk '$1 == "k2" {print $2}' "$good_entry")
as_plain "$attacker" bash -c 'sed "s/^k2 .*/k2 $1/" "$2" > "$3.new" && mv -f "$3.new" "$3"' \
  _ "$good_k2" "$evil_entry" "$good_entry"
# The plant works: a build of the good program with this store is served the evil one.
rm -rf "$pub/attacker-good/target"
ubuild "$attacker" "$pub/attacker-good" KACHE_CACHE_DIR="$store_a"
[[ $(program "$pub/attacker-good") == "evil program" ]] || skip "the planted entry is not served even to its owner"
# Then the attacker opens the store to everyone.
as_plain "$attacker" chmod -R a+rwX "$store_a"

note "1. a world-writable cache dir of another user: refused, one warning, the right program"
ubuild "$victim" "$app" HOME="$pub" KACHE_CACHE_DIR="$store_a"
assert_eq "$(program "$app")" "good program" "the victim's program built with the attacker's cache dir"
assert_eq "$(count_real_compiles)" 1 "real compiles with the attacker's cache dir"
assert_eq "$(warnings)" 1 "kache warnings with the attacker's cache dir"
assert_file_contains "$LAST_ERR" "owned by another user.*chown" "the warning names the fix"
assert_eq "$(find "$store_a" -user "$victim" | head -3)" "" "files the victim wrote into the attacker's store"

note "2. HOME unset, /tmp/kache-<uid> planted as the attacker's symlink: refused"
as_plain "$attacker" ln -s "$store_a" "$planted"
rm -rf "$app/target"
ubuild "$victim" "$app"
assert_eq "$(program "$app")" "good program" "the victim's program with a planted symlink"
assert_eq "$(count_real_compiles)" 1 "real compiles with a planted symlink"
assert_eq "$(warnings)" 1 "kache warnings with a planted symlink"
assert_file_contains "$LAST_ERR" "symlink owned by another user" "the warning says what is wrong"

note "2. HOME unset, /tmp/kache-<uid> planted as the attacker's directory: refused"
rm -f "$planted"
as_plain "$attacker" cp -a "$store_a" "$planted"
rm -rf "$app/target"
ubuild "$victim" "$app"
assert_eq "$(program "$app")" "good program" "the victim's program with a planted directory"
assert_eq "$(count_real_compiles)" 1 "real compiles with a planted directory"
assert_eq "$(warnings)" 1 "kache warnings with a planted directory"
assert_file_contains "$LAST_ERR" "owned by another user" "the warning says what is wrong"

note "2. HOME unset, nothing planted: kache creates /tmp/kache-<uid> private and caches there"
rm -rf "$planted" "$app/target"
ubuild "$victim" "$app"
assert_eq "$(warnings)" 0 "kache warnings with the no-HOME fallback"
assert_eq "$(stat -c '%U %a' "$planted")" "$victim 700" "owner and mode of the no-HOME fallback store"
rm -rf "$app/target"
ubuild "$victim" "$app"
assert_eq "$(count_real_compiles)" 0 "real compiles of a rebuild from the no-HOME fallback store"
assert_eq "$(program "$app")" "good program" "the program restored from the no-HOME fallback store"

note "3. after a normal build, the attacker reads nothing of the victim's store"
vhome=$pub/victim-home
mkdir -m 755 "$vhome" && chown "$victim:" "$vhome"
rm -rf "$app/target"
ubuild "$victim" "$app" HOME="$vhome"
rm -rf "$app/target"
ubuild "$victim" "$app" HOME="$vhome"
assert_eq "$(count_real_compiles)" 0 "real compiles of the victim's rebuild"
vstore=$vhome/.cache/kache
for kind in blobs entries manifests events; do
  [[ -n $(find "$vstore/$kind" -type f | head -1) ]] || fail "the victim's store has no $kind to protect"
done
if as_plain "$attacker" ls "$vstore" >/dev/null 2>&1; then fail "the attacker can list the victim's store"; fi
readable=0
while read -r f; do
  if as_plain "$attacker" cat "$f" >/dev/null 2>&1; then
    echo "   readable by the attacker: $f"
    readable=$((readable + 1))
  fi
done < <(find "$vstore" -type f)
assert_eq "$readable" 0 "files of the victim's store the attacker can read"
assert_eq "$(stat -c %a "$vstore")" 700 "mode of the victim's store"
assert_eq "$(find "$vstore" -type d ! -perm 700 | head -3)" "" "directories of the store not 0700"
assert_eq "$(find "$vstore" -type f ! -path '*/blobs/*' -perm /077 | head -3)" "" "store files others can access"

note "4. a store made readable by an earlier version is made private, once, without a warning"
chmod 755 "$vstore"
rm -rf "$app/target"
ubuild "$victim" "$app" HOME="$vhome"
assert_eq "$(warnings)" 0 "kache warnings with an old 0755 store"
assert_eq "$(count_real_compiles)" 0 "real compiles with an old 0755 store"
assert_eq "$(stat -c %a "$vstore")" 700 "mode of the old store after a build"

note "4. a world-writable store of the victim's own: refused by the wrapper and the CLI"
chmod 777 "$vstore"
rm -rf "$app/target"
ubuild "$victim" "$app" HOME="$vhome"
assert_eq "$(program "$app")" "good program" "the program built with a world-writable store"
assert_eq "$(count_real_compiles)" 1 "real compiles with a world-writable store"
assert_eq "$(warnings)" 1 "kache warnings with a world-writable store"
assert_file_contains "$LAST_ERR" "chmod 700 $vstore" "the warning names the fix"
rc=0
as_builder "$victim" env -i HOME="$vhome" PATH=/usr/bin:/bin "$KACHE" stats >"$LAST_OUT" 2>"$LAST_ERR" || rc=$?
assert_ne "$rc" 0 "exit status of kache stats on a world-writable store"
assert_file_contains "$LAST_ERR" "chmod 700 $vstore" "kache stats names the fix"
assert_eq "$(stat -c %a "$vstore")" 777 "a refused store is left as it is"
