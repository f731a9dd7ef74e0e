# Copyright 2026 The shoal Authors.
"""shoal.Latest and shoal.Blackboard: latest-value state across processes
(fork and spawn, pickled and named), C++ interop, writers SIGKILLed in a
publish loop and inside the writer lock, bad input, bounded waits, Ctrl-C."""

import os
import pickle
import signal
import subprocess
import time

import numpy as np
import pytest

import shoal
from conftest import (cpp_peer, cpp_peer_start, join, python_start,
                      readme_python_block, run, run_script, start,
                      wait_blocked, wait_line)

SLACK_S = 3.0  # scheduling slack on any upper bound (a loaded machine)


def uniform(k, shape=(64,)):
    """The value the k-th publication of a tear test writes: every element
    k, so a torn copy (two publications mixed) is never uniform."""
    return np.full(shape, k, dtype=np.int64)


# ----------------------------------------------------------- children


def publish_counting(latest, n):
    for k in range(1, n + 1):
        assert latest.publish(float(k), timeout=30) == k


def publish_arrays(latest, n):
    for k in range(1, n + 1):
        latest.publish(k + np.arange(6).reshape(2, 3), timeout=30)


def publish_forever(latest):
    k = latest.version
    while True:
        k += 1
        latest.publish(uniform(k), timeout=30)


def die_inside_update(latest):
    def fn(value):
        os.kill(os.getpid(), signal.SIGKILL)  # holding the writer lock
    latest.update(fn, timeout=30)


def wait_then_report(latest, seen, report):
    ok = latest.wait_newer(seen, timeout=30)
    report.publish(1.0 if ok else -1.0, timeout=30)
    report.publish(latest.read(), timeout=30)


def hold_lock_until(latest, entered, release):
    def fn(value):
        entered.set()
        assert release.wait(30)
        return value + 1
    latest.update(fn, timeout=30)


def add_ten(latest):
    assert latest.update(lambda v: v + 10, timeout=30) == 2


def republish_by_name(name):
    found = shoal.Latest.open(name)
    assert found.publish(found.read(), timeout=30) == 2


def board_writer(board, entry):
    board["rate"] = 250.0
    board.publish("gains", [1.0, 2.0, 3.0], timeout=30)
    entry.publish(7, timeout=30)  # the pickled entry: key "level"


def board_die_inside_update(board):
    def fn(value):
        os.kill(os.getpid(), signal.SIGKILL)
    board.update("gains", fn, timeout=30)


def board_publish_forever(board):
    gains = board.entry("gains")
    k = gains.version
    while True:
        k += 1
        gains.publish(uniform(k, (16,)).astype(np.float64), timeout=30)


# ----------------------------------------------------------- identity


def test_python_identities_are_the_cpp_ones():
    rows = shoal._shoal._latest_identity_check()
    assert len(rows) == 7
    for ours, cpp, latest_same, board_same in rows:
        assert ours == cpp
        assert latest_same and board_same, ours


def test_values_types_and_repr(name):
    a = shoal.Latest("d")
    assert (a.read(), a.version, a.writer_deaths) == (0.0, 0, 0)
    assert a.shape == () and a.dtype == np.float64 and a.nbytes == 8
    assert a.cxx_type == "double" and a.name is None and a.key is None
    assert a.publish(2.5) == 1
    assert a.read_versioned() == (2.5, 1)
    assert a.read_if_newer(1) is None
    assert a.read_if_newer(0) == (2.5, 1)
    assert a.update(lambda v: v * 4) == 2 and a.read() == 10.0
    a.publish(3)  # an int into float64: exact
    assert a.read() == 3.0 and isinstance(a.read(), float)

    m = shoal.Latest(np.int16, (2, 3), np.arange(6, dtype=np.int16).reshape(2, 3),
                     name=name)
    assert m.cxx_type == "std::array<std::array<short int, 3>, 2>"
    got = m.read()
    assert got.dtype == np.int16 and got.shape == (2, 3)
    assert got.tolist() == [[0, 1, 2], [3, 4, 5]]
    got[0, 0] = 99  # a copy: the shared value is unchanged
    assert m.read()[0, 0] == 0

    def double_in_place(v):
        v *= 2  # arrays may be changed in place (fn returns None)
    assert m.update(double_in_place) == 1
    assert m.read().tolist() == [[0, 2, 4], [6, 8, 10]]
    assert repr(m) == ("<shoal.Latest int16 of shape (2, 3) name=%r "
                       "version=1>" % name)
    assert m.name == name

    c = shoal.Latest("D", 2)  # an int shape means (n,)
    c.publish([1 + 2j, 3])
    assert c.read().tolist() == [1 + 2j, 3 + 0j] and c.shape == (2,)
    b = shoal.Latest("?")
    b.publish(True)
    assert b.read() is True


