// Copyright 2026 The shoal Authors.
//
// service.cc: shoal.Service, shoal.ServiceClient and shoal.ServiceFuture,
// request/response between processes.
//
// A Python service is the C++ Service<std::string, std::string> (its region
// layout and its messages: the codec encoding of a std::string), carrying
// the items of message.h: Python objects (object mode) or plain bytes
// (raw=True). So a C++ Service<std::string, std::string> and a raw Python
// client meet by name, and so do a raw Python service and a C++
// ServiceClient<std::string, std::string>.
//
//   svc = shoal.Service(name="factor")            # server processes:
//   svc.serve(handler)                            # handler(req) -> reply
//   client = shoal.ServiceClient(svc)             # or ("factor")
//   client.call(req, timeout=5)                   # the reply
//   f = client.call_async(req); f.result(5)
//
// Errors: what a handler raises is sent as the C++ side sends a non-std
// exception, RemoteError(type name, message), with the Python type's
// qualified name ("builtins.KeyError", "mymodule.Oops"). A Python client
// raises the same class again when it can (a builtin, shoal's own, or a
// class of a module the client has already imported; never an import) with
// the message, else shoal.RemoteError. A C++ handler's std::invalid_argument
// arrives as ValueError, std::runtime_error as RuntimeError, and so on
// (pybind11's translation); a server killed holding the call gives
// shoal.WorkerLost (.pid), as in C++.
//
// Waiting: every blocking call (serve, call, a free call cell, heap room,
// ServiceFuture.result) runs in slices (wait.h) with the GIL released and
// signals checked between them. A call interrupted by a signal handler that
// raises is abandoned, exactly as a call that timed out.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <unistd.h>

#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <utility>

#include "python/common.h"
#include "python/errors.h"
#include "python/fastcall.h"
#include "python/message.h"
#include "python/module.h"
#include "python/wait.h"
#include "shoal/base/errors.h"
#include "shoal/pool/internal/remote_error.h"
#include "shoal/pool/service.h"

namespace shoal::python {
namespace {

using internal::ServiceClientState;
using internal::ServiceCore;
using Call = ServiceCore::Call;
using Outcome = ServiceCore::Outcome;
using CppService = Service<std::string, std::string>;

std::shared_ptr<ServiceCore> CreateCore(const ServiceOptions& o) {
  return ServiceCore::Create(
      internal::ServiceGeometry{
          .max_clients = o.max_clients,
          .calls_per_client = o.calls_per_client,
          .inline_bytes = internal::ServiceInlineBytes(o.inline_bytes, 0, 0),
          .heap_bytes = o.heap_bytes},
      CppService::Layout(), o.region);
}

template <class Key>
std::shared_ptr<ServiceCore> OpenCore(const Key& key) {
  if constexpr (std::is_same_v<Key, RegionRef>) {
    return ServiceCore::Attach(Region::Open(key, CppService::Layout()));
  } else {
    return ServiceCore::Attach(
        Region::OpenNamed(std::string_view(key), CppService::Layout()));
  }
}

// ---------------------------------------------------------------- errors

// What a Python handler raised, as the C++ side records a non-std type.
internal::ErrorRecord RecordOf(const py::error_already_set& e) {
  internal::ErrorRecord r;
  try {
    py::handle type = e.type();
    const std::string module = py::str(type.attr("__module__"));
    const std::string qual = py::str(type.attr("__qualname__"));
    r.type_name = module + "." + qual;
    r.message = py::str(e.value());
  } catch (...) {
    // A __str__ that raises: the type is enough.
    if (r.type_name.empty()) r.type_name = "builtins.Exception";
  }
  return r;
}

// A handler's error reached this client as RemoteError(type name, message):
// raises that Python class again when it is a builtin, shoal's own or one
// of a module already imported here, else shoal.RemoteError.
[[noreturn]] void RaiseRemote(const RemoteError& e) {
  const std::string& t = e.type_name();
  const std::size_t dot = t.rfind('.');
  if (dot != std::string::npos && dot > 0 && dot + 1 < t.size()) {
    const std::string module = t.substr(0, dot);
    const std::string name = t.substr(dot + 1);
    py::object modules = py::module_::import("sys").attr("modules");
    py::object mod = modules.attr("get")(module);
    if (!mod.is_none() && py::hasattr(mod, name.c_str())) {
      py::object cls = mod.attr(name.c_str());
      if (PyType_Check(cls.ptr()) &&
          PyObject_IsSubclass(cls.ptr(), PyExc_Exception) == 1) {
        py::object err;
        try {
          err = cls(e.message());
        } catch (const py::error_already_set&) {
          // A class that does not take one message: reported as remote.
        }
        if (err) {
          PyErr_SetObject(cls.ptr(), err.ptr());
          throw py::error_already_set();
        }
      } else if (PyErr_Occurred()) {
        PyErr_Clear();
      }
    }
  }
  py::object err =
      py::reinterpret_borrow<py::object>(Errors().remote)(e.what());
  err.attr("type_name") = t;
  err.attr("message") = e.message();
  PyErr_SetObject(Errors().remote, err.ptr());
  throw py::error_already_set();
}

// Rethrows a call's error for Python (RemoteError rebuilt as above; the
// rest through the module's translation).
[[noreturn]] void Rethrow(std::exception_ptr p) {
  try {
    std::rethrow_exception(p);
  } catch (const RemoteError& e) {
    RaiseRemote(e);
  }
}

// ------------------------------------------------------------------ server

class PyService {
 public:
  PyService(std::shared_ptr<ServiceCore> core, bool raw)
      : core_(std::move(core)), raw_(raw) {}

