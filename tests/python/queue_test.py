# Copyright 2026 The shoal Authors.
"""shoal.Queue, JoinableQueue, SimpleQueue across real processes."""

import os
import pickle
import queue
import signal
import time

import numpy as np
import pytest

import shoal
from conftest import join, python_start, run, start, unique, wait_blocked, wait_line


# ----------------------------------------------------------- children


def produce(q, n, start_at=0):
    for i in range(start_at, start_at + n):
        q.put((i, "item-%d" % i), timeout=30)


def consume_check_order(q, n):
    for i in range(n):
        got = q.get(timeout=30)
        if got != (i, "item-%d" % i):
            os._exit(3)


def put_arrays(q, n):
    rng = np.random.default_rng(7)
    for i in range(n):
        a = rng.standard_normal(10_000 + i)  # 80 KB: through the heap
        q.put({"i": i, "a": a, "sum": float(a.sum()),
               "bytes": a.tobytes()[:16]}, timeout=30)


def consume_joinable(q, out):
    while True:
        item = q.get(timeout=30)
        if item is None:
            q.task_done()
            return
        out.put(item * 2)
        q.task_done()


def put_one(q, obj):
    q.put(obj, timeout=30)


def get_into(q, out):
    out.put(q.get(timeout=30), timeout=30)


# ----------------------------------------------------------- ordering


def test_one_producer_one_consumer_keeps_order(fork_ctx):
    q = shoal.Queue(64)
    c = start(fork_ctx, consume_check_order, q, 20_000)
    produce(q, 20_000)
    assert join(c) == 0
    assert q.empty()


def test_four_producers_each_item_exactly_once(fork_ctx):
    q = shoal.Queue(128)
    ps = [start(fork_ctx, produce, q, 5000, k * 5000) for k in range(4)]
    seen = [q.get(timeout=30)[0] for _ in range(20_000)]
    for p in ps:
        assert join(p) == 0
    assert sorted(seen) == list(range(20_000))
    # Each producer's items arrive in its own order.
    for k in range(4):
        mine = [s for s in seen if k * 5000 <= s < (k + 1) * 5000]
        assert mine == sorted(mine)


def put_many_numbered(q, n, first=0, batch=37):
    for i in range(first, first + n, batch):
        items = [(k, str(k)) for k in range(i, min(i + batch, first + n))]
        assert q.put_many(items, timeout=30) == len(items)


def test_put_many_get_many_in_batches_across_processes(fork_ctx):
    q = shoal.Queue(128)
    ps = [start(fork_ctx, put_many_numbered, q, 3000, k * 3000) for k in range(2)]
    seen = []
    while len(seen) < 6000:
        got = q.get_many(50, timeout=30)
        assert 1 <= len(got) <= 50
        seen.extend(got)
    for p in ps:
        assert join(p) == 0
    assert sorted(seen) == [(k, str(k)) for k in range(6000)]
    for k in range(2):
        mine = [s for s, _ in seen if k * 3000 <= s < (k + 1) * 3000]
        assert mine == sorted(mine)
    assert q.lost == 0


def test_put_many_partial_on_timeout_and_get_many_bounds():
    q = shoal.Queue(4)
    t0 = time.monotonic()
    assert q.put_many(range(10), timeout=0.1) == 4
    assert 0.1 <= time.monotonic() - t0 < 2
    assert q.put_many([], timeout=0) == 0
    assert q.get_many(10) == [0, 1, 2, 3]
    t0 = time.monotonic()
    with pytest.raises(shoal.Empty):
        q.get_many(3, timeout=0.1)
    assert 0.1 <= time.monotonic() - t0 < 2
    with pytest.raises(ValueError):
        q.get_many(0)
    q.put_many([b"x" * 100_000, np.arange(5), "s"])  # heap items keep order
    got = q.get_many(3, timeout=5)
    assert got[0] == b"x" * 100_000 and list(got[1]) == [0, 1, 2, 3, 4]
    assert got[2] == "s"
    q.close()
    with pytest.raises(shoal.Closed):
        q.put_many([1])
    with pytest.raises(shoal.Closed):
        q.get_many(3, timeout=1)


