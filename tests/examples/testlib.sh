# Sourced by the example tests: run an example with a time bound, then check
# its output line by line.
#
#   source "$(dirname "$0")/testlib.sh"    # (or via runfiles, as the tests do)
#   run clock --interval=0.05              # stdout in $out, stderr in $err, rc in $rc
#   expect_rc 0
#   expect '^Process-1 \(pid [0-9]+\) exited with 0$'
#   expect_count 3 '^\[Process-1\] The time is'
set -euo pipefail

runfiles=${TEST_SRCDIR:-$0.runfiles}/shoal
tmp=${TEST_TMPDIR:-$(mktemp -d)}
out=$tmp/stdout.txt
err=$tmp/stderr.txt
rc=0

fail() {
  echo "FAIL: $*"
  echo "--- stdout ---"
  cat "$out" 2>/dev/null || true
  echo "--- stderr ---"
  cat "$err" 2>/dev/null || true
  exit 1
}

# run NAME ARGS...: runs examples/NAME (a path under examples/), killed after
# RUN_TIMEOUT seconds (default 40) so that a hang fails instead of waiting
# for Bazel's test timeout.
run() {
  local bin=$runfiles/examples/$1
  shift
  rc=0
  local start
  start=$(date +%s%N)
  timeout -k 5 "${RUN_TIMEOUT:-40}" "$bin" "$@" >"$out" 2>"$err" || rc=$?
  elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
  echo "ran $(basename "$bin") $* -> exit $rc in ${elapsed_ms} ms"
  if [[ $rc -eq 124 || $rc -eq 137 ]]; then fail "timed out"; fi
  # A sanitizer report in any process of the example (children and pool
  # workers share its stderr) fails the test, whatever the exit code.
  if grep -Eq 'Sanitizer|runtime error:' "$err"; then fail "sanitizer report"; fi
}

expect_rc() {
  [[ $rc -eq $1 ]] || fail "exit code $rc, expected $1"
}

# expect REGEX [FILE]: some line matches (grep -E).
expect() {
  grep -Eq -- "$1" "${2:-$out}" || fail "no line matches /$1/ in ${2:-stdout}"
}

# expect_none REGEX [FILE]: no line matches.
expect_none() {
  if grep -Eq -- "$1" "${2:-$out}"; then fail "a line matches /$1/ in ${2:-stdout}"; fi
}

# expect_count N REGEX [FILE]: exactly N lines match.
expect_count() {
  local n
  n=$(grep -Ec -- "$2" "${3:-$out}" || true)
  [[ $n -eq $1 ]] || fail "$n lines match /$2/ in ${3:-stdout}, expected $1"
}

# field REGEX: the first capture group (sed -E) of the first matching line.
field() {
  sed -nE "s/$1/\\1/p" "$out" | head -1
}

pass() {
  echo "PASS"
  exit 0
}
