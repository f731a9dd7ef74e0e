#!/usr/bin/env bash
# examples/sensor_broadcast: two loggers see all 400 blocks, the slow
# dashboard's received + missed add up to 400, the late joiner starts 4
# blocks before the half-way point and sees every block from there; every
# block read is whole; with either start method.
source "${TEST_SRCDIR:-$0.runfiles}/shoal/tests/examples/testlib.sh"

for method in fork spawn; do
run sensor_broadcast --loggers=2 --blocks=400 --samples=1024 --start_method=$method
expect_rc 0
expect '^sensor: published 400 blocks of 1024 samples to 4 consumers$'
expect_count 2 '^logger [01]: received 400 blocks, missed 0, lost 0, bad 0, accounted for every block: yes$'
expect '^dashboard: received [0-9]+ blocks, missed [0-9]+, lost 0, bad 0, accounted for every block: yes$'
expect '^late joiner: received 204 blocks, missed 0, lost 0, bad 0, accounted for every block: yes$'
expect '^late joiner: joined at block 196 \(4 blocks of history\)$'
expect '^consumers exited cleanly: yes$'
done
pass