def test_objects_roundtrip_exactly(fork_ctx):
    q = shoal.Queue()
    objs = [0, -1, 2**70, 1.5, "héllo", b"raw\x00bytes", bytearray(b"ba"),
            None, True, (1, "a", 2.5), [1, [2, [3]]], {"k": {1, 2}},
            complex(1, 2), frozenset({3}), b"x" * 100_000, "s" * 500]
    for o in objs:
        q.put(o)
    out = shoal.Queue()
    c = start(fork_ctx, _echo_n, q, out, len(objs))
    got = [out.get(timeout=30) for _ in objs]
    assert join(c) == 0
    assert got == objs
    assert [type(g) for g in got] == [type(o) for o in objs]


def _echo_n(q, out, n):
    for _ in range(n):
        out.put(q.get(timeout=30))


def test_numpy_arrays_out_of_band_exact_checksum(fork_ctx):
    q = shoal.Queue(8)
    p = start(fork_ctx, put_arrays, q, 20)
    for i in range(20):
        item = q.get(timeout=30)
        a = item["a"]
        assert item["i"] == i
        assert a.shape == (10_000 + i,) and a.dtype == np.float64
        assert float(a.sum()) == item["sum"]  # bit-exact
        assert a.tobytes()[:16] == item["bytes"]
        assert a.flags.writeable  # the receiver owns its copy
        a[0] = 1.0
    assert join(p) == 0


def test_array_layouts_and_dtypes_survive():
    q = shoal.Queue()
    arrays = [np.arange(12, dtype=np.int16).reshape(3, 4),
              np.arange(12.0).reshape(3, 4).T,          # F-contiguous
              np.arange(20.0)[::3],                     # strided: in band
              np.zeros((0, 3)), np.array(5, dtype=np.uint8),
              np.array([1 + 2j], dtype=np.complex64),
              np.array(["ab", "c"]),
              np.arange(6, dtype=">i4")]
    for a in arrays:
        q.put(a)
    for a in arrays:
        b = q.get(timeout=5)
        assert b.dtype == a.dtype and b.shape == a.shape
        np.testing.assert_array_equal(a, b)


def test_array_buffers_are_aligned():
    q = shoal.Queue()
    q.put(("pad", np.arange(3, dtype=np.int8), np.arange(5, dtype=np.float64),
           np.arange(2, dtype=np.complex128)))
    _, a, b, c = q.get(timeout=5)
    for x in (b, c):
        assert x.ctypes.data % 16 == 0
        assert x.flags.aligned


# ----------------------------------------------------------- timeouts


def test_get_timeout_raises_empty_within_bound():
    q = shoal.Queue()
    t0 = time.monotonic()
    with pytest.raises(queue.Empty):
        q.get(timeout=0.2)
    dt = time.monotonic() - t0
    assert 0.19 <= dt < 5
    with pytest.raises(shoal.Empty):
        q.get_nowait()
    with pytest.raises(queue.Empty):
        q.get(block=False)


def test_put_timeout_raises_full_within_bound():
    q = shoal.Queue(2)
    q.put(1)
    q.put(2)
    assert q.full() and q.qsize() == 2
    t0 = time.monotonic()
    with pytest.raises(queue.Full):
        q.put(3, timeout=0.2)
    assert 0.19 <= time.monotonic() - t0 < 5
    with pytest.raises(shoal.Full):
        q.put_nowait(3)
    assert q.get() == 1  # nothing lost
    q.put_nowait(3)
    assert [q.get(), q.get()] == [2, 3]


def test_blocked_get_wakes_when_another_process_puts(fork_ctx):
    q = shoal.Queue()
    p = start(fork_ctx, _put_later, q)
    assert q.get(timeout=30) == "late"
    assert join(p) == 0


def _put_later(q):
    time.sleep(0.2)
    q.put("late")


# ----------------------------------------------------------- close


def test_close_then_drain_then_closed(fork_ctx):
    q = shoal.Queue()
    for i in range(3):
        q.put(i)
    q.close()
    assert q.closed
    with pytest.raises(shoal.Closed):
        q.put(4)
    with pytest.raises(ValueError):  # as multiprocessing: a ValueError
        q.put(4)
    assert [q.get(), q.get(), q.get()] == [0, 1, 2]
    with pytest.raises(shoal.Closed):
        q.get(timeout=5)


def test_close_wakes_a_reader_blocked_in_another_process(fork_ctx):
    q = shoal.Queue()
    done = shoal.Queue()
    p = start(fork_ctx, _get_until_closed, q, done)
    time.sleep(0.2)
    q.close()
    assert done.get(timeout=30) == "closed"
    assert join(p) == 0


def _get_until_closed(q, done):
    try:
        q.get()
    except shoal.Closed:
        done.put("closed")