def test_scalars_and_arrays_across_processes(ctx, name):
    counter = shoal.Latest("d")  # pickled to the child
    matrix = shoal.Latest("l", (2, 3), name=name)  # opened by name too
    assert run(ctx, publish_counting, counter, 200) == 0
    assert counter.read_versioned() == (200.0, 200)
    assert run(ctx, publish_arrays, shoal.Latest.open(name, "l", (2, 3)),
               50) == 0
    value, version = matrix.read_versioned()
    assert version == 50
    assert value.tolist() == (50 + np.arange(6).reshape(2, 3)).tolist()


def test_readers_see_whole_values_in_order_while_a_process_writes(ctx):
    counter = shoal.Latest("d")
    p = start(ctx, publish_counting, counter, 3000)
    last = 0
    deadline = time.monotonic() + 60
    while last < 3000 and time.monotonic() < deadline:
        value, version = counter.read_versioned()
        assert value == float(version)  # value k is version k
        assert version >= last  # never backwards
        last = version
    assert join(p) == 0
    assert counter.read_versioned() == (3000.0, 3000)


def test_wait_newer_wakes_a_waiting_process(ctx):
    latest = shoal.Latest("d")
    report = shoal.Latest("d")
    p = start(ctx, wait_then_report, latest, 0, report)
    # Whether the child sleeps already or not, version 1 is "newer than 0".
    latest.publish(42.0)
    assert join(p) == 0
    assert report.read_versioned() == (42.0, 2)
    assert report.read_if_newer(0) == (42.0, 2)


def test_wait_newer_times_out_within_its_bound():
    latest = shoal.Latest("d")
    latest.publish(1.0)
    t0 = time.monotonic()
    assert latest.wait_newer(1, timeout=0.3) is False
    elapsed = time.monotonic() - t0
    assert 0.3 <= elapsed < 0.3 + SLACK_S
    assert latest.wait_newer(0, timeout=0) is True  # already newer
    assert latest.wait_newer(1, timeout=0) is False


def test_publish_waits_for_a_writer_holding_the_lock_bounded(fork_ctx):
    latest = shoal.Latest("d", (), 5.0)
    entered, release = shoal.Event(), shoal.Event()
    p = start(fork_ctx, hold_lock_until, latest, entered, release)
    assert entered.wait(30)  # the child runs fn under the writer lock
    t0 = time.monotonic()
    with pytest.raises(shoal.TimeoutError, match="another writer"):
        latest.publish(1.0, timeout=0.3)
    elapsed = time.monotonic() - t0
    assert 0.3 <= elapsed < 0.3 + SLACK_S
    assert latest.read_versioned() == (5.0, 0)  # readers never wait
    release.set()
    assert join(p) == 0
    assert latest.read_versioned() == (6.0, 1)
    assert latest.publish(1.0, timeout=30) == 2


