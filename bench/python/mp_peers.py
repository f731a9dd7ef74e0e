#!/usr/bin/env python3
# Copyright 2026 The shoal Authors.
"""The Python peers of the shoal shoot-out (bench/shootout): multiprocessing's
Queue, Pipe, the FloatChannel pattern, Lock and Value, measured the same way as
the C++ methods.

The shoot-out runs this script once per (method, workload, size) and reads
the last line it prints:

    RESULT ok=1 messages=12345 samples=v1,v2,...

Units of the samples: rtt -> seconds per round trip; stream -> messages per
second; lock-uncontended -> seconds per acquire+release; lock-contended,
value-increment -> operations per second (both processes together); pool
workloads (--method pool) -> seconds per call or per item.

Honesty: every message is `size` bytes (bytes objects for Queue and Pipe,
`size / 8` doubles for FloatChannel) stamped exactly like the C++ methods
(bench/bench_util.h): its sequence number in word 0, seq + k in word 512 k
(one per 4 KiB) and ~seq in the last word; the receiver checks them all and
that the sequence numbers arrive in order. A mismatch gives ok=0.

The shoal methods (shoal.queue, shoal.floatchannel) are shoal's Python
module measured by the same code, so that its rows sit next to
multiprocessing's in one run.

The FloatChannel pattern (a RawArray and two Semaphores, from the
multiprocessing tour) is used as usually published, with one fix: its
send() does `self.buffer_len = nitems`, which rebinds the attribute in
the sender only, so the receiver always reads a length of 0 and receives
nothing. Here it is `self.buffer_len.value = nitems`.
"""

import argparse
import multiprocessing
import os
import struct
import sys
import time

MASK = (1 << 64) - 1
STRIDE = 4096  # bytes between page stamps (512 words)
END_REPEAT = MASK  # the sequence number that ends a repeat


def pin(cpu, enabled):
    if enabled and hasattr(os, "sched_setaffinity"):
        try:
            os.sched_setaffinity(0, {cpu % os.cpu_count()})
        except OSError:
            pass


# --------------------------------------------------------------- stamps