def test_close_when_writers_gone(fork_ctx):
    q = shoal.Queue(close_when_writers_gone=True)
    assert run(fork_ctx, produce, q, 3) == 0
    got = [q.get(timeout=30)[0] for _ in range(3)]
    assert got == [0, 1, 2]
    with pytest.raises(shoal.Closed):
        q.get(timeout=30)


# ----------------------------------------------------------- joinable


def test_joinable_task_done_join(fork_ctx):
    q = shoal.JoinableQueue()
    out = shoal.Queue()
    c = start(fork_ctx, consume_joinable, q, out)
    for i in range(100):
        q.put(i)
    assert q.join(timeout=30) is True
    assert q.unfinished_tasks == 0
    assert sorted(out.get(timeout=5) for _ in range(100)) == \
        [2 * i for i in range(100)]
    q.put(None)
    assert q.join(timeout=30)
    assert join(c) == 0


def test_joinable_join_times_out_while_unfinished():
    q = shoal.JoinableQueue()
    q.put(1)
    t0 = time.monotonic()
    assert q.join(timeout=0.2) is False
    assert time.monotonic() - t0 >= 0.19
    q.get()
    q.task_done()
    assert q.join(timeout=1)
    with pytest.raises(ValueError):
        q.task_done()


# ----------------------------------------------------------- simple


def test_simple_queue(fork_ctx):
    q = shoal.SimpleQueue()
    assert q.empty()
    assert run(fork_ctx, put_one, q, [1.5, "x"]) == 0
    assert not q.empty()
    assert q.get() == [1.5, "x"]
    q.close()
    with pytest.raises(shoal.Closed):
        q.get()


# ----------------------------------------------------------- children


@pytest.mark.parametrize("cls", [shoal.Queue, shoal.JoinableQueue,
                                 shoal.SimpleQueue])
def test_pickled_into_children_fork_and_spawn(ctx, cls):
    q = cls()
    out = shoal.Queue()
    q.put({"from": "parent", "a": np.arange(4)})
    assert run(ctx, get_into, q, out) == 0
    got = out.get(timeout=30)
    assert got["from"] == "parent"
    np.testing.assert_array_equal(got["a"], np.arange(4))


def test_pickle_sends_a_reference_not_the_contents():
    q = shoal.Queue()
    q.put(b"x" * 1_000_000)
    blob = pickle.dumps(q)
    assert len(blob) < 1000
    same = pickle.loads(blob)
    assert same.get(timeout=1) == b"x" * 1_000_000


def test_shoal_objects_travel_inside_queue_items(fork_ctx):
    q = shoal.Queue()
    reply = shoal.Queue()
    q.put(("please answer on", reply))
    assert run(fork_ctx, _answer, q) == 0
    assert reply.get(timeout=30) == "answer"


def _answer(q):
    _, reply = q.get(timeout=30)
    reply.put("answer")


# ----------------------------------------------------------- by name


def test_named_queue_opened_by_an_unrelated_process():
    name = unique("q")
    q = shoal.Queue(10, name=name)
    assert q.name == name
    p = python_start(
        "import shoal\n"
        "q = shoal.Queue.open(%r)\n"
        "q.put(('hello', q.maxsize))\n"
        "print('done', flush=True)\n" % name)
    wait_line(p, "done")
    assert p.wait(30) == 0
    assert q.get(timeout=30) == ("hello", 10)


def test_open_unknown_name_is_a_clear_error():
    with pytest.raises(OSError):
        shoal.Queue.open(unique("missing"))


def test_open_as_the_wrong_kind_names_both():
    name = unique("wrong")
    _keep = shoal.JoinableQueue(name=name)
    with pytest.raises(shoal.InvalidRegion, match="JoinableQueue"):
        shoal.Queue.open(name)


# ----------------------------------------------------------- raw mode


def test_raw_mode_bytes_in_bytes_out():
    q = shoal.Queue(raw=True)
    q.put(b"abc")
    q.put(bytearray(b"de"))
    q.put(memoryview(b"xfgx")[1:3])
    q.put(np.arange(2, dtype=np.uint8))
    q.put("é")
    got = [q.get(timeout=1) for _ in range(5)]
    assert got == [b"abc", b"de", b"fg", b"\x00\x01", "é".encode()]
    with pytest.raises(TypeError, match="raw queue carries bytes"):
        q.put(12)


class IntSub(int):
    pass


