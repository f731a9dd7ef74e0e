// Copyright 2026 The shoal Authors.
//
// errors.h: the exceptions every shoal call may throw.
//
// Contract
//   Every exception shoal throws derives from `shoal::Error` (itself a
//   `std::runtime_error`, so `what()` carries the message). The names follow
//   Python's `multiprocessing`, `queue`, `threading` and `concurrent.futures`
//   so that a user who knows those finds the same failure under the same
//   name, and the tree follows Python's where Python nests them, so the
//   catches a Python user writes work (`catch (const shoal::ValueError&)`
//   around a closed queue, `catch (const shoal::RuntimeError&)` around a
//   broken barrier or pool):
//
//     shoal::Error                 Exception
//     +- Empty                     queue.Empty          get_nowait on an empty queue
//     +- Full                      queue.Full           put_nowait on a full queue
//     +- TimeoutError              TimeoutError         a timed call ran out of time
//     +- EOFError                  EOFError             the peer of a Connection left
//     +- BufferTooShort            BufferTooShort       recv_bytes_into: needed size
//     +- ValueError                ValueError           bad argument or misuse
//     |  +- Closed                 ValueError("... is closed")  the object was closed
//     +- RuntimeError              RuntimeError         a call in the wrong state
//     |  |                                              (releasing an un-acquired RLock,
//     |  |                                              waiting on a Condition without
//     |  |                                              its lock, ...)
//     |  +- BrokenBarrierError     threading.BrokenBarrierError (a RuntimeError)
//     |  +- BrokenPool             BrokenProcessPool (a RuntimeError)
//     +- SystemError (= OSError)   OSError              a system call failed (errno)
//     +- OwnerDied                 (robust mutex EOWNERDEAD) a lock holder died
//     +- InvalidRegion             (none)               a segment that is not ours
//     +- CodecError                pickle.UnpicklingError  garbage or truncated bytes
//     +- SerializationError        pickle.PicklingError  a value that cannot be sent
//     +- WorkerLost                (billiard WorkerLostError) a worker died mid-task
//     +- CancelledError            CancelledError       the future was cancelled
//     +- RemoteError               RemoteError          a task threw a non-std type
//     +- AuthenticationError       AuthenticationError  Listener/Client handshake refused
//
//   Where shoal differs from Python, and why:
//     * TimeoutError is not a SystemError (Python's builtin TimeoutError is
//       an OSError): it carries no errno, and multiprocessing.TimeoutError
//       (AsyncResult.get) is not an OSError either.
//     * A closed Connection raises Closed (a ValueError); Python raises
//       OSError("handle is closed") there. One "closed" error for every
//       shoal object keeps `catch (const shoal::Closed&)` uniform.
//     * Python's IndexError is std::out_of_range (Array::at); AttributeError
//       (Value(lock=False).get_lock()) is ValueError.
//
//   The non-throwing forms (`try_put`, `try_get`, `try_acquire`, ...) return
//   `std::optional`, `bool` or `absl::Status` instead, for hot loops.
//
// Thread and process safety: the classes are plain values.
#ifndef SHOAL_BASE_ERRORS_H_
#define SHOAL_BASE_ERRORS_H_

#include <sys/types.h>

#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>

namespace shoal {

// The root of shoal's exceptions. `kind()` is the stable, Python-style name
// of the concrete class ("Empty", "WorkerLost", ...); pools use it to send an
// error across a process boundary and rebuild the same type on the far side.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
  virtual const char* kind() const noexcept { return "Error"; }
};

