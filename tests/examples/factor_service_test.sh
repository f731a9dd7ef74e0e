#!/usr/bin/env bash
# examples/factor_service: two server processes, three client processes
# whose every reply is correct; a handler exception, async futures, and a
# poison request that kills its server (WorkerLost for that call only, the
# other server serves on); the counts add up; with either start method.
source "${TEST_SRCDIR:-$0.runfiles}/shoal/tests/examples/testlib.sh"

for method in fork spawn; do
run factor_service --clients=3 --calls=200 --start_method=$method
expect_rc 0
expect '^2 server processes serving$'
expect_count 3 '^client [0-2]: 200 calls, 200 replies correct$'
expect '^factor\(0\): std::invalid_argument: 0 has no prime factorization$'
expect '^async: 8 futures, 8 correct$'
expect '^poison: WorkerLost: the server that took it died$'
expect '^dead server exit code: -9 \(SIGKILL\)$'
expect '^after the crash: 100 calls, 100 correct \(served by the other server\)$'
expect '^stats: calls=710 served=709 errors=1 lost=1 dropped=0 discarded=0$'
expect '^clients exited cleanly: yes$'
done
pass
