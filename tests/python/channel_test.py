# Copyright 2026 The shoal Authors.
"""shoal.Channel / FloatChannel: zero-copy numpy blocks across processes."""

import gc
import os
import signal
import time

import numpy as np
import pytest

import shoal
from conftest import (join, python_start, run, settle_threads, start, unique,
                      wait_blocked, wait_line)

N = 100_000


def block_values(b, n=N):
    """Block b: b * 1e6 + k (exact in float64; its sum is exact too)."""
    return b * 1e6 + np.arange(n, dtype=np.float64)


def expected_sum(b, n=N):
    return b * 1e6 * n + n * (n - 1) / 2


# ----------------------------------------------------------- children


def produce_loaned(ch, blocks, n=N):
    for b in range(blocks):
        with ch.loan(n, timeout=30) as a:
            a[:] = block_values(b, n)


def produce_copies(ch, blocks, n=N):
    for b in range(blocks):
        ch.send(block_values(b, n), timeout=30)


def consume_sums(ch, blocks, out):
    for _ in range(blocks):
        a = ch.receive(timeout=30)
        out.put((len(a), float(a.sum()), a.flags.writeable))
        del a


def hold_a_view(ch, talk, back):
    a = ch.receive(timeout=30)
    view = a[10:20]  # a derived view keeps the lease too
    del a
    gc.collect()
    talk.put("holding")
    assert back.get(timeout=30) == "drop"
    del view
    gc.collect()
    talk.put("dropped")
    back.get(timeout=30)


def loan_then_die(ch, talk):
    l = ch.loan(10, timeout=30)
    l.array[:] = 5.0
    talk.put("loaned")
    os.kill(os.getpid(), signal.SIGKILL)


def receive_then_die(ch, talk):
    a = ch.receive(timeout=30)
    talk.put(float(a[0]))
    os.kill(os.getpid(), signal.SIGKILL)


# ----------------------------------------------------------- zero copy


def test_loaned_blocks_arrive_with_exact_checksums(ctx):
    ch = shoal.FloatChannel(N)
    p = start(ctx, produce_loaned, ch, 20)
    for b in range(20):
        a = ch.receive(timeout=30)
        assert a.shape == (N,) and a.dtype == np.float64
        assert a.sum() == expected_sum(b)
        assert a[0] == b * 1e6 and a[-1] == b * 1e6 + N - 1
        del a
    assert join(p) == 0


def test_received_block_is_read_only():
    ch = shoal.FloatChannel(8)
    ch.send(np.ones(8))
    a = ch.receive(timeout=5)
    assert not a.flags.writeable
    with pytest.raises(ValueError):
        a[0] = 2.0
    b = a.copy()
    b[0] = 2.0  # copies are the caller's


def test_lease_held_while_any_view_lives_then_released():
    ch = shoal.FloatChannel(100, slots=2)
    ch.send(np.arange(100.0))
    ch.send(np.arange(100.0) + 1)
    a = ch.receive(timeout=5)          # slot 1 leased, slot 2 unread
    part = a[50:]                      # a view of the view
    del a
    gc.collect()
    with pytest.raises(shoal.TimeoutError):
        ch.loan(10, timeout=0.2)       # no free slot: the lease holds
    assert part[0] == 50.0             # and the data is still there
    del part
    gc.collect()
    with ch.loan(10, timeout=5) as w:  # slot 1 is back
        w[:] = 7.0
    assert ch.receive(timeout=5)[0] == 1.0
    assert list(ch.receive(timeout=5)) == [7.0] * 10


def test_lease_held_by_another_process(fork_ctx):
    ch = shoal.FloatChannel(100, slots=1)
    talk, back = shoal.Queue(), shoal.Queue()
    ch.send(np.arange(100.0))
    p = start(fork_ctx, hold_a_view, ch, talk, back)
    assert talk.get(timeout=30) == "holding"
    with pytest.raises(shoal.TimeoutError):
        ch.loan(timeout=0.3)
    back.put("drop")
    assert talk.get(timeout=30) == "dropped"
    with ch.loan(timeout=5) as w:
        w[:] = 1.0
    back.put("bye")
    assert join(p) == 0


def test_publish_partial_and_loan_read_only_after_publish():
    ch = shoal.FloatChannel(10)
    w = ch.loan()
    assert len(w) == 10 and w.active
    a = w.array
    assert a is w.array and a.flags.writeable
    a[:3] = [1, 2, 3]
    w.publish(3)
    assert not w.active and not a.flags.writeable
    with pytest.raises(ValueError):
        w.publish()
    assert list(ch.receive(timeout=5)) == [1.0, 2.0, 3.0]


