#!/usr/bin/env bash
# Prints the figures of a reliability run (`meson test -C build --suite reliability`)
# from its log: the latency a stalled or dead remote adds, the daemon's RSS and latency
# under IPC abuse, the intents a killed daemon left and replayed, and what kill -9
# mid-download left behind. Each test prints these lines itself; this only gathers them.
#   bash tests/e2e/reliability_figures.sh [build/meson-logs/testlog.txt]
set -euo pipefail
log=${1:-build/meson-logs/testlog.txt}
[[ -r $log ]] || { echo "no test log at $log (run the suite first)" >&2; exit 1; }
awk '
  /^test: / { name = $NF; next }
  /^result: / { if (name != "") print name ": " $0; next }
  name == "test_remote_stall" && /cold build:|a check while stalled|answered checks again|kache daemon stop: exit/ { print name ": " $0 }
  name == "test_ipc_abuse" && /RSS|status during the abuse|closed after|connections refused/ { print name ": " $0 }
  name == "test_daemon_faults" && /after kill -9|drained:|MEASURE|misses that waited|hits with the server down/ { print name ": " $0 }
  name == "test_kill_download" && /largest pack|after the kill/ { print name ": " $0 }
  name == "test_s3_faults" && /sync --pull: exit|B: uploaded/ { print name ": " $0 }
  /^duration: / { if (name != "") print name ": " $0 }
' "$log" | sed -E 's/ +/ /g'
