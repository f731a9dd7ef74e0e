# Copyright 2026 The shoal Authors.
"""shoal.Service / shoal.ServiceClient: request/response across real
processes (fork and spawn), handler errors, timeouts, a server killed
mid-request, and C++ peers on either side."""

import os
import pickle
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import shoal
from conftest import cpp_peer, cpp_peer_start, join, start, unique, wait_line

# Scheduling slack on a busy machine (as tests/support/fork_helpers.h's
# kSchedulingSlack): timed calls are checked against bound + SLACK, and a
# call that must return "at once" because its peer died against SLACK, with
# the call's own timeout far longer than that.
SLACK = 3.0


class Oops(Exception):
    """A user exception class both ends can name (this module)."""


def handler(req):
    """The servers' handler: a reply that names the request, or errors."""
    if isinstance(req, tuple) and req and req[0] == "raise":
        kind, msg = req[1], req[2]
        if kind == "value":
            raise ValueError(msg)
        if kind == "key":
            raise KeyError(msg)
        if kind == "oops":
            raise Oops(msg)
        if kind == "unpicklable":
            return lambda: None
    if req == "die":
        os.kill(os.getpid(), signal.SIGKILL)
    if isinstance(req, np.ndarray):
        return req * 2
    return ("reply", req, os.getpid())


def serve(svc):
    svc.serve(handler)


def serve_and_announce(svc, ready):
    ready.put(os.getpid())
    ready.close()
    ready.join_thread()
    svc.serve(handler)


def start_server(ctx, svc):
    ready = ctx.Queue()
    p = start(ctx, serve_and_announce, svc, ready)
    pid = ready.get(timeout=60)
    assert pid == p.pid
    return p


def test_round_trip_of_objects(ctx, name):
    svc = shoal.Service(name=name)
    assert svc.name == name and not svc.raw
    server = start_server(ctx, svc)
    client = shoal.ServiceClient(svc)
    for req in [1, "two", None, (3, 4.5), {"k": [1, 2]}, b"\x00raw",
                bytearray(b"ba"), "x" * 10_000]:
        kind, echoed, pid = client.call(req, timeout=30)
        assert kind == "reply" and echoed == req and type(echoed) is type(req)
        assert pid == server.pid
    a = np.arange(100_000, dtype=np.float64)
    np.testing.assert_array_equal(client.call(a, timeout=30), a * 2)
    svc.close()
    assert join(server) == 0
    st = svc.stats()
    assert st["calls"] == 9 and st["served"] == 9 and st["errors"] == 0
    assert st["lost"] == 0 and st["dropped"] == 0
    with pytest.raises(shoal.Closed):
        client.call(1, timeout=5)


def test_client_by_name_and_pickled_client(ctx, name):
    svc = shoal.Service(name=name)
    server = start_server(ctx, svc)
    by_name = shoal.ServiceClient(name)
    assert by_name.call(7, timeout=30)[1] == 7
    # A pickled client makes its own entry in the process that unpickles it.
    clone = pickle.loads(pickle.dumps(by_name))
    assert clone.call(8, timeout=30)[1] == 8
    svc.close()
    assert join(server) == 0


def test_call_async_futures(fork_ctx, name):
    svc = shoal.Service()
    server = start_server(fork_ctx, svc)
    client = shoal.ServiceClient(svc)
    futures = [client.call_async(i) for i in range(40)]  # > calls_per_client
    assert [f.result(timeout=30)[1] for f in futures] == list(range(40))
    assert all(f.done() and f.exception(0) is None for f in futures)
    f = client.call_async(("raise", "value", "async bad"))
    assert isinstance(f.exception(timeout=30), ValueError)
    with pytest.raises(ValueError, match="async bad"):
        f.result(timeout=1)
    svc.close()
    assert join(server) == 0


def many_calls(svc, client_id, calls, out):
    client = shoal.ServiceClient(svc)
    pids = set()
    for i in range(calls):
        kind, echoed, pid = client.call((client_id, i), timeout=30)
        assert kind == "reply" and echoed == (client_id, i), echoed
        pids.add(pid)
    out.put((client_id, sorted(pids)))


