#!/usr/bin/env bash
# The README's test command: installs what is missing, then runs the whole
# suite, then the suite under AddressSanitizer and UndefinedBehaviorSanitizer,
# then the sync/ and ipc/ tests under ThreadSanitizer.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh test

bazel=(bazel)
run() {
  echo "==> bazel test $*" >&2
  "${bazel[@]}" test "$@"
}

run //...
run --config=asan //...
run --config=ubsan //...
run --config=tsan //tests/sync/... //tests/ipc/...
echo "shoal: all tests passed (plain, asan, ubsan, tsan)" >&2
