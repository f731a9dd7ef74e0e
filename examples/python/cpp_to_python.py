# Copyright 2026 The shoal Authors.
"""A C++ producer feeding a Python consumer over a named FloatChannel.

This process creates the channel under a name, starts the C++ program
block_producer (examples/python/block_producer.cc) with that name, and sums
every block it receives -- each one a read-only numpy array viewing the
block the C++ code wrote, not a copy. The producer closes the channel when
it is done; receive() then raises shoal.Closed once the last block is read.

  bazel run -c opt //examples/python:cpp_to_python
  bazel run //examples/python:cpp_to_python -- --blocks=100 --elements=10000
  /usr/bin/python3 examples/python/cpp_to_python.py --producer=PATH
"""

import argparse
import os
import subprocess
import time

import shoal


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--blocks", type=int, default=1000)
    ap.add_argument("--elements", type=int, default=100_000)
    ap.add_argument("--producer", default=os.path.join(
        os.environ.get("SHOAL_EXAMPLES_BIN", "bazel-bin/examples/python"),
        "block_producer"))
    args = ap.parse_args()

    name = "example.cpp_to_python.%d" % os.getpid()
    ch = shoal.FloatChannel(args.elements, slots=4, name=name)
    t0 = time.perf_counter()
    producer = subprocess.Popen([args.producer, "--channel=" + name,
                                 "--blocks=%d" % args.blocks,
                                 "--elements=%d" % args.elements])
    n = args.elements
    got = bad = 0
    while True:
        try:
            # Bounded, so that a producer that died does not hang us.
            a = ch.receive(timeout=1.0)
        except shoal.Closed:
            break
        except shoal.TimeoutError:
            if producer.poll() is not None:
                break
            continue
        bad += a.sum() != got * 1e6 * n + n * (n - 1) / 2
        del a  # the block goes back to the C++ producer
        got += 1
    secs = time.perf_counter() - t0
    rc = producer.wait(timeout=60)
    print("C++ -> Python: %d blocks of %d float64 in %.3f s: %.0f blocks/s; "
          "%d checked, %d bad; producer exit %d"
          % (got, n, secs, got / secs, got, bad, rc))
    raise SystemExit(0 if rc == 0 and bad == 0 and got == args.blocks else 1)


if __name__ == "__main__":
    main()
