#!/usr/bin/env bash
# examples/mpi_digest_tree (digest_tree.cc built for MPI ranks) under
# `mpirun -np 3`: the same digests as sha512sum and the same report as the
# local program, in hierarchical mode (2 processes per rank) and inline mode.
source "${TEST_SRCDIR:-$0.runfiles}/shoal/tests/examples/testlib.sh"
mpirun_test=$runfiles/tests/mpi/mpirun_test.sh
bin=$runfiles/examples/mpi_digest_tree

tree=$tmp/tree
rm -rf "$tree"
mkdir -p "$tree/a/b/c" "$tree/d"
for i in $(seq 1 25); do echo "file $i" > "$tree/a/f$i.txt"; done
for i in $(seq 1 5); do printf 'deep %s\n' "$i" > "$tree/a/b/c/g$i"; done
: > "$tree/d/empty"
head -c 300000 /dev/urandom > "$tree/d/big.bin"
echo "spaces" > "$tree/d/with space.txt"
ln -s "$tree/does-not-exist" "$tree/d/dangling"
mkfifo "$tree/d/fifo"
(cd / && find "$tree" -type f -print0 | sort -z | xargs -0 sha512sum) |
  sed -E 's/^([0-9a-f]+)  (.*)$/\2  \1/' > "$tmp/expected.txt"

check() {  # check PROCESSES WORKERS
  rc=0
  "$mpirun_test" --np=3 --timeout=90 --stdout="$out" -- \
    "$bin" --processes="$1" --chunksize=3 "$tree" >"$err" 2>&1 || rc=$?
  echo "mpirun -np 3 mpi_digest_tree --processes=$1 -> exit $rc"
  expect_rc 0
  expect "^33 files hashed \\(300[0-9]+ bytes\\), 2 unreadable, in [0-9.]+ ms with $2 workers, chunksize 3\$"
  expect "^unreadable: $tree/d/dangling: No such file or directory\$" "$err"
  expect "^unreadable: $tree/d/fifo: not a regular file\$" "$err"
  grep -v ' files hashed ' "$out" > "$tmp/got.txt"
  diff "$tmp/expected.txt" "$tmp/got.txt" || fail "digests differ from sha512sum"
}

check 2 4  # hierarchical: 2 worker ranks x 2 processes
check 0 2  # inline: the 2 worker ranks hash
pass
