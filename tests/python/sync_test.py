# Copyright 2026 The shoal Authors.
"""shoal.Lock, RLock, Semaphore, BoundedSemaphore, Event, Condition,
Barrier, Value, Array across real processes."""

import ctypes
import os
import pickle
import signal
import threading
import time

import numpy as np
import pytest

import shoal
from conftest import join, python_start, run, start, unique, wait_blocked, wait_line


# ----------------------------------------------------------- Lock


def add_under_lock(lock, counter, n):
    for _ in range(n):
        with lock:
            counter.value += 1  # counter has no lock of its own


def test_lock_mutual_exclusion_exact_total(fork_ctx):
    lock = shoal.Lock()
    counter = shoal.RawValue("l", 0)
    ps = [start(fork_ctx, add_under_lock, lock, counter, 2000)
          for _ in range(4)]
    for p in ps:
        assert join(p) == 0
    assert counter.value == 8000


def acquire_and_die(lock, talk):
    lock.acquire()
    talk.put("held")
    os.kill(os.getpid(), signal.SIGKILL)


@pytest.mark.parametrize("cls", [shoal.Lock, shoal.RLock])
def test_holder_killed_next_acquirer_gets_owner_died(fork_ctx, cls):
    lock = cls()
    talk = shoal.Queue()
    p = start(fork_ctx, acquire_and_die, lock, talk)
    assert talk.get(timeout=30) == "held"
    assert join(p) == -signal.SIGKILL
    with pytest.raises(shoal.OwnerDied, match="make_consistent"):
        lock.acquire(timeout=30)
    # The caller holds the lock now.
    assert lock._is_owned() and lock.inconsistent
    lock.make_consistent()
    assert not lock.inconsistent
    lock.release()
    assert lock.acquire(timeout=5)
    lock.release()


def test_lock_timeout_and_misuse():
    lock = shoal.Lock()
    assert lock.acquire()
    t0 = time.monotonic()
    assert lock.acquire(timeout=0.2) is False  # not recursive
    assert 0.19 <= time.monotonic() - t0 < 5
    assert lock.acquire(block=False) is False
    assert lock.locked()
    lock.release()
    with pytest.raises(ValueError, match="released too many times"):
        lock.release()  # multiprocessing.Lock's error
    assert not lock.locked()


def test_lock_held_by_another_thread_cannot_be_released_here():
    lock = shoal.Lock()
    held = threading.Event()
    done = threading.Event()

    def holder():
        lock.acquire()
        held.set()
        done.wait(30)
        lock.release()

    t = threading.Thread(target=holder)
    t.start()
    assert held.wait(30)
    with pytest.raises(RuntimeError):
        lock.release()
    assert lock.acquire(timeout=0.1) is False
    done.set()
    t.join(30)
    assert lock.acquire(timeout=5)  # waited with the GIL released
    lock.release()


def test_rlock_recursion():
    r = shoal.RLock()
    assert r.acquire() and r.acquire()
    assert r._recursion_count() == 2
    r.release()
    assert r._recursion_count() == 1 and r.locked()
    r.release()
    assert not r.locked()
    with pytest.raises(RuntimeError, match="un-acquired"):
        r.release()


def test_ctrl_c_interrupts_a_blocked_acquire():
    name = unique("sigint")
    lock = shoal.Lock(name=name)
    lock.acquire()
    p = python_start(
        "import shoal\n"
        "lock = shoal.Lock.open(%r)\n"
        "print('ready', flush=True)\n"
        "try:\n"
        "    lock.acquire()\n"
        "except KeyboardInterrupt:\n"
        "    raise SystemExit(7)\n" % name)
    wait_line(p, "ready")
    wait_blocked(p)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=30)
    assert p.returncode == 7, (out, err)
    lock.release()


# ----------------------------------------------------------- semaphores


def take_and_report(sem, talk):
    ok = sem.acquire(timeout=30)
    talk.put(ok)


