#!/usr/bin/env bash
# The README's test command: installs what is missing, then runs the whole
# suite, then the suite under AddressSanitizer and UndefinedBehaviorSanitizer,
# then the sync/ and ipc/ tests under ThreadSanitizer, then each libFuzzer
# target for SHOAL_FUZZ_SECONDS (default 60) from its seed corpus.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh test

bazel=(bazel)
# Explicit packages rather than //...: Bazel's convenience symlinks
# (bazel-<checkout dir>) would otherwise be walked as packages.
all=()
for d in base sync ipc pool tests bench examples tools; do
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
echo "==> tools/fuzz.sh ${SHOAL_FUZZ_SECONDS:-60}" >&2
tools/fuzz.sh "${SHOAL_FUZZ_SECONDS:-60}"
echo "shoal: all tests passed (plain, asan, ubsan, tsan, fuzz)" >&2