def test_update_waiting_for_the_lock_runs_fn_once_it_gets_it(fork_ctx):
    """A second writer's update() waits (GIL released) while another
    process holds the writer lock, then runs fn on the value that writer
    published."""
    latest = shoal.Latest("d", (), 5.0)
    entered, release = shoal.Event(), shoal.Event()
    holder = start(fork_ctx, hold_lock_until, latest, entered, release)
    assert entered.wait(30)
    waiter = start(fork_ctx, add_ten, latest)
    wait_blocked(waiter)  # asleep on the writer lock
    assert latest.version == 0
    release.set()
    assert join(holder) == 0
    assert join(waiter) == 0
    assert latest.read_versioned() == (16.0, 2)


# ----------------------------------------------------------- crashes


def test_writer_killed_inside_the_lock_leaves_the_previous_value(ctx):
    latest = shoal.Latest("l", (64,), uniform(7))
    p = start(ctx, die_inside_update, latest)
    assert join(p) == -signal.SIGKILL
    value, version = latest.read_versioned()
    assert version == 0 and value.tolist() == uniform(7).tolist()
    assert latest.writer_deaths == 0  # counted by the next writer
    assert latest.publish(uniform(8), timeout=30) == 1  # takes the lock over
    assert latest.writer_deaths == 1
    assert latest.read().tolist() == uniform(8).tolist()


def test_writers_killed_mid_publish_loop_never_tear(fork_ctx):
    """A writer publishing as fast as it can is SIGKILLed after k more
    publications (k varies), 5 times; the reader checks every value it
    reads is whole (uniform, equal to its version), and each next writer
    takes over from the last whole value."""
    latest = shoal.Latest("l", (64,))
    reads = 0
    for round_no, k in enumerate([1, 3, 17, 50, 200]):
        start_version = latest.version
        p = start(fork_ctx, publish_forever, latest)
        deadline = time.monotonic() + 60
        while latest.version < start_version + k:
            assert time.monotonic() < deadline, "writer made no progress"
            value, version = latest.read_versioned()
            assert value.tolist() == uniform(version).tolist()
            reads += 1
        os.kill(p.pid, signal.SIGKILL)
        assert join(p) == -signal.SIGKILL
        value, version = latest.read_versioned()
        assert version >= start_version + k
        assert value.tolist() == uniform(version).tolist()
    assert reads > 0
    deaths = latest.writer_deaths
    # The next writer takes over whatever instant the last one died at.
    version = latest.version
    assert latest.publish(uniform(version + 1), timeout=30) == version + 1
    assert latest.read().tolist() == uniform(version + 1).tolist()
    assert deaths <= latest.writer_deaths <= 5


# ----------------------------------------------------------- Blackboard


def test_blackboard_keys_types_and_calls(name):
    board = shoal.Blackboard({"level": np.int32(2), "rate": 100.0,
                              "gains": np.zeros(3)}, name=name)
    assert board.keys() == ["level", "rate", "gains"] == list(board)
    assert len(board) == 3 and "rate" in board and "nope" not in board
    assert board.types() == {"level": (np.dtype(np.int32), ()),
                             "rate": (np.dtype(np.float64), ()),
                             "gains": (np.dtype(np.float64), (3,))}
    assert (board["level"], board["rate"]) == (2, 100.0)
    assert board.generation == 0
    board["rate"] = 250
    assert board.read_versioned("rate") == (250.0, 1)
    assert board.version("rate") == 1 and board.version("level") == 0
    assert board.generation == 1
    assert board.update("level", lambda v: v + 1) == 1 and board["level"] == 3
    assert board.generation == 2
    gains = board.entry("gains")
    assert gains.key == "gains" and gains.cxx_type == "std::array<double, 3>"
    gains.publish([1, 2, 3])
    assert board["gains"].tolist() == [1.0, 2.0, 3.0]
    assert board.generation == 3  # an entry's publication counts too
    assert board.wait_changed(2, timeout=0) is True
    assert repr(board) == ("<shoal.Blackboard keys=['level', 'rate', "
                           "'gains'] name=%r generation=3>" % name)
    # open(): the types come from the board itself.
    other = shoal.Blackboard.open(name)
    assert other.types() == board.types()
    assert other["gains"].tolist() == [1.0, 2.0, 3.0]
    assert board.wait_newer("rate", 1, timeout=0.2) is False
    other["rate"] = 1.5
    assert board.wait_newer("rate", 1, timeout=30) is True
    assert board["rate"] == 1.5
    # Pairs work as well as a dict.
    pairs = shoal.Blackboard([("a", 1), ("b", np.ones((2, 2), np.float32))])
    assert pairs.types()["b"] == (np.dtype(np.float32), (2, 2))


