// Tests for pool/internal/remote_error.h: an exception captured in a worker
// and rebuilt in the caller keeps its shoal type, so a Python-style catch on
// the caller's side (`except ValueError`, `except RuntimeError`) works for
// a task's error exactly as for a local one.
#include "shoal/pool/internal/remote_error.h"

#include <errno.h>

#include <exception>
#include <stdexcept>
#include <string>
#include <typeinfo>

#include "gtest/gtest.h"
#include "shoal/base/errors.h"

namespace shoal::internal {
namespace {

// Throws `e`, captures it as a worker would, sends the record through its
// encoding, and rebuilds it as the caller would.
template <class E>
std::exception_ptr RoundTrip(const E& e) {
  ErrorRecord r;
  try {
    throw e;
  } catch (...) {
    r = CaptureCurrentException();
  }
  const std::string bytes = EncodeErrorRecord(r);
  return ToExceptionPtr(DecodeErrorRecord(
      reinterpret_cast<const std::byte*>(bytes.data()), bytes.size()));
}

template <class E>
void ExpectRebuiltAs(const E& e) {
  try {
    std::rethrow_exception(RoundTrip(e));
  } catch (const Error& got) {
    EXPECT_EQ(typeid(got), typeid(E)) << got.kind();
    EXPECT_STREQ(got.kind(), e.kind());
    EXPECT_STREQ(got.what(), e.what());
    return;
  } catch (...) {
  }
  ADD_FAILURE() << "not rebuilt as a shoal::Error: " << e.kind();
}

TEST(RemoteErrorTest, EveryShoalErrorIsRebuiltAsItsOwnType) {
  ExpectRebuiltAs(Empty("e"));
  ExpectRebuiltAs(Full("f"));
  ExpectRebuiltAs(TimeoutError("t"));
  ExpectRebuiltAs(Closed("c"));
  ExpectRebuiltAs(EOFError("eof"));
  ExpectRebuiltAs(ValueError("v"));
  ExpectRebuiltAs(RuntimeError("r"));
  ExpectRebuiltAs(BrokenBarrierError("b"));
  ExpectRebuiltAs(InvalidRegion("i"));
  ExpectRebuiltAs(CodecError("c"));
  ExpectRebuiltAs(SerializationError("s"));
  ExpectRebuiltAs(BrokenPool("p"));
  ExpectRebuiltAs(CancelledError("x"));
  ExpectRebuiltAs(OwnerDied("o"));
  ExpectRebuiltAs(AuthenticationError("a"));
  ExpectRebuiltAs(Error("plain"));
}

// Python: a task raising RuntimeError reaches the caller as RuntimeError.
TEST(RemoteErrorTest, RuntimeErrorFromATaskIsCaughtAsRuntimeError_LikePython) {
  EXPECT_THROW(std::rethrow_exception(RoundTrip(RuntimeError("boom"))),
               RuntimeError);
  EXPECT_THROW(std::rethrow_exception(RoundTrip(BrokenBarrierError("b"))),
               RuntimeError);
}

// Python: a task that used a closed queue raises ValueError in the caller.
TEST(RemoteErrorTest, ClosedFromATaskIsCaughtAsValueError_LikePython) {
  EXPECT_THROW(std::rethrow_exception(RoundTrip(Closed("queue closed"))),
               ValueError);
}

TEST(RemoteErrorTest, ExtraFieldsSurvive) {
  try {
    std::rethrow_exception(RoundTrip(SystemError("open: x", ENOENT)));
  } catch (const OSError& e) {
    EXPECT_EQ(e.error_code(), ENOENT);
  }
  try {
    std::rethrow_exception(RoundTrip(WorkerLost("lost", 42, 9, 0)));
  } catch (const WorkerLost& e) {
    EXPECT_EQ(e.pid(), 42);
    EXPECT_EQ(e.signal(), 9);
  }
  try {
    std::rethrow_exception(RoundTrip(BufferTooShort("short", 77)));
  } catch (const BufferTooShort& e) {
    EXPECT_EQ(e.needed(), 77u);
  }
}

TEST(RemoteErrorTest, StdTypesStayStd) {
  EXPECT_THROW(std::rethrow_exception(RoundTrip(std::out_of_range("o"))),
               std::out_of_range);
  EXPECT_THROW(std::rethrow_exception(RoundTrip(std::runtime_error("r"))),
               std::runtime_error);
}

}  // namespace
}  // namespace shoal::internal
