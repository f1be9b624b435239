#!/usr/bin/env bash
# A build-script probe that fails before rustc writes dep-info (a syntax error)
# names no input: recorded, its input set would be empty and match any later
# code at the same path with the same arguments, so the build script's next
# probe there would be answered with the old failure. With kache the build
# script must get the answers it gets without kache: from an empty store, and
# again after `cargo clean` with the store warm. Likewise a probe that fails
# because a module file it names is missing: rustc's dep-info cannot list that
# file, so the failure is not recorded, and the same code once the file exists
# compiles.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

want='probe: a=false b=true c=false d=true'
run_probe_app() { "$1/target/debug/probe-app" || fail "probe-app exited with status $?"; }

note "without kache"
plain=$(new_workspace plain probe)
pcargo "$plain" build
assert_eq "$(run_probe_app "$plain")" "$want" "the probes' answers without kache"

note "with kache, empty store"
ws=$(new_workspace ws probe)
kcargo "$ws" build
assert_eq "$(run_probe_app "$ws")" "$want" "the probes' answers with kache from an empty store (the failed probe replayed for the second?)"
assert_eq "$(count_probe_compiles)" 4 "all four probes compiled on the first build"

note "with kache, after cargo clean"
pcargo "$ws" clean
kcargo "$ws" build
assert_eq "$(run_probe_app "$ws")" "$want" "the probes' answers with kache from a warm store"
# The probe that parses is served from the store; the one that fails before
# writing dep-info was not recorded, so it runs again.
assert_eq "$(count_probe_compiles)" 2 "probe compiles on the warm build (only the two failing probes run)"