def test_blackboard_across_processes(ctx):
    board = shoal.Blackboard({"level": np.int32(2), "rate": 100.0,
                              "gains": np.zeros(3)})
    seen = board.generation
    assert run(ctx, board_writer, board, board.entry("level")) == 0
    assert board.wait_changed(seen, timeout=30) is True
    assert board.generation == seen + 3
    assert board["rate"] == 250.0 and board["level"] == 7
    assert board["gains"].tolist() == [1.0, 2.0, 3.0]
    assert [board.version(k) for k in board] == [1, 1, 1]


def test_blackboard_writer_killed_leaves_every_key_whole(fork_ctx):
    board = shoal.Blackboard({"rate": 1.0, "gains": np.zeros(16)})
    board["rate"] = 2.0
    p = start(fork_ctx, board_die_inside_update, board)
    assert join(p) == -signal.SIGKILL
    assert board.read_versioned("gains")[1] == 0 and board.generation == 1
    for k in [5, 40]:
        start_version = board.version("gains")
        p = start(fork_ctx, board_publish_forever, board)
        deadline = time.monotonic() + 60
        while board.version("gains") < start_version + k:
            assert time.monotonic() < deadline, "writer made no progress"
            value, version = board.read_versioned("gains")
            assert value.tolist() == [float(version)] * 16
        os.kill(p.pid, signal.SIGKILL)
        assert join(p) == -signal.SIGKILL
    value, version = board.read_versioned("gains")
    assert value.tolist() == [float(version)] * 16
    assert board.publish("gains", np.full(16, -1.0), timeout=30) == version + 1
    assert 1 <= board.entry("gains").writer_deaths <= 3
    assert board["rate"] == 2.0 and board.version("rate") == 1


# ----------------------------------------------------------- C++ interop


def test_cpp_latest_double_is_python_latest_d(name):
    latest = shoal.Latest("d", name=name)
    latest.publish(2.5)
    assert cpp_peer("latest-read", name).stdout == "2.5 1\n"
    cpp_peer("latest-publish", name, "7.25")
    assert latest.read_versioned() == (7.25, 2)


def test_cpp_latest_of_std_array_is_python_shape(name):
    p = cpp_peer_start("latest3-serve", name, stdin=subprocess.PIPE)
    try:
        wait_line(p, "ready")
        latest = shoal.Latest.open(name, "d", (3,))
        value, version = latest.read_versioned()
        assert version == 1 and value.tolist() == [4.0, 5.0, 6.0]
        # Without a dtype: the type comes from the region C++ made.
        found = shoal.Latest.open(name)
        assert (found.dtype, found.shape) == (np.dtype(np.float64), (3,))
        assert found.cxx_type == "std::array<double, 3>"
        assert found.read().tolist() == [4.0, 5.0, 6.0]
        with pytest.raises(shoal.InvalidRegion,
                           match=r"std::array<double, 4>.*std::array<double, 3>"):
            shoal.Latest.open(name, "d", (4,))
        with pytest.raises(shoal.InvalidRegion, match=r"float32"):
            shoal.Latest.open(name, "f", (3,))
    finally:
        p.stdin.close()
        p.wait(30)
    assert p.returncode == 0, p.stderr.read()


