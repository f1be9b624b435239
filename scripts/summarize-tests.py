#!/usr/bin/env python3
"""Sums meson's test logs into one line: 'N passed, N failed, N skipped'.

A Catch2 binary counts its test cases; any other test (an end-to-end script)
counts as one. A test meson reports as SKIP (exit 77: it cannot run on this
machine, e.g. the S3 tests without node) is counted as skipped, never as
passed. Failures and skips are listed by name above the summary line.

    summarize-tests.py BUILD_DIR... [--asan-build-failed=TARGET,...]

--asan-build-failed names sanitizer builds that did not compile: each is a failure.
"""
import json
import re
import sys

passed = failed = skipped = 0
failures = []
skips = []
builds = [a for a in sys.argv[1:] if not a.startswith("--")]
for a in sys.argv[1:]:
    if a == "--asan-build-failed" or a.startswith("--asan-build-failed="):
        targets = a.partition("=")[2] or "asan build"
        for target in targets.split(","):
            failed += 1
            failures.append(f"asan:{target} (the sanitizer build failed)")
for build in builds:
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
        result = t["result"]
        if result == "SKIP":
            skipped += 1
            skips.append(name)
            continue
        ok = result in ("OK", "EXPECTEDFAIL")
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
            failures.append(f"{name} ({result})")
for s in skips:
    print(f"SKIPPED: {s}")
for f in failures:
    print(f"FAILED: {f}")
print(f"{passed} passed, {failed} failed, {skipped} skipped")
sys.exit(1 if failed else 0)
