# Copyright 2026 The shoal Authors.
"""A Python producer feeding a pool of C++ workers over named queues.

This process creates two queues of raw bytes (a C++ shoal::Queue<std::string>
each), starts the C++ program prime_pool (examples/python/prime_pool.cc),
and puts jobs "LO HI" into the first: a shoal::Pool of C++ processes counts
the primes in each range and sends "LO HI COUNT" back as each finishes.
Closing the jobs queue is the end-of-input signal; the C++ side closes the
results queue when the last result is in. The total is checked against a
numpy sieve.

  bazel run -c opt //examples/python:python_to_cpp_pool
  bazel run //examples/python:python_to_cpp_pool -- --limit=200000 --step=10000
  /usr/bin/python3 examples/python/python_to_cpp_pool.py --pool=PATH
"""

import argparse
import os
import subprocess
import time

import numpy as np

import shoal


def primes_below(limit):
    sieve = np.ones(limit, dtype=bool)
    sieve[:2] = False
    for d in range(2, int(limit ** 0.5) + 1):
        if sieve[d]:
            sieve[d * d::d] = False
    return int(sieve.sum())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--limit", type=int, default=2_000_000)
    ap.add_argument("--step", type=int, default=50_000)
    ap.add_argument("--processes", type=int, default=3)
    ap.add_argument("--pool", default=os.path.join(
        os.environ.get("SHOAL_EXAMPLES_BIN", "bazel-bin/examples/python"),
        "prime_pool"))
    args = ap.parse_args()

    name = "example.python_to_cpp_pool.%d" % os.getpid()
    jobs = shoal.Queue(64, name=name + ".jobs", raw=True, ctype="string")
    results = shoal.Queue(name=name + ".results", raw=True, ctype="string")
    t0 = time.perf_counter()
    pool = subprocess.Popen([args.pool, "--jobs=" + jobs.name,
                             "--results=" + results.name,
                             "--processes=%d" % args.processes])
    sent = 0
    for lo in range(0, args.limit, args.step):
        hi = min(lo + args.step, args.limit)
        jobs.put(b"%d %d" % (lo, hi), timeout=60)
        sent += 1
    jobs.close()  # no more jobs: the C++ side drains the queue and stops

    total = got = 0
    while True:
        try:
            r = results.get(timeout=1.0)
        except shoal.Closed:
            break
        except shoal.Empty:
            if pool.poll() is not None:
                break
            continue
        lo, hi, count = map(int, r.split())
        total += count
        got += 1
    secs = time.perf_counter() - t0
    rc = pool.wait(timeout=60)
    want = primes_below(args.limit)
    print("Python -> C++ pool: %d jobs, %d results in %.3f s; primes below %d: "
          "%d (numpy sieve: %d); pool exit %d"
          % (sent, got, secs, args.limit, total, want, rc))
    raise SystemExit(0 if rc == 0 and got == sent and total == want else 1)


if __name__ == "__main__":
    main()