def make_buffer(size):
    buf = bytearray(size)
    # A recognizable pattern, as in the C++ Fill().
    for i in range(0, size - size % 8, 8):
        struct.pack_into("<Q", buf, i, (0x9E3779B97F4A7C15 * (i // 8 + 1)) & MASK)
    return buf


def stamp(buf, seq):
    n = len(buf)
    struct.pack_into("<Q", buf, 0, seq)
    for off in range(STRIDE, n, STRIDE):
        struct.pack_into("<Q", buf, off, (seq + off // STRIDE) & MASK)
    if n > 8:
        struct.pack_into("<Q", buf, n - 8, ~seq & MASK)


def check(buf, size):
    """The sequence number `buf` carries, or None when a stamp is wrong."""
    if len(buf) != size:
        return None
    (seq,) = struct.unpack_from("<Q", buf, 0)
    for off in range(STRIDE, size, STRIDE):
        if struct.unpack_from("<Q", buf, off)[0] != (seq + off // STRIDE) & MASK:
            return None
    if size > 8 and struct.unpack_from("<Q", buf, size - 8)[0] != ~seq & MASK:
        return None
    return seq


# Doubles for FloatChannel: v[0] = seq, v[512 k] = seq + k, v[-1] = -(seq + 1).
def stamp_doubles(values, seq):
    n = len(values)
    s = float(seq)
    values[0] = s
    for k in range(1, (n + 511) // 512):
        values[k * 512] = s + k
    if n > 1:
        values[n - 1] = -(s + 1)


def check_doubles(values, n):
    if len(values) != n:
        return None
    s = values[0]
    for k in range(1, (n + 511) // 512):
        if values[k * 512] != s + k:
            return None
    if n > 1 and values[n - 1] != -(s + 1):
        return None
    return int(s)


# ------------------------------------------------- the FloatChannel pattern


class FloatChannel(object):
    def __init__(self, maxsize):
        self.buffer = multiprocessing.RawArray("d", maxsize)
        self.buffer_len = multiprocessing.Value("i")
        self.empty = multiprocessing.Semaphore(1)
        self.full = multiprocessing.Semaphore(0)

    def send(self, values):
        self.empty.acquire()  # Only proceed if buffer empty
        nitems = len(values)
        self.buffer_len.value = nitems  # Set the buffer size (fixed, see above)
        self.buffer[:nitems] = values  # Copy values into the buffer
        self.full.release()  # Signal that buffer is full

    def recv(self):
        self.full.acquire()  # Only proceed if buffer full
        values = self.buffer[: self.buffer_len.value]  # Copy values
        self.empty.release()  # Signal that buffer is empty
        return values


# ------------------------------------------------------------- transports
#
# Each transport has send(direction, seq) and recv(direction) -> seq or None,
# used in both processes after fork. send(d, END_REPEAT) ends a stream
# repeat; send(d, None) tells the echo peer to exit.


class QueueLink(object):
    def __init__(self, size, depth):
        self.size = size
        self.q = [multiprocessing.Queue(depth), multiprocessing.Queue(depth)]
        self.buf = None

    def send(self, d, seq):
        if seq is None:
            self.q[d].put(None)
            return
        if self.buf is None:
            self.buf = make_buffer(self.size)
        stamp(self.buf, seq)
        self.q[d].put(bytes(self.buf))  # put() pickles later: a snapshot

    def recv(self, d):
        m = self.q[d].get()
        if m is None:
            return "exit"
        return check(m, self.size)


class PipeLink(object):
    def __init__(self, size, depth):
        self.size = size
        self.ends = [multiprocessing.Pipe(duplex=False), multiprocessing.Pipe(duplex=False)]
        self.buf = None
        self.rbuf = bytearray(size)

    def send(self, d, seq):
        if seq is None:
            self.ends[d][1].send_bytes(b"")
            return
        if self.buf is None:
            self.buf = make_buffer(self.size)
        stamp(self.buf, seq)
        self.ends[d][1].send_bytes(self.buf)

    def recv(self, d):
        n = self.ends[d][0].recv_bytes_into(self.rbuf)
        if n == 0:
            return "exit"
        return check(memoryview(self.rbuf)[:n], self.size)


class FloatChannelLink(object):
    def __init__(self, size, depth):
        self.n = max(1, size // 8)
        self.ch = [FloatChannel(self.n), FloatChannel(self.n)]
        self.values = None

    def send(self, d, seq):
        if seq is None:
            self.ch[d].send([])
            return
        if self.values is None:
            self.values = [float(x) for x in range(self.n)]  # as in the original
        stamp_doubles(self.values, 0 if seq == END_REPEAT else seq)
        if seq == END_REPEAT:
            self.values[0] = -1.0  # marks the end of a repeat
        self.ch[d].send(self.values)

    def recv(self, d):
        values = self.ch[d].recv()
        if len(values) == 0:
            return "exit"
        if values[0] == -1.0:
            return END_REPEAT
        return check_doubles(values, self.n)


# shoal from Python (`import shoal`, the package //python:site builds; the
# shoot-out puts it on PYTHONPATH), driven and checked exactly like the peers.


class ShoalQueueLink(QueueLink):
    """shoal.Queue of the same bytes objects (pickled, as multiprocessing's)."""

    def __init__(self, size, depth):
        import shoal
        self.size = size
        self.q = [shoal.Queue(depth), shoal.Queue(depth)]
        self.buf = None


class ShoalChannelLink(object):
    """shoal.FloatChannel, zero copy: the sender stamps a loaned numpy array in
    shared memory and publishes it, the receiver checks the block in place
    and releases it (del)."""

    def __init__(self, size, depth):
        import shoal
        self.n = max(1, size // 8)
        self.ch = [shoal.FloatChannel(self.n, slots=depth),
                   shoal.FloatChannel(self.n, slots=depth)]

    def send(self, d, seq):
        if seq is None:
            self.ch[d].loan(0).publish()  # an empty block: exit
            return
        with self.ch[d].loan(self.n) as values:
            stamp_doubles(values, 0 if seq == END_REPEAT else seq)
            if seq == END_REPEAT:
                values[0] = -1.0  # marks the end of a repeat

    def recv(self, d):
        values = self.ch[d].receive()
        if len(values) == 0:
            return "exit"
        if values[0] == -1.0:
            return END_REPEAT
        seq = check_doubles(values, self.n)
        del values  # the block goes back to the sender
        return seq


LINKS = {"queue": QueueLink, "pipe": PipeLink, "floatchannel": FloatChannelLink,
         "shoal.queue": ShoalQueueLink, "shoal.floatchannel": ShoalChannelLink}


# -------------------------------------------------------------- workloads


def rtt_peer(link, cpu, do_pin, bad):
    pin(cpu, do_pin)
    while True:
        s = link.recv(0)
        if s == "exit":
            return
        if s is None:
            with bad.get_lock():
                bad.value += 1
            s = 0
        link.send(1, s)


def run_rtt(link, args, bad):
    p = multiprocessing.Process(target=rtt_peer, args=(link, 1, args.pin, bad))
    p.start()
    pin(0, args.pin)
    seq = 0
    samples = []
    total = 0
    for rep in range(-1, args.repeats):  # rep -1: warm-up
        dur = args.warmup if rep < 0 else args.duration
        n = 0
        t0 = time.perf_counter()
        while True:
            link.send(0, seq)
            if link.recv(1) != seq:
                with bad.get_lock():
                    bad.value += 1
            seq += 1
            n += 1
            if n >= 2 and time.perf_counter() - t0 >= dur:
                break
        t = time.perf_counter() - t0
        if rep >= 0:
            samples.append(t / n)
            total += n
    link.send(0, None)
    p.join(30)
    return samples, total


def stream_consumer(link, cpu, do_pin, bad, report):
    pin(cpu, do_pin)
    expect = 0
    count = 0
    while True:
        s = link.recv(0)
        if s == "exit":
            return
        if s == END_REPEAT:
            report.send((time.perf_counter(), count))
            count = 0
            continue
        if s != expect:
            with bad.get_lock():
                bad.value += 1
        expect = (s if s is not None else expect) + 1
        count += 1


def run_stream(link, args, bad):
    report_r, report_w = multiprocessing.Pipe(duplex=False)
    p = multiprocessing.Process(
        target=stream_consumer, args=(link, 1, args.pin, bad, report_w)
    )
    p.start()
    pin(0, args.pin)
    seq = 0
    samples = []
    total = 0
    batch = max(1, min(64, 65536 // max(args.size, 1)))
    for rep in range(-1, args.repeats):
        dur = args.warmup if rep < 0 else args.duration
        t0 = time.perf_counter()
        while True:
            for _ in range(batch):
                link.send(0, seq)
                seq += 1
            if time.perf_counter() - t0 >= dur:
                break
        link.send(0, END_REPEAT)
        t_end, count = report_r.recv()
        if rep >= 0:
            samples.append(count / (t_end - t0))
            total += count
    link.send(0, None)
    p.join(30)
    return samples, total


def run_lock_uncontended(args, bad):
    pin(0, args.pin)
    lock = multiprocessing.Lock()
    samples = []
    total = 0
    for rep in range(-1, args.repeats):
        dur = args.warmup if rep < 0 else args.duration
        n = 0
        t0 = time.perf_counter()
        while True:
            for _ in range(1000):
                lock.acquire()
                lock.release()
            n += 1000
            if time.perf_counter() - t0 >= dur:
                break
        if rep >= 0:
            samples.append((time.perf_counter() - t0) / n)
            total += n
    return samples, total


def contender(lock, value, start, stop, counts, idx, cpu, do_pin, increment):
    pin(cpu, do_pin)
    n = 0
    start.wait()
    while not stop.is_set():
        for _ in range(100):
            if increment:
                with value.get_lock():
                    value.value += 1
            else:
                lock.acquire()
                lock.release()
        n += 100
    counts[idx] = n


def run_two_process(args, bad, increment):
    samples = []
    total = 0
    for rep in range(-1, args.repeats):
        dur = args.warmup if rep < 0 else args.duration
        lock = multiprocessing.Lock()
        value = multiprocessing.Value("q", 0)
        start = multiprocessing.Event()
        stop = multiprocessing.Event()
        counts = multiprocessing.RawArray("q", 2)
        ps = [
            multiprocessing.Process(
                target=contender,
                args=(lock, value, start, stop, counts, i, i, args.pin, increment),
            )
            for i in range(2)
        ]
        for p in ps:
            p.start()
        time.sleep(0.01)
        t0 = time.perf_counter()
        start.set()
        time.sleep(dur)
        stop.set()
        for p in ps:
            p.join(30)
        t = time.perf_counter() - t0
        n = counts[0] + counts[1]
        if increment and value.value != n:
            bad.value += 1
        if rep >= 0:
            samples.append(n / t)
            total += n
    return samples, total


# ------------------------------------------------------------ pools
#
# The Python side of the pool rows (shoal Pool.apply, Pool.map per item,
# imap_unordered chunksize 1, Executor.submit round trip). The shoot-out
# runs these once shoal's pool/ has landed; until then they are here, ready.


def _inc(x):
    return x + 1


def run_pool(args, bad, workload):
    import concurrent.futures
    samples = []
    total = 0
    n_items = 1000
    if workload == "executor-submit":
        pool = concurrent.futures.ProcessPoolExecutor(max_workers=2)
    else:
        pool = multiprocessing.Pool(processes=2)
    try:
        for rep in range(-1, args.repeats):
            dur = args.warmup if rep < 0 else args.duration
            n = 0
            t0 = time.perf_counter()
            while True:
                if workload == "pool-apply":
                    if pool.apply(_inc, (n,)) != n + 1:
                        bad.value += 1
                    n += 1
                elif workload == "executor-submit":
                    if pool.submit(_inc, n).result() != n + 1:
                        bad.value += 1
                    n += 1
                elif workload == "pool-map":
                    out = pool.map(_inc, range(n_items))
                    if out[-1] != n_items or len(out) != n_items:
                        bad.value += 1
                    n += n_items
                else:  # pool-imap-unordered, chunksize 1
                    got = sum(pool.imap_unordered(_inc, range(n_items), chunksize=1))
                    if got != n_items * (n_items + 1) // 2:
                        bad.value += 1
                    n += n_items
                if time.perf_counter() - t0 >= dur and n >= 2:
                    break
            if rep >= 0:
                samples.append((time.perf_counter() - t0) / n)
                total += n
    finally:
        if workload == "executor-submit":
            pool.shutdown()
        else:
            pool.terminate()
            pool.join()
    return samples, total


POOL_WORKLOADS = ["pool-apply", "pool-map", "pool-imap-unordered",
                  "executor-submit"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--method", required=True,
                    choices=sorted(LINKS) + ["lock", "value", "pool"])
    ap.add_argument("--workload", required=True,
                    choices=["rtt", "stream", "lock-uncontended",
                             "lock-contended", "value-increment"]
                    + POOL_WORKLOADS)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--depth", type=int, default=1024)
    ap.add_argument("--duration", type=float, default=0.1)
    ap.add_argument("--warmup", type=float, default=0.02)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--pin", action="store_true")
    args = ap.parse_args()

    multiprocessing.set_start_method("fork")
    bad = multiprocessing.Value("q", 0)
    if args.workload in ("rtt", "stream"):
        link = LINKS[args.method](args.size, args.depth)
        run = run_rtt if args.workload == "rtt" else run_stream
        samples, total = run(link, args, bad)
    elif args.workload in POOL_WORKLOADS:
        samples, total = run_pool(args, bad, args.workload)
    elif args.workload == "lock-uncontended":
        samples, total = run_lock_uncontended(args, bad)
    else:
        samples, total = run_two_process(
            args, bad, increment=args.workload == "value-increment")
    ok = 1 if bad.value == 0 and len(samples) == args.repeats else 0
    print("RESULT ok=%d messages=%d samples=%s"
          % (ok, total, ",".join("%.9g" % s for s in samples)))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
