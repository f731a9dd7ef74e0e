#!/usr/bin/env python3
# Copyright 2026 The shoal Authors.
"""Python's multiprocessing.Pool and concurrent.futures.ProcessPoolExecutor,
measured like bench/pool_bench.cc measures shoal's (the bench runs this
script once, in the same run, and prints its figures next to shoal's).

Prints one line:

    RESULT apply_s=<median s per Pool.apply> map_item_s=<median s per item
    of Pool.map over 1,000,000 ints> submit_s=<median s per
    ProcessPoolExecutor.submit(f, x).result()>

Same shapes as the C++ side: Pool(1).apply of a trivial function (round
trip), Pool(2).map of a trivial function over range(1_000_000) (default
chunksize), ProcessPoolExecutor(1).submit().result(). Start method: fork.
Every result is checked.
"""

import argparse
import concurrent.futures
import multiprocessing
import statistics
import sys
import time


def inc(x):
    return x + 1


def timed(fn, min_s):
    """Runs fn() (one batch) until min_s elapsed; seconds per batch."""
    n = 0
    t0 = time.perf_counter()
    while True:
        fn()
        n += 1
        t = time.perf_counter() - t0
        if t >= min_s:
            return t / n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repetitions", type=int, default=5)
    ap.add_argument("--min-time", type=float, default=0.3)
    ap.add_argument("--items", type=int, default=1_000_000)
    args = ap.parse_args()
    multiprocessing.set_start_method("fork")
    bad = 0

    apply_s = []
    with multiprocessing.Pool(1) as pool:
        pool.apply(inc, (0,))

        def apply_batch():
            nonlocal bad
            for i in range(100):
                if pool.apply(inc, (i,)) != i + 1:
                    bad += 1

        for _ in range(args.repetitions):
            apply_s.append(timed(apply_batch, args.min_time) / 100)

    map_s = []
    items = range(args.items)
    with multiprocessing.Pool(2) as pool:
        pool.map(inc, range(1000))

        def map_batch():
            nonlocal bad
            out = pool.map(inc, items)
            if len(out) != args.items or out[-1] != args.items:
                bad += 1

        for _ in range(args.repetitions):
            map_s.append(timed(map_batch, args.min_time) / args.items)

    submit_s = []
    with concurrent.futures.ProcessPoolExecutor(max_workers=1) as ex:
        ex.submit(inc, 0).result()

        def submit_batch():
            nonlocal bad
            for i in range(100):
                if ex.submit(inc, i).result() != i + 1:
                    bad += 1

        for _ in range(args.repetitions):
            submit_s.append(timed(submit_batch, args.min_time) / 100)

    print("RESULT ok=%d apply_s=%.9g map_item_s=%.9g submit_s=%.9g" %
          (1 if bad == 0 else 0, statistics.median(apply_s),
           statistics.median(map_s), statistics.median(submit_s)))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
