"""mpi4py.futures, the peer of bench/mpi_bench.cc, in the same shapes.

Run by bench/mpi_bench.sh as
    mpirun -np N /usr/bin/python3 -m mpi4py.futures bench/mpi_bench.py [cpu]
Prints one JSON object: round trip of submit(f, i).result() (mean, median,
p90 in us), Executor.map per item (ns) for chunk sizes 1, 100, 1000, 10000
over 2,000 / 100,000 ints, and (with `cpu`) the wall time of a map of 40
tasks of 2 ms of CPU time each (chunksize 1). Every result is checked.
"""
import json
import math
import sys
import time

from mpi4py.futures import MPIPoolExecutor


def inc(x):
    return x + 1


def twice(x):
    return 2 * x


def burn(us):
    # CPU time, not wall time, as bench/mpi_bench.cc.
    until = time.thread_time() + us * 1e-6
    x = 1.0
    while time.thread_time() < until:
        for i in range(100):
            x = math.sqrt(x + i)
    return x


def round_trip(ex, seconds=1.0):
    ex.submit(inc, 0).result()
    samples = []
    start = time.perf_counter()
    i = 0
    while time.perf_counter() - start < seconds or len(samples) < 50:
        i += 1
        t = time.perf_counter()
        if ex.submit(inc, i).result() != i + 1:
            raise SystemExit("wrong result")
        samples.append(time.perf_counter() - t)
    total = time.perf_counter() - start
    samples.sort()
    return {"mean_us": total / len(samples) * 1e6,
            "median_us": samples[len(samples) // 2] * 1e6,
            "p90_us": samples[len(samples) * 9 // 10] * 1e6,
            "n": len(samples)}


def map_per_item(ex, chunksize):
    items = list(range(2000 if chunksize == 1 else 100000))
    best = None
    for _ in range(3):
        t = time.perf_counter()
        out = list(ex.map(twice, items, chunksize=chunksize))
        dt = time.perf_counter() - t
        if out != [2 * x for x in items]:
            raise SystemExit("wrong map result")
        ns = dt / len(items) * 1e9
        best = ns if best is None else min(best, ns)
    return best


def main():
    with MPIPoolExecutor() as ex:
        if sys.argv[-1] == "cpu":
            list(ex.map(burn, [2000] * 4))
            walls = []
            for _ in range(3):
                t = time.perf_counter()
                out = list(ex.map(burn, [2000] * 40))
                walls.append(time.perf_counter() - t)
                if len(out) != 40:
                    raise SystemExit("wrong cpu map")
            print(json.dumps({"cpu_map_s": min(walls)}))
            return
        result = {"round_trip": round_trip(ex)}
        result["map_ns_per_item"] = {
            str(c): map_per_item(ex, c) for c in (1, 100, 1000, 10000)}
        print(json.dumps(result))


if __name__ == "__main__":
    main()