def test_many_clients_many_servers(ctx, name):
    svc = shoal.Service(name=name)
    servers = [start_server(ctx, svc) for _ in range(2)]
    out = ctx.Queue()
    clients = [start(ctx, many_calls, svc, c, 100, out) for c in range(4)]
    got = sorted(out.get(timeout=60) for _ in clients)
    for c in clients:
        assert join(c) == 0
    assert [g[0] for g in got] == [0, 1, 2, 3]
    served_by = set(p for g in got for p in g[1])
    assert served_by <= {s.pid for s in servers}
    svc.close()
    for s in servers:
        assert join(s) == 0
    st = svc.stats()
    assert st["calls"] == 400 and st["served"] == 400 and st["lost"] == 0


def test_handler_errors_reach_the_caller_and_the_server_serves_on(ctx, name):
    svc = shoal.Service(name=name)
    server = start_server(ctx, svc)
    client = shoal.ServiceClient(svc)
    with pytest.raises(ValueError, match="^bad value$"):
        client.call(("raise", "value", "bad value"), timeout=30)
    with pytest.raises(KeyError):
        client.call(("raise", "key", "k"), timeout=30)
    # A class of a module this process imported: the same class.
    with pytest.raises(Oops, match="mine"):
        client.call(("raise", "oops", "mine"), timeout=30)
    # A reply that does not pickle: what pickle.dumps raised in the server
    # (Python 3.11: AttributeError for a local lambda).
    with pytest.raises(AttributeError, match="Can't pickle local object"):
        client.call(("raise", "unpicklable", ""), timeout=30)
    assert client.call("after", timeout=30)[1] == "after"
    svc.close()
    assert join(server) == 0
    st = svc.stats()
    assert st["errors"] == 4 and st["served"] == 5


def test_unknown_error_class_is_a_remote_error(fork_ctx):
    svc = shoal.Service()

    def raise_unknown(req):
        cls = type("Unnamed", (Exception,), {"__module__": "not.imported"})
        raise cls("who am I")

    server = start(fork_ctx, svc.serve, raise_unknown)
    client = shoal.ServiceClient(svc)
    with pytest.raises(shoal.RemoteError) as e:
        client.call(1, timeout=30)
    assert e.value.type_name == "not.imported.Unnamed"
    assert e.value.message == "who am I"
    svc.close()
    assert join(server) == 0


def test_timeouts_are_bounded_and_an_abandoned_call_confuses_nothing(fork_ctx):
    svc = shoal.Service()
    client = shoal.ServiceClient(svc)
    for timeout in (0, 0.3):
        t0 = time.monotonic()
        with pytest.raises(shoal.TimeoutError):
            client.call("nobody serves", timeout=timeout)
        elapsed = time.monotonic() - t0
        assert timeout <= elapsed < timeout + SLACK
    f = client.call_async("late")
    t0 = time.monotonic()
    with pytest.raises(TimeoutError):
        f.result(timeout=0.2)
    assert 0.2 <= time.monotonic() - t0 < 0.2 + SLACK
    assert not f.done()
    # Now a server comes: the abandoned calls' replies are dropped, the
    # future still completes and a new call gets its own reply.
    server = start_server(fork_ctx, svc)
    assert f.result(timeout=30)[1] == "late"
    assert client.call("fresh", timeout=30)[1] == "fresh"
    svc.close()
    assert join(server) == 0
    st = svc.stats()
    assert st["calls"] == 4
    assert st["served"] + st["discarded"] == 4
    assert st["dropped"] + st["discarded"] == 2


def test_a_signal_handler_interrupts_a_blocked_call():
    svc = shoal.Service()
    client = shoal.ServiceClient(svc)

    class Interrupted(Exception):
        pass

    def on_alarm(signum, frame):
        raise Interrupted()

    old = signal.signal(signal.SIGALRM, on_alarm)
    try:
        t0 = time.monotonic()
        with pytest.raises(Interrupted):
            # Armed inside the block: a process preempted for 0.3 s right
            # after arming would otherwise take the signal outside it.
            signal.setitimer(signal.ITIMER_REAL, 0.3)
            client.call("never served")  # no timeout: only the signal ends it
        assert time.monotonic() - t0 < 0.3 + SLACK
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    # The interrupted call was abandoned: the client still works.
    with pytest.raises(shoal.TimeoutError):
        client.call("still nobody", timeout=0.1)


