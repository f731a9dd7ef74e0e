#!/usr/bin/env bash
# A spawn-method program whose main() forgot shoal::init: the pool fails
# with one explanation, and no worker prints its own.
set -euo pipefail
bin=${TEST_SRCDIR:-$0.runfiles}/shoal/tests/pool/forgot_init
out=$(mktemp) err=$(mktemp)
trap 'rm -f "$out" "$err"' EXIT
rc=0
timeout 120 "$bin" >"$out" 2>"$err" || rc=$?
fail() { echo "FAIL: $*"; echo "--- stdout"; cat "$out"; echo "--- stderr"; cat "$err"; exit 1; }
[[ $rc -eq 0 ]] || fail "exit code $rc"
# The explanation, once, from the parent.
[[ $(grep -c 'did not call shoal::init(argc, argv) first' "$out") -eq 1 ]] ||
  fail "expected the explanation once in stdout"
grep -q '^caught: .*broken.*shoal::init' "$out" || fail "no BrokenPool naming shoal::init"
# Nothing from the workers: no second explanation, no terminate().
! grep -q 'shoal::init\|terminate called' "$err" || fail "a worker printed on stderr"
# (What main() itself prints before it creates the pool does appear once per
# worker that ran it: that is the program's own code running again.)
echo "PASS"
