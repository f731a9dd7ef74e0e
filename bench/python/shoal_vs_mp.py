#!/usr/bin/env python3
# Copyright 2026 The shoal Authors.
"""shoal from Python against multiprocessing, in one run on one machine.

    bazel run -c opt //bench:python_bench                 # about 2 minutes
    bazel run -c opt //bench:python_bench -- --quick      # a smoke run

Every row is measured here, in this run, with the same method: a producer
process and this process as the consumer (or a ping-pong partner), the
clock read by the consumer from the first message it receives to the last
(process start-up is not counted), each row repeated --repeats times;
the median and min..max are printed. Every message is checked on arrival
(its number, or the block's sum), and a wrong one fails the run.

Rows
  small objects, stream      an int, and a short tuple (i, "ab", 2.5), one
                             put per object: shoal.Queue vs
                             multiprocessing.Queue (and SimpleQueue, Pipe).
  blocks of 100,000 float64  * fill+sum: the producer computes every element,
                               the consumer sums them all: the FloatChannel
                               program, where the work is the same for all.
                               The block goals are measured here.
                             * stamp: the producer writes the block's number
                               into its first and last element, the consumer
                               checks them: what handing a block over costs,
                               per block (for reference: from Python that is
                               a call, a numpy array and a lease per block,
                               from C++ a few atomic operations).
                             shoal.FloatChannel loan (zero copy) and send/recv
                             (copies) vs multiprocessing.Queue (a new array
                             per block, pickled through a pipe),
                             multiprocessing.Pipe (send_bytes /
                             recv_bytes_into a reused buffer) and a ring of
                             multiprocessing.shared_memory blocks with two
                             Semaphores (zero copy, the stdlib's best).
  C++ -> Python              a C++ producer (channel_peer) into a named
                             FloatChannel, read by Python vs by C++.
  round trip                 a small object there and back: shoal.Queue
                             pair vs multiprocessing.Pipe (and Queue pair),
                             and shoal.ServiceClient.call to a server
                             process (request/response, the reply matched
                             to its call).

Depth: 4 blocks or items in flight where the method has a bound.
The goals of the Python module (>= 10x multiprocessing.Queue for small
objects; for the FloatChannel program (fill+sum) >= 100x
multiprocessing.Queue, at least as fast as multiprocessing.shared_memory with
two Semaphores, and C++ -> Python within 2x of C++ -> C++; >= 10x
multiprocessing.Pipe round trips) are checked at the end against this run.
"""

import argparse
import multiprocessing
import multiprocessing.shared_memory
import os
import statistics
import subprocess
import sys
import time

import numpy as np

import shoal

N_ELEMS = 100_000
DEPTH = 4
CTX = multiprocessing.get_context("fork")


def pin(cpu, enabled):
    if enabled and hasattr(os, "sched_setaffinity") and os.cpu_count() > 1:
        try:
            os.sched_setaffinity(0, {cpu % os.cpu_count()})
        except OSError:
            pass


def run_child(target, args, pin_enabled):
    def main():
        pin(1, pin_enabled)
        target(*args)
    p = CTX.Process(target=main)
    p.start()
    return p


def finish(p):
    p.join(120)
    if p.is_alive():
        p.kill()
        raise SystemExit("a producer did not finish within 120 s")
    if p.exitcode != 0:
        raise SystemExit("a producer failed (exit %s)" % p.exitcode)


class Clock:
    """First-to-last timing, read by the consumer."""

    def __init__(self):
        self.t0 = None

    def tick(self):
        if self.t0 is None:
            self.t0 = time.perf_counter()

    def rate(self, count):
        return (count - 1) / (time.perf_counter() - self.t0)


def check(ok, what):
    if not ok:
        raise SystemExit("CHECK FAILED: " + what)


# ------------------------------------------------------ small objects


def small_item(kind, i):
    return i if kind == "int" else (i, "ab", 2.5)


def produce_items(put, kind, n):
    if kind == "int":
        for i in range(n):
            put(i)
    else:
        for i in range(n):
            put((i, "ab", 2.5))


def consume_items(get, kind, n):
    c = Clock()
    for i in range(n):
        x = get()
        c.tick()
        if x != small_item(kind, i):
            check(False, "item %d arrived as %r" % (i, x))
    return c.rate(n)


def stream_shoal_queue(kind, n, pin_on):
    q = shoal.Queue(DEPTH * 256)
    p = run_child(lambda: produce_items(q.put, kind, n), (), pin_on)
    r = consume_items(q.get, kind, n)
    finish(p)
    return r


