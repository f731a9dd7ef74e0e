#!/usr/bin/env bash
# The README's main-job command: the IPC shoot-out in quick mode.
#
#   tools/shootout.sh                  quick mode (< 2 minutes on 2 cores)
#   tools/shootout.sh --full --pin     any shoot-out flag (see --help)
#
# Installs what is missing (tools/setup.sh bench: the peers and gnuplot),
# builds //bench:shootout, runs it, and prints where the report is. The
# results folder is ./shootout-results unless --out DIR is given.
# SHOAL_BAZEL_STARTUP adds Bazel startup flags (e.g. an --output_base).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh bench

# shellcheck disable=SC2206
bazel=(bazel ${SHOAL_BAZEL_STARTUP:-})
echo "==> bazel build //bench:shootout" >&2
"${bazel[@]}" build //bench:shootout >&2
bin="$("${bazel[@]}" info bazel-bin 2>/dev/null)/bench/shootout"

out=shootout-results
args=("$@")
given_out=0
for ((i = 0; i < ${#args[@]}; i++)); do
  case ${args[i]} in
    --out=*) out=${args[i]#--out=}; given_out=1 ;;
    --out) out=${args[i + 1]:-$out}; given_out=1 ;;
    --help | -h | --list) exec "$bin" "${args[@]}" ;;
  esac
done

((given_out)) || args=(--out "$out" "${args[@]}")
echo "==> $bin ${args[*]}" >&2
rc=0
"$bin" "${args[@]}" || rc=$?
echo >&2
echo "shoot-out report: $out/report.md (every sample: $out/results.json; plots: $out/*.svg)" >&2
exit "$rc"