def test_a_server_killed_mid_request_fails_that_call_only(ctx, name):
    svc = shoal.Service(name=name)
    doomed = start_server(ctx, svc)
    client = shoal.ServiceClient(svc)
    assert client.call("warm", timeout=30)[2] == doomed.pid
    t0 = time.monotonic()
    with pytest.raises(shoal.WorkerLost) as e:
        client.call("die", timeout=60)  # its server dies holding it
    # Timed from before the server took the request (it must still run,
    # unpickle it and kill itself): far below the call's 60 s, which a
    # missed death would take.
    assert time.monotonic() - t0 < 20
    assert e.value.pid == doomed.pid
    assert isinstance(e.value, RuntimeError)
    join(doomed)
    assert doomed.exitcode == -signal.SIGKILL
    # Another server serves on; an async call to a dying server fails too.
    survivor = start_server(ctx, svc)
    assert client.call("after", timeout=30)[2] == survivor.pid
    f = client.call_async("die")
    assert isinstance(f.exception(timeout=60), shoal.WorkerLost)
    join(survivor)
    st = svc.stats()
    assert st["lost"] == 2 and st["calls"] == 4 and st["served"] == 2
    with pytest.raises(shoal.TimeoutError):  # nobody serves any more
        client.call("x", timeout=0.1)


def test_cpp_server_python_client(name):
    p = cpp_peer_start("service-serve", name)
    try:
        wait_line(p, "ready")
        client = shoal.ServiceClient(name, raw=True)
        assert client.raw
        assert client.call(b"hello", timeout=30) == b"cpp:hello"
        assert client.call("text", timeout=30) == b"cpp:text"
        assert client.call_async(b"f").result(timeout=30) == b"cpp:f"
        with pytest.raises(ValueError, match="boom"):  # std::invalid_argument
            client.call(b"boom", timeout=30)
        with pytest.raises(shoal.RemoteError) as e:  # a thrown int
            client.call(b"oops", timeout=30)
        assert e.value.type_name == "int"
        shoal.Service.open(name).close()
        out, err = p.communicate(timeout=30)
        assert p.returncode == 0, err
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(10)


def raw_handler(req):
    if req == b"boom":
        raise ValueError("boom")
    return b"py:" + req


def serve_raw(svc):
    svc.serve(raw_handler)


def test_python_server_cpp_client(fork_ctx, name):
    svc = shoal.Service(name=name, raw=True)
    server = start(fork_ctx, serve_raw, svc)
    r = cpp_peer("service-call", name, 3)
    assert r.stdout.splitlines() == ["py:req-0", "py:req-1", "py:req-2",
                                     "error builtins.ValueError: boom"]
    svc.close()
    assert join(server) == 0


def test_object_mode_client_of_a_raw_server_is_told(fork_ctx):
    # A raw reply read as an object is not a pickle: a clear CodecError.
    svc = shoal.Service(raw=True)
    server = start(fork_ctx, serve_raw, svc)
    with pytest.raises(shoal.CodecError):
        shoal.ServiceClient(svc, raw=False).call(b"x", timeout=30)
    assert shoal.ServiceClient(svc).call(b"x", timeout=30) == b"py:x"
    svc.close()
    assert join(server) == 0


def test_readme_example_runs():
    with open(os.path.join(os.environ["SHOAL_REPO"], "README.md")) as f:
        text = f.read()
    section = text.split("**Service and ServiceClient**", 1)[1]
    m = re.search(r"```python\n(.*?)```", section, re.S)
    assert m, "no python block in README's Service section"
    r = subprocess.run([sys.executable, "-c", m.group(1)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "4 5\n"