def stream_mp_queue(kind, n, pin_on):
    q = CTX.Queue(DEPTH * 256)
    p = run_child(lambda: produce_items(q.put, kind, n), (), pin_on)
    r = consume_items(q.get, kind, n)
    finish(p)
    return r


def stream_mp_simplequeue(kind, n, pin_on):
    q = CTX.SimpleQueue()
    p = run_child(lambda: produce_items(q.put, kind, n), (), pin_on)
    r = consume_items(q.get, kind, n)
    finish(p)
    return r


def stream_mp_pipe(kind, n, pin_on):
    a, b = CTX.Pipe(duplex=False)
    p = run_child(lambda: produce_items(b.send, kind, n), (), pin_on)
    b.close()
    r = consume_items(a.recv, kind, n)
    finish(p)
    return r


# ------------------------------------------------------------- blocks


def expected_sum(b, n):
    return b * 1e6 * n + n * (n - 1) / 2


def consume_blocks(next_block, done_with, blocks, mode):
    """next_block() -> array; done_with(array) gives it back."""
    c = Clock()
    for b in range(blocks):
        a = next_block()
        c.tick()
        if mode == "stamp":
            ok = a[0] == b and a[-1] == b
        else:
            ok = a.sum() == expected_sum(b, len(a))
        done_with(a)
        del a
        if not ok:
            check(False, "block %d arrived wrong" % b)
    return c.rate(blocks)


def write_block(a, b, k, mode):
    if mode == "stamp":
        a[0] = b
        a[-1] = b
    else:
        np.add(k, b * 1e6, out=a)


def blocks_shoal_loan(mode, blocks, pin_on):
    ch = shoal.FloatChannel(N_ELEMS, slots=DEPTH)

    def produce():
        k = np.arange(N_ELEMS, dtype=np.float64)
        for b in range(blocks):
            with ch.loan(N_ELEMS) as a:
                write_block(a, b, k, mode)

    p = run_child(produce, (), pin_on)
    r = consume_blocks(ch.receive, lambda a: None, blocks, mode)
    finish(p)
    return r


def blocks_shoal_copy(mode, blocks, pin_on):
    ch = shoal.FloatChannel(N_ELEMS, slots=DEPTH)

    def produce():
        k = np.arange(N_ELEMS, dtype=np.float64)
        a = np.empty(N_ELEMS)
        for b in range(blocks):
            write_block(a, b, k, mode)
            ch.send(a)

    p = run_child(produce, (), pin_on)
    r = consume_blocks(ch.recv, lambda a: None, blocks, mode)
    finish(p)
    return r


def blocks_mp_queue(mode, blocks, pin_on):
    q = CTX.Queue(DEPTH)

    def produce():
        k = np.arange(N_ELEMS, dtype=np.float64)
        for b in range(blocks):
            # A new array per block: put() pickles it later, in a thread.
            a = np.empty(N_ELEMS)
            write_block(a, b, k, mode)
            q.put(a)

    p = run_child(produce, (), pin_on)
    r = consume_blocks(q.get, lambda a: None, blocks, mode)
    finish(p)
    return r


def blocks_mp_pipe(mode, blocks, pin_on):
    rx, tx = CTX.Pipe(duplex=False)

    def produce():
        k = np.arange(N_ELEMS, dtype=np.float64)
        a = np.empty(N_ELEMS)
        for b in range(blocks):
            write_block(a, b, k, mode)
            tx.send_bytes(a)  # buffer protocol: no pickle

    p = run_child(produce, (), pin_on)
    tx.close()
    buf = bytearray(N_ELEMS * 8)
    view = np.frombuffer(buf, dtype=np.float64)

    def next_block():
        rx.recv_bytes_into(buf)
        return view

    r = consume_blocks(next_block, lambda a: None, blocks, mode)
    finish(p)
    return r


def blocks_mp_shared_memory(mode, blocks, pin_on):
    shms = [multiprocessing.shared_memory.SharedMemory(create=True,
                                                       size=N_ELEMS * 8)
            for _ in range(DEPTH)]
    free, full = CTX.Semaphore(DEPTH), CTX.Semaphore(0)
    try:
        def produce():
            k = np.arange(N_ELEMS, dtype=np.float64)
            views = [np.ndarray(N_ELEMS, np.float64, s.buf) for s in shms]
            for b in range(blocks):
                free.acquire()
                write_block(views[b % DEPTH], b, k, mode)
                full.release()
            del views

        p = run_child(produce, (), pin_on)
        views = [np.ndarray(N_ELEMS, np.float64, s.buf) for s in shms]
        state = {"b": 0}

        def next_block():
            full.acquire()
            a = views[state["b"] % DEPTH]
            state["b"] += 1
            return a

        r = consume_blocks(next_block, lambda a: free.release(), blocks, mode)
        finish(p)
        del views
        return r
    finally:
        for s in shms:
            s.close()
            s.unlink()


