#include "shoal/pool/internal/remote_error.h"

#include <cxxabi.h>

#include <cstdlib>
#include <memory>
#include <new>
#include <span>
#include <stdexcept>
#include <tuple>
#include <typeinfo>

#include "shoal/base/errors.h"
#include "shoal/ipc/codec.h"

namespace shoal::internal {
namespace {

using Wire = std::tuple<std::string, std::string, std::string, int64_t,
                        int64_t, int64_t>;

Wire ToWire(const ErrorRecord& r) {
  return Wire{r.kind, r.type_name, r.message, r.a, r.b, r.c};
}

// The std exception types that are rebuilt as themselves (exact dynamic type
// only: a user class derived from std::runtime_error is not a
// std::runtime_error on the far side, it is a RemoteError naming the class).
template <class E>
bool Is(const std::exception& e, const char* name, ErrorRecord* out) {
  if (typeid(e) != typeid(E)) return false;
  out->kind = name;
  return true;
}

void FillStd(const std::exception& e, ErrorRecord* r) {
  r->type_name = Demangle(typeid(e).name());
  r->message = e.what();
  Is<std::invalid_argument>(e, "std::invalid_argument", r) ||
      Is<std::out_of_range>(e, "std::out_of_range", r) ||
      Is<std::runtime_error>(e, "std::runtime_error", r) ||
      Is<std::logic_error>(e, "std::logic_error", r) ||
      Is<std::length_error>(e, "std::length_error", r) ||
      Is<std::domain_error>(e, "std::domain_error", r) ||
      Is<std::range_error>(e, "std::range_error", r) ||
      Is<std::overflow_error>(e, "std::overflow_error", r) ||
      Is<std::underflow_error>(e, "std::underflow_error", r);
}

std::string CurrentTypeName() {
  const std::type_info* t = abi::__cxa_current_exception_type();
  return t != nullptr ? Demangle(t->name()) : "unknown exception";
}

template <class E>
std::exception_ptr Make(const std::string& what) {
  return std::make_exception_ptr(E(what));
}

}  // namespace

std::string Demangle(const char* mangled) {
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> out(
      abi::__cxa_demangle(mangled, nullptr, nullptr, &status), &std::free);
  return status == 0 && out ? std::string(out.get()) : std::string(mangled);
}

ErrorRecord CaptureCurrentException() {
  ErrorRecord r;
  try {
    throw;
  } catch (const Error& e) {
    r.kind = std::string("shoal::") + e.kind();
    r.type_name = Demangle(typeid(e).name());
    r.message = e.what();
    if (const auto* w = dynamic_cast<const WorkerLost*>(&e)) {
      r.a = w->pid();
      r.b = w->signal();
      r.c = w->exit_code();
    } else if (const auto* s = dynamic_cast<const SystemError*>(&e)) {
      r.a = s->error_code();
    } else if (const auto* b = dynamic_cast<const BufferTooShort*>(&e)) {
      r.a = static_cast<int64_t>(b->needed());
    } else if (const auto* re = dynamic_cast<const RemoteError*>(&e)) {
      r.type_name = re->type_name();
      r.message = re->message();
    }
  } catch (const std::bad_alloc& e) {
    r.kind = typeid(e) == typeid(std::bad_alloc) ? "std::bad_alloc" : "";
    r.type_name = Demangle(typeid(e).name());
    r.message = e.what();
  } catch (const std::exception& e) {
    FillStd(e, &r);
  } catch (const char* s) {
    r.type_name = "const char*";
    r.message = s != nullptr ? s : "";
  } catch (const std::string& s) {
    r.type_name = "std::string";
    r.message = s;
  } catch (int v) {
    r.type_name = "int";
    r.message = std::to_string(v);
  } catch (long v) {
    r.type_name = "long";
    r.message = std::to_string(v);
  } catch (...) {
    r.type_name = CurrentTypeName();
    r.message = "(an exception of a type without a message)";
  }
  return r;
}

ErrorRecord CaptureException(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (...) {
    return CaptureCurrentException();
  }
}

std::exception_ptr ToExceptionPtr(const ErrorRecord& r) {
  const std::string& k = r.kind;
  const std::string& m = r.message;
  if (k.rfind("std::", 0) == 0) {
    if (k == "std::invalid_argument") return Make<std::invalid_argument>(m);
    if (k == "std::out_of_range") return Make<std::out_of_range>(m);
    if (k == "std::runtime_error") return Make<std::runtime_error>(m);
    if (k == "std::logic_error") return Make<std::logic_error>(m);
    if (k == "std::length_error") return Make<std::length_error>(m);
    if (k == "std::domain_error") return Make<std::domain_error>(m);
    if (k == "std::range_error") return Make<std::range_error>(m);
    if (k == "std::overflow_error") return Make<std::overflow_error>(m);
    if (k == "std::underflow_error") return Make<std::underflow_error>(m);
    if (k == "std::bad_alloc") return std::make_exception_ptr(std::bad_alloc());
  } else if (k.rfind("shoal::", 0) == 0) {
    const std::string n = k.substr(7);
    if (n == "Empty") return Make<Empty>(m);
    if (n == "Full") return Make<Full>(m);
    if (n == "TimeoutError") return Make<TimeoutError>(m);
    if (n == "Closed") return Make<Closed>(m);
    if (n == "EOFError") return Make<EOFError>(m);
    if (n == "ValueError") return Make<ValueError>(m);
    if (n == "RuntimeError") return Make<RuntimeError>(m);
    if (n == "AuthenticationError") return Make<AuthenticationError>(m);
    if (n == "BrokenBarrierError") return Make<BrokenBarrierError>(m);
    if (n == "InvalidRegion") return Make<InvalidRegion>(m);
    if (n == "CodecError") return Make<CodecError>(m);
    if (n == "SerializationError") return Make<SerializationError>(m);
    if (n == "BrokenPool") return Make<BrokenPool>(m);
    if (n == "CancelledError") return Make<CancelledError>(m);
    if (n == "OwnerDied") return Make<OwnerDied>(m);
    if (n == "Error") return Make<Error>(m);
    if (n == "BufferTooShort") {
      return std::make_exception_ptr(
          BufferTooShort(m, static_cast<std::size_t>(r.a)));
    }
    if (n == "SystemError") {
      return std::make_exception_ptr(SystemError(m, static_cast<int>(r.a)));
    }
    if (n == "WorkerLost") {
      return std::make_exception_ptr(
          WorkerLost(m, static_cast<pid_t>(r.a), static_cast<int>(r.b),
                     static_cast<int>(r.c)));
    }
    if (n == "RemoteError") {
      return std::make_exception_ptr(RemoteError(r.type_name, m));
    }
  }
  return std::make_exception_ptr(RemoteError(r.type_name, m));
}

std::size_t EncodedErrorSize(const ErrorRecord& r) {
  return EncodedSize(ToWire(r));
}

void EncodeErrorRecordTo(const ErrorRecord& r, std::byte* dst,
                         std::size_t size) {
  EncodeTo(ToWire(r), std::span<std::byte>(dst, size));
}

std::string EncodeErrorRecord(const ErrorRecord& r) { return Encode(ToWire(r)); }

ErrorRecord DecodeErrorRecord(const std::byte* data, std::size_t size) {
  Wire w = Decode<Wire>(std::span<const std::byte>(data, size));
  ErrorRecord r;
  r.kind = std::move(std::get<0>(w));
  r.type_name = std::move(std::get<1>(w));
  r.message = std::move(std::get<2>(w));
  r.a = std::get<3>(w);
  r.b = std::get<4>(w);
  r.c = std::get<5>(w);
  return r;
}

}  // namespace shoal::internal
