#!/usr/bin/env bash
# The README's main-job command: the IPC shoot-out in quick mode.
#
#   tools/shootout.sh                  quick mode (< 2 minutes on 2 cores)
#   tools/shootout.sh --full           any shoot-out flag (see --help)
#   tools/shootout.sh --full --publish also puts the run into the repository:
#                                      the README's comparison table,
#                                      bench/RESULTS.md's shoot-out table and
#                                      bench/results/ (report, JSON, plots,
#                                      the README table's figures)
#
# Installs what is missing (tools/setup.sh bench: the peers and gnuplot) and
# builds //bench:shootout; their output goes to a log file, one line each on
# the screen (the log's tail when something fails). Then it runs the
# shoot-out: a progress line per case, the table, and the results folder
# (./shootout-results unless --out DIR is given): report.md, results.json,
# the plots and readme-table.md/.json, nothing else.
# SHOAL_BAZEL_STARTUP adds Bazel startup flags (e.g. an --output_base).
set -euo pipefail
here=$PWD
cd "$(dirname "$0")/.."
repo=$PWD

log=${TMPDIR:-/tmp}/shoal-setup-shootout.log
: > "$log"
step() {  # step "what" command...: output to the log, one line on screen
  local what=$1
  shift
  printf '%s ... ' "$what" >&2
  local t0=$SECONDS
  if "$@" >> "$log" 2>&1; then
    echo "ok ($((SECONDS - t0)) s)" >&2
  else
    local rc=$?
    echo "FAILED (exit $rc); the end of $log:" >&2
    tail -30 "$log" >&2
    exit "$rc"
  fi
}

# shellcheck disable=SC2206
bazel=(bazel ${SHOAL_BAZEL_STARTUP:-})
step "setup: the peers and gnuplot (tools/setup.sh bench)" tools/setup.sh bench
step "build: bazel build //bench:shootout" "${bazel[@]}" build //bench:shootout
bin="$("${bazel[@]}" info bazel-bin 2>>"$log")/bench/shootout"

out=shootout-results
args=()
given_out=0
publish=0
for ((i = 1; i <= $#; i++)); do
  a=${!i}
  case $a in
    --publish) publish=1; continue ;;
    --out=*) out=${a#--out=}; given_out=1 ;;
    --out) j=$((i + 1)); out=${!j:-$out}; given_out=1 ;;
    --help | -h | --helpfull | --list) exec "$bin" "$@" ;;
  esac
  args+=("$a")
done
# A relative results folder is relative to where the command was typed.
[[ $out == /* ]] || out=$here/$out
if ((given_out)); then
  for ((i = 0; i < ${#args[@]}; i++)); do
    case ${args[i]} in
      --out=*) args[i]=--out=$out ;;
      --out) args[i + 1]=$out ;;
    esac
  done
else
  args=(--out "$out" "${args[@]}")
fi

table=$(mktemp "${TMPDIR:-/tmp}/shoal-setup-table.XXXXXX")
trap 'rm -f "$table"' EXIT
rc=0
"$bin" "${args[@]}" | tee "$table" || rc=${PIPESTATUS[0]}
echo >&2
echo "shoot-out report: $out/report.md (every sample: $out/results.json; plots: $out/*.svg; README table: $out/readme-table.md)" >&2
echo "set-up log: $log" >&2

if ((publish)); then
  if ((rc != 0)); then
    echo "not published: the shoot-out failed (exit $rc)" >&2
    exit "$rc"
  fi
  python3 - "$repo" "$out" "$table" <<'EOF'
import glob, os, re, shutil, sys
repo, out, table = sys.argv[1:4]
res = os.path.join(repo, "bench", "results")
os.makedirs(res, exist_ok=True)
for old in glob.glob(os.path.join(res, "*.svg")):
    os.remove(old)
for name in ["report.md", "results.json", "readme-table.json"] + \
        [os.path.basename(p) for p in glob.glob(os.path.join(out, "*.svg"))]:
    shutil.copy(os.path.join(out, name), os.path.join(res, name))

def splice(path, begin, end, text):
    with open(path) as f:
        s = f.read()
    pat = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
    if not pat.search(s):
        sys.exit("publish: %s has no %s ... %s markers" % (path, begin, end))
    s = pat.sub(lambda m: begin + "\n" + text.rstrip("\n") + "\n" + end, s, count=1)
    with open(path, "w") as f:
        f.write(s)

with open(os.path.join(out, "readme-table.md")) as f:
    splice(os.path.join(repo, "README.md"), "<!-- shootout-table:begin -->",
           "<!-- shootout-table:end -->", f.read())
with open(table) as f:
    console = f.read().strip("\n")
splice(os.path.join(repo, "bench", "RESULTS.md"), "<!-- shootout-console:begin -->",
       "<!-- shootout-console:end -->", "```\n" + console + "\n```")
print("published: README.md (How it compares), bench/RESULTS.md (shoot-out table), "
      "bench/results/; review the prose around them with git diff", file=sys.stderr)
EOF
fi
exit "$rc"
