#!/usr/bin/env bash
# examples/sqlite_workers: each worker opens its connection once (the
# initializer), the connections are reused across tasks, and every row of
# every task is in the database.
source "${TEST_SRCDIR:-$0.runfiles}/shoal/tests/examples/testlib.sh"

db=$tmp/rows.db
run sqlite_workers --db="$db" --processes=3 --tasks=30 --rows=40
expect_rc 0
expect_count 3 "^ForkPoolWorker-[1-3] \\(pid [0-9]+\\) opened $db\$"
# 30 tasks on 3 connections: one of them served at least 10.
reuse=$(field '^30 tasks wrote 1200 rows; one connection served up to ([0-9]+) tasks$')
[[ -n $reuse && $reuse -ge 10 ]] || fail "connections were not reused ($reuse)"
expect "^rows in $db: 1200 \\(expected 1200\\), 30 batches, from [1-3] workers\$"
[[ -s $db ]] || fail "no database file"
# Run again: the database is recreated, not appended to.
run sqlite_workers --db="$db" --processes=2 --tasks=5 --rows=7
expect_rc 0
expect "^rows in $db: 35 \\(expected 35\\), 5 batches, from [1-2] workers\$"
# With spawned workers (a fresh process each: the initializer does all).
run sqlite_workers --db="$db" --processes=2 --tasks=6 --rows=10 --start_method=spawn
expect_rc 0
expect_count 2 "^SpawnPoolWorker-[1-2] \\(pid [0-9]+\\) opened $db\$"
expect "^rows in $db: 60 \\(expected 60\\), 6 batches, from [1-2] workers\$"
pass