  // One request: false when none came before the timeout, or the service
  // is closed and drained.
  bool serve_one(py::handle handler, std::optional<double> timeout) {
    ServiceCore::Taken t;
    ServiceCore::Result r = ServiceCore::Result::kTimedOut;
    const bool done =
        WaitInSlices(DeadlineFrom(timeout), [&](const Deadline& d, bool) {
          r = core_->Take(&t, d);
          return r != ServiceCore::Result::kTimedOut;
        });
    if (!done || r != ServiceCore::Result::kOk) return false;
    Handle(t, handler);
    return true;
  }

  // Until closed and drained (or the handler raises BaseException that is
  // not an Exception: KeyboardInterrupt, SystemExit).
  void serve(py::handle handler) {
    while (serve_one(handler, std::nullopt)) {
    }
  }

  ServiceCore& core() const { return *core_; }
  const std::shared_ptr<ServiceCore>& core_ptr() const { return core_; }
  bool raw() const { return raw_; }
  void close() { core_->Close(); }
  bool closed() const { return core_->closed(); }
  py::dict stats() const { return StatsDict(core_->Stats()); }
  py::object name() const { return NameOf(core_->region()); }
  uint32_t max_clients() const { return core_->max_clients(); }
  uint32_t calls_per_client() const { return core_->calls_per_client(); }
  std::size_t inline_bytes() const { return core_->inline_bytes(); }

  py::tuple reduce() const {
    return py::make_tuple(
        py::module_::import("shoal").attr("_rebuild"),
        py::make_tuple("_rebuild_service", RefToBytes(core_->region().ref()),
                       raw_));
  }

  static py::dict StatsDict(const ServiceStats& s) {
    py::dict d;
    d["calls"] = s.calls;
    d["served"] = s.served;
    d["errors"] = s.errors;
    d["dropped"] = s.dropped;
    d["lost"] = s.lost;
    d["discarded"] = s.discarded;
    d["clients"] = s.clients;
    return d;
  }

 private:
  void ReplyError(const ServiceCore::Taken& t, internal::ErrorRecord record) {
    internal::WriteServiceError(*core_, t, std::move(record));
    core_->Complete(t, internal::kReplyError);
  }

  // Replies to `t` exactly once, whatever happens.
  void Handle(const ServiceCore::Taken& t, py::handle handler) {
    py::object result;
    try {
      Incoming in;
      in.Read(core_->Request(t), raw_, /*gil_held=*/true);
      py::object request = in.Take(raw_);
      result = handler(request);
      Outgoing out(result, raw_);
      const std::size_t n = out.encoded_size();
      std::span<std::byte> area;
      // Heap room for a large reply: as long as it takes (as C++ reply()),
      // signals checked; ValueError when it can never fit.
      WaitInSlices(Deadline::Infinite(), [&](const Deadline& d, bool) {
        return core_->ReplyArea(t, n, d, &area);
      });
      out.WriteTo(area);
    } catch (py::error_already_set& e) {
      ReplyError(t, RecordOf(e));
      // KeyboardInterrupt, SystemExit: the caller got it, and so does the
      // server loop.
      if (!e.matches(PyExc_Exception)) throw;
      return;
    } catch (...) {
      // A request that does not decode, a reply that can never fit: the
      // client gets the error; the server serves on.
      ReplyError(t, internal::CaptureCurrentException());
      return;
    }
    core_->Complete(t, internal::kReplyValue);
  }

