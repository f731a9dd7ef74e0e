#!/usr/bin/env bash
# Compile-time errors a user meets first, checked against installed headers:
#
#   tests/consumers/compile_errors.sh INCLUDE_DIR
#
# Each compile_errors/*.cc starts with `// expect: REGEX`. good.cc must
# compile; every other file must fail with a static_assert whose message
# matches REGEX (one that says what to add), and with exactly one error (not
# a page of template errors from inside the library) unless a second line
# says `// errors: N`. Run by tests/consumers/run.sh.
set -euo pipefail
inc=${1:?usage: compile_errors.sh INCLUDE_DIR}
dir=$(cd "$(dirname "$0")/compile_errors" && pwd)
cxx=(g++ -std=c++20 -Wall -Wextra -Wno-unused-parameter -fsyntax-only -I"$inc")

one() {  # one FILE: prints a line, returns non-zero on failure
  local f=$1 name expect out rc=0 errors allowed
  name=$(basename "$f")
  expect=$(sed -n '1s|^// expect: ||p' "$f")
  allowed=$(sed -n '2s|^// errors: \([0-9]*\).*|\1|p' "$f")
  allowed=${allowed:-1}
  [[ -n $expect ]] || { echo "$name: no '// expect:' line"; return 1; }
  out=$("${cxx[@]}" "$f" 2>&1) || rc=$?
  if [[ $expect == compiles ]]; then
    [[ $rc -eq 0 ]] || { echo "$name: does not compile:"; head -30 <<<"$out"; return 1; }
    echo "    $name: compiles"
    return 0
  fi
  [[ $rc -ne 0 ]] || { echo "$name: compiled, but should fail with: $expect"; return 1; }
  errors=$(grep -c 'error:' <<<"$out" || true)
  if ! grep -Eq "error: static assertion failed: .*$expect" <<<"$out"; then
    echo "$name: no error matching '$expect'; the compiler said:"; head -40 <<<"$out"
    return 1
  fi
  if [[ $errors -gt $allowed ]]; then
    echo "$name: $errors errors, expected at most $allowed:"; grep 'error:' <<<"$out" | cut -c1-200
    return 1
  fi
  echo "    $name: $errors error(s), $(wc -l <<<"$out") lines"
}
failed=0
for f in "$dir"/*.cc; do
  one "$f" || failed=1
done
exit $failed