def test_semaphore_across_processes(fork_ctx):
    sem = shoal.Semaphore(0)
    talk = shoal.Queue()
    ps = [start(fork_ctx, take_and_report, sem, talk) for _ in range(3)]
    sem.release(3)
    assert [talk.get(timeout=30) for _ in range(3)] == [True] * 3
    for p in ps:
        assert join(p) == 0
    assert sem.get_value() == 0
    assert sem.acquire(timeout=0.1) is False


def test_bounded_semaphore_refuses_over_release():
    b = shoal.BoundedSemaphore(2)
    assert b.bound == 2
    with b:
        assert b.get_value() == 1
    with pytest.raises(ValueError, match="released too many times"):
        b.release()
    assert b.get_value() == 2


# ----------------------------------------------------------- Event


def wait_event(ev, talk):
    talk.put(ev.wait(timeout=30))


def test_event_wakes_waiters_in_other_processes(fork_ctx):
    ev = shoal.Event()
    talk = shoal.Queue()
    ps = [start(fork_ctx, wait_event, ev, talk) for _ in range(2)]
    time.sleep(0.1)
    ev.set()
    assert [talk.get(timeout=30), talk.get(timeout=30)] == [True, True]
    for p in ps:
        assert join(p) == 0
    assert ev.is_set()
    ev.clear()
    t0 = time.monotonic()
    assert ev.wait(timeout=0.2) is False
    assert time.monotonic() - t0 >= 0.19


# ----------------------------------------------------------- Condition


def wait_for_flag(cond, flag, talk):
    with cond:
        talk.put("waiting")
        ok = cond.wait_for(lambda: flag.value == 1, timeout=30)
    talk.put(ok)


def wait_once(cond, talk):
    with cond:
        talk.put("registered")
        talk.put(cond.wait(timeout=30))


def test_condition_wait_for_predicate(fork_ctx):
    cond = shoal.Condition()
    flag = shoal.RawValue("i", 0)
    talk = shoal.Queue()
    p = start(fork_ctx, wait_for_flag, cond, flag, talk)
    assert talk.get(timeout=30) == "waiting"
    with cond:
        flag.value = 1
        cond.notify()
    assert talk.get(timeout=30) is True
    assert join(p) == 0


def test_condition_notify_wakes_exactly_n(fork_ctx):
    cond = shoal.Condition()
    talk = shoal.Queue()
    ps = [start(fork_ctx, wait_once, cond, talk) for _ in range(3)]
    for _ in range(3):
        assert talk.get(timeout=30) == "registered"
    # Each waiter registered under the lock before it said so; wait until
    # all three are inside wait() (they released the lock).
    with cond:
        cond.notify(2)
    assert [talk.get(timeout=30), talk.get(timeout=30)] == [True, True]
    with pytest.raises(shoal.Empty):
        talk.get(timeout=0.3)  # the third is still waiting
    with cond:
        cond.notify_all()
    assert talk.get(timeout=30) is True
    for p in ps:
        assert join(p) == 0


def test_condition_misuse():
    cond = shoal.Condition()
    with pytest.raises(RuntimeError):
        cond.wait(timeout=0.1)  # lock not held
    with pytest.raises(shoal.RuntimeError):
        cond.notify()
    with pytest.raises(TypeError, match="own lock"):
        shoal.Condition(shoal.Lock())
    with cond:
        assert cond.wait(timeout=0.1) is False
        assert cond.get_lock()._is_owned()


# ----------------------------------------------------------- Barrier


def barrier_party(bar, talk):
    talk.put(bar.wait(timeout=30))


def test_barrier_releases_all_with_distinct_indices(fork_ctx):
    ran = shoal.RawValue("i", 0)
    bar = shoal.Barrier(3)
    talk = shoal.Queue()
    ps = [start(fork_ctx, barrier_party, bar, talk) for _ in range(2)]
    mine = bar.wait(timeout=30)
    got = sorted([mine, talk.get(timeout=30), talk.get(timeout=30)])
    assert got == [0, 1, 2]
    for p in ps:
        assert join(p) == 0
    assert ran.value == 0


