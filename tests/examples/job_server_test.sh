#!/usr/bin/env bash
# examples/job_server: exec'd workers join through the Listener and get their
# queues by descriptor; the impostor with a wrong key is refused on both
# sides; every job comes back.
source "${TEST_SRCDIR:-$0.runfiles}/shoal/tests/examples/testlib.sh"

run job_server --workers=3 --jobs=2000
expect_rc 0
expect "^listening on '\\\\0shoal-listener-[0-9a-f]{32}'$"
expect '^refused a client: .*digest received was wrong'
expect '^impostor \(pid [0-9]+\) was refused: .*digest sent was rejected'
expect '^3 workers joined$'
expect '^2000 jobs done by 3 workers: sum of squares 2668667000 \(correct\)$'
expect '^all 4 client processes exited cleanly: yes$'
pass