  std::shared_ptr<ServiceCore> core_;
  bool raw_;
};

// ------------------------------------------------------------------ futures

// Where the receiver thread leaves an async call's outcome (no GIL there).
struct FutureState {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  std::string reply;  // the encoded reply
  std::exception_ptr error;

  void Set(std::string bytes, std::exception_ptr e) {
    {
      std::lock_guard<std::mutex> lock(mu);
      reply = std::move(bytes);
      error = std::move(e);
      done = true;
    }
    cv.notify_all();
  }
  bool WaitUntil(const Deadline& d) {
    std::unique_lock<std::mutex> lock(mu);
    if (d.infinite()) {
      cv.wait(lock, [&] { return done; });
      return true;
    }
    return cv.wait_until(lock, d.when(), [&] { return done; });
  }
  bool is_done() {
    std::lock_guard<std::mutex> lock(mu);
    return done;
  }
};

class PyServiceFuture {
 public:
  PyServiceFuture(std::shared_ptr<FutureState> fs,
                  std::shared_ptr<ServiceClientState> client, bool raw)
      : fs_(std::move(fs)), client_(std::move(client)), raw_(raw) {}

  bool done() const { return fs_->is_done(); }

  py::object result(std::optional<double> timeout) {
    Wait(timeout);
    if (fs_->error) Rethrow(fs_->error);
    if (!value_) {
      Incoming in;
      in.Read(std::as_bytes(std::span(fs_->reply)), raw_, /*gil_held=*/true);
      value_ = in.Take(raw_);
      fs_->reply.clear();
      fs_->reply.shrink_to_fit();
    }
    return value_;
  }

  py::object exception(std::optional<double> timeout) {
    Wait(timeout);
    if (!fs_->error) return py::none();
    try {
      Rethrow(fs_->error);
    } catch (py::error_already_set& e) {
      return e.value();
    } catch (...) {
      SetErrorFromCurrentException();
      py::error_already_set e;
      return e.value();
    }
  }

 private:
  void Wait(std::optional<double> timeout) {
    if (!WaitInSlices(DeadlineFrom(timeout), [&](const Deadline& d, bool) {
          return fs_->WaitUntil(d);
        })) {
      throw TimeoutError("ServiceFuture: no reply before the timeout");
    }
  }

  std::shared_ptr<FutureState> fs_;
  // Keeps the client (and its receiver thread) alive while a future waits.
  std::shared_ptr<ServiceClientState> client_;
  bool raw_;
  py::object value_;
};

// ------------------------------------------------------------------ client

class PyServiceClient {
 public:
  PyServiceClient(std::shared_ptr<ServiceCore> core, bool raw)
      : core_(std::move(core)), raw_(raw) {}

  py::object call(py::handle request, std::optional<double> timeout) {
    ServiceClientState& state = State();
    Outgoing out(request, raw_);
    const Deadline total = DeadlineFrom(timeout);
    Call c = Post(state, out, total, /*async=*/false);
    Outcome outcome = Outcome::kTimedOut;
    try {
      WaitInSlices(
          total,
          [&](const Deadline& d, bool) {
            outcome = core_->Wait(state.client(), c, d);
            return outcome != Outcome::kTimedOut;
          },
          /*try_first=*/false);
    } catch (...) {
      // Interrupted (a signal handler raised) or a corrupt cell: the call is
      // abandoned, as one that timed out.
      try {
        state.Collect(c, Outcome::kTimedOut, [](std::span<const std::byte>) {});
      } catch (...) {
      }
      throw;
    }
    Incoming in;
    try {
      state.Collect(c, outcome, [&](std::span<const std::byte> b) {
        in.Read(b, raw_, /*gil_held=*/true);
      });
    } catch (const RemoteError& e) {
      RaiseRemote(e);
    }
    return in.Take(raw_);
  }

  PyServiceFuture* call_async(py::handle request,
                              std::optional<double> timeout) {
    ServiceClientState& state = State();
    Outgoing out(request, raw_);
    Call c = Post(state, out, DeadlineFrom(timeout), /*async=*/true);
    auto fs = std::make_shared<FutureState>();
    // The receiver thread runs only while the state lives (its destructor
    // ends every pending call first): a plain pointer is safe.
    ServiceClientState* sp = &state;
    state.AddPending(c, [sp, fs](Outcome o, const Call& ended) {
      Call call = ended;
      std::string bytes;
      std::exception_ptr error;
      try {
        sp->Collect(call, o, [&](std::span<const std::byte> b) {
          bytes.assign(reinterpret_cast<const char*>(b.data()), b.size());
        });
      } catch (...) {
        error = std::current_exception();
      }
      fs->Set(std::move(bytes), std::move(error));
    });
    return new PyServiceFuture(std::move(fs), state_, raw_);
  }

