#!/usr/bin/env bash
# examples/apply_async: apply blocks, apply_async does not, the callback and
# error_callback run, both kinds of timeout behave, and a SIGKILLed worker
# fails only its task (WorkerLost) and is replaced.
source "${TEST_SRCDIR:-$0.runfiles}/shoal/tests/examples/testlib.sh"

# 3 s tasks: "not ready yet" and "returned before the task could end" hold
# unless this machine keeps the example off the CPU for 3 s (a busy CI
# machine has kept a test off it for almost 1 s).
run apply_async --sleep_ms=3000
expect_rc 0
use=$(field '^apply result:100 use:([0-9]+) ms$')
[[ -n $use && $use -ge 2990 ]] || fail "apply did not block for the task ($use ms)"
returned=$(field '^apply_async returned after ([0-9]+) ms, ready\(\)=false$')
[[ -n $returned && $returned -lt 3000 ]] || fail "apply_async blocked ($returned ms)"
use=$(field '^apply_async result2:100 use:([0-9]+) ms$')
[[ -n $use && $use -ge 100 ]] || fail "get() did not wait ($use ms)"
expect '^callback result:100 use:[0-9]+ ms$'
# The callback ran before wait() returned.
[[ $(grep -n '^callback result' "$out" | cut -d: -f1) -lt $(grep -En '^after the callback: get\(\)=100$' "$out" | cut -d: -f1) ]] ||
  fail "the callback did not run before wait() returned"
expect '^get\(timeout=750 ms\): TimeoutError \(.*\); the task goes on$'
expect '^get\(\) later: 49$'
expect '^task with timeout=1500 ms: TimeoutError after [0-9]+ ms \(.*timeout.*killed and replaced\)$'
victim=$(field '^workers before: \[.*\]; killing ([0-9]+) with SIGKILL$')
[[ -n $victim ]] || fail "no victim pid"
expect "^error_callback: worker pid $victim was killed by SIGKILL"
expect "^WorkerLost: pid $victim, signal 9: "
expect '^pool carries on: apply\(f_sleep, 3\) = 9$'
expect '^workers after: \[[0-9 ]+\] \(3 of 3, 1 replaced\)$'
after=$(field '^workers after: \[([0-9 ]+)\]')
[[ " $after " != *" $victim "* ]] || fail "the killed worker $victim is still listed"
pass
