#!/usr/bin/env bash
# User data that looks like kache's sentinel syntax must never pass for a
# sentinel: a file named `{{kache:tmp}}.txt` beside `tmp.txt` (an include_str!
# input), and an option_env! value that is the literal text `{{kache:cwd}}`.
# Each change must reach the program; nothing may match the look-alike.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# The tmp root is then "/tmp", so "src/{{kache:tmp}}.txt" read as a sentinel
# path would be "src//tmp.txt".
export TMPDIR=/tmp

ws=$(new_workspace ws)

case_file() {
brace="$ws/leaf/src/{{kache:tmp}}.txt"
printf 'same-text' > "$brace"
printf 'same-text' > "$ws/leaf/src/tmp.txt"
cat >> "$ws/leaf/src/lib.rs" <<'EOF'

pub const BRACE: &str = include_str!("{{kache:tmp}}.txt");
EOF
replace_in "$ws/app/src/main.rs" 'fn main() {' 'fn main() {
    println!("brace={}", leaf::BRACE);'

note "[file] cold build"
kcargo "$ws" build
assert_app "$ws" debug brace=same-text

note "[file] the brace file changes, tmp.txt does not"
sleep 1 # a new mtime for cargo
printf 'brace-two' > "$brace"
kcargo "$ws" build
assert_compiled 'leaf:leaf' "[file] build after editing {{kache:tmp}}.txt (kache matched it against src/tmp.txt)"
assert_app "$ws" debug brace=brace-two

note "[file] clean + build: served from the store, with a dep-info naming the brace file"
pcargo "$ws" clean
kcargo "$ws" build
assert_not_compiled 'leaf:leaf' "[file] warm build after clean"
assert_app "$ws" debug brace=brace-two
dep=$(ls "$ws"/target/debug/deps/leaf-*.d | head -1)
assert_file_contains "$dep" 'src/\{\{kache:tmp\}\}\.txt' "[file] the restored dep-info names the brace file"
sleep 1
printf 'brace-333' > "$brace"
kcargo "$ws" build
assert_compiled 'leaf:leaf' "[file] build after editing the brace file once more (cargo did not see it: restored dep-info)"
assert_app "$ws" debug brace=brace-333
}

case_env() {
note "[env] option_env! value is the literal text {{kache:cwd}}"
export KACHE_FIXTURE_MSG='{{kache:cwd}}'
kcargo "$ws" build
assert_compiled 'leaf:leaf' "[env] build with the look-alike value"
assert_app "$ws" debug 'env={{kache:cwd}}'

note "[env] the value is now the workspace path itself (cargo's working directory)"
export KACHE_FIXTURE_MSG=$ws
kcargo "$ws" build
assert_compiled 'leaf:leaf' "[env] build with the workspace path (kache matched it against the literal {{kache:cwd}})"
assert_app "$ws" debug "env=$ws"

note "[env] back to the look-alike: served from the store"
export KACHE_FIXTURE_MSG='{{kache:cwd}}'
kcargo "$ws" build
assert_not_compiled 'leaf:leaf' "[env] back to the look-alike value (its entry is in the store)"
assert_app "$ws" debug 'env={{kache:cwd}}'
}

# E2E_CASES="env" runs only that case (to check one case against another build).
for c in ${E2E_CASES:-file env}; do
  "case_$c"
done