# ------------------------------------------------------ C++ -> Python


def cpp_to_python(peer, mode, blocks, pin_on):
    name = "bench.cpp2py.%d.%d" % (os.getpid(), time.monotonic_ns())
    ch = shoal.FloatChannel(N_ELEMS, slots=DEPTH, name=name)
    prod = subprocess.Popen(
        [peer, "produce", name, str(blocks), str(N_ELEMS),
         "stamp" if mode == "stamp" else "fill"],
        preexec_fn=lambda: pin(1, pin_on))
    r = consume_blocks(lambda: ch.receive(timeout=60), lambda a: None,
                       blocks, mode)
    check(prod.wait(60) == 0, "channel_peer produce failed")
    return r


def cpp_to_cpp(peer, mode, blocks, pin_on):
    name = "bench.cpp2cpp.%d.%d" % (os.getpid(), time.monotonic_ns())
    ch = shoal.FloatChannel(N_ELEMS, slots=DEPTH, name=name)  # noqa: F841
    cons = subprocess.Popen(
        [peer, "consume", name, str(blocks),
         "stamp" if mode == "stamp" else "sum"],
        stdout=subprocess.PIPE, text=True, preexec_fn=lambda: pin(0, pin_on))
    prod = subprocess.Popen(
        [peer, "produce", name, str(blocks), str(N_ELEMS),
         "stamp" if mode == "stamp" else "fill"],
        preexec_fn=lambda: pin(1, pin_on))
    out, _ = cons.communicate(timeout=120)
    check(prod.wait(60) == 0 and cons.returncode == 0,
          "channel_peer failed: %r" % out)
    fields = out.split()
    check(fields[0] == "rate" and fields[2] == "bad" and fields[3] == "0",
          "channel_peer consume said %r" % out)
    return float(fields[1])


# --------------------------------------------------------- round trip


def echo(get, put):
    while True:
        x = get()
        if x is None:
            return
        put(x)


def rtt(get, put, n):
    item = (1, "ab", 2.5)
    put(item)
    check(get() == item, "round trip")  # warm up: both sides running
    t0 = time.perf_counter()
    for _ in range(n):
        put(item)
        get()
    secs = (time.perf_counter() - t0) / n
    put(None)
    return secs


def rtt_shoal_queue(n, pin_on):
    there, back = shoal.Queue(), shoal.Queue()
    p = run_child(echo, (there.get, back.put), pin_on)
    r = rtt(back.get, there.put, n)
    finish(p)
    return r


def rtt_mp_pipe(n, pin_on):
    a, b = CTX.Pipe()
    p = run_child(echo, (b.recv, b.send), pin_on)
    r = rtt(a.recv, a.send, n)
    finish(p)
    return r


def identity(x):
    return x


def rtt_shoal_service(n, pin_on):
    svc = shoal.Service()
    p = run_child(svc.serve, (identity,), pin_on)
    client = shoal.ServiceClient(svc)
    item = (1, "ab", 2.5)
    check(client.call(item, 60) == item, "service call")  # server running
    t0 = time.perf_counter()
    for _ in range(n):
        client.call(item)
    secs = (time.perf_counter() - t0) / n
    svc.close()
    finish(p)
    return secs


def rtt_mp_queue(n, pin_on):
    there, back = CTX.Queue(), CTX.Queue()
    p = run_child(echo, (there.get, back.put), pin_on)
    r = rtt(back.get, there.put, n)
    finish(p)
    return r


# ------------------------------------------- per-block cost, one process


def cost_shoal_loan(blocks):
    """loan + publish + receive + release in one process: the Python cost of
    one block hand-over, both ends, without a peer or a wake-up (so that a
    loaded machine barely moves it). Seconds per block, best of 5."""
    ch = shoal.FloatChannel(N_ELEMS, slots=DEPTH)

    def loop():
        for b in range(blocks):
            with ch.loan(N_ELEMS) as a:
                a[0] = b
            r = ch.receive()
            if r[0] != b:
                check(False, "block %d arrived wrong" % b)
            del r
    return best_of(loop, blocks)


