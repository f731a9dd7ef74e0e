#!/usr/bin/env bash
# examples/float_channel: every block arrives intact and in order in both
# modes, and each mode prints its throughput.
source "${TEST_SRCDIR:-$0.runfiles}/shoal/tests/examples/testlib.sh"

run float_channel --blocks=200 --elements=10000
expect_rc 0
expect '^copy: 200 blocks of 10000 doubles \(0\.016 GB\) in [0-9.]+ ms: [0-9.]+ GB/s; 200 checked, 0 bad$'
expect '^loan: 200 blocks of 10000 doubles \(0\.016 GB\) in [0-9.]+ ms: [0-9.]+ GB/s; 200 checked, 0 bad$'
expect '^Done$'
# More slots, odd sizes.
run float_channel --blocks=37 --elements=1001 --slots=5
expect_rc 0
expect '^copy: 37 blocks of 1001 doubles .* 37 checked, 0 bad$'
expect '^loan: 37 blocks of 1001 doubles .* 37 checked, 0 bad$'
# A spawned consumer opens the channel through its handle.
run float_channel --blocks=20 --elements=5000 --start_method=spawn
expect_rc 0
expect '^copy: 20 blocks of 5000 doubles .* 20 checked, 0 bad$'
expect '^loan: 20 blocks of 5000 doubles .* 20 checked, 0 bad$'
pass
