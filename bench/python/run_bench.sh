#!/usr/bin/env bash
# bazel run -c opt //bench:python_bench [-- ARGS]: runs bench/python/shoal_vs_mp.py
# with Debian's /usr/bin/python3 (the interpreter python3-numpy belongs to)
# against the built `shoal` package, with the C++ channel_peer beside it.
set -euo pipefail
if [[ -d $0.runfiles ]]; then
  runfiles=$0.runfiles/shoal
else
  runfiles=${RUNFILES_DIR:-${TEST_SRCDIR:?cannot find the runfiles}}/shoal
fi
export PYTHONPATH=$runfiles/python${PYTHONPATH:+:$PYTHONPATH}
export PYTHONDONTWRITEBYTECODE=1
exec /usr/bin/python3 "$runfiles/bench/python/shoal_vs_mp.py" \
  --channel-peer="$runfiles/bench/python_channel_peer" "$@"
