#!/usr/bin/env bash
# Runs a program under mpirun, bounded in time, the way the tests need it:
#   mpirun_test.sh [--np=N] [--timeout=SECONDS] [--expect-fail] [--grep=RE]...
#                  [--mpirun-arg=ARG]... [--stdout=FILE] -- PROGRAM [ARGS...]
# --expect-fail: the run must end with a non-zero status (and within the
# bound); --grep: its combined output must match each extended regex;
# --stdout: the program's standard output goes to FILE instead (for callers
# that check it themselves; --grep then sees standard error only).
# Sets what Open MPI needs here: --oversubscribe (more ranks than cores),
# running as root when we are root, no CMA single-copy in containers, a
# short session directory, and no leak checking under ASan (Open MPI's own
# allocations are reported as leaks at exit).
set -uo pipefail
np=4
timeout_s=240
expect_fail=0
stdout_file=""
greps=()
extra=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --np=*) np=${1#*=} ;;
    --timeout=*) timeout_s=${1#*=} ;;
    --expect-fail) expect_fail=1 ;;
    --grep=*) greps+=("${1#*=}") ;;
    --mpirun-arg=*) extra+=("${1#*=}") ;;
    --stdout=*) stdout_file=${1#*=} ;;
    --) shift; break ;;
    *) echo "mpirun_test.sh: unknown flag $1" >&2; exit 2 ;;
  esac
  shift
done
[[ $# -ge 1 ]] || { echo "mpirun_test.sh: no program" >&2; exit 2; }

if [[ $(id -u) -eq 0 ]]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
export OMPI_MCA_btl_vader_single_copy_mechanism=none
# Unix-socket paths under Bazel's TEST_TMPDIR can exceed 108 bytes.
session=$(mktemp -d /tmp/shoal-mpi.XXXXXX)
trap 'rm -rf "$session"' EXIT
export TMPDIR=$session
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0
# Under ThreadSanitizer the suppressions for Open MPI's own code must be
# there (a test's data must list tsan.supp), or every run fails on them.
supp=$(dirname "$0")/tsan.supp
if [[ -n ${TSAN_OPTIONS:-} ]]; then
  if [[ ! -f $supp ]]; then
    echo "mpirun_test.sh: FAIL: $supp missing (add tsan.supp to the test's data)" >&2
    exit 2
  fi
  export TSAN_OPTIONS="$TSAN_OPTIONS:suppressions=$(cd "$(dirname "$supp")" && pwd)/tsan.supp"
fi

out=$session/output.txt
start=$(date +%s)
pass=()
for v in ASAN_OPTIONS UBSAN_OPTIONS TSAN_OPTIONS TEST_TMPDIR; do
  [[ -n ${!v:-} ]] && pass+=(-x "$v")
done
if [[ -n $stdout_file ]]; then
  timeout -k 10 "$timeout_s" mpirun --oversubscribe "${pass[@]}" "${extra[@]}" \
    -np "$np" "$@" >"$stdout_file" 2>"$out"
else
  timeout -k 10 "$timeout_s" mpirun --oversubscribe "${pass[@]}" "${extra[@]}" \
    -np "$np" "$@" >"$out" 2>&1
fi
rc=$?
end=$(date +%s)
cat "$out"
echo "mpirun_test.sh: status $rc after $((end - start)) s" >&2
if [[ $rc -eq 124 || $rc -eq 137 && $((end - start)) -ge $timeout_s ]]; then
  echo "mpirun_test.sh: FAIL: not finished within ${timeout_s} s" >&2
  exit 1
fi
if [[ $expect_fail -eq 1 && $rc -eq 0 ]]; then
  echo "mpirun_test.sh: FAIL: expected a non-zero status" >&2
  exit 1
fi
if [[ $expect_fail -eq 0 && $rc -ne 0 ]]; then
  echo "mpirun_test.sh: FAIL: status $rc" >&2
  exit 1
fi
for re in "${greps[@]}"; do
  if ! grep -Eq -- "$re" "$out"; then
    echo "mpirun_test.sh: FAIL: output does not match: $re" >&2
    exit 1
  fi
done
echo "mpirun_test.sh: ok" >&2
