#!/usr/bin/env bash
# examples/pool_map: the initializer runs once per worker, maxtasksperchild=3
# replaces workers, and loop and Pool.map agree for both workloads; with
# either start method.
source "${TEST_SRCDIR:-$0.runfiles}/shoal/tests/examples/testlib.sh"

for method in fork spawn; do
run pool_map --items=20 --processes=2 --trivial_items=100000 \
  --heavy_items=6 --heavy_iterations=20000 --start_method=$method
expect_rc 0
list='\[0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30, 32, 34, 36, 38\]'
expect "^Built-in: $list\$"
expect_count 2 "^Pool    : $list\$"
# Part 1: two workers, each initialized once.
expect '^pool of 2: 2 workers started$'
# Part 2: 20 one-item tasks, at most 3 per worker: at least 7 workers.
started=$(field '^pool of 2, maxtasksperchild=3, 20 tasks: ([0-9]+) workers started$')
[[ -n $started && $started -ge 7 ]] || fail "maxtasksperchild=3: only '$started' workers started"
# Every start printed its name (initializer output from the workers).
expect_count $((2 + started)) '^Starting (Fork|Spawn)PoolWorker-[0-9.]+$'
expect '^pool of [0-9]+ workers started in [0-9.]+ ms \(not counted below\)$'
expect '^trivial work \(x \* 2\) on 100000 items: loop [0-9.]+ ms, Pool.map [0-9.]+ ms: the pool is [0-9.]+x (slower|faster); results equal: yes$'
expect '^heavy work \(20000 sin\(\) per item\) on 6 items: loop [0-9.]+ ms, Pool.map [0-9.]+ ms: the pool is [0-9.]+x (slower|faster); results equal: yes$'
done
pass
