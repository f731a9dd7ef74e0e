# Copyright 2026 The shoal Authors.
"""The FloatChannel pattern of the multiprocessing tour, in Python, twice.

A producer process sends 1,000 blocks of 100,000 float64 to the main
process, which sums every block and checks the sum:

  shoal         the producer writes each block straight into a block of
                shared memory (FloatChannel.loan: a writable numpy array),
                the consumer sums a read-only numpy view of that same block
                (FloatChannel.receive). No pickle, no pipe, no copy.
  multiprocessing.Queue
                the same program with q.put(array) / q.get(): every block is
                pickled, written through a pipe by a feeder thread, read and
                unpickled.

Prints blocks/s for each and the ratio.

  bazel run -c opt //examples/python:float_channel
  bazel run //examples/python:float_channel -- --blocks=100 --elements=10000
  /usr/bin/python3 examples/python/float_channel.py     # after tools/install.sh
"""

import argparse
import multiprocessing
import time

import numpy as np

import shoal


def block(b, k):
    """Block b: b * 1e6 + k at index k (its sum is exact in float64)."""
    return k + b * 1e6


def expected_sum(b, n):
    return b * 1e6 * n + n * (n - 1) / 2


# ------------------------------------------------------------------ shoal


def shoal_producer(ch, blocks, n):
    k = np.arange(n, dtype=np.float64)
    for b in range(blocks):
        with ch.loan(n) as a:          # a: a numpy array IN shared memory
            np.add(k, b * 1e6, out=a)  # computed straight into the block
    ch.close()                         # the consumer drains, then Closed


def shoal_run(ctx, blocks, n):
    ch = shoal.FloatChannel(n, slots=4)
    p = ctx.Process(target=shoal_producer, args=(ch, blocks, n))
    t0 = time.perf_counter()
    p.start()
    bad = b = 0
    while True:
        try:
            a = ch.receive()           # read-only view of the block
        except shoal.Closed:
            break
        bad += a.sum() != expected_sum(b, n)
        del a                          # the block goes back to the producer
        b += 1
    p.join()
    return b, bad, time.perf_counter() - t0


# -------------------------------------------------------- multiprocessing


def mp_producer(q, blocks, n):
    k = np.arange(n, dtype=np.float64)
    for b in range(blocks):
        q.put(block(b, k))             # pickled, then through a pipe
    q.put(None)


def mp_run(ctx, blocks, n):
    q = ctx.Queue(4)
    p = ctx.Process(target=mp_producer, args=(q, blocks, n))
    t0 = time.perf_counter()
    p.start()
    bad = b = 0
    while (a := q.get()) is not None:
        bad += a.sum() != expected_sum(b, n)
        b += 1
    p.join()
    return b, bad, time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--blocks", type=int, default=1000)
    ap.add_argument("--elements", type=int, default=100_000)
    ap.add_argument("--start-method", default="fork", choices=["fork", "spawn"])
    args = ap.parse_args()
    ctx = multiprocessing.get_context(args.start_method)
    rates = {}
    for label, fn in (("shoal.FloatChannel (loan)", shoal_run),
                      ("multiprocessing.Queue", mp_run)):
        got, bad, secs = fn(ctx, args.blocks, args.elements)
        rates[label] = got / secs
        print("%s: %d blocks of %d float64 in %.3f s: %.0f blocks/s; "
              "%d checked, %d bad" % (label, args.blocks, args.elements, secs,
                                      got / secs, got, bad))
    print("shoal is %.1fx multiprocessing.Queue" %
          (rates["shoal.FloatChannel (loan)"] / rates["multiprocessing.Queue"]))


if __name__ == "__main__":
    main()
