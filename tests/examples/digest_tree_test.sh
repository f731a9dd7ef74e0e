#!/usr/bin/env bash
# examples/digest_tree: every regular file's SHA-512 matches sha512sum's;
# a dangling symlink and a FIFO are reported as unreadable, not fatal.
source "${TEST_SRCDIR:-$0.runfiles}/shoal/tests/examples/testlib.sh"

tree=$tmp/tree
rm -rf "$tree"
mkdir -p "$tree/a/b/c" "$tree/d" "$tree/empty dir"
for i in $(seq 1 25); do echo "file $i" > "$tree/a/f$i.txt"; done
for i in $(seq 1 5); do printf 'deep %s\n' "$i" > "$tree/a/b/c/g$i"; done
: > "$tree/d/empty"
head -c 300000 /dev/urandom > "$tree/d/big.bin"
echo "spaces" > "$tree/d/with space.txt"
ln -s "$tree/does-not-exist" "$tree/d/dangling"
mkfifo "$tree/d/fifo"

run digest_tree --processes=2 --chunksize=3 "$tree"
expect_rc 0
expect '^33 files hashed \(300[0-9]+ bytes\), 2 unreadable, in [0-9.]+ ms with 2 workers, chunksize 3$'
expect "^unreadable: $tree/d/dangling: No such file or directory\$" "$err"
expect "^unreadable: $tree/d/fifo: not a regular file\$" "$err"

# The same digests as sha512sum, sorted by path.
(cd / && find "$tree" -type f -print0 | sort -z | xargs -0 sha512sum) |
  sed -E 's/^([0-9a-f]+)  (.*)$/\2  \1/' > "$tmp/expected.txt"
grep -v ' files hashed ' "$out" > "$tmp/got.txt"
diff "$tmp/expected.txt" "$tmp/got.txt" || fail "digests differ from sha512sum"
[[ $(wc -l < "$tmp/got.txt") -eq 33 ]] || fail "not 33 digest lines"

# Usage errors are reported.
run digest_tree
expect_rc 2
expect '^usage: digest_tree' "$err"
pass
