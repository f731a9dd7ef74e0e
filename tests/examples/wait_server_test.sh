#!/usr/bin/env bash
# examples/wait_server: one WaitSet over three queues, a Listener, client
# connections, producer sentinels and a timer; every item and request is
# served exactly once and every process is seen to end.
source "${TEST_SRCDIR:-$0.runfiles}/shoal/tests/examples/testlib.sh"

run wait_server --producers=3 --items=2000 --clients=4 --requests=50
expect_rc 0
expect '^served 6000 queue items \(urgent [0-9]+, normal [0-9]+, bulk [0-9]+\)$'
expect '^every item exactly once: yes \(missing 0, twice 0\)$'
expect '^answered 200 requests from 4 clients$'
expect '^3 producers ended \(seen through their sentinels\)$'
expect '^7 processes exited cleanly of 7$'
pass