  bool raw() const { return raw_; }
  py::dict stats() const { return PyService::StatsDict(core_->Stats()); }
  py::object name() const { return NameOf(core_->region()); }

  py::tuple reduce() const {
    return py::make_tuple(
        py::module_::import("shoal").attr("_rebuild"),
        py::make_tuple("_rebuild_service_client",
                       RefToBytes(core_->region().ref()), raw_));
  }

 private:
  // This process's client entry: made on first use, and again in a forked
  // child (the parent's entry and receiver thread are the parent's).
  ServiceClientState& State() {
    const pid_t self = getpid();
    if (!state_ || pid_ != self) {
      state_ = std::make_shared<ServiceClientState>(core_);
      pid_ = self;
    }
    return *state_;
  }

  Call Post(ServiceClientState& state, const Outgoing& out,
            const Deadline& total, bool async) {
    const std::size_t n = out.encoded_size();
    auto write = [&](std::span<std::byte> dst) { out.WriteTo(dst); };
    Call c;
    ServiceCore::Result r = ServiceCore::Result::kTimedOut;
    const bool done = WaitInSlices(total, [&](const Deadline& d, bool) {
      try {
        c = state.AcquireCell(d);
      } catch (const TimeoutError&) {
        return false;
      }
      try {
        r = core_->Post(state.client(), c, n, write, d, async);
      } catch (...) {
        state.ReleaseCell(c);
        throw;
      }
      if (r == ServiceCore::Result::kTimedOut) {
        state.ReleaseCell(c);
        return false;
      }
      return true;
    });
    if (!done) {
      throw TimeoutError(
          "ServiceClient.call: no free call cell or heap room before the "
          "timeout");
    }
    if (r == ServiceCore::Result::kClosed) {
      state.ReleaseCell(c);
      throw Closed("Service: closed");
    }
    return c;
  }

  std::shared_ptr<ServiceCore> core_;
  bool raw_;
  std::shared_ptr<ServiceClientState> state_;
  pid_t pid_ = 0;
};

constexpr char kServiceDoc[] = R"doc(Service(*, name=None, raw=False, max_clients=64, calls_per_client=16, inline_bytes=0, heap_bytes=64 MiB)

Request/response between processes (C++ shoal::Service<std::string,
std::string>; either end may be C++). Any number of server processes
compete for the requests, each served exactly once; any number of clients
(shoal.ServiceClient) get their own replies.

    svc = shoal.Service(name="sizes")    # or unnamed: reaches children by
    svc.serve(len)                       # fork/pickling; serve until close()
    client = shoal.ServiceClient(svc)    # any process (or "sizes")
    client.call("four", timeout=5)       # 4
    client.call_async("seven").result(5) # 5

Requests and replies are any picklable objects; raw=True sends bytes as
they are (a C++ Service<std::string, std::string> peer). What a handler
raises reaches its caller (the same class when the caller can name it, else
shoal.RemoteError) and the server serves on. A server killed holding a call
fails that call with shoal.WorkerLost; the other servers serve on. close():
calls then raise shoal.Closed; servers drain what was queued and serve()
returns.
)doc";

constexpr char kClientDoc[] = R"doc(ServiceClient(service, *, raw=None)

The client side of a shoal.Service (a Service object, or the name of one
that another process, Python or C++, created). raw defaults to the
service's mode (False for a name). Each process gets its own client entry
(a forked child's is made on first use); up to the service's
calls_per_client calls of one process are in flight at once.
)doc";

}  // namespace

