#!/usr/bin/env bash
# examples/clock: two children print the time three times each, 50 ms apart,
# with either start method.
source "${TEST_SRCDIR:-$0.runfiles}/shoal/tests/examples/testlib.sh"

for method in fork spawn; do
run clock --interval=0.05 --start_method=$method
expect_rc 0
expect_count 3 '^\[Process-1\] The time is [A-Z][a-z]{2} [A-Z][a-z]{2} [ 0-9]{2} [0-9:]{8}\.[0-9]{3} [0-9]{4}$'
expect_count 3 '^\[ClockProcess-1\] ClockProcess: the time is '
expect '^Process-1 \(pid [0-9]+\) exited with 0$'
expect '^ClockProcess-1 \(pid [0-9]+\) exited with 0$'
# The function's lines all come before its exit line (join waited).
[[ $(grep -n 'Process-1 (pid' "$out" | head -1 | cut -d: -f1) -eq 4 ]] ||
  fail "Process-1's exit line is not the 4th line"
# Six sleeps of 50 ms.
[[ $elapsed_ms -ge 300 ]] || fail "ran in $elapsed_ms ms: the interval was not honoured"
done
pass