def test_small_values_keep_value_and_type():
    # None/bool/int/float/str/bytes/tuples skip pickle (small_values.h);
    # what comes out must be indistinguishable from pickling.
    q = shoal.Queue()
    objs = [None, True, False, 0, -1, 2**63 - 1, -2**63, 2**63, -2**200,
            1.5, -0.0, float("inf"), "", "\u00e9\U0001F600", "a" * 300,
            "\udc80", b"", b"x" * 100, (), (1,), (1, (2, (3, (4, (5,))))),
            tuple(range(40)), (1, "a", 2.5, None, (b"z",)), IntSub(3), [1]]
    for o in objs:
        q.put(o)
    got = [q.get(timeout=5) for _ in objs]
    assert got == objs
    assert [type(g) for g in got] == [type(o) for o in objs]
    assert str(got[11]) == "inf" and str(got[10]) == "-0.0"


@pytest.mark.parametrize("garbage", [
    b"\xb5V", b"\xb5Vi\x01", b"\xb5Vs\xff\xff\xff\xff", b"\xb5VNN",
    b"\xb5Vt\x02\x00\x00\x00N", b"\xb5V?", b"\xb5Vs\x01\x00\x00\x00\xff",
    b"\xb5B\x00\x00\x01\x00\x00\x00" + b"\xff" * 8,
    b"\xb5Z", b"\xb5", b"\x80\x05K\x01."])
def test_garbage_items_are_codec_errors_and_the_queue_goes_on(garbage):
    name = unique("garbage")
    raw = shoal.Queue(raw=True, name=name)
    obj = shoal.Queue.open(name)
    raw.put(garbage)
    raw.put(b"\xb5y" + b"next")
    with pytest.raises((shoal.CodecError, UnicodeDecodeError)):
        obj.get(timeout=5)
    assert obj.get(timeout=5) == b"next"


def test_raw_item_read_as_object_is_a_clear_error():
    name = unique("rawobj")
    raw = shoal.Queue(raw=True, name=name)
    obj = shoal.Queue.open(name)
    raw.put(b"plain C++ bytes")
    with pytest.raises(shoal.CodecError, match="raw=True"):
        obj.get(timeout=1)
    raw.put(b"")
    with pytest.raises(shoal.CodecError):
        obj.get(timeout=1)
    obj.put("still usable")
    assert obj.get(timeout=1) == "still usable"


def test_ctype_is_checked():
    with pytest.raises(ValueError, match="ctype"):
        shoal.Queue(raw=True, ctype="int")


# ----------------------------------------------------------- sizes


def test_item_larger_than_the_heap_is_refused_and_the_queue_goes_on():
    q = shoal.Queue(4, heap_bytes=1 << 20)
    with pytest.raises(shoal.ValueError):
        q.put(np.zeros(1 << 18))  # 2 MiB
    q.put("fits")
    assert q.get(timeout=1) == "fits"


def test_unpicklable_object_raises_and_nothing_is_queued():
    q = shoal.Queue()
    with pytest.raises((pickle.PicklingError, AttributeError, TypeError)):
        q.put(lambda: 1)
    assert q.empty()


# ----------------------------------------------------------- signals


def test_ctrl_c_interrupts_a_blocked_get():
    p = python_start(
        "import shoal, time\n"
        "q = shoal.Queue()\n"
        "print('ready', flush=True)\n"
        "t0 = time.monotonic()\n"
        "try:\n"
        "    q.get()\n"
        "except KeyboardInterrupt:\n"
        "    print('interrupted after %.3f' % (time.monotonic() - t0), flush=True)\n"
        "    raise SystemExit(7)\n")
    wait_line(p, "ready")
    wait_blocked(p)
    t0 = time.monotonic()
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=30)
    assert p.returncode == 7, (out, err)
    assert "interrupted after" in out
    assert time.monotonic() - t0 < 10


def test_other_threads_run_while_get_blocks():
    import threading
    q = shoal.Queue()
    ticks = []

    def ticker():
        for i in range(5):
            ticks.append(i)
            time.sleep(0.01)
        q.put("from thread")

    t = threading.Thread(target=ticker)
    t.start()
    assert q.get(timeout=30) == "from thread"  # GIL released while waiting
    t.join(10)
    assert ticks == [0, 1, 2, 3, 4]


def test_repr_and_properties():
    q = shoal.Queue(7, name=unique("repr"))
    assert "maxsize=7" in repr(q) and q.maxsize == 7
    assert q.raw is False and q.ctype == "string" and q.lost == 0
    assert "Queue" in shoal.Queue.__doc__