def test_barrier_action_runs_once_in_the_last_arrival():
    calls = []
    bar = shoal.Barrier(1, action=lambda: calls.append(1))
    assert bar.wait() == 0 and bar.wait() == 0
    assert calls == [1, 1]


def test_barrier_action_exception_breaks_it():
    def boom():
        raise KeyError("in action")
    bar = shoal.Barrier(1, action=boom)
    with pytest.raises(KeyError):
        bar.wait(timeout=5)
    assert bar.broken
    with pytest.raises(shoal.BrokenBarrierError):
        bar.wait(timeout=5)
    bar.reset()
    assert not bar.broken


def test_barrier_timeout_breaks_it_for_everyone(fork_ctx):
    bar = shoal.Barrier(3)
    talk = shoal.Queue()
    p = start(fork_ctx, _barrier_expect_broken, bar, talk)
    t0 = time.monotonic()
    with pytest.raises(threading.BrokenBarrierError):
        bar.wait(timeout=0.3)  # only 2 of 3 parties come
    assert time.monotonic() - t0 < 10
    assert talk.get(timeout=30) == "broken"
    assert join(p) == 0
    assert bar.broken


def _barrier_expect_broken(bar, talk):
    try:
        bar.wait(timeout=30)
        talk.put("released?")
    except shoal.BrokenBarrierError:
        talk.put("broken")


def test_ctrl_c_in_barrier_wait_breaks_it():
    name = unique("bar")
    bar = shoal.Barrier(2, name=name)
    p = python_start(
        "import shoal\n"
        "bar = shoal.Barrier.open(%r)\n"
        "print('ready', flush=True)\n"
        "try:\n"
        "    bar.wait()\n"
        "except KeyboardInterrupt:\n"
        "    raise SystemExit(7)\n" % name)
    wait_line(p, "ready")
    wait_blocked(p)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=30)
    assert p.returncode == 7, (out, err)
    assert bar.broken  # the party that gave up does not leave others waiting


# ----------------------------------------------------------- Value, Array


def add_to_value(v, n):
    for _ in range(n):
        with v.get_lock():
            v.value += 1


def test_value_increments_exact_total(fork_ctx):
    # 8,000 lock hand-offs between 4 processes: under ASan on a loaded
    # 2-core machine a child once needed more than the default 60 s.
    v = shoal.Value("i", 0)
    ps = [start(fork_ctx, add_to_value, v, 2000, alarm_s=200)
          for _ in range(4)]
    for p in ps:
        assert join(p, 210) == 0
    assert v.value == 8000


def test_value_types():
    assert shoal.Value("d", 1.5).value == 1.5
    assert shoal.Value(ctypes.c_double, 2.5).value == 2.5
    assert shoal.Value(np.int16, -3).value == -3
    assert shoal.Value("?", True).value is True
    assert shoal.Value("c", b"x").value == b"x"
    assert shoal.Value("u", "é").value == "é"
    assert shoal.Value("Q", 2**64 - 1).value == 2**64 - 1
    assert shoal.Value("l").value == 0
    with pytest.raises(TypeError):
        shoal.Value("i", 1.5)
    with pytest.raises(TypeError):
        shoal.Value("i").value = "x"
    with pytest.raises(TypeError):
        shoal.Value("B", 256)
    with pytest.raises(TypeError, match="unsupported"):
        shoal.Value("x")


def test_value_holder_killed_is_repaired_on_access(fork_ctx):
    v = shoal.Value("l", 10)
    talk = shoal.Queue()
    p = start(fork_ctx, acquire_and_die, v.get_lock(), talk)
    assert talk.get(timeout=30) == "held"
    assert join(p) == -signal.SIGKILL
    v.value += 1  # .value repairs (a single store cannot be torn)
    assert v.value == 11


def add_to_array(a, n):
    for _ in range(n):
        with a.get_lock():
            view = a.numpy()
            view += 1


