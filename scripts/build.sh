#!/usr/bin/env bash
# Configures (once) and builds kache into build/ (or $1).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="${1:-$root/build}"
[ -f "$dir/build.ninja" ] || meson setup "$dir" "$root" >/dev/null
meson compile -C "$dir" >/dev/null
