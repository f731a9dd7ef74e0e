#!/usr/bin/env bash
# README.md "Beyond one machine": the example in the README is
# tests/mpi/readme_example.cc (between the readme:begin/end markers), and it
# prints the right numbers on 3 ranks.
set -euo pipefail
here=${TEST_SRCDIR:-$0.runfiles}/shoal
tmp=${TEST_TMPDIR:-$(mktemp -d)}

sed -n '/^\/\/ readme:begin$/,/^\/\/ readme:end$/p' \
  "$here/tests/mpi/readme_example.cc" | sed '1d;$d' > "$tmp/source.txt"
sed -n '/^<!-- mpi-example:begin -->$/,/^<!-- mpi-example:end -->$/p' \
  "$here/README.md" | sed '1,2d;$d' | sed '$d' > "$tmp/readme.txt"
[[ -s $tmp/source.txt ]] || { echo "FAIL: no example in readme_example.cc" >&2; exit 1; }
if ! diff "$tmp/readme.txt" "$tmp/source.txt"; then
  echo "FAIL: README.md's MPI example differs from tests/mpi/readme_example.cc" >&2
  exit 1
fi

"$here/tests/mpi/mpirun_test.sh" --np=3 --timeout=90 \
  '--grep=^sum 332833500, 12\^2 = 144, 2 worker ranks$' \
  -- "$here/tests/mpi/readme_example"
echo PASS
