#!/usr/bin/env bash
# shoal::mpi next to mpi4py.futures, in one run on this machine
# (bench/RESULTS.md "## mpi"):
#
#   bench/mpi_bench.sh [--reps=N] [--out=DIR] [--bin=FILE]
#
#   1. bench/mpi_bench.cc under `mpirun -np 2` (rank 0 + 1 worker rank):
#      submit().result() round trips, Executor.map per item at chunk sizes
#      1 / 100 / 1,000 / 10,000, the local ProcessPoolExecutor next to it,
#      the idle CPU of every rank. N repetitions, medians.
#   2. mpi4py.futures (bench/mpi_bench.py, /usr/bin/python3 -m
#      mpi4py.futures) in the same shapes, N runs, medians.
#   3. CPU-bound map (40 tasks x 2 ms of CPU) on 1 worker rank (-np 2) and
#      on 2 (-np 3), alternating, N times each: the speedup of 2 ranks.
#   Then a markdown summary with the ratios. JSON of every run in DIR
#   (default: a temporary directory, printed). --bin: an already built
#   `-c opt` mpi_bench (no set-up, no build).
set -euo pipefail
cd "$(dirname "$0")/.."

reps=5
out=""
bin=""
for a in "$@"; do
  case $a in
    --reps=*) reps=${a#*=} ;;
    --out=*) out=${a#*=} ;;
    --bin=*) bin=${a#*=} ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "mpi_bench.sh: unknown flag $a" >&2; exit 2 ;;
  esac
done
[[ -n $out ]] || out=$(mktemp -d /tmp/shoal-mpi-bench.XXXXXX)
mkdir -p "$out"

if [[ -z $bin ]]; then
  tools/setup.sh test
  bazel build -c opt //bench:mpi_bench >&2
  # The opt output folder itself: bazel-bin follows whatever configuration
  # was built last (a sanitizer build during the run would swap it).
  bin=$(bazel info -c opt bazel-bin)/bench/mpi_bench
fi
cp "$bin" "$out/mpi_bench"
bin=$out/mpi_bench
py=/usr/bin/python3  # Debian's python3-mpi4py is for the system Python

if [[ $(id -u) -eq 0 ]]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
export OMPI_MCA_btl_vader_single_copy_mechanism=none
mpirun=(timeout -k 10 900 mpirun --oversubscribe)

{
  echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "cpus: $(nproc); $(lscpu | sed -n 's/^Model name: *//p')"
  echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "open mpi: $(mpirun --version | head -1); mpi4py: $($py -c 'import mpi4py; print(mpi4py.__version__)')"
} | tee "$out/machine.txt" >&2

echo "==> shoal, mpirun -np 2, $reps repetitions" >&2
"${mpirun[@]}" -np 2 "$bin" --benchmark_filter='SubmitResult|MapPerItem|IdleCpu' \
  --benchmark_repetitions="$reps" --benchmark_report_aggregates_only=true \
  --benchmark_out="$out/shoal.json" --benchmark_out_format=json >&2

for r in $(seq 1 "$reps"); do
  echo "==> mpi4py.futures, mpirun -np 2, run $r of $reps" >&2
  "${mpirun[@]}" -np 2 "$py" -m mpi4py.futures bench/mpi_bench.py \
    > "$out/mpi4py.$r.json"
done

for r in $(seq 1 "$reps"); do
  for np in 2 3; do
    echo "==> CPU-bound map, mpirun -np $np, run $r of $reps" >&2
    "${mpirun[@]}" -np "$np" "$bin" --benchmark_filter='CpuMap' \
      --benchmark_min_time=1 --benchmark_out="$out/cpu.$np.$r.json" \
      --benchmark_out_format=json >/dev/null
    "${mpirun[@]}" -np "$np" "$py" -m mpi4py.futures bench/mpi_bench.py cpu \
      > "$out/mpi4py_cpu.$np.$r.json"
  done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$out/machine.txt" >&2

"$py" - "$out" "$reps" <<'EOF'
import glob, json, statistics, sys
out, reps = sys.argv[1], int(sys.argv[2])
med = statistics.median

def shoal_rows():
    rows = {}
    for b in json.load(open(f"{out}/shoal.json"))["benchmarks"]:
        if b.get("aggregate_name") == "median" or b.get("run_type") == "iteration":
            rows[b["run_name"]] = b
    return rows

rows = shoal_rows()
def get(name, key):
    for n, b in rows.items():
        if n.startswith(name):
            return b.get(key)
    return None

py = [json.load(open(f)) for f in sorted(glob.glob(f"{out}/mpi4py.*.json"))]
py_rt_med = med(p["round_trip"]["median_us"] for p in py)
py_rt_mean = med(p["round_trip"]["mean_us"] for p in py)

print("### Round trip: submit(f, i).result(), int f(int), mpirun -np 2\n")
print("| executor | median | mean | vs mpi4py.futures (median) |")
print("| --- | ---: | ---: | ---: |")
names = {0: "local ProcessPoolExecutor(1) (no MPI)",
         1: "shoal::mpi::Executor, inline",
         2: "shoal::mpi::Executor, hierarchical (1 process per rank)"}
for mode in (1, 2, 0):
    m = get(f"BM_SubmitResult/mode:{mode}/", "median_us")
    t = get(f"BM_SubmitResult/mode:{mode}/", "real_time") / 1e3
    print(f"| {names[mode]} | {m:.1f} us | {t:.1f} us | {py_rt_med / m:.0f}x |")
print(f"| mpi4py.futures MPIPoolExecutor | {py_rt_med:.1f} us | {py_rt_mean:.1f} us | 1x |\n")

print("### Executor.map per item, int64 -> int64, mpirun -np 2\n")
print("| chunksize | shoal inline | shoal hierarchical | local ProcessPoolExecutor | mpi4py.futures | shoal inline vs mpi4py |")
print("| ---: | ---: | ---: | ---: | ---: | ---: |")
for cs in (1, 100, 1000, 10000):
    vals = [get(f"BM_MapPerItem/mode:{m}/chunksize:{cs}/", "ns_per_item") * 1e9 for m in (1, 2, 0)]
    p = med(x["map_ns_per_item"][str(cs)] for x in py)
    print(f"| {cs} | {vals[0]:.0f} ns | {vals[1]:.0f} ns | {vals[2]:.0f} ns | {p:.0f} ns | {p / vals[0]:.0f}x |")
idle = get("BM_IdleCpu", "cpu_pct_per_rank")
print(f"\nIdle: {idle:.2f}% of a core per rank (every rank's CPU time over 1 s with nothing to do).\n")

def cpu(prefix, np):
    vals = []
    for f in sorted(glob.glob(f"{out}/{prefix}.{np}.*.json")):
        d = json.load(open(f))
        if "benchmarks" in d:
            for b in d["benchmarks"]:
                if b["name"].startswith("BM_CpuMap/mode:1/"):
                    vals.append(b["real_time"] / 1e9)
        else:
            vals.append(d["cpu_map_s"])
    return vals

print("### CPU-bound map: 40 tasks x 2 ms of CPU, chunksize 1\n")
print("| executor | 1 worker rank (-np 2) | 2 worker ranks (-np 3) | speedup (medians) | per-run ratios |")
print("| --- | ---: | ---: | ---: | --- |")
for label, prefix in (("shoal::mpi::Executor, inline", "cpu"), ("mpi4py.futures", "mpi4py_cpu")):
    one, two = cpu(prefix, 2), cpu(prefix, 3)
    ratios = ", ".join(f"{a / b:.2f}" for a, b in zip(one, two))
    print(f"| {label} | {med(one) * 1e3:.0f} ms | {med(two) * 1e3:.0f} ms | {med(one) / med(two):.2f}x | {ratios} |")
print(f"\n(JSON of every run: {out})")
EOF
