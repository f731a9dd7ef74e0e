#!/usr/bin/env bash
# Runs examples/python/<name of this binary>.py with Debian's interpreter
# (/usr/bin/python3: the one python3-numpy belongs to) against the `shoal`
# package Bazel built, and tells the script where the C++ programs it starts
# are (SHOAL_EXAMPLES_BIN). `bazel run //examples/python:float_channel -- ARGS`.
set -euo pipefail
self=$0
if [[ -d $self.runfiles ]]; then
  runfiles=$self.runfiles/shoal
elif [[ -n ${RUNFILES_DIR:-} ]]; then
  runfiles=$RUNFILES_DIR/shoal
else
  runfiles=${TEST_SRCDIR:?cannot find the runfiles}/shoal
fi
export PYTHONPATH=$runfiles/python${PYTHONPATH:+:$PYTHONPATH}
export SHOAL_EXAMPLES_BIN=$runfiles/examples/python
export PYTHONDONTWRITEBYTECODE=1
# Built with --config=asan, the module carries ASan's runtime, which must be
# loaded before the (uninstrumented) interpreter starts.
if readelf -d "$runfiles/python/shoal/_shoal.so" 2>/dev/null | grep -q libasan; then
  export LD_PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libstdc++.so)"
  # (the interpreter keeps memory until exit by design: no leak report)
  export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0
fi
exec /usr/bin/python3 "$runfiles/examples/python/$(basename "$self").py" "$@"
