#!/usr/bin/env python3
# Copyright 2026 The shoal Authors.
"""Python's start methods, measured like bench/start_bench.cc measures
shoal's (the bench runs this script once, in the same run).

Prints one line:

    RESULT ok=<1|0> process_s=<fork>,<spawn>,<forkserver>
           pool4_s=<fork>,<spawn>,<forkserver>

process_s: median seconds per Process(target=noop).start() + join().
pool4_s: median seconds for Pool(4) until each of its 4 workers has run a
task (4 tasks meet at a shared counter); teardown not timed.
"""

import argparse
import multiprocessing
import statistics
import sys
import time

_counter = None


def noop():
    pass


def init(counter):
    global _counter
    _counter = counter


def meet(n):
    with _counter.get_lock():
        _counter.value += 1
    until = time.monotonic() + 30
    while _counter.value < n:
        if time.monotonic() > until:
            return 0
        time.sleep(0)
    return 1


def per_call(fn, min_s, min_n):
    """Seconds per fn() call, over at least min_s seconds and min_n calls."""
    n = 0
    spent = 0.0
    while spent < min_s or n < min_n:
        spent += fn()
        n += 1
    return spent / n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repetitions", type=int, default=3)
    ap.add_argument("--min-time", type=float, default=0.3)
    args = ap.parse_args()
    bad = 0
    process_s = []
    pool4_s = []
    for method in ("fork", "spawn", "forkserver"):
        ctx = multiprocessing.get_context(method)

        def one_process():
            nonlocal bad
            t0 = time.perf_counter()
            p = ctx.Process(target=noop)
            p.start()
            p.join()
            t = time.perf_counter() - t0
            if p.exitcode != 0:
                bad += 1
            return t

        def one_pool():
            nonlocal bad
            counter = ctx.Value("i", 0)
            t0 = time.perf_counter()
            pool = ctx.Pool(4, initializer=init, initargs=(counter,))
            met = sum(pool.map(meet, [4] * 4, chunksize=1))
            t = time.perf_counter() - t0
            pool.terminate()
            pool.join()
            if met != 4:
                bad += 1
            return t

        one_process()  # the forkserver's server starts here, untimed
        process_s.append(statistics.median(
            per_call(one_process, args.min_time, 3)
            for _ in range(args.repetitions)))
        pool4_s.append(statistics.median(
            per_call(one_pool, args.min_time, 3)
            for _ in range(args.repetitions)))
    print("RESULT ok=%d process_s=%s pool4_s=%s" %
          (1 if bad == 0 else 0, ",".join("%.9g" % x for x in process_s),
           ",".join("%.9g" % x for x in pool4_s)))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
