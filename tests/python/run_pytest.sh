#!/usr/bin/env bash
# Runs one pytest file against the built `shoal` package with Debian's
# interpreter (/usr/bin/python3: the one python3-numpy, python3-pytest and
# the module's headers belong to; a `python3` earlier on PATH may be another
# build).
#
#   run_pytest.sh tests/python/queue_test.py [pytest args...]
#
# Under a sanitizer config the extension carries that sanitizer's runtime,
# which must be loaded first: ASan is preloaded together with libstdc++ (the
# interpreter does not link it, and ASan's __cxa_throw interceptor must find
# it at start-up), leak checking off (the interpreter keeps memory until exit
# by design); TSan cannot instrument the uninstrumented interpreter and its
# threads, so that configuration skips.
set -euo pipefail

runfiles=${TEST_SRCDIR:-$0.runfiles}/shoal
python=/usr/bin/python3
pkg=$runfiles/python
test_file=$runfiles/$1
shift

if [[ ! -x $python ]]; then
  echo "FAIL: $python not found (tools/setup.sh test installs python3)"; exit 1
fi
missing=$("$python" -c '
import importlib.util as u
print(" ".join(m for m in ("numpy", "pytest") if u.find_spec(m) is None))')
if [[ -n $missing ]]; then
  echo "FAIL: $python lacks $missing: run tools/setup.sh test (python3-numpy, python3-pytest)"
  exit 1
fi

so=$pkg/shoal/_shoal.so
needed=$(readelf -d "$so" 2>/dev/null | grep NEEDED || true)
if grep -q libtsan <<<"$needed"; then
  echo "SKIP: the Python tests do not run under ThreadSanitizer (the interpreter is not instrumented)"
  exit 0
fi
if grep -q libasan <<<"$needed"; then
  export LD_PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libstdc++.so)"
  export ASAN_OPTIONS=detect_leaks=0:halt_on_error=1:abort_on_error=0
fi

export PYTHONPATH=$pkg${PYTHONPATH:+:$PYTHONPATH}
export SHOAL_CPP_PEER=$runfiles/tests/python/cpp_peer
export SHOAL_REPO=$runfiles
export PYTHONDONTWRITEBYTECODE=1
cd "${TEST_TMPDIR:-$(mktemp -d)}"
exec "$python" -m pytest -q -p no:cacheprovider -o console_output_style=classic \
  --rootdir="$(dirname "$test_file")" "$test_file" "$@"
