#!/usr/bin/env bash
# examples/joinable_queue: join() returns once every item is task_done().
source "${TEST_SRCDIR:-$0.runfiles}/shoal/tests/examples/testlib.sh"

run joinable_queue --consumers=10 --items=50
expect_rc 0
# Part 1: the daemon consumer printed 1..4 in order, then join() returned.
[[ "$(grep -E '^Process-1 got ' "$out" | awk '{print $3}' | tr '\n' ' ')" == "1 2 3 4 " ]] ||
  fail "the first consumer did not print 1 2 3 4 in order"
expect '^one consumer: all 4 items done \(unfinished: 0\)$'
# Part 2: 50 items, each handled once, by the 10 consumers (Process-2..11).
expect_count 50 '^Process-([2-9]|1[01]) got [0-9]+$'
[[ $(grep -E '^Process-([2-9]|1[01]) got ' "$out" | awk '{print $3}' | sort -n | uniq | wc -l) -eq 50 ]] ||
  fail "some item was handled twice or never"
expect '^10 consumers: all 50 items done, sum 1275 \(expected 1275\)$'
# join() returned only after the last item was handled.
[[ $(tail -1 "$out") == "10 consumers: all 50 items done, sum 1275 (expected 1275)" ]] ||
  fail "a consumer printed after join() returned"
pass