def test_views_outlive_the_channel_and_loan_objects():
    # Every array keeps what it views mapped: dropping the Channel, the Loan
    # or the shoal.Array first never leaves an array over unmapped memory.
    ch = shoal.FloatChannel(1000, slots=2)
    ch.send(np.arange(1000.0))
    received = ch.receive(timeout=5)
    tail = received[900:]
    loan = ch.loan(10)
    loaned = loan.array
    loaned[:] = 3.0
    loan.publish()
    del ch, loan, received
    gc.collect()
    assert tail.sum() == sum(range(900, 1000))
    assert list(loaned) == [3.0] * 10 and not loaned.flags.writeable
    arr = shoal.Array("d", 5)
    view = arr.numpy()
    del arr
    gc.collect()
    view[:] = 2.0
    assert view.sum() == 10.0


def test_lease_released_when_the_last_view_goes_after_the_channel():
    # The block goes back even when the receiving handle is gone first.
    name = unique("lease")
    ch = shoal.FloatChannel(10, slots=1, name=name)
    other = shoal.FloatChannel.open(name)
    ch.send(np.ones(10))
    a = other.receive(timeout=5)
    del other
    gc.collect()
    with pytest.raises(shoal.TimeoutError):
        ch.loan(timeout=0.2)
    del a
    gc.collect()
    with ch.loan(timeout=5) as w:
        w[:] = 2.0
    assert ch.recv(timeout=5)[0] == 2.0


def test_loan_cannot_be_made_or_pickled_by_hand():
    with pytest.raises(TypeError):
        shoal.Loan()
    import pickle
    ch = shoal.FloatChannel(4)
    with pytest.raises(TypeError):
        pickle.dumps(ch.loan())


def test_publish_through_the_channel():
    ch = shoal.FloatChannel(4)
    a = ch.loan(4).array
    a[:] = 9
    ch.publish(a)
    assert list(ch.recv(timeout=5)) == [9.0] * 4
    with pytest.raises(ValueError, match="not a loan"):
        ch.publish(np.zeros(4))


def test_exception_inside_loan_block_abandons_it():
    ch = shoal.FloatChannel(4)
    with pytest.raises(RuntimeError):
        with ch.loan() as a:
            a[:] = 1
            raise RuntimeError("boom")
    ch.send(np.full(4, 2.0))
    # The abandoned block is skipped: the reader sees only the sent one.
    assert list(ch.recv(timeout=5)) == [2.0] * 4
    with pytest.raises(shoal.TimeoutError):
        ch.receive(timeout=0.1)


# ----------------------------------------------------------- copy mode


def test_copy_mode_across_processes(ctx):
    ch = shoal.Channel("int32", 1000)
    p = start(ctx, _send_ints, ch)
    for i in range(10):
        a = ch.recv(timeout=30)
        assert a.dtype == np.int32 and a.flags.writeable
        np.testing.assert_array_equal(a, np.arange(i * 10, dtype=np.int32))
    assert join(p) == 0


def _send_ints(ch):
    for i in range(10):
        ch.send(np.arange(i * 10, dtype=np.int32), timeout=30)


def test_send_flattens_and_copies_non_contiguous():
    ch = shoal.FloatChannel(12)
    m = np.arange(12.0).reshape(3, 4)
    ch.send(m.T)
    np.testing.assert_array_equal(ch.recv(timeout=5), m.T.ravel())
    ch.send([1.0, 2.0])
    np.testing.assert_array_equal(ch.recv(timeout=5), [1.0, 2.0])


# ----------------------------------------------------------- errors


def test_wrong_dtype_and_size_are_clear_errors():
    ch = shoal.FloatChannel(10)
    with pytest.raises(TypeError, match="int64.*float64"):
        ch.send(np.arange(3))
    with pytest.raises(TypeError, match="float32"):
        ch.send(np.zeros(3, dtype=np.float32))
    with pytest.raises(shoal.ValueError, match="11 elements exceed"):
        ch.send(np.zeros(11))
    with pytest.raises(ValueError):
        ch.loan(11)
    with pytest.raises(TypeError, match="unsupported element type"):
        shoal.Channel(np.float16, 10)
    with pytest.raises(TypeError):
        shoal.Channel(">f8", 10)  # not native byte order
    with pytest.raises(ValueError):
        shoal.FloatChannel(0)
    ch.send(np.zeros(10))  # the channel is fine afterwards
    assert ch.recv(timeout=5).shape == (10,)


def test_every_dtype_roundtrips():
    for dt in [np.bool_, np.int8, np.uint8, np.int16, np.uint16, np.int32,
               np.uint32, np.int64, np.uint64, np.float32, np.float64,
               np.complex64, np.complex128]:
        ch = shoal.Channel(dt, 5)
        assert ch.dtype == np.dtype(dt)
        x = np.arange(5).astype(dt)
        ch.send(x)
        y = ch.receive(timeout=5)
        assert y.dtype == np.dtype(dt)
        np.testing.assert_array_equal(x, y)