def test_a_cpp_latest_of_a_struct_cannot_be_opened_from_python(name):
    p = cpp_peer_start("latest-struct-serve", name, stdin=subprocess.PIPE)
    try:
        wait_line(p, "ready")
        with pytest.raises(TypeError, match=r"Latest<.*Limits>.*not numbers"):
            shoal.Latest.open(name)
        with pytest.raises(shoal.InvalidRegion, match=r"Limits"):
            shoal.Latest.open(name, "d", (2,))  # the same bytes, another type
    finally:
        p.stdin.close()
        p.wait(30)
    assert p.returncode == 0, p.stderr.read()


def test_python_opens_a_cpp_blackboard_with_a_struct_key(name):
    p = cpp_peer_start("board-serve", name, stdin=subprocess.PIPE)
    try:
        wait_line(p, "ready")
        board = shoal.Blackboard.open(name)
        assert board.keys() == ["level", "limits", "gains"]
        assert board.types() == {"level": (np.dtype(np.int32), ()),
                                 "limits": None,
                                 "gains": (np.dtype(np.float32), (2,))}
        assert board["level"] == 3
        assert board["gains"].tolist() == [1.0, 2.0]
        with pytest.raises(TypeError, match="'limits' holds .*Limits"):
            board["limits"]
        with pytest.raises(TypeError):
            board["limits"] = 1.0
        board["level"] = 9
        board["gains"] = np.array([0.5, 4.0], np.float32)
    finally:
        out, err = p.communicate(timeout=30)  # closes stdin
    assert p.returncode == 0, err
    assert out == "9 0.5 4\n"  # "ready" was read by wait_line


def test_cpp_reads_and_writes_a_python_blackboard(name):
    board = shoal.Blackboard({"log_level": np.int32(2), "rate": 100.0,
                              "gains": np.array([1.0, 0.5, 0.25])}, name=name)
    r = cpp_peer("board-update", name)
    assert r.stdout == "2 100 1 0.5 0.25\n"
    assert board["rate"] == 7.25
    assert board["gains"].tolist() == [0.5, 0.25, 0.125]
    assert board.generation == 2


@pytest.mark.parametrize("dtype,shape,value", [
    ("d", (), 2.5),
    ("l", (2, 3), [[1, 2, 3], [4, 5, -6]]),
    ("F", (1,), [1 + 2j]),
    ("?", (5,), [True, False, True, True, False]),
    ("B", (2, 2), np.array([[0, 255], [7, 8]], np.uint8)),
])
def test_open_without_a_dtype_reads_the_type_from_the_region(ctx, name, dtype, shape,
                                                             value):
    made = shoal.Latest(dtype, shape, value, name=name)
    found = shoal.Latest.open(name)
    assert found.dtype == made.dtype and found.shape == made.shape
    assert found.cxx_type == made.cxx_type
    assert np.array_equal(found.read(), np.asarray(value, made.dtype))
    assert found.publish(value) == made.version == 1
    # In a child process too, by name alone.
    assert run(ctx, republish_by_name, name) == 0
    assert made.version == 2


# ----------------------------------------------------------- bad input


