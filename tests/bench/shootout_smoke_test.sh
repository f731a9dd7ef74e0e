#!/usr/bin/env bash
# Smoke test of the shoot-out: see tests/bench/BUILD.bazel.
set -euo pipefail

runfiles=${TEST_SRCDIR:-$0.runfiles}/shoal
bin=$runfiles/bench/shootout
check=$runfiles/tests/bench/shootout_check.py
tmp=${TEST_TMPDIR:-$(mktemp -d)}
out=$tmp/shootout

# The shoot-out's working folder goes under a private TMPDIR; its shared
# names carry its pid, so other shoot-outs running at the same time (e.g.
# --runs_per_test) are not counted as ours.
private=$tmp/private
mkdir -p "$private"

rc=0
"$bin" --list > "$tmp/methods.txt"
TMPDIR=$private "$bin" --tiny --out "$out" > "$tmp/table.txt" 2> "$tmp/progress.txt" &
pid=$!
wait $pid || rc=$?
echo "--- shoot-out table (tiny mode: the numbers mean nothing) ---"
cat "$tmp/table.txt"
if [[ $rc -ne 0 ]]; then
  echo "FAIL: the shoot-out exited with $rc"
  tail -20 "$tmp/progress.txt"
  exit 1
fi

left=$( (ls -A "$private"; ls /dev/shm /tmp 2>/dev/null |
         grep -E "^shoal-shootout-(scale-)?$pid([-.]|\$)") || true)
if [[ -n $left ]]; then
  echo "FAIL: the shoot-out left files behind:"
  echo "$left"
  exit 1
fi

python3 "$check" "$out" "$tmp/methods.txt"
