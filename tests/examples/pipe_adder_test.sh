#!/usr/bin/env bash
# examples/pipe_adder: the adder answers numbers and strings, and leaves on
# EOF once the client closes its end (join() would hang otherwise: the run
# is bounded).
source "${TEST_SRCDIR:-$0.runfiles}/shoal/tests/examples/testlib.sh"

run pipe_adder --requests=500
expect_rc 0
[[ $(sed -n 1p "$out") == "7" ]] || fail "first reply is not 7"
[[ $(sed -n 2p "$out") == "HelloWorld" ]] || fail "second reply is not HelloWorld"
expect '^500 more requests: 0 wrong replies, [0-9.]+ us per round trip$'
expect '^Server done \(502 requests\)$'
expect '^server exited with 0$'
pass
