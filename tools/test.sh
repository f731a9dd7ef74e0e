#!/usr/bin/env bash
# The README's test command: installs what is missing, then runs the whole
# suite, then the suite under AddressSanitizer and UndefinedBehaviorSanitizer,
# then the sync/, ipc/ and mpi/ tests under ThreadSanitizer, then each libFuzzer
# target for SHOAL_FUZZ_SECONDS (default 60) from its seed corpus.
#
# It says which stage it is in ("[3/6] asan") and how long each took, and
# ends with a line of its own either way: "shoal: all tests passed ..." or
# "shoal: FAILED in stage k of n (name) ...", so the end of a CI log names
# what broke.
set -euo pipefail
cd "$(dirname "$0")/.."

bazel=(bazel)
# Explicit packages rather than //...: Bazel's convenience symlinks
# (bazel-<checkout dir>) would otherwise be walked as packages.
all=()
for d in base sync ipc pool mpi tests bench examples tools; do
  if [[ -d $d ]] && find "$d" -name BUILD.bazel -o -name BUILD | grep -q .; then
    all+=("//$d/...")
  fi
done

stages=(setup plain consumers asan ubsan tsan fuzz)
n=${#stages[@]}
k=0
name=""
t0=$SECONDS
t_stage=$SECONDS
times=()

hms() {  # seconds -> "1h02m03s" / "2m03s" / "3s"
  local s=$1
  if ((s >= 3600)); then
    printf '%dh%02dm%02ds' $((s / 3600)) $((s % 3600 / 60)) $((s % 60))
  elif ((s >= 60)); then
    printf '%dm%02ds' $((s / 60)) $((s % 60))
  else
    printf '%ds' "$s"
  fi
}

begin() {
  k=$((k + 1))
  name=$1
  t_stage=$SECONDS
  echo "==> [$k/$n] $name: $2" >&2
}

end() {
  local took=$((SECONDS - t_stage))
  times+=("$name $(hms $took)")
  echo "==> [$k/$n] $name passed in $(hms $took)" >&2
}

joined() {  # the stages done so far: "setup 3s, plain 12m04s"
  local out="" t
  for t in "${times[@]}"; do out+="${out:+, }$t"; done
  echo "$out"
}

on_exit() {
  local rc=$?
  if [[ $rc -ne 0 ]]; then
    local before
    before=$(joined)
    echo "shoal: FAILED in stage $k of $n ($name) after $(hms $((SECONDS - t_stage))) in it, $(hms $((SECONDS - t0))) in all (exit $rc)${before:+; passed before it: $before}" >&2
  fi
}
trap on_exit EXIT

run() {
  echo "    bazel test $*" >&2
  "${bazel[@]}" test "$@"
}

begin setup "tools/setup.sh test"
tools/setup.sh test
end

begin plain "the whole suite"
run "${all[@]}"
end

begin consumers "tests/consumers/run.sh: shoal installed and used from CMake, pkg-config, a .deb and Bazel"
tests/consumers/run.sh
end

begin asan "the whole suite under AddressSanitizer"
run --config=asan "${all[@]}"
end

begin ubsan "the whole suite under UndefinedBehaviorSanitizer"
run --config=ubsan "${all[@]}"
end

begin tsan "sync/, ipc/ and mpi/ tests under ThreadSanitizer"
run --config=tsan //tests/sync/... //tests/ipc/... //tests/mpi/...
end

begin fuzz "tools/fuzz.sh ${SHOAL_FUZZ_SECONDS:-60}"
tools/fuzz.sh "${SHOAL_FUZZ_SECONDS:-60}"
end

echo "shoal: all tests passed (plain, consumers, asan, ubsan, tsan, fuzz) in $(hms $((SECONDS - t0))): $(joined)" >&2