def test_named_channel_opened_with_the_wrong_dtype_names_both():
    name = unique("ch")
    ch = shoal.Channel("int32", 4, name=name)
    assert ch.name == name
    same = shoal.Channel.open(name, np.int32)
    same.send(np.arange(4, dtype=np.int32))
    assert list(ch.recv(timeout=5)) == [0, 1, 2, 3]
    with pytest.raises(shoal.InvalidRegion,
                       match=r"Channel<int>.*Channel<double>"):
        shoal.FloatChannel.open(name)


# ----------------------------------------------------------- close


def test_close_drains_then_raises_closed():
    ch = shoal.FloatChannel(4)
    ch.send(np.ones(4))
    ch.close()
    assert ch.closed
    with pytest.raises(shoal.Closed):
        ch.loan(timeout=1)
    with pytest.raises(shoal.Closed):
        ch.send(np.ones(4))
    assert ch.recv(timeout=5)[0] == 1.0
    with pytest.raises(shoal.Closed):
        ch.receive(timeout=5)


# ----------------------------------------------------------- deaths


def test_writer_killed_holding_a_loan_costs_one_block(fork_ctx):
    ch = shoal.FloatChannel(10, slots=2)
    talk = shoal.Queue()
    p = start(fork_ctx, loan_then_die, ch, talk)
    assert talk.get(timeout=30) == "loaned"
    assert join(p) == -signal.SIGKILL
    # The dead writer's slot is reclaimed; both slots work again.
    for v in (1.0, 2.0, 3.0):
        with ch.loan(timeout=30) as a:
            a[:] = v
        assert ch.receive(timeout=30)[0] == v
    assert ch.lost == 1


def test_reader_killed_holding_a_block_costs_one_block(fork_ctx):
    ch = shoal.FloatChannel(10, slots=2)
    talk = shoal.Queue()
    ch.send(np.full(10, 4.0))
    p = start(fork_ctx, receive_then_die, ch, talk)
    assert talk.get(timeout=30) == 4.0
    assert join(p) == -signal.SIGKILL
    for v in (5.0, 6.0, 7.0):
        ch.send(np.full(10, v), timeout=30)
        assert ch.recv(timeout=30)[0] == v


def test_a_forked_child_never_gives_back_its_parents_blocks():
    ch = shoal.FloatChannel(10, slots=2)
    ch.send(np.ones(10))
    a = ch.receive(timeout=5)   # slot 1: leased to this process
    w = ch.loan(timeout=5)      # slot 2: loaned to this process
    settle_threads()  # see conftest.py
    pid = os.fork()
    if pid == 0:
        code = 3
        try:
            try:
                w.publish()
            except shoal.ValueError as e:
                code = 0 if "forked this one" in str(e) else 4
            del a, w            # collected here: must not give them back
            gc.collect()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    with pytest.raises(shoal.TimeoutError):
        ch.receive(timeout=0.2)  # the child published nothing
    with pytest.raises(shoal.TimeoutError):
        ch.loan(timeout=0.2)     # both slots are still this process's
    w.array[:] = 2.0
    w.publish()
    assert a[0] == 1.0
    del a
    gc.collect()
    assert list(ch.recv(timeout=5)) == [2.0] * 10
    with ch.loan(timeout=5) as x:
        x[:] = 3.0
    assert ch.recv(timeout=5)[0] == 3.0


# ----------------------------------------------------------- pickling


def test_pickled_channel_in_child_sends_back(ctx):
    ch = shoal.FloatChannel(1000)
    p = start(ctx, produce_copies, ch, 3, 1000)
    for b in range(3):
        assert ch.recv(timeout=30).sum() == expected_sum(b, 1000)
    assert join(p) == 0


def report_sizes(ch, out):
    loan = ch.loan(timeout=30)
    loan.publish()
    out.put((ch.max_elements, len(loan)))


def test_pickled_channel_keeps_the_size_asked_for(ctx):
    # 100,000 float64 is not a whole number of 64-byte slots with the slot
    # header: the region's capacity is larger, the channel's size is not.
    ch = shoal.FloatChannel(100_000)
    out = shoal.Queue()
    assert run(ctx, report_sizes, ch, out) == 0
    assert out.get(timeout=30) == (100_000, 100_000)
    assert len(ch.receive(timeout=5)) == 100_000  # the child's default loan
    with pytest.raises(shoal.ValueError, match="100001 elements exceed"):
        ch.loan(100_001)


def test_ctrl_c_interrupts_a_blocked_receive():
    p = python_start(
        "import shoal\n"
        "ch = shoal.FloatChannel(10)\n"
        "print('ready', flush=True)\n"
        "try:\n"
        "    ch.receive()\n"
        "except KeyboardInterrupt:\n"
        "    raise SystemExit(7)\n")
    wait_line(p, "ready")
    wait_blocked(p)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=30)
    assert p.returncode == 7, (out, err)
