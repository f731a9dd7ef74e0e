#!/usr/bin/env bash
# examples/config_blackboard: readers follow a configuration the main process
# changes 200 times; each ends with the final configuration and never reads a
# torn value; with either start method.
source "${TEST_SRCDIR:-$0.runfiles}/shoal/tests/examples/testlib.sh"

for method in fork spawn; do
run config_blackboard --readers=3 --updates=200 --start_method=$method
expect_rc 0
expect '^writer: 200 updates published \(generation 201\)$'
expect_count 3 '^reader [0-2]: woke [0-9]+ times, torn values 0, final config: log_level=3 max_connections=299 rate=1990\.0 mode=mode-200$'
expect '^final config: log_level=3 max_connections=299 rate=1990\.0 mode=mode-200$'
expect '^readers exited cleanly: yes$'
done
pass
