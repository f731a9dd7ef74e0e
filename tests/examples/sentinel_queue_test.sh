#!/usr/bin/env bash
# examples/sentinel_queue: both shutdown recipes stop every consumer, and
# every item is consumed exactly once.
source "${TEST_SRCDIR:-$0.runfiles}/shoal/tests/examples/testlib.sh"

run sentinel_queue --consumers=4 --items=200
expect_rc 0
expect_count 4 '^Process-[1-4]: Consumer done after [0-9]+ items$'
expect '^sentinels: 4 consumers got 200 items, sum 20100 \(expected 200, 20100\)$'
expect_count 4 '^Process-[5-8]: queue closed and drained after [0-9]+ items$'
expect '^close: 4 consumers got 200 items, sum 20100 \(expected 200, 20100\)$'
# Per-consumer counts add up in both parts.
[[ $(grep -E 'Consumer done after' "$out" | awk '{s += $5} END {print s}') -eq 200 ]] ||
  fail "sentinel consumers' counts do not add up to 200"
[[ $(grep -E 'drained after' "$out" | awk '{s += $7} END {print s}') -eq 200 ]] ||
  fail "draining consumers' counts do not add up to 200"
pass
