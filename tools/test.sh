#!/usr/bin/env bash
# The README's test command: installs what is missing, then runs the whole
# suite, then the suite under AddressSanitizer and UndefinedBehaviorSanitizer,
# then the sync/ and ipc/ tests under ThreadSanitizer.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh test

bazel=(bazel)
# Explicit packages rather than //...: Bazel's convenience symlinks
# (bazel-<checkout dir>) would otherwise be walked as packages.
all=()
for d in sync ipc pool tests bench examples tools; do
  if [[ -d $d ]] && find "$d" -name BUILD.bazel -o -name BUILD | grep -q .; then
    all+=("//$d/...")
  fi
done
run() {
  echo "==> bazel test $*" >&2
  "${bazel[@]}" test "$@"
}

run "${all[@]}"
run --config=asan "${all[@]}"
run --config=ubsan "${all[@]}"
run --config=tsan //tests/sync/... //tests/ipc/...
echo "shoal: all tests passed (plain, asan, ubsan, tsan)" >&2
