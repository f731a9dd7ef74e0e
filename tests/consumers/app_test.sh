#!/usr/bin/env bash
# Runs the consumer program with each start method and compares its output
# with expected.txt (the version line is checked against version.bzl by
# run.sh; here only its form).
set -euo pipefail
app=$1
expected=$2
for method in fork spawn; do
  out=$(timeout 120 "$app" "$method")
  if ! diff <(sed 1d "$expected") <(sed 1d <<<"$out"); then
    echo "FAIL: app $method printed:"; echo "$out"; exit 1
  fi
  grep -Eq '^shoal [0-9]+\.[0-9]+\.[0-9]+ \([0-9]+\.[0-9]+\.[0-9]+\) ok$' <<<"$out" ||
    { echo "FAIL: version line: $(head -1 <<<"$out")"; exit 1; }
  echo "app $method: ok"
done