def cost_mp_shared_memory(blocks):
    """The same with the shared_memory ring and two Semaphores."""
    shm = multiprocessing.shared_memory.SharedMemory(create=True,
                                                     size=N_ELEMS * 8 * DEPTH)
    try:
        views = [np.ndarray(N_ELEMS, np.float64, shm.buf, offset=N_ELEMS * 8 * i)
                 for i in range(DEPTH)]
        free, full = CTX.Semaphore(DEPTH), CTX.Semaphore(0)

        def loop():
            for b in range(blocks):
                free.acquire()
                views[b % DEPTH][0] = b
                full.release()
                full.acquire()
                if views[b % DEPTH][0] != b:
                    check(False, "block %d arrived wrong" % b)
                free.release()
        r = best_of(loop, blocks)
        del views
        return r
    finally:
        shm.close()
        shm.unlink()


def best_of(loop, blocks):
    loop()  # warm-up
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        loop()
        best = min(best, (time.perf_counter() - t0) / blocks)
    return best


# ------------------------------------------------------------- driver


def fmt_rate(v):
    for div, unit in ((1e6, "M"), (1e3, "k")):
        if v >= div:
            return "%.3g %s/s" % (v / div, unit)
    return "%.3g /s" % v


def fmt_time(v):
    return "%.3g us" % (v * 1e6)


