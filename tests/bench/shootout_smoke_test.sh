#!/usr/bin/env bash
# Smoke test of the shoot-out: see tests/bench/BUILD.bazel.
set -euo pipefail

runfiles=${TEST_SRCDIR:-$0.runfiles}/shoal
bin=$runfiles/bench/shootout
check=$runfiles/tests/bench/shootout_check.py
tmp=${TEST_TMPDIR:-$(mktemp -d)}
out=$tmp/shootout

before=$(ls /dev/shm /tmp 2>/dev/null | grep -c '^shoal-shootout' || true)

rc=0
"$bin" --list > "$tmp/methods.txt"
"$bin" --tiny --out "$out" > "$tmp/table.txt" 2> "$tmp/progress.txt" || rc=$?
echo "--- shoot-out table (tiny mode: the numbers mean nothing) ---"
cat "$tmp/table.txt"
if [[ $rc -ne 0 ]]; then
  echo "FAIL: the shoot-out exited with $rc"
  tail -20 "$tmp/progress.txt"
  exit 1
fi

after=$(ls /dev/shm /tmp 2>/dev/null | grep -c '^shoal-shootout' || true)
if [[ $after -gt $before ]]; then
  echo "FAIL: the shoot-out left files behind:"
  ls /dev/shm /tmp | grep '^shoal-shootout'
  exit 1
fi

python3 "$check" "$out" "$tmp/methods.txt"
