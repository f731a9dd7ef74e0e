#!/usr/bin/env bash
# examples/pipeline: the three stage programs move every number through the
# two named queues and stop on their sentinels; when a stage dies, the
# launcher closes the queues and every other stage stops; either way nothing
# is left in /dev/shm.
source "${TEST_SRCDIR:-$0.runfiles}/shoal/tests/examples/testlib.sh"

prefix=pipeline-test-$$
leftovers() { ls /dev/shm | grep -F "shoal.$prefix" || true; }

# --- A clean run: 3 squarers ---
run pipeline/launcher --name="$prefix-ok" --count=5000 --squarers=3 --timeout_s=30
expect_rc 0
expect "^launcher: queues shoal\\.$prefix-ok-raw and shoal\\.$prefix-ok-squared\$"
expect '^source \(pid [0-9]+\): put 5000 numbers and 3 sentinels$'
expect_count 3 '^square \(pid [0-9]+\): squared [0-9]+ numbers$'
[[ $(sed -nE 's/^square \(pid [0-9]+\): squared ([0-9]+) numbers$/\1/p' "$out" | awk '{s += $1} END {print s}') -eq 5000 ]] ||
  fail "the squarers' counts do not add up to 5000"
expect '^sink \(pid [0-9]+\): 5000 squares, sum 41679167500 \(expected 41679167500\)$'
expect_count 5 '^launcher: (source|square\[[0-2]\]|sink) \(pid [0-9]+\) exited with 0$'
expect '^launcher: all stages exited 0$'
[[ -z $(leftovers) ]] || fail "left in /dev/shm: $(leftovers)"

# --- A stage dies: the others are stopped through close() ---
run pipeline/launcher --name="$prefix-crash" --count=200000 --squarers=2 \
  --crash_square_after=50 --timeout_s=30
expect_rc 1
expect '^launcher: square\[0\] \(pid [0-9]+\) was killed by signal 9$'
expect '^launcher: square\[0\] failed: closing the queues$'
expect '^launcher: sink \(pid [0-9]+\) exited with 3$'
expect '^sink \(pid [0-9]+\): the queue was closed after [0-9]+ squares, stopping$'
expect '^launcher: the pipeline failed$'
expect_none 'timeout: killing'
[[ -z $(leftovers) ]] || fail "left in /dev/shm after a crash: $(leftovers)"
pass
