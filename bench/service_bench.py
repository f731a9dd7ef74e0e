#!/usr/bin/env python3
# Copyright 2026 The shoal Authors.
"""Request/response the way Python programs build it by hand: a pair of
multiprocessing.Queues and an echo process, measured like
bench/service_bench.cc measures shoal::Service (the bench runs this script
once, in the same run, and prints its figure next to shoal's).

Prints one line:

    RESULT ok=<1 if every reply matched> round_trip_s=<median s per 64-byte
    request and its reply>

Start method: fork. Messages are 64-byte bytes objects, each stamped and
checked.
"""

import argparse
import multiprocessing
import statistics
import struct
import time


def echo(requests, replies):
    while True:
        m = requests.get()
        if m is None:
            return
        replies.put(m)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repetitions", type=int, default=5)
    ap.add_argument("--min-time", type=float, default=0.3)
    args = ap.parse_args()
    multiprocessing.set_start_method("fork")
    requests, replies = multiprocessing.Queue(), multiprocessing.Queue()
    p = multiprocessing.Process(target=echo, args=(requests, replies))
    p.start()
    bad = 0
    seq = 0

    def one():
        nonlocal bad, seq
        m = struct.pack("<Q", seq) + bytes(56)
        requests.put(m)
        if replies.get() != m:
            bad += 1
        seq += 1

    one()
    times = []
    for _ in range(args.repetitions):
        n = 0
        t0 = time.perf_counter()
        while True:
            for _ in range(100):
                one()
            n += 100
            t = time.perf_counter() - t0
            if t >= args.min_time:
                break
        times.append(t / n)
    requests.put(None)
    p.join()
    print("RESULT ok=%d round_trip_s=%.9f" % (1 if bad == 0 else 0,
                                               statistics.median(times)))


if __name__ == "__main__":
    main()
