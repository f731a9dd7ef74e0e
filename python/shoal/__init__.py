# Copyright 2026 The shoal Authors.
"""shoal: multiprocessing's queues, locks, shared values and zero-copy numpy
channels over shared memory, shared with C++ programs.

    import shoal
    q = shoal.Queue(100)                  # multiprocessing.Queue(100)
    ch = shoal.FloatChannel(100_000)      # blocks of 100,000 float64

Every object reaches other processes by fork, by pickling (into
multiprocessing.Process children, fork or spawn: a name or a descriptor
travels, never the contents), or by name (name="jobs", then
shoal.Queue.open("jobs") in any process, Python or C++).

Blocking calls release the GIL and return every 0.2 s to run signal
handlers, so Ctrl-C interrupts them. Errors are shoal.Error subclasses that
are also the standard classes (shoal.Empty is a queue.Empty, shoal.Closed a
ValueError, ...), carrying the C++ message.
"""

from shoal import _shoal
from shoal._shoal import (  # noqa: F401
    Array,
    AuthenticationError,
    Barrier,
    Blackboard,
    BoundedSemaphore,
    Broadcast,
    BrokenBarrierError,
    BufferTooShort,
    CancelledError,
    Channel,
    Closed,
    CodecError,
    Condition,
    Empty,
    EOFError,
    Error,
    Event,
    FloatChannel,
    Full,
    InvalidRegion,
    JoinableQueue,
    Latest,
    Loan,
    Lock,
    OwnerDied,
    Queue,
    RemoteError,
    RLock,
    RuntimeError,
    Semaphore,
    SerializationError,
    Service,
    ServiceClient,
    ServiceFuture,
    SimpleQueue,
    Subscriber,
    SystemError,
    TimeoutError,
    Value,
    ValueError,
    WorkerLost,
)

__version__ = _shoal.__version__  # shoal's version (version.bzl)


def RawValue(typecode_or_type, value=None, *, name=None):
    """multiprocessing.RawValue: a Value without a lock (C++
    shoal::RawValue<T>)."""
    return Value(typecode_or_type, value, lock=False, name=name)


def RawArray(typecode_or_type, size_or_initializer, *, name=None):
    """multiprocessing.RawArray: an Array without a lock (C++
    shoal::RawArray<T>)."""
    return Array(typecode_or_type, size_or_initializer, lock=False, name=name)


def _rebuild(builder, *args):
    """Unpickles a shoal object: opens the shared memory its reference
    names (a name, or a (pid, fd) pair plus the region's identity)."""
    return getattr(_shoal, builder)(*args)


for _obj in list(vars(_shoal).values()):
    if isinstance(_obj, type) and not _obj.__name__.startswith("_"):
        _obj.__module__ = "shoal"
del _obj

__all__ = [
    "Array",
    "AuthenticationError",
    "Barrier",
    "Blackboard",
    "BoundedSemaphore",
    "BrokenBarrierError",
    "BufferTooShort",
    "Channel",
    "Closed",
    "CodecError",
    "Condition",
    "Empty",
    "EOFError",
    "Error",
    "Event",
    "FloatChannel",
    "Full",
    "InvalidRegion",
    "JoinableQueue",
    "Latest",
    "Loan",
    "Lock",
    "OwnerDied",
    "Queue",
    "RawArray",
    "RawValue",
    "RLock",
    "RuntimeError",
    "Semaphore",
    "SerializationError",
    "SimpleQueue",
    "SystemError",
    "TimeoutError",
    "Value",
    "ValueError",
]
