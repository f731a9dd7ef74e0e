# Copyright 2026 The shoal Authors.
"""Shared fixtures of the Python tests: bounded children, unique names, a
per-test watchdog, and the C++ peer program."""

import faulthandler
import itertools
import multiprocessing
import os
import re
import select
import signal
import subprocess
import sys
import threading
import time

import pytest

# The whole run is bounded: a hang dumps every thread's stack and kills the
# run a little before Bazel's timeout would, so the log says where it hung.
# One watchdog thread for the whole run, started before any test forks: a
# watchdog armed per test started and ended a thread around every test, and
# a child forked while such a thread was still exiting could inherit one of
# ASan's allocator locks held (GCC 12's ASan does not lock its allocator
# across fork()) and hang before running a line of Python, unbounded by its
# alarm() -- which then also hung the interpreter's exit, joining it.
_RUN_BOUND_S = max(60, int(os.environ.get("TEST_TIMEOUT", "300")) - 20)
faulthandler.dump_traceback_later(_RUN_BOUND_S, exit=True)


def settle_threads(timeout=2.0):
    """Waits (bounded) until every thread Python has finished with is gone
    from the kernel too, so a fork() never copies a thread mid-exit (see
    above). Besides Python's threads only the watchdog is expected; a live
    native thread of shoal's (a Service client's receiver) makes this wait
    the whole `timeout`, which is harmless."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            tasks = len(os.listdir("/proc/self/task"))
        except OSError:
            return
        if tasks <= threading.active_count() + 1:
            return
        time.sleep(0.001)


@pytest.fixture(autouse=True)
def no_child_outlives_its_test():
    """A test that failed before joining its child must not leave it
    behind: multiprocessing joins every child at interpreter exit, so one
    hung child would hang the run until Bazel's timeout."""
    yield
    for p in multiprocessing.active_children():
        p.kill()
        p.join(10)


_names = itertools.count()


def unique(prefix):
    """A region name no other test (or concurrent test run) uses."""
    return "pytest.%s.%d.%d" % (prefix, os.getpid(), next(_names))


@pytest.fixture
def name(request):
    return unique(request.node.name.replace("[", ".").replace("]", "")[:40])


@pytest.fixture(params=["fork", "spawn"])
def ctx(request):
    return multiprocessing.get_context(request.param)


@pytest.fixture
def fork_ctx():
    return multiprocessing.get_context("fork")


def _arm(seconds):
    # In a child: die instead of hanging (the parent also bounds its join).
    signal.alarm(seconds)


def _child_main(alarm_s, target, args):
    _arm(alarm_s)
    target(*args)


def start(ctx, target, *args, alarm_s=60):
    """Starts target(*args) in a child of `ctx`, bounded by alarm()."""
    p = ctx.Process(target=_child_main, args=(alarm_s, target, args))
    if ctx.get_start_method() == "fork":
        settle_threads()
    p.start()
    return p


def join(p, timeout=60):
    """Joins `p`; kills it (and fails) if it overstays. Returns exitcode."""
    p.join(timeout)
    if p.is_alive():
        p.kill()
        p.join(5)
        pytest.fail("child %d did not finish within %s s" % (p.pid, timeout))
    return p.exitcode


def run(ctx, target, *args, timeout=60):
    """Runs target(*args) in a child and returns its exit code."""
    return join(start(ctx, target, *args, alarm_s=timeout), timeout + 10)


def cpp_peer(*args, timeout=60, check=True, **kw):
    """Runs the C++ peer program (tests/python/cpp_peer.cc) to completion."""
    exe = os.environ["SHOAL_CPP_PEER"]
    kw.setdefault("text", True)
    r = subprocess.run([exe] + [str(a) for a in args], capture_output=True,
                       timeout=timeout, **kw)
    if check and r.returncode != 0:
        pytest.fail("cpp_peer %s: exit %d\nstdout: %s\nstderr: %s"
                    % (" ".join(map(str, args)), r.returncode, r.stdout,
                       r.stderr))
    return r


def cpp_peer_start(*args, **kw):
    exe = os.environ["SHOAL_CPP_PEER"]
    return subprocess.Popen([exe] + [str(a) for a in args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, **kw)


def python_start(code, **kw):
    """Starts /usr/bin/python3 -c code (stdout/stderr piped)."""
    return subprocess.Popen([sys.executable, "-c", code],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, **kw)


def wait_blocked(proc, timeout=30):
    """Waits (bounded) until proc sleeps in futex() -- inside a blocking
    shoal call rather than about to enter it -- per /proc/<pid>/syscall, so
    a signal sent next interrupts that call however late a loaded machine
    ran proc. Where the kernel does not show it, naps 0.3 s instead."""
    path = "/proc/%d/syscall" % proc.pid
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(path) as f:
                nr = f.read().split(" ", 1)[0].strip()
        except OSError:
            time.sleep(0.3)
            return
        if nr in ("202", "449"):  # x86-64 futex, futex_waitv
            return
        if not nr.isdigit() and nr != "running":
            time.sleep(0.3)
            return
        time.sleep(0.005)
    pytest.fail("pid %d never blocked in futex() within %s s"
                % (proc.pid, timeout))


def wait_line(proc, expected, timeout=30):
    """Reads proc's stdout until a line equal to `expected` (bounded).
    Reads the pipe's descriptor directly (a buffered reader would hide
    lines that arrived together from select()); lines after `expected` are
    kept for the next call."""
    deadline = time.monotonic() + timeout
    fd = proc.stdout.fileno()
    buf = getattr(proc, "_shoal_lines", b"")
    seen = []
    while True:
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            seen.append(line)
            if line.decode(errors="replace").strip() == expected:
                proc._shoal_lines = buf
                return
        left = deadline - time.monotonic()
        if left <= 0:
            break
        r, _, _ = select.select([fd], [], [], min(left, 0.1))
        if r:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            buf += chunk
    proc.kill()
    out, err = proc.communicate(timeout=10)
    pytest.fail("never saw %r; lines %r, then stdout %r stderr %r"
                % (expected, seen, out, err))


def readme_python_block(after):
    """README.md's first ```python block after the text `after`."""
    with open(os.path.join(os.environ["SHOAL_REPO"], "README.md")) as f:
        section = f.read().split(after, 1)[1]
    m = re.search(r"```python\n(.*?)```", section, re.S)
    assert m, "no python block after %r in README.md" % after
    return m.group(1)


def run_script(src, tmp_path, method):
    """Runs `src` as a program with start method `method` (its
    `if __name__ == "__main__":` block sets it); returns the completed
    process (60 s bound)."""
    if method == "spawn":
        src = src.replace('if __name__ == "__main__":\n',
                          'if __name__ == "__main__":\n'
                          '    multiprocessing.set_start_method("spawn")\n')
    script = tmp_path / "example.py"
    script.write_text(src)
    return subprocess.run([sys.executable, str(script)], capture_output=True,
                          text=True, timeout=60)