def measure(fn, repeats):
    vals = [fn() for _ in range(repeats)]
    return statistics.median(vals), min(vals), max(vals)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true",
                    help="a tenth of the messages, one repeat (a smoke run)")
    ap.add_argument("--no-pin", action="store_true",
                    help="do not pin consumer and producer to CPUs 0 and 1")
    ap.add_argument("--channel-peer", default=os.path.join(
        "bazel-bin", "bench", "python_channel_peer"))
    args = ap.parse_args()
    scale = 0.1 if args.quick else 1.0
    repeats = 1 if args.quick else args.repeats
    pin_on = not args.no_pin
    pin(0, pin_on)

    def n(x):
        return max(20, int(x * scale))

    print("shoal from Python vs multiprocessing: %s, %d CPUs, load %.1f, "
          "Python %s, numpy %s, %d repeat(s), median [min..max]"
          % (time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
             os.cpu_count(), os.getloadavg()[0],
             sys.version.split()[0], np.__version__, repeats), flush=True)
    results = {}

    def row(group, label, fn, fmt):
        med, lo, hi = measure(fn, repeats)
        results[(group, label)] = med
        print("  %-46s %12s  [%s..%s]" % (label, fmt(med), fmt(lo), fmt(hi)),
              flush=True)

    for kind in ("int", "tuple"):
        g = "stream-" + kind
        print("small objects (%s), stream, messages/s:" % kind)
        row(g, "shoal.Queue", lambda: stream_shoal_queue(kind, n(400_000), pin_on), fmt_rate)
        row(g, "multiprocessing.Queue", lambda: stream_mp_queue(kind, n(60_000), pin_on), fmt_rate)
        row(g, "multiprocessing.SimpleQueue", lambda: stream_mp_simplequeue(kind, n(60_000), pin_on), fmt_rate)
        row(g, "multiprocessing.Pipe", lambda: stream_mp_pipe(kind, n(100_000), pin_on), fmt_rate)

    for mode in ("stamp", "fill+sum"):
        g = "blocks-" + mode
        print("blocks of 100,000 float64 (%s), blocks/s:" % (
            "fill+sum: the FloatChannel program" if mode == "fill+sum" else
            "stamp: per-block overhead only, for reference"))
        big = 20_000 if mode == "stamp" else 2_000
        row(g, "shoal.FloatChannel loan (zero copy)",
            lambda: blocks_shoal_loan(mode, n(big), pin_on), fmt_rate)
        row(g, "shoal.FloatChannel send/recv (copies)",
            lambda: blocks_shoal_copy(mode, n(2_000), pin_on), fmt_rate)
        row(g, "multiprocessing.Queue (pickled arrays)",
            lambda: blocks_mp_queue(mode, n(1_000), pin_on), fmt_rate)
        row(g, "multiprocessing.Pipe (send_bytes/recv_bytes_into)",
            lambda: blocks_mp_pipe(mode, n(1_000), pin_on), fmt_rate)
        row(g, "multiprocessing.shared_memory + 2 Semaphores",
            lambda: blocks_mp_shared_memory(mode, n(big), pin_on), fmt_rate)
        if os.access(args.channel_peer, os.X_OK):
            row(g, "C++ producer -> Python consumer (loan)",
                lambda: cpp_to_python(args.channel_peer, mode, n(big), pin_on), fmt_rate)
            row(g, "C++ producer -> C++ consumer (loan)",
                lambda: cpp_to_cpp(args.channel_peer, mode, n(big), pin_on), fmt_rate)
        else:
            print("  (C++ rows skipped: %s not found)" % args.channel_peer)

    print("cost of one block hand-over in Python, both ends in one process "
          "(no peer, no wake-up), best of 5:")
    row("cost", "shoal.FloatChannel loan+publish+receive+release",
        lambda: cost_shoal_loan(n(20_000)), fmt_time)
    row("cost", "shared_memory + 2 Semaphores acquire/release",
        lambda: cost_mp_shared_memory(n(20_000)), fmt_time)

    print("round trip of a small object (a short tuple), time per round trip:")
    row("rtt", "shoal.Queue pair", lambda: rtt_shoal_queue(n(40_000), pin_on), fmt_time)
    row("rtt", "multiprocessing.Pipe", lambda: rtt_mp_pipe(n(10_000), pin_on), fmt_time)
    row("rtt", "multiprocessing.Queue pair", lambda: rtt_mp_queue(n(5_000), pin_on), fmt_time)
    row("rtt", "shoal.Service call", lambda: rtt_shoal_service(n(40_000), pin_on), fmt_time)

    print("goals (ratios of medians from this run):")

    def goal(text, ratio, want, spelled=None):
        print("  %-62s %7.2fx  (goal >= %s) %s"
              % (text, ratio, spelled or "%gx" % want,
                 "met" if ratio >= want else "NOT MET"))

    for kind in ("int", "tuple"):
        g = "stream-" + kind
        goal("small %s stream: shoal.Queue / multiprocessing.Queue" % kind,
             results[(g, "shoal.Queue")] / results[(g, "multiprocessing.Queue")], 10)
    # The block goals are the FloatChannel program's (fill+sum). "stamp"
    # hands over blocks that nobody reads: it measures the cost per block
    # (a Python call, a numpy array, a lease) against C++'s one-word touch,
    # and is printed for reference, not as a goal.
    def reference(text, ratio):
        print("  %-62s %7.2fx  (for reference, not a goal)" % (text, ratio))

    for mode in ("fill+sum", "stamp"):
        g = "blocks-" + mode
        shoal_loan = results[(g, "shoal.FloatChannel loan (zero copy)")]
        vs_queue = shoal_loan / results[(g, "multiprocessing.Queue (pickled arrays)")]
        vs_shm = shoal_loan / results[(g, "multiprocessing.shared_memory + 2 Semaphores")]
        have_cpp = (g, "C++ producer -> C++ consumer (loan)") in results
        if have_cpp:
            vs_cpp = (results[(g, "C++ producer -> Python consumer (loan)")] /
                      results[(g, "C++ producer -> C++ consumer (loan)")])
        if mode == "fill+sum":
            goal("blocks (fill+sum): shoal loan / multiprocessing.Queue", vs_queue, 100)
            goal("blocks (fill+sum): shoal loan / mp.shared_memory+Semaphores",
                 vs_shm, 1, "1x, the stdlib's zero copy")
            if have_cpp:
                goal("blocks (fill+sum): C++->Python / C++->C++", vs_cpp, 0.5,
                     "0.5x, within 2x")
        else:
            reference("per-block overhead (stamp): shoal loan / mp.Queue", vs_queue)
            reference("per-block overhead (stamp): shoal loan / mp.shared_memory", vs_shm)
            if have_cpp:
                reference("per-block overhead (stamp): C++->Python / C++->C++", vs_cpp)
    goal("round trip: multiprocessing.Pipe time / shoal.Queue time",
         results[("rtt", "multiprocessing.Pipe")] / results[("rtt", "shoal.Queue pair")], 10)
    print("  %-62s %7.2fx  (for reference)" % (
        "round trip: shoal.Service call time / shoal.Queue pair time",
        results[("rtt", "shoal.Service call")] / results[("rtt", "shoal.Queue pair")]))
    print("  %-62s %7.2fx  (for reference)" % (
        "round trip: multiprocessing.Queue pair time / shoal.Service call",
        results[("rtt", "multiprocessing.Queue pair")] / results[("rtt", "shoal.Service call")]))


if __name__ == "__main__":
    main()
