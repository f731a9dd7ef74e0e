# Copyright 2026 The shoal Authors.
"""C++ and Python processes on the same named queues, channels, locks and
values (the C++ side is tests/python/cpp_peer.cc, built with the public
C++ API)."""

import os
import pickle
import signal
import subprocess

import numpy as np
import pytest

import shoal
from conftest import (cpp_peer, cpp_peer_start, join, start, unique,
                      wait_line)


# ----------------------------------------------------------- queues


@pytest.mark.parametrize("ctype", ["string", "bytes"])
def test_python_puts_cpp_gets(ctype):
    name = unique("q.py2cpp")
    q = shoal.Queue(16, name=name, raw=True, ctype=ctype)
    items = [b"first", b"", b"x" * 5000, "caf\u00e9".encode()]
    for it in items:
        q.put(it)
    r = cpp_peer("queue-get", name, ctype, len(items))
    assert r.stdout.split("\n")[:-1] == [i.decode() for i in items]
    assert q.empty()


@pytest.mark.parametrize("ctype", ["string", "bytes"])
def test_cpp_puts_python_gets(ctype):
    name = unique("q.cpp2py")
    q = shoal.Queue(16, name=name, raw=True, ctype=ctype)
    p = cpp_peer_start("queue-put", name, ctype, 100)
    got = [q.get(timeout=30) for _ in range(100)]
    assert p.wait(30) == 0
    assert got == [b"cpp-%d" % i for i in range(100)]


@pytest.mark.parametrize("ctype", ["string", "bytes"])
def test_python_opens_a_queue_cpp_created(ctype):
    name = unique("q.cppmade")
    p = cpp_peer_start("queue-serve", name, ctype, 3, stdin=subprocess.PIPE)
    wait_line(p, "ready")
    q = shoal.Queue.open(name, raw=True)  # either C++ item type
    back = shoal.Queue.open(name + ".back", raw=True, ctype=ctype)
    assert q.ctype == ctype and q.maxsize == 16
    assert [q.get(timeout=30) for _ in range(3)] == [b"served-0", b"served-1",
                                                     b"served-2"]
    for m in (b"a", b"bb", b"ccc"):
        back.put(m)
    for m in ("a", "bb", "ccc"):
        wait_line(p, m)
    p.stdin.close()
    assert p.wait(30) == 0


def test_cpp_reads_python_objects_as_strings():
    # An object-mode queue is a Queue<std::string> of pickles: a C++ stage
    # can carry Python objects through without understanding them.
    name = unique("q.objs")
    q = shoal.Queue(16, name=name)
    q.put({"a": 1})
    r = cpp_peer("queue-get", name, "string", 1, text=False)
    assert r.stdout[:2] == b"\xb5P"  # shoal's header, then the pickle
    assert pickle.loads(r.stdout[2:-1]) == {"a": 1}


def test_cpp_string_read_in_object_mode_is_a_clear_error():
    name = unique("q.mixed")
    q = shoal.Queue(16, name=name)
    cpp_peer("queue-put", name, "string", 1)
    with pytest.raises(shoal.CodecError, match="raw=True"):
        q.get(timeout=30)


# ----------------------------------------------------------- channels


def test_cpp_producer_python_consumer_zero_copy():
    name = unique("ch.cpp2py")
    ch = shoal.FloatChannel(10_000, name=name)
    p = cpp_peer_start("channel-produce", name, 50, 10_000)
    k = np.arange(10_000, dtype=np.float64)
    for b in range(50):
        a = ch.receive(timeout=30)
        assert not a.flags.writeable
        np.testing.assert_array_equal(a, b * 1e6 + k)
        del a
    out, err = p.communicate(timeout=30)
    assert p.returncode == 0, err


def test_python_producer_cpp_consumer_zero_copy():
    name = unique("ch.py2cpp")
    ch = shoal.FloatChannel(10_000, name=name)
    p = cpp_peer_start("channel-consume", name, 20)
    for b in range(20):
        with ch.loan(10_000 - b, timeout=30) as a:
            a[:] = b * 1e6 + np.arange(10_000 - b)
    out, err = p.communicate(timeout=30)
    assert p.returncode == 0, err
    lines = out.split("\n")[:-1]
    for b, line in enumerate(lines):
        n = 10_000 - b
        assert line == "block %d %d %.17g" % (b, n, b * 1e6 * n + n * (n - 1) / 2)
    assert len(lines) == 20


def test_python_opens_a_channel_cpp_created():
    name = unique("ch.cppmade")
    p = cpp_peer_start("channel-serve", name, 1000, 4, stdin=subprocess.PIPE)
    wait_line(p, "ready")
    ch = shoal.FloatChannel.open(name)
    for b in range(4):
        a = ch.receive(timeout=30)
        assert a[0] == b * 1e6 and a[-1] == b * 1e6 + 999
    with pytest.raises(shoal.InvalidRegion, match="Channel<double>"):
        shoal.Channel.open(name, "float32")
    p.stdin.close()
    assert p.wait(30) == 0


# ----------------------------------------------------------- locks, values


def test_cpp_holder_killed_python_gets_owner_died():
    name = unique("lock.cpp")
    lock = shoal.Lock(name=name)
    p = cpp_peer_start("lock-hold", name)
    wait_line(p, "held")
    assert lock.acquire(timeout=0.1) is False
    p.kill()
    p.wait(30)
    with pytest.raises(shoal.OwnerDied):
        lock.acquire(timeout=30)
    lock.make_consistent()
    lock.release()


def _hold_and_die(lock):
    lock.acquire()
    os.kill(os.getpid(), signal.SIGKILL)


def test_python_holder_killed_cpp_gets_owner_died(fork_ctx):
    name = unique("lock.py")
    lock = shoal.Lock(name=name)
    p = start(fork_ctx, _hold_and_die, lock)
    assert join(p) == -signal.SIGKILL
    r = cpp_peer("lock-acquire", name)
    assert r.stdout.split("\n")[:-1] == ["owner died", "acquired"]
    assert lock.acquire(timeout=5)  # repaired by the C++ side
    lock.release()


def test_value_array_event_shared_with_cpp():
    names = {k: unique(k) for k in ("val", "arr", "ev")}
    v = shoal.Value("l", 40, name=names["val"])
    a = shoal.Array("d", [0.5, 1.5, 2.0], name=names["arr"])
    ev = shoal.Event(name=names["ev"])
    assert cpp_peer("value-add", names["val"], 2).stdout == "42\n"
    assert v.value == 42
    assert float(cpp_peer("array-sum", names["arr"]).stdout) == 4.0
    cpp_peer("event-set", names["ev"])
    assert ev.wait(timeout=5)
    # A typecode whose C++ type differs is refused by the C++ side too.
    r = cpp_peer("value-add", unique("absent"), 1, check=False)
    assert r.returncode == 1


def test_pickled_reference_is_small_and_opens_in_cpp_terms():
    # What travels is the region reference the C++ codec uses (RegionRef).
    q = shoal.Queue(name=unique("q.ref"))
    blob = pickle.dumps(q)
    assert len(blob) < 400
