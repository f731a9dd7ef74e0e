// Copyright 2026 The shoal Authors.
//
// remote_error.h: an exception thrown in one process, rebuilt in another.
//
// A worker catches whatever its task throws and records it as an
// ErrorRecord (kind, demangled dynamic type name, message, and the extra
// fields some shoal errors carry). The caller's process rebuilds it:
//
//   thrown in the worker                       rethrown in the caller
//   -----------------------------------------  ---------------------------
//   exactly std::invalid_argument, out_of_range, the same type, same what()
//   runtime_error, logic_error, length_error,
//   domain_error, range_error, overflow_error,
//   underflow_error; std::bad_alloc
//   any shoal::Error (by kind())               the same shoal type, same
//                                              what() and extra fields
//   anything else (a user type, a type derived shoal::RemoteError(type_name,
//   from a std type, an int, a const char*)    message)
//
// Thread safety: plain values and pure functions.
#ifndef SHOAL_POOL_INTERNAL_REMOTE_ERROR_H_
#define SHOAL_POOL_INTERNAL_REMOTE_ERROR_H_

#include <cstdint>
#include <exception>
#include <string>
#include <string_view>

namespace shoal::internal {

struct ErrorRecord {
  std::string kind;       // "std::invalid_argument", "shoal::WorkerLost", or
                          // "" (rebuilt as RemoteError)
  std::string type_name;  // demangled dynamic type of the thrown object
  std::string message;    // what(), or the value of a thrown string/number
  int64_t a = 0;          // WorkerLost: pid; SystemError: errno;
                          // BufferTooShort: needed
  int64_t b = 0;          // WorkerLost: signal
  int64_t c = 0;          // WorkerLost: exit code
};

// Records the exception being handled. Call only inside a catch block.
ErrorRecord CaptureCurrentException();
// Records `e` (for an exception_ptr the caller holds).
ErrorRecord CaptureException(const std::exception_ptr& e);

// The rebuilt exception.
std::exception_ptr ToExceptionPtr(const ErrorRecord& record);

// Encoded form (through the codec), and back. Decode throws CodecError.
std::string EncodeErrorRecord(const ErrorRecord& record);
std::size_t EncodedErrorSize(const ErrorRecord& record);
void EncodeErrorRecordTo(const ErrorRecord& record, std::byte* dst,
                         std::size_t size);
ErrorRecord DecodeErrorRecord(const std::byte* data, std::size_t size);

// The demangled name of a mangled type name ("i" -> "int").
std::string Demangle(const char* mangled);

}  // namespace shoal::internal

#endif  // SHOAL_POOL_INTERNAL_REMOTE_ERROR_H_
