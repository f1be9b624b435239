#!/usr/bin/env bash
# Installs what kache needs to build and test on Debian 12: the compiler and
# libraries from Debian, and the Debian-packaged crates the workload builds
# from. Idempotent; runs apt-get only for packages that are missing.
set -euo pipefail

pkgs=(
  g++ meson ninja-build pkg-config
  libxxhash-dev libtomlplusplus-dev libsimdjson-dev libcurl4-openssl-dev libssl-dev
  libuv1-dev libzstd-dev libpugixml-dev catch2
  sccache python3 curl ca-certificates
  librust-itoa-dev
  zstd
  python3-yaml  # reads the CI recipes of docs/ci.md (test_ci_recipes)
  tmux  # drives `kache monitor` in a real terminal (test_monitor)
  # libFuzzer (tests/fuzz/run.sh): clang 16 is the first that builds libstdc++ 12's
  # std::expected (with the concepts macro raised); clang-14 cannot.
  clang-16 libclang-rt-16-dev
  # The wrapper is linked by lld where it is there, to place the code a hit runs together.
  lld
)
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
# One dpkg-query for all of them (CI runs this on every build); apt-get, and its
# update, only when something is missing.
installed=" $(dpkg-query -W -f='${Package} ${Status}\n' "${pkgs[@]}" 2>/dev/null |
  awk '$2 == "install" && $3 == "ok" && $4 == "installed" { printf "%s ", $1 }')"
missing=()
for p in "${pkgs[@]}"; do
  [[ $installed == *" $p "* ]] || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}" >&2
  $sudo apt-get update -o DPkg::Lock::Timeout=600 -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=600 \
    --no-install-recommends "${missing[@]}" >/dev/null
fi
command -v cargo >/dev/null || { echo "install-deps: cargo is not on PATH (install Rust first)" >&2; exit 1; }
command -v node >/dev/null || echo "install-deps: warning: node is not installed; the S3 tests need node >= 20.15" >&2
