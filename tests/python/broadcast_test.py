# Copyright 2026 The shoal Authors.
"""shoal.Broadcast: every subscriber process sees every numpy block."""

import gc
import os
import signal

import numpy as np
import pytest

import shoal
from conftest import join, start

N = 1000


def block(b):
    return b * 1e6 + np.arange(N, dtype=np.float64)


def subscribe_and_sum(bus, blocks, ready, out):
    sub = bus.subscribe()
    ready.put(os.getpid())
    total = 0.0
    for b in range(blocks):
        a = sub.receive(timeout=30)
        assert not a.flags.writeable
        assert a[0] == b * 1e6 and a[-1] == b * 1e6 + N - 1
        total += float(a.sum())
        del a
    out.put((total, sub.missed, sub.lost, sub.delivered))


def subscribe_then_die(bus, ready):
    sub = bus.subscribe()
    ready.put("subscribed")
    held = sub.receive(timeout=30)  # pins a block, then never reads again
    ready.put(float(held[0]))
    ready.close()
    ready.join_thread()  # flushed before the kill
    os.kill(os.getpid(), signal.SIGKILL)


def test_every_subscriber_process_sees_every_block(ctx):
    blocks = 40
    bus = shoal.Broadcast("d", N, slots=4)
    ready, out = ctx.Queue(), ctx.Queue()
    kids = [start(ctx, subscribe_and_sum, bus, blocks, ready, out)
            for _ in range(3)]
    for _ in kids:
        ready.get(timeout=30)
    assert bus.subscribers == 3
    for b in range(blocks):
        bus.send(block(b), timeout=30)
    expected = sum(float(block(b).sum()) for b in range(blocks))
    for _ in kids:
        total, missed, lost, delivered = out.get(timeout=30)
        assert (total, missed, lost, delivered) == (expected, 0, 0, blocks)
    for p in kids:
        assert join(p) == 0


def test_overwrite_subscriber_is_told_what_it_missed():
    bus = shoal.Broadcast("q", 1, slots=4)
    lazy = bus.subscribe(overwrite=True)
    for i in range(100):
        bus.send(np.array([i], dtype=np.int64))
    assert lazy.receive(timeout=5)[0] == 96
    assert lazy.missed == 96
    assert [int(lazy.recv(timeout=5)[0]) for _ in range(3)] == [97, 98, 99]
    assert lazy.delivered + lazy.missed == 100


def test_late_joiner_history_and_close():
    bus = shoal.Broadcast("d", 2, slots=8, history=4, name=None)
    for i in range(10):
        bus.send([float(i), float(i)])
    sub = bus.subscribe(history=3)
    assert [sub.recv(timeout=5)[0] for _ in range(3)] == [7.0, 8.0, 9.0]
    bus.close()
    with pytest.raises(shoal.Closed):
        sub.receive(timeout=5)
    with pytest.raises(shoal.Closed):
        bus.send([1.0])


def test_publisher_waits_bounded_for_a_block_the_writer_subscriber():
    bus = shoal.Broadcast("d", 1, slots=2)
    sub = bus.subscribe()
    bus.send([1.0])
    bus.send([2.0])
    with pytest.raises(shoal.TimeoutError):
        bus.send([3.0], timeout=0.1)
    a = sub.receive(timeout=5)
    with pytest.raises(shoal.TimeoutError):
        bus.send([3.0], timeout=0.1)  # the view still pins block 1
    del a
    gc.collect()
    bus.send([3.0], timeout=5)


def test_killed_subscriber_is_evicted(fork_ctx):
    bus = shoal.Broadcast("d", 1, slots=2)
    ready = fork_ctx.Queue()
    bus.send([1.0])
    p = start(fork_ctx, subscribe_then_die, bus, ready)
    assert ready.get(timeout=30) == "subscribed"  # after block 0
    bus.send([2.0], timeout=30)
    assert ready.get(timeout=30) == 2.0
    assert join(p) == -signal.SIGKILL
    for i in range(4):  # the dead subscriber pins and blocks: evicted
        bus.send([3.0 + i], timeout=10)
    assert bus.evicted == 1 and bus.subscribers == 0


def test_pickled_and_named_broadcast_reach_the_same_ring(name):
    bus = shoal.Broadcast("d", 4, name=name)
    other = shoal.Broadcast.open(name, "d")
    sub = other.subscribe()
    bus.send([1.0, 2.0])
    assert list(sub.recv(timeout=5)) == [1.0, 2.0]
    import pickle
    again = pickle.loads(pickle.dumps(bus))
    again.send([3.0])
    assert list(sub.recv(timeout=5)) == [3.0]
    with pytest.raises(shoal.InvalidRegion):
        shoal.Broadcast.open(name, "f")