#define SHOAL_DEFINE_ERROR_(Name, Base)                          \
  class Name : public Base {                                     \
   public:                                                       \
    explicit Name(const std::string& what) : Base(what) {}       \
    const char* kind() const noexcept override { return #Name; } \
  }

// queue.Empty: a non-blocking or timed get found nothing.
SHOAL_DEFINE_ERROR_(Empty, Error);
// queue.Full: a non-blocking or timed put found no room.
SHOAL_DEFINE_ERROR_(Full, Error);
// A timed call ran out of time (Python's TimeoutError).
SHOAL_DEFINE_ERROR_(TimeoutError, Error);
// The far end of a Connection closed or died and nothing is left to read.
SHOAL_DEFINE_ERROR_(EOFError, Error);
// An argument is wrong, or a count would go wrong (over-releasing a
// BoundedSemaphore or an unlocked Lock, task_done() too often, ...).
SHOAL_DEFINE_ERROR_(ValueError, Error);
// The object was closed, or (queues, channels) every writer is gone and the
// contents were drained. A ValueError, as Python's "Queue is closed".
SHOAL_DEFINE_ERROR_(Closed, ValueError);
// A call made in a state that forbids it, where Python raises RuntimeError:
// releasing an RLock the caller does not hold, waiting on or notifying a
// Condition without holding its lock, submitting to an executor after
// shutdown().
SHOAL_DEFINE_ERROR_(RuntimeError, Error);
// A barrier was aborted, reset or timed out while the caller waited on it.
// A RuntimeError, as threading.BrokenBarrierError.
SHOAL_DEFINE_ERROR_(BrokenBarrierError, RuntimeError);
// A shared region failed validation: not shoal's, wrong version, size, layout
// hash (type), or an offset inside it points outside it.
SHOAL_DEFINE_ERROR_(InvalidRegion, Error);
// Bytes that do not decode as the requested type: truncated or garbage.
SHOAL_DEFINE_ERROR_(CodecError, Error);
// A value that cannot be encoded (too large, or its serializer threw).
SHOAL_DEFINE_ERROR_(SerializationError, Error);
// The pool or executor cannot accept or finish work any more. A
// RuntimeError, as concurrent.futures' BrokenExecutor.
SHOAL_DEFINE_ERROR_(BrokenPool, RuntimeError);
// The future or task was cancelled before it produced a result.
SHOAL_DEFINE_ERROR_(CancelledError, Error);
// multiprocessing.AuthenticationError: a Listener/Client handshake failed
// (wrong authkey, no answer in time, or garbage instead of the protocol).
SHOAL_DEFINE_ERROR_(AuthenticationError, Error);

#undef SHOAL_DEFINE_ERROR_

// The holder of a Lock or RLock died while holding it. The caller now owns
// the lock; the data the lock protects may be half-updated. Repair it, then
// call `make_consistent()` on the lock, or release without doing so and every
// later acquirer gets OwnerDied as well (Linux robust-mutex semantics).
class OwnerDied : public Error {
 public:
  explicit OwnerDied(const std::string& what) : Error(what) {}
  const char* kind() const noexcept override { return "OwnerDied"; }
};

// recv_bytes_into: the caller's buffer is smaller than the message. The
// message stays unread; `needed()` is its size.
class BufferTooShort : public Error {
 public:
  BufferTooShort(const std::string& what, std::size_t needed)
      : Error(what), needed_(needed) {}
  const char* kind() const noexcept override { return "BufferTooShort"; }
  std::size_t needed() const noexcept { return needed_; }

 private:
  std::size_t needed_;
};

// A system call failed; `error_code()` is its errno. Python's OSError (also
// spelled shoal::OSError below).
class SystemError : public Error {
 public:
  SystemError(const std::string& what, int error_code)
      : Error(what), error_code_(error_code) {}
  const char* kind() const noexcept override { return "SystemError"; }
  int error_code() const noexcept { return error_code_; }

 private:
  int error_code_;
};

// Python's name for it.
using OSError = SystemError;

// A worker process died (signal, exit, OOM kill) while running the task.
// `pid()` is the worker's pid; exactly one of `signal()` (> 0 when killed by a
// signal) and `exit_code()` (meaningful when signal() == 0) describes how.
class WorkerLost : public Error {
 public:
  WorkerLost(const std::string& what, pid_t pid, int signal, int exit_code)
      : Error(what), pid_(pid), signal_(signal), exit_code_(exit_code) {}
  const char* kind() const noexcept override { return "WorkerLost"; }
  pid_t pid() const noexcept { return pid_; }
  int signal() const noexcept { return signal_; }
  int exit_code() const noexcept { return exit_code_; }

 private:
  pid_t pid_;
  int signal_;
  int exit_code_;
};

// A task threw an exception that shoal cannot rebuild as its own type.
// `type_name()` is the demangled name of the thrown type; `what()` is
// "<type_name>: <message>".
class RemoteError : public Error {
 public:
  RemoteError(std::string type_name, const std::string& message)
      : Error(type_name + ": " + message),
        type_name_(std::move(type_name)),
        message_(message) {}
  const char* kind() const noexcept override { return "RemoteError"; }
  const std::string& type_name() const noexcept { return type_name_; }
  const std::string& message() const noexcept { return message_; }

 private:
  std::string type_name_;
  std::string message_;
};

// Throws SystemError for `errno_value` with "<what>: <strerror>".
[[noreturn]] void ThrowSystemError(std::string_view what, int errno_value);

}  // namespace shoal

#endif  // SHOAL_BASE_ERRORS_H_
