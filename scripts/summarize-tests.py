#!/usr/bin/env python3
"""Sums meson's test log into one line: 'N passed, N failed'.

A Catch2 binary counts its test cases; any other test (an end-to-end script)
counts as one. Failures are listed by name above the summary line.
"""
import json
import re
import sys

passed = failed = 0
failures = []
args = [a for a in sys.argv[1:] if not a.startswith("--")]
if "--asan-build-failed" in sys.argv:
    failed += 1
    failures.append("asan build")
for build in args:
    try:
        lines = open(f"{build}/meson-logs/testlog.json", encoding="utf-8", errors="replace").read().splitlines()
    except OSError:
        failed += 1
        failures.append(f"{build}: no test log")
        continue
    prefix = "asan:" if build.rstrip("/").endswith("-asan") else ""
    for line in lines:
        t = json.loads(line)
        name = prefix + t["name"]
        ok = t["result"] in ("OK", "EXPECTEDFAIL", "SKIP")
        out = t.get("stdout", "") or ""
        m_all = re.search(r"All tests passed \(\d+ assertions? in (\d+) test cases?\)", out)
        m_mix = re.search(r"test cases:\s*(\d+)\s*\|\s*(\d+) passed\s*\|\s*(\d+) failed", out)
        if m_all and ok:
            passed += int(m_all.group(1))
        elif m_mix:
            passed += int(m_mix.group(2))
            failed += int(m_mix.group(3))
            if int(m_mix.group(3)) or not ok:
                failures.append(name)
            if not ok and int(m_mix.group(3)) == 0:
                failed += 1
        elif ok:
            passed += 1
        else:
            failed += 1
            failures.append(f"{name} ({t['result']})")
for f in failures:
    print(f"FAILED: {f}")
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
