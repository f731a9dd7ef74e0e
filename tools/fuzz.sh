#!/usr/bin/env bash
# Coverage-guided fuzzing of shoal's parsers with clang's libFuzzer (plus
# ASan and UBSan): the codec's decoder, Connection frame parsing, region
# header validation, a queue whose shared bytes are garbage, a live queue
# that a hostile peer writes into between a real writer's and reader's
# operations, the Listener/Client handshake with Python-framed reads, a
# Blackboard and a Latest whose shared memory is garbage, a request/response
# Service whose shared memory is garbage, and a live Broadcast written into
# between its operations.
#
#   tools/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]     (default: 60, all)
#
# Each target starts from its checked-in seed corpus (tests/fuzz/corpus/X,
# read-only; new inputs go to a scratch copy) and runs for the given time.
# Any crash, hang (-timeout), leak or sanitizer report fails the run; the
# reproducer is left in $SHOAL_FUZZ_OUT (default /tmp/shoal-fuzz). Prints the
# executions per target. Builds in its own Bazel output base (clang).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh fuzz

secs=${1:-60}
shift || true
targets=("$@")
[[ ${#targets[@]} -eq 0 ]] && targets=(codec connection region queue live_queue handshake blackboard service broadcast)
out=${SHOAL_FUZZ_OUT:-/tmp/shoal-fuzz}
mkdir -p "$out"

# One output base per checkout (clang builds must not share the GCC one).
bazel=(bazel --output_base="${HOME}/.cache/bazel/shoal-fuzz-$(pwd | md5sum | cut -c1-8)")
labels=()
for t in "${targets[@]}"; do labels+=("//tests/fuzz:${t}_fuzzer"); done
echo "==> building ${labels[*]} (clang, libFuzzer, ASan, UBSan)" >&2
"${bazel[@]}" build --config=fuzz "${labels[@]}" >&2
bin=$("${bazel[@]}" info --config=fuzz bazel-bin 2>/dev/null)

status=0
for t in "${targets[@]}"; do
  work="$out/$t"
  rm -rf "$work"
  mkdir -p "$work/corpus"
  cp tests/fuzz/corpus/"$t"/* "$work/corpus/" 2>/dev/null || true
  echo "==> fuzzing $t for ${secs}s" >&2
  log="$work/log.txt"
  if "$bin/tests/fuzz/${t}_fuzzer" "$work/corpus" \
      -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=8192 \
      -print_final_stats=1 -artifact_prefix="$work/" >"$log" 2>&1; then
    execs=$(grep -m1 'stat::number_of_executed_units' "$log" | awk '{print $2}')
    echo "fuzz $t: ${execs:-?} executions in ${secs}s, no crash, no hang, no sanitizer report" >&2
  else
    status=1
    echo "fuzz $t: FAILED; log $log, reproducer:" $(ls "$work"/crash-* "$work"/timeout-* "$work"/leak-* 2>/dev/null) >&2
    tail -n 30 "$log" >&2
  fi
done
exit $status
