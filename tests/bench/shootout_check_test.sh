#!/usr/bin/env bash
# shootout_check.py on made-up results: a row too slow to sample is a skip
# with its reason; a row whose checks failed is a failure.
set -euo pipefail
check=${TEST_SRCDIR:-$0.runfiles}/shoal/tests/bench/shootout_check.py
tmp=${TEST_TMPDIR:-$(mktemp -d)}

write() {  # write DIR VALUE_ROW
  mkdir -p "$1"
  printf 'fast\nslow\n' > "$1.methods.txt"
  printf '# report\n## How to read this\n## Against the README%ss table\n' "'" > "$1/report.md"
  for p in latency.svg throughput.svg scaling.svg; do : > "$1/$p"; done
  {
    echo '{"rows": ['
    echo '{"method": "fast", "workload": "value-increment", "size": 0, "status": "ok", "samples": [1.5e6, 1.6e6], "messages": 9000, "checksum_ok": true, "skip_kind": "", "note": ""},'
    echo "$2"
    for i in 1 2 3 4 5 6 7 8 9; do
      for m in shoal boost; do
        sep=,; [[ $i == 9 && $m == boost ]] && sep=
        echo "{\"method\": \"$m\", \"workload\": \"scaling\", \"size\": $i, \"status\": \"ok\", \"samples\": [1.0], \"messages\": 10, \"checksum_ok\": true, \"skip_kind\": \"\", \"note\": \"\"}$sep"
      done
    done
    echo ']}'
  } > "$1/results.json"
}

# The busy machine of the report: the row ran, its check passed, and no
# operation completed inside the 3 ms window.
write "$tmp/slow" '{"method": "slow", "workload": "value-increment", "size": 0, "status": "ok", "samples": [0, 0], "messages": 0, "checksum_ok": true, "skip_kind": "", "note": ""},'
out=$(python3 "$check" "$tmp/slow" "$tmp/slow.methods.txt") || {
  echo "FAIL: a row too slow to sample failed the check:"; echo "$out"; exit 1; }
grep -q "skipped: slow value-increment 0: too slow to sample" <<<"$out" || {
  echo "FAIL: no skip reason printed:"; echo "$out"; exit 1; }

# Checks that failed are still a failure.
write "$tmp/bad" '{"method": "slow", "workload": "value-increment", "size": 0, "status": "ok", "samples": [1.0, 1.0], "messages": 5, "checksum_ok": false, "skip_kind": "", "note": ""},'
if out=$(python3 "$check" "$tmp/bad" "$tmp/bad.methods.txt"); then
  echo "FAIL: a row whose checks failed passed:"; echo "$out"; exit 1
fi
grep -q "ok but its checks failed" <<<"$out"

# A stray working file in the results folder is a failure.
write "$tmp/stray" '{"method": "slow", "workload": "value-increment", "size": 0, "status": "ok", "samples": [1.0, 1.0], "messages": 5, "checksum_ok": true, "skip_kind": "", "note": ""},'
: > "$tmp/stray/roudi.log"
if out=$(python3 "$check" "$tmp/stray" "$tmp/stray.methods.txt"); then
  echo "FAIL: a stray file in the results folder passed:"; echo "$out"; exit 1
fi
grep -q "unexpected roudi.log" <<<"$out"
echo "PASS"
