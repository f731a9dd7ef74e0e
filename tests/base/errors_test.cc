// Tests for base/errors.h: the exception tree lets Python-style catches work
// (an `except ValueError` around a closed queue, an `except RuntimeError`
// around a broken barrier or executor), and kind() names stay stable.
#include "shoal/base/errors.h"

#include <errno.h>

#include <stdexcept>
#include <string>
#include <type_traits>

#include "gtest/gtest.h"

namespace shoal {
namespace {

// Python: operations on a closed queue raise ValueError.
TEST(ErrorsTest, ClosedIsCaughtAsValueError_LikePythonClosedQueue) {
  static_assert(std::is_base_of_v<ValueError, Closed>);
  try {
    throw Closed("Queue.put: the queue is closed");
  } catch (const ValueError& e) {
    EXPECT_STREQ(e.kind(), "Closed");
    EXPECT_STREQ(e.what(), "Queue.put: the queue is closed");
  }
}

// Python: threading.RLock().release() raises RuntimeError.
TEST(ErrorsTest, RuntimeErrorExists_LikePythonRuntimeError) {
  static_assert(std::is_base_of_v<Error, RuntimeError>);
  try {
    throw RuntimeError("cannot release un-acquired lock");
  } catch (const Error& e) {
    EXPECT_STREQ(e.kind(), "RuntimeError");
  }
}

// Python: threading.BrokenBarrierError and
// concurrent.futures.BrokenExecutor (BrokenProcessPool) are RuntimeErrors.
TEST(ErrorsTest, BrokenBarrierAndBrokenPoolAreRuntimeErrors_LikePython) {
  static_assert(std::is_base_of_v<RuntimeError, BrokenBarrierError>);
  static_assert(std::is_base_of_v<RuntimeError, BrokenPool>);
  EXPECT_THROW(throw BrokenBarrierError("x"), RuntimeError);
  EXPECT_THROW(throw BrokenPool("x"), RuntimeError);
  EXPECT_STREQ(BrokenBarrierError("x").kind(), "BrokenBarrierError");
  EXPECT_STREQ(BrokenPool("x").kind(), "BrokenPool");
}

// Python's OSError is shoal::SystemError (errno in error_code()).
TEST(ErrorsTest, OSErrorIsSystemError_LikePythonOSError) {
  static_assert(std::is_same_v<OSError, SystemError>);
  try {
    ThrowSystemError("open", ENOENT);
  } catch (const OSError& e) {
    EXPECT_EQ(e.error_code(), ENOENT);
    EXPECT_STREQ(e.kind(), "SystemError");
  }
}

// Every shoal exception is a shoal::Error and a std::runtime_error, with a
// kind() equal to its class name (pools rebuild errors by it).
template <class E>
void ExpectKind(const E& e, const char* kind) {
  static_assert(std::is_base_of_v<Error, E>);
  static_assert(std::is_base_of_v<std::runtime_error, E>);
  EXPECT_STREQ(e.kind(), kind);
}

TEST(ErrorsTest, KindNamesAreTheClassNames) {
  ExpectKind(Empty("m"), "Empty");
  ExpectKind(Full("m"), "Full");
  ExpectKind(TimeoutError("m"), "TimeoutError");
  ExpectKind(Closed("m"), "Closed");
  ExpectKind(EOFError("m"), "EOFError");
  ExpectKind(ValueError("m"), "ValueError");
  ExpectKind(RuntimeError("m"), "RuntimeError");
  ExpectKind(BrokenBarrierError("m"), "BrokenBarrierError");
  ExpectKind(InvalidRegion("m"), "InvalidRegion");
  ExpectKind(CodecError("m"), "CodecError");
  ExpectKind(SerializationError("m"), "SerializationError");
  ExpectKind(BrokenPool("m"), "BrokenPool");
  ExpectKind(CancelledError("m"), "CancelledError");
  ExpectKind(OwnerDied("m"), "OwnerDied");
  ExpectKind(BufferTooShort("m", 3), "BufferTooShort");
  ExpectKind(SystemError("m", EIO), "SystemError");
  ExpectKind(WorkerLost("m", 1, 9, 0), "WorkerLost");
  ExpectKind(RemoteError("T", "m"), "RemoteError");
  ExpectKind(AuthenticationError("m"), "AuthenticationError");
}

// The types Python keeps apart stay apart.
TEST(ErrorsTest, UnrelatedPythonErrorsStayUnrelated) {
  static_assert(!std::is_base_of_v<ValueError, Empty>);
  static_assert(!std::is_base_of_v<ValueError, RuntimeError>);
  static_assert(!std::is_base_of_v<RuntimeError, ValueError>);
  static_assert(!std::is_base_of_v<RuntimeError, TimeoutError>);
  static_assert(!std::is_base_of_v<ValueError, EOFError>);
}

}  // namespace
}  // namespace shoal