def test_wrong_types_shapes_and_values_are_clear_errors(name):
    keep = shoal.Latest("i", (2, 2), name=name)  # named: lives with it
    with pytest.raises(shoal.InvalidRegion) as e:
        shoal.Latest.open(name, "d", (2, 2))
    msg = str(e.value)
    assert "float64 of shape (2, 2)" in msg
    assert "std::array<std::array<int, 2>, 2>" in msg  # what it holds
    assert "std::array<std::array<double, 2>, 2>" in msg  # what was asked
    with pytest.raises(shoal.InvalidRegion):
        shoal.Latest.open(name, "i", (4,))
    with pytest.raises(shoal.Error):
        shoal.Latest.open(name + ".absent", "d")
    with pytest.raises(shoal.Error, match="no region named"):
        shoal.Latest.open(name + ".absent")
    with pytest.raises(TypeError, match="a shape needs a dtype"):
        shoal.Latest.open(name, shape=(2, 2))
    del keep
    queue = shoal.Queue(name=name + ".q")
    with pytest.raises(shoal.InvalidRegion, match=r"holds shoal::Queue.*not a shoal::Latest"):
        shoal.Latest.open(name + ".q")
    del queue

    a = shoal.Latest("d", (3,))
    with pytest.raises(ValueError, match=r"shape \(2,\).*float64 of shape \(3,\)"):
        a.publish([1.0, 2.0])
    with pytest.raises(TypeError, match="float32.*float64"):
        a.publish(np.zeros(3, np.float32))
    with pytest.raises(TypeError):
        a.publish(["x", "y", "z"])
    i8 = shoal.Latest("b")
    with pytest.raises(OverflowError):
        i8.publish(300)
    with pytest.raises(TypeError):
        i8.publish(1.5)
    with pytest.raises(TypeError):
        shoal.Latest("i", (2,)).publish([1.5, 2.0])  # loses the fraction
    with pytest.raises(TypeError):
        shoal.Latest("b", (2,)).publish([1, 300])  # does not fit int8
    assert a.version == 0 and i8.version == 0  # nothing was published

    with pytest.raises(ValueError, match="1 MiB"):
        shoal.Latest("d", (0,))
    with pytest.raises(ValueError, match="1 MiB"):
        shoal.Latest("d", (1 << 17, 2))
    with pytest.raises(TypeError):
        shoal.Latest("U")  # not a number
    with pytest.raises(TypeError):
        shoal.Latest(object)

    def boom(v):
        raise RuntimeError("boom")
    with pytest.raises(RuntimeError, match="boom"):
        a.update(boom)
    with pytest.raises(TypeError):
        a.update(lambda v: "no")
    assert a.version == 0  # an fn that raises publishes nothing
    assert a.publish([1, 2, 3], timeout=0) == 1  # and the lock is free

    with pytest.raises(shoal.InvalidRegion):
        shoal._shoal._rebuild_latest("d", (), b"not a reference")

    with pytest.raises(ValueError):
        shoal.Blackboard({})
    with pytest.raises(ValueError, match="twice"):
        shoal.Blackboard([("a", 1), ("a", 2)])
    with pytest.raises(TypeError):
        shoal.Blackboard(["a", "b"])
    with pytest.raises(TypeError):
        shoal.Blackboard({"s": "text"})
    board = shoal.Blackboard({"a": 1})
    with pytest.raises(KeyError):
        board["b"]
    with pytest.raises(KeyError):
        board["b"] = 1
    with pytest.raises(TypeError):
        board["a"] = 1.5


def test_pickled_handles_reopen_the_same_state(name):
    latest = shoal.Latest("f", (4,), name=name)
    latest.publish(np.arange(4, dtype=np.float32))
    again = pickle.loads(pickle.dumps(latest))
    assert again.read().tolist() == [0.0, 1.0, 2.0, 3.0]
    again.publish(np.ones(4, np.float32))
    assert latest.read_versioned()[1] == 2
    board = shoal.Blackboard({"x": 1.0})
    entry = pickle.loads(pickle.dumps(board.entry("x")))
    entry.publish(5.0)
    assert pickle.loads(pickle.dumps(board))["x"] == 5.0
    assert board.generation == 1


# ----------------------------------------------------------- Ctrl-C


@pytest.mark.parametrize("make,wait", [
    ("shoal.Latest('d')", "x.wait_newer(0)"),
    ("shoal.Blackboard({'k': 1.0})", "x.wait_changed(0)"),
])
def test_ctrl_c_interrupts_a_blocked_wait(make, wait):
    p = python_start(
        "import shoal\n"
        "x = %s\n"
        "print('ready', flush=True)\n"
        "try:\n"
        "    %s\n"
        "except KeyboardInterrupt:\n"
        "    raise SystemExit(7)\n" % (make, wait))
    wait_line(p, "ready")
    wait_blocked(p)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=30)
    assert p.returncode == 7, (out, err)


# ----------------------------------------------------------- README


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_readme_example_runs(tmp_path, method):
    r = run_script(readme_python_block("**Latest and Blackboard**"), tmp_path,
                   method)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "[1. 2.] 250.0\n"