def test_array_increments_and_numpy_view(fork_ctx):
    a = shoal.Array("d", 8)
    ps = [start(fork_ctx, add_to_array, a, 500) for _ in range(3)]
    for p in ps:
        assert join(p) == 0
    assert a[:] == [1500.0] * 8
    np.testing.assert_array_equal(np.asarray(a), np.full(8, 1500.0))
    mv = memoryview(a)
    assert mv.format == "d" and mv.shape == (8,)


def test_array_indexing():
    a = shoal.Array("i", [1, 2, 3, 4])
    assert len(a) == 4 and a[-1] == 4 and a[1:3] == [2, 3]
    assert a[::2] == [1, 3]
    a[0] = 10
    a[1:3] = [20, 30]
    assert a.tolist() == [10, 20, 30, 4]
    with pytest.raises(IndexError):
        a[4]
    with pytest.raises(ValueError):
        a[0:2] = [1]
    with pytest.raises(TypeError):
        a[0] = "x"
    raw = shoal.RawArray("b", 3)
    with pytest.raises(ValueError):
        raw.get_lock()
    assert raw[:] == [0, 0, 0]


# ----------------------------------------------------------- pickling


def use_everything(objs, talk):
    lock, rlock, sem, bsem, ev, cond, bar, val, arr = objs
    with lock:
        with rlock:
            with rlock:
                pass
    sem.release()
    assert bsem.acquire(timeout=30)
    with cond:
        cond.notify_all()
    val.value = 42
    arr[2] = 7.5
    ev.set()
    talk.put(bar.wait(timeout=30))


def test_every_primitive_pickles_into_children(ctx):
    objs = (shoal.Lock(), shoal.RLock(), shoal.Semaphore(0),
            shoal.BoundedSemaphore(1), shoal.Event(), shoal.Condition(),
            shoal.Barrier(2), shoal.Value("i", 0), shoal.Array("d", 4))
    talk = shoal.Queue()
    p = start(ctx, use_everything, objs, talk)
    lock, rlock, sem, bsem, ev, cond, bar, val, arr = objs
    assert ev.wait(timeout=30)
    assert sem.acquire(timeout=30)
    assert bsem.get_value() == 0
    assert val.value == 42 and arr[2] == 7.5
    idx = bar.wait(timeout=30)
    assert sorted([idx, talk.get(timeout=30)]) == [0, 1]
    assert join(p) == 0
    assert not lock.locked() and not rlock.locked()


def test_pickle_carries_a_reference():
    a = shoal.Array("d", 100_000)
    assert len(pickle.dumps(a)) < 1000
    b = pickle.loads(pickle.dumps(a))
    b[5] = 3.0
    assert a[5] == 3.0
    with pytest.raises(TypeError, match="pickle that"):
        pickle.dumps(shoal.Value("i").get_lock())


# ----------------------------------------------------------- by name


def test_named_primitives_meet_in_an_unrelated_process():
    names = {k: unique(k) for k in ("lock", "ev", "val", "arr", "sem")}
    lock = shoal.Lock(name=names["lock"])
    ev = shoal.Event(name=names["ev"])
    val = shoal.Value("l", 1, name=names["val"])
    arr = shoal.Array("i", 3, name=names["arr"])
    sem = shoal.Semaphore(0, name=names["sem"])
    p = python_start(
        "import shoal\n"
        "n = %r\n"
        "with shoal.Lock.open(n['lock']):\n"
        "    shoal.Value.open(n['val'], 'l').value += 41\n"
        "    shoal.Array.open(n['arr'], 'i')[1] = 9\n"
        "shoal.Semaphore.open(n['sem']).release()\n"
        "shoal.Event.open(n['ev']).set()\n"
        "print('done', flush=True)\n" % names)
    wait_line(p, "done")
    assert p.wait(30) == 0
    assert ev.wait(timeout=5)
    assert sem.acquire(timeout=5)
    assert val.value == 42 and arr[:] == [0, 9, 0]
    assert not lock.locked()
    with pytest.raises(shoal.InvalidRegion):
        shoal.Value.open(names["val"], "i")
    with pytest.raises(shoal.InvalidRegion):
        shoal.Semaphore.open(names["lock"])
