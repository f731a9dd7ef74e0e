#!/usr/bin/env bash
# examples/executor_batch: as_completed yields every task once, in completion
# order; wait(FIRST_EXCEPTION) returns on the failure and the tasks not yet
# started are cancelled.
source "${TEST_SRCDIR:-$0.runfiles}/shoal/tests/examples/testlib.sh"

# 200 ms units: the completion order and "not started yet" come from the
# tasks' lengths, not from how a loaded machine schedules 50 ms naps.
run executor_batch --tasks=10 --unit_ms=200 --fail_at=2
expect_rc 0
expect_count 10 '^completed #([1-9]|10): task [0-9] -> [0-9]+ \(after [0-9]+ ms\)$'
order=$(sed -nE 's/^completed #[0-9]+: task ([0-9]) -> .*/\1/p' "$out" | tr -d '\n')
[[ $(echo "$order" | grep -o . | sort | tr -d '\n') == "0123456789" ]] ||
  fail "as_completed order $order does not hold every task once"
[[ $order != "0123456789" ]] || fail "tasks of uneven length completed in submission order"
for i in $(seq 0 9); do expect "^completed #[0-9]+: task $i -> $((i * i)) "; done
expect '^as_completed: 10 of 10 tasks$'

expect '^wait\(FIRST_EXCEPTION\) returned: [0-9]+ done, [0-9]+ not done$'
expect '^first exception: task 2: std::runtime_error: task 2 failed$'
expect '^task 2: failed: task 2 failed$'
cancelled=$(field '^second batch: [0-9]+ completed, 1 failed, ([0-9]+) cancelled$')
completed=$(field '^second batch: ([0-9]+) completed, 1 failed, [0-9]+ cancelled$')
[[ -n $cancelled && $cancelled -ge 1 ]] || fail "nothing was cancelled"
[[ $((completed + cancelled)) -eq 9 ]] || fail "$completed + $cancelled != 9"
expect "^cancelled $cancelled of the [0-9]+ not done\$"
expect_count "$cancelled" '^task [0-9]: cancelled$'
pass