void RegisterService(py::module_& m) {
  py::class_<PyServiceFuture> fut(
      m, "ServiceFuture",
      "The reply of ServiceClient.call_async(), as a concurrent.futures."
      "Future: result(timeout) and exception(timeout) wait for it.");
  fut.def("result", &PyServiceFuture::result, py::arg("timeout") = py::none(),
          "result(timeout=None): the reply; raises what the call raised "
          "(the handler's error, shoal.WorkerLost, shoal.Closed), or "
          "shoal.TimeoutError after timeout seconds (the call goes on).")
      .def("exception", &PyServiceFuture::exception,
           py::arg("timeout") = py::none(),
           "exception(timeout=None): the call's error, or None.")
      .def("done", &PyServiceFuture::done,
           "True once the reply (or the error) is in.");

  py::class_<PyService> svc(m, "Service", kServiceDoc);
  svc.def(py::init([](std::optional<std::string> name, bool raw,
                      uint32_t max_clients, uint32_t calls_per_client,
                      std::size_t inline_bytes, uint64_t heap_bytes) {
            ServiceOptions o;
            o.max_clients = max_clients;
            o.calls_per_client = calls_per_client;
            o.inline_bytes = inline_bytes;
            o.heap_bytes = heap_bytes;
            o.region = RegionFor(name);
            return new PyService(CreateCore(o), raw);
          }),
          py::kw_only(), py::arg("name") = py::none(), py::arg("raw") = false,
          py::arg("max_clients") = 64, py::arg("calls_per_client") = 16,
          py::arg("inline_bytes") = 0,
          py::arg("heap_bytes") = uint64_t{64} << 20);
  svc.def_static(
         "open",
         [](const std::string& name, bool raw) {
           return new PyService(OpenCore(name), raw);
         },
         py::arg("name"), py::kw_only(), py::arg("raw") = false,
         "Service.open(name, *, raw=False): the named service another "
         "process (Python or C++) created, to serve it here.")
      .def("serve", &PyService::serve, py::arg("handler"),
           "serve(handler): handler(request) -> reply for every request, "
           "until the service is closed and drained. What the handler "
           "raises goes to the caller; the loop goes on (KeyboardInterrupt "
           "and SystemExit stop it after replying).")
      .def("serve_one", &PyService::serve_one, py::arg("handler"),
           py::arg("timeout") = py::none(),
           "serve_one(handler, timeout=None) -> bool: serves one request; "
           "False when none came within timeout seconds or the service is "
           "closed and drained.")
      .def("close", &PyService::close,
           "Clients' calls then raise shoal.Closed; servers drain what was "
           "queued, then serve() returns.")
      .def_property_readonly("closed", &PyService::closed)
      .def("stats", &PyService::stats,
           "stats() -> dict: calls, served, errors, dropped, lost, "
           "discarded, clients (shared by every process).")
      .def_property_readonly("name", &PyService::name)
      .def_property_readonly("raw", &PyService::raw)
      .def_property_readonly("max_clients", &PyService::max_clients)
      .def_property_readonly("calls_per_client",
                             &PyService::calls_per_client)
      .def_property_readonly("inline_bytes", &PyService::inline_bytes)
      .def("__reduce__", &PyService::reduce);

  py::class_<PyServiceClient> client(m, "ServiceClient", kClientDoc);
  client
      .def(py::init([](py::object service, py::object raw) {
             // raw: None (the service's mode) or a bool.
             const bool given = !raw.is_none();
             const bool r = given && raw.cast<bool>();
             if (py::isinstance<PyService>(service)) {
               PyService& s = service.cast<PyService&>();
               return new PyServiceClient(s.core_ptr(), given ? r : s.raw());
             }
             if (py::isinstance<py::str>(service)) {
               return new PyServiceClient(
                   OpenCore(service.cast<std::string>()), r);
             }
             Raise(PyExc_TypeError,
                   "ServiceClient(service): a shoal.Service or a name");
           }),
           py::arg("service"), py::kw_only(), py::arg("raw") = py::none())
      .def("call", &PyServiceClient::call, py::arg("request"),
           py::arg("timeout") = py::none(),
           "call(request, timeout=None): the reply. Raises what the handler "
           "raised, shoal.WorkerLost (its server died), shoal.Closed, or "
           "shoal.TimeoutError after timeout seconds (the call is "
           "abandoned; a late reply is dropped and counted).")
      .def("call_async", &PyServiceClient::call_async, py::arg("request"),
           py::arg("timeout") = py::none(),
           "call_async(request, timeout=None) -> ServiceFuture: posts the "
           "call and returns; timeout bounds only the wait for a free call "
           "cell (calls_per_client in flight).")
      .def("stats", &PyServiceClient::stats)
      .def_property_readonly("name", &PyServiceClient::name)
      .def_property_readonly("raw", &PyServiceClient::raw)
      .def("__reduce__", &PyServiceClient::reduce);

  m.def(
      "_rebuild_service",
      [](py::bytes ref, bool raw) {
        return new PyService(OpenCore(RefFromBytes(ref)), raw);
      },
      py::arg("ref"), py::arg("raw"));
  m.def(
      "_rebuild_service_client",
      [](py::bytes ref, bool raw) {
        return new PyServiceClient(OpenCore(RefFromBytes(ref)), raw);
      },
      py::arg("ref"), py::arg("raw"));
}

}  // namespace shoal::python
