// Copyright 2026 The shoal Authors.
//
// service.h: request/response between processes. Service<Req, Resp> is the
// server side (any number of server processes compete for the requests),
// ServiceClient<Req, Resp> the client side (any number of clients, each
// call matched to its own reply).
//
//   shoal::Service<Query, Answer> svc;                  // shared memory
//   // server processes (fork()ed children, or Open(name) elsewhere):
//   svc.serve([](const Query& q) { return Answer{...}; });  // until close()
//   // client processes:
//   shoal::ServiceClient<Query, Answer> client(svc);
//   Answer a = client.call(Query{...}, std::chrono::seconds(1));
//   shoal::Future<Answer> f = client.call_async(Query{...});
//
// Contract
//   Each call() posts one request; exactly one server takes it, runs the
//   handler once, and its reply (or the exception the handler threw,
//   rebuilt as in the pool: std and shoal types as themselves, anything
//   else as RemoteError) reaches that caller and no other. Requests are
//   taken first-in first-out; replies come back in whatever order servers
//   finish. Req and Resp are any Encodable types (ipc/codec.h).
//
//   call(req, deadline) waits for the reply; TimeoutError at the deadline
//   (the call is abandoned: a server that still serves it has its reply
//   dropped and counted). call_async(req) returns a shoal::Future<Resp>
//   (executor.h: result(), exception(), done callbacks, as_completed,
//   wait), completed by a receiver thread this client starts on its first
//   async call (destroying a client's last handle fails its pending
//   futures with CancelledError). Each client has calls_per_client cells: more calls in
//   flight than that wait for a cell (call_async too).
//
//   Large payloads: a message up to `inline_bytes` (default 256) lives in
//   the call's cell; a larger one in a block of the service's shared heap,
//   encoded straight into it (one copy). Types that are trivially copyable
//   (numbers, PODs, std::arrays of them: "in place" types) also have a
//   zero-copy path, as Channel's loans: client.loan() hands out the
//   request's memory in the heap, call(std::move(loan)) sends it without a
//   copy; the server's Request::value() is a reference into that memory;
//   Request::loan_reply() / send_reply() write the reply in place; and
//   client.call_in_place() returns a Reply that reads it in place.
//
//   close(): clients' calls then throw Closed; servers finish what was
//   queued, then serve() returns (receive() throws Closed).
//
// Process death
//   * A server killed while it holds a request: that call throws
//     shoal::WorkerLost naming the server's pid (within ~50 ms: the waiting
//     client checks the server's pid and start time while it waits); no
//     other call is affected and the other servers keep serving.
//     stats().lost counts it. A request is never served twice. A server
//     that is only stopped (SIGSTOP) is alive: that call waits for it until
//     its deadline (TimeoutError), the others are served by the rest.
//   * A client killed with calls in flight: their replies are dropped when
//     the servers finish them (or, already written, when its entry is
//     swept: by stats() or by the next client that needs an entry);
//     stats().dropped / discarded count them. Nothing blocks on a dead
//     client.
//   * A peer writing garbage into the region: InvalidRegion from the call
//     that meets it, never a crash or an endless wait.
//
// Cost (bench/service_bench.cc, bench/RESULTS.md "## Service"): a 64-byte
// call is a ring put and get plus two CASes on the call's cell, and the
// client spins briefly before it sleeps on the cell's futex: about the cost
// of one Queue round trip (two queues ping-ponging). The receiver thread of
// call_async adds a thread hop to each reply.
//
// Why hand-written: a request/response pattern over shared memory that
// survives the death of either side is not in any library shoal may use
// (iceoryx2 has request/response but is Rust; Boost.Interprocess has no
// crash safety). It is built from shoal's ring core, heap and futures.
//
// Threads: a Service handle may be used from any number of threads and
// processes (each receive() is one server). A ServiceClient belongs to the
// process that made it (make one per process; after fork() make a new one
// in the child: using the parent's throws ValueError); its threads may call
// concurrently.
#ifndef SHOAL_POOL_SERVICE_H_
#define SHOAL_POOL_SERVICE_H_

#include <sys/types.h>

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "shoal/base/deadline.h"
#include "shoal/base/errors.h"
#include "shoal/ipc/codec.h"
#include "shoal/ipc/internal/ref_codec.h"
#include "shoal/ipc/internal/service_core.h"
#include "shoal/ipc/layout.h"
#include "shoal/ipc/region.h"
#include "shoal/pool/executor.h"
#include "shoal/pool/internal/remote_error.h"
#include "shoal/pool/promise.h"

namespace shoal {

template <class Req, class Resp>
class ServiceClient;

// How a service is built.
struct ServiceOptions {
  // Clients (ServiceClient handles) at once, and calls in flight per client
  // (at most 64). The request queue holds max_clients * calls_per_client
  // entries, so posting never waits for queue room.
  uint32_t max_clients = 64;
  uint32_t calls_per_client = 16;
  // Bytes of request and of reply kept inline in each call's cell (rounded
  // up to 64). 0: 256, or the size of an in-place Req/Resp if larger (up to
  // 4 KiB).
  std::size_t inline_bytes = 0;
  // Shared heap for larger messages; its pages are reserved as it grows.
  uint64_t heap_bytes = uint64_t{64} << 20;
  RegionOptions region{};
};

namespace internal {

// Sent as their bytes, and readable in place (see the file comment).
template <class T>
concept ServiceInPlace =
    std::is_trivially_copyable_v<T> && std::is_object_v<T> &&
    !HasRawAddress<T>() && !std::is_pointer_v<T> && alignof(T) <= 64 &&
    (kIsRaw<T> || requires { std::tuple_size<T>::value; });

template <class T>
std::size_t ServiceEncodedSize(const T& v) {
  if constexpr (ServiceInPlace<T>) {
    return sizeof(T);
  } else {
    return EncodedSize(v);
  }
}

template <class T>
void ServiceEncode(const T& v, std::span<std::byte> dst) {
  if constexpr (ServiceInPlace<T>) {
    std::memcpy(dst.data(), &v, sizeof(T));
  } else {
    EncodeTo(v, dst);
  }
}

template <class T>
const T& ServiceView(std::span<const std::byte> bytes) {
  if (bytes.size() != sizeof(T)) {
    throw CodecError("Service: a message of " + std::to_string(bytes.size()) +
                     " bytes where " + std::to_string(sizeof(T)) +
                     " were expected");
  }
  return *std::launder(reinterpret_cast<const T*>(bytes.data()));
}

template <class T>
T ServiceDecode(std::span<const std::byte> bytes) {
  if constexpr (ServiceInPlace<T>) {
    return ServiceView<T>(bytes);
  } else {
    return Decode<T>(bytes);
  }
}

// An encoded exception that always fits inline (long messages are cut).
void WriteServiceError(ServiceCore& core, const ServiceCore::Taken& t,
                       ErrorRecord record);
[[noreturn]] void ThrowServiceError(std::span<const std::byte> bytes);
[[noreturn]] void ThrowServiceLost(pid_t pid);
std::size_t ServiceInlineBytes(std::size_t asked, std::size_t req_size,
                               std::size_t resp_size);

// A ServiceClient's per-process state: its client entry, the cells it
// uses, and the receiver thread of call_async.
class ServiceClientState
    : public std::enable_shared_from_this<ServiceClientState> {
 public:
  using Call = ServiceCore::Call;
  using Outcome = ServiceCore::Outcome;
  // Runs in the receiver thread when an async call ends.
  using Completer = std::function<void(Outcome, const Call&)>;

  explicit ServiceClientState(std::shared_ptr<ServiceCore> core);
  ~ServiceClientState();
  ServiceClientState(const ServiceClientState&) = delete;
  ServiceClientState& operator=(const ServiceClientState&) = delete;

  ServiceCore& core() const { return *core_; }
  uint32_t client() const { return client_; }
  // Throws ValueError in a process other than the one that made it.
  void CheckProcess() const;
  // A free cell, waiting for one until `deadline` (TimeoutError).
  Call AcquireCell(const Deadline& deadline);
  // The cell is done with (Finish()ed or abandoned).
  void ReleaseCell(const Call& call);
  // Collects an ended call: frees it and returns its reply bytes to `use`
  // (rethrowing the handler's exception, WorkerLost, or TimeoutError).
  template <class Use>
  decltype(auto) Collect(Call& call, Outcome outcome, Use&& use);
  // Hands an async call to the receiver thread.
  void AddPending(const Call& call, Completer done);

 private:
  void ReceiverLoop();
  std::shared_ptr<ServiceCore> core_;
  uint32_t client_ = 0;
  pid_t pid_ = 0;
  std::mutex mu_;
  std::condition_variable cv_;  // a cell was released; pending work; stop
  uint64_t in_use_ = 0;
  std::map<uint32_t, std::pair<Call, Completer>> pending_;
  bool stop_ = false;
  bool receiver_sleeping_ = false;  // in WaitAsync (set under mu_)
  std::unique_ptr<std::thread> receiver_;
  // Set by the destructor when it runs in the receiver thread itself (a
  // done callback dropped the client's last handle): the loop then leaves
  // without touching the destroyed state. Receiver thread only.
  bool* destroyed_in_receiver_ = nullptr;
};

template <class Use>
decltype(auto) ServiceClientState::Collect(Call& call, Outcome outcome,
                                           Use&& use) {
  if (outcome == Outcome::kTimedOut || outcome == Outcome::kPending) {
    if (core_->Abandon(call)) {
      ReleaseCell(call);  // its server (or a sweep) frees the cell
      if (outcome == Outcome::kPending) {
        throw CancelledError(
            "ServiceClient: destroyed before the reply came");
      }
      throw TimeoutError("ServiceClient.call: no reply before the deadline");
    }
    outcome = core_->Poll(call, /*check=*/false);
  }
  struct FinishOnExit {
    ServiceClientState* self;
    Call& call;
    ~FinishOnExit() {
      self->core_->Finish(call);
      self->ReleaseCell(call);
    }
  } finish{this, call};
  if (outcome == Outcome::kLost) ThrowServiceLost(core_->LostServer(call));
  bool is_error = false;
  std::span<const std::byte> bytes = core_->Reply(call, &is_error);
  if (is_error) ThrowServiceError(bytes);
  return use(bytes);
}

// ServiceClient's Loan (kReply false: a request being written) and Reply
// (kReply true: a reply being read): a cell of the client held while the
// caller uses the memory in place. Move-only.
template <class T, bool kReply>
class ServiceCellHandle {
 public:
  ServiceCellHandle(ServiceCellHandle&& o) noexcept { *this = std::move(o); }
  ServiceCellHandle& operator=(ServiceCellHandle&& o) noexcept {
    if (this != &o) {
      Drop();
      state_ = std::move(o.state_);
      call_ = o.call_;
      value_ = o.value_;
      o.state_.reset();
    }
    return *this;
  }
  ~ServiceCellHandle() { Drop(); }
  T& operator*() const { return *value_; }
  T* operator->() const { return value_; }
  T& value() const { return *value_; }
  explicit operator bool() const { return state_ != nullptr; }

 private:
  template <class, class>
  friend class shoal::ServiceClient;
  ServiceCellHandle() = default;
  void Drop() noexcept {
    if (!state_) return;
    if constexpr (kReply) {
      state_->core().Finish(call_);
    } else {
      state_->core().DropRequest(call_);
    }
    state_->ReleaseCell(call_);
    state_.reset();
  }
  std::shared_ptr<ServiceClientState> state_;
  ServiceCore::Call call_;
  T* value_ = nullptr;
};

}  // namespace internal

template <class Req, class Resp>
class Service {
  static_assert(internal::CheckEncodable<Req>());
  static_assert(internal::CheckEncodable<Resp>());

 public:
  using request_type = Req;
  using response_type = Resp;

  // A request this server took. Move-only. Reply exactly once (reply,
  // reply_error, or loan_reply + send_reply); destroyed without a reply,
  // its client gets RuntimeError.
  class Request {
   public:
    Request(Request&& o) noexcept { *this = std::move(o); }
    Request& operator=(Request&& o) noexcept {
      if (this != &o) {
        Drop();
        core_ = std::move(o.core_);
        taken_ = o.taken_;
        decoded_ = std::move(o.decoded_);
        loaned_ = o.loaned_;
        o.core_.reset();
      }
      return *this;
    }
    ~Request() { Drop(); }

    // The request: in place in shared memory for in-place types (valid
    // until the reply is sent), else decoded at receive().
    const Req& value() const {
      if constexpr (internal::ServiceInPlace<Req>) {
        return internal::ServiceView<Req>(core_->Request(taken_));
      } else {
        return *decoded_;
      }
    }

    // Sends the reply. Waits at most until `deadline` for heap room for a
    // large reply; then (or when it can never fit, or does not encode) the
    // client gets the error instead and this throws nothing.
    void reply(const Resp& resp, const Deadline& deadline = Deadline::Infinite()) {
      Check();
      try {
        const std::size_t n = internal::ServiceEncodedSize(resp);
        std::span<std::byte> area;
        if (!core_->ReplyArea(taken_, n, deadline, &area)) {
          throw TimeoutError("Service: no room in the shared heap for a "
                             "reply of " + std::to_string(n) + " bytes");
        }
        internal::ServiceEncode(resp, area);
      } catch (...) {
        reply_error(std::current_exception());
        return;
      }
      Send(internal::kReplyValue);
    }
    // The client's call rethrows `error` (rebuilt as pool tasks' are).
    void reply_error(std::exception_ptr error) {
      Check();
      internal::WriteServiceError(*core_, taken_,
                                  internal::CaptureException(error));
      Send(internal::kReplyError);
    }

    // In-place replies: the reply's memory in shared memory (uninitialized
    // bytes of a trivially copyable Resp); fill it, then send_reply().
    Resp& loan_reply(const Deadline& deadline = Deadline::Infinite())
      requires internal::ServiceInPlace<Resp>
    {
      Check();
      std::span<std::byte> area;
      if (!core_->ReplyArea(taken_, sizeof(Resp), deadline, &area)) {
        throw TimeoutError("Service.loan_reply: no room in the shared heap");
      }
      loaned_ = true;
      return *::new (static_cast<void*>(area.data())) Resp;
    }
    void send_reply() requires internal::ServiceInPlace<Resp> {
      Check();
      if (!loaned_) throw ValueError("Service.send_reply: nothing loaned");
      Send(internal::kReplyValue);
    }

    explicit operator bool() const { return core_ != nullptr; }

   private:
    friend class Service;
    Request() = default;
    void Check() const {
      if (!core_) throw ValueError("Service.Request: already replied to");
    }
    void Send(uint32_t kind) {
      std::shared_ptr<internal::ServiceCore> core = std::move(core_);
      core_.reset();
      core->Complete(taken_, kind);
    }
    void Drop() noexcept {
      if (!core_) return;
      try {
        reply_error(std::make_exception_ptr(RuntimeError(
            "Service: the server dropped the request without replying")));
      } catch (...) {
      }
      core_.reset();
    }
    std::shared_ptr<internal::ServiceCore> core_;
    internal::ServiceCore::Taken taken_;
    // A decoded copy only for codec types: an in-place Req (possibly
    // megabytes) is read where it lies and never held here.
    std::conditional_t<internal::ServiceInPlace<Req>, std::monostate,
                       std::optional<Req>>
        decoded_{};
    bool loaned_ = false;
  };

  explicit Service(const ServiceOptions& options = {})
      : core_(internal::ServiceCore::Create(
            internal::ServiceGeometry{
                .max_clients = options.max_clients,
                .calls_per_client = options.calls_per_client,
                .inline_bytes = internal::ServiceInlineBytes(
                    options.inline_bytes, InPlaceSize<Req>(),
                    InPlaceSize<Resp>()),
                .heap_bytes = options.heap_bytes},
            Layout(), options.region)) {}

  // Opens a named service (region.kind == kNamed) or a ref.
  static Service Open(std::string_view name, const OpenOptions& options = {}) {
    return Service(internal::ServiceCore::Attach(
        Region::OpenNamed(name, Layout(), options)));
  }
  static Service Open(const RegionRef& ref, const OpenOptions& options = {}) {
    return Service(
        internal::ServiceCore::Attach(Region::Open(ref, Layout(), options)));
  }

  // Takes the next request (this process serves it). TimeoutError at the
  // deadline; Closed once closed and drained.
  Request receive(const Deadline& deadline = Deadline::Infinite()) {
    std::optional<Request> r = Receive(deadline);
    if (!r) {
      if (core_->closed()) throw Closed("Service: closed");
      throw TimeoutError("Service.receive: no request before the deadline");
    }
    return std::move(*r);
  }
  std::optional<Request> try_receive(const Deadline& deadline = Deadline::Now()) {
    return Receive(deadline);
  }

  // Serves requests until the service is closed and drained. `handler` is
  // Resp(const Req&) (what it throws goes to the caller), or
  // void(Request&) when it replies itself (in-place replies).
  template <class Fn>
  void serve(Fn&& handler) {
    while (serve_one(handler, Deadline::Infinite())) {
    }
  }
  // Serves one request; false when none came before the deadline or the
  // service is closed and drained.
  template <class Fn>
  bool serve_one(Fn&& handler, const Deadline& deadline) {
    std::optional<Request> r = Receive(deadline);
    if (!r) return false;
    if constexpr (std::is_invocable_v<Fn&, Request&>) {
      try {
        handler(*r);
      } catch (...) {
        if (*r) r->reply_error(std::current_exception());
      }
    } else {
      std::optional<Resp> out;
      try {
        out.emplace(handler(r->value()));
      } catch (...) {
        r->reply_error(std::current_exception());
        return true;
      }
      r->reply(*out);
    }
    return true;
  }

  void close() { core_->Close(); }
  bool closed() const { return core_->closed(); }
  // Counters shared by every process (sweeps dead clients first).
  ServiceStats stats() const { return core_->Stats(); }
  // The longest a waiting client or server spins before sleeping (0: never).
  void set_max_spin(Timeout max) { core_->set_max_spin(max); }
  const Region& region() const { return core_->region(); }
  RegionRef ref() const { return core_->region().ref(); }
  uint32_t max_clients() const { return core_->max_clients(); }
  uint32_t calls_per_client() const { return core_->calls_per_client(); }
  std::size_t inline_bytes() const { return core_->inline_bytes(); }

  static RegionLayout Layout() {
    return LayoutOf<Service<Req, Resp>>("service", 1);
  }

 private:
  friend class ServiceClient<Req, Resp>;
  explicit Service(std::shared_ptr<internal::ServiceCore> core)
      : core_(std::move(core)) {}

  template <class T>
  static constexpr std::size_t InPlaceSize() {
    if constexpr (internal::ServiceInPlace<T>) {
      return sizeof(T);
    } else {
      return 0;
    }
  }

  std::optional<Request> Receive(const Deadline& deadline) {
    internal::ServiceCore::Taken t;
    if (core_->Take(&t, deadline) != internal::ServiceCore::Result::kOk) {
      return std::nullopt;
    }
    Request r;
    r.core_ = core_;
    r.taken_ = t;
    if constexpr (!internal::ServiceInPlace<Req>) {
      try {
        r.decoded_.emplace(internal::ServiceDecode<Req>(core_->Request(t)));
      } catch (...) {
        // Garbage request bytes: the caller gets the error; so does this
        // server (a clear error, never a crash).
        std::exception_ptr e = std::current_exception();
        r.reply_error(e);
        std::rethrow_exception(e);
      }
    }
    return r;
  }

  std::shared_ptr<internal::ServiceCore> core_;
};

template <class Req, class Resp>
class ServiceClient {
 public:
  using Call = internal::ServiceCore::Call;

  // An in-place request being written in shared memory (loan()): `*loan`
  // is the Req. Move-only; dropped unsent, its memory is freed.
  using Loan = internal::ServiceCellHandle<Req, /*kReply=*/false>;
  // A reply read in place in shared memory (call_in_place()): `*reply` is
  // the Resp. Move-only; the cell and its memory are freed when it goes.
  using Reply = internal::ServiceCellHandle<const Resp, /*kReply=*/true>;

  explicit ServiceClient(const Service<Req, Resp>& service)
      : state_(std::make_shared<internal::ServiceClientState>(service.core_)) {}
  static ServiceClient Open(std::string_view name,
                            const OpenOptions& options = {}) {
    return ServiceClient(Service<Req, Resp>::Open(name, options));
  }
  static ServiceClient Open(const RegionRef& ref,
                            const OpenOptions& options = {}) {
    return ServiceClient(Service<Req, Resp>::Open(ref, options));
  }

  // One call: posts `req`, waits for its reply until `deadline`. Throws
  // what the handler threw, WorkerLost (its server died), TimeoutError,
  // Closed.
  Resp call(const Req& req, const Deadline& deadline = Deadline::Infinite()) {
    Call call = Post(req, deadline, /*async=*/false);
    return Wait(call, deadline, [](std::span<const std::byte> bytes) {
      return internal::ServiceDecode<Resp>(bytes);
    });
  }
  // Sends a loaned request without copying it.
  Resp call(Loan&& loan, const Deadline& deadline = Deadline::Infinite())
    requires internal::ServiceInPlace<Req>
  {
    Call call = PostLoan(std::move(loan), deadline);
    return Wait(call, deadline, [](std::span<const std::byte> bytes) {
      return internal::ServiceDecode<Resp>(bytes);
    });
  }
  // As call(), the reply read in place (no copy of a large reply).
  Reply call_in_place(const Req& req,
                      const Deadline& deadline = Deadline::Infinite())
    requires internal::ServiceInPlace<Resp>
  {
    Call call = Post(req, deadline, /*async=*/false);
    return WaitInPlace(call, deadline);
  }
  Reply call_in_place(Loan&& loan,
                      const Deadline& deadline = Deadline::Infinite())
    requires(internal::ServiceInPlace<Req> && internal::ServiceInPlace<Resp>)
  {
    Call call = PostLoan(std::move(loan), deadline);
    return WaitInPlace(call, deadline);
  }

  // The memory of an in-place request in the shared heap (or its cell):
  // uninitialized bytes of a trivially copyable Req; fill, then call().
  Loan loan(const Deadline& deadline = Deadline::Infinite())
    requires internal::ServiceInPlace<Req>
  {
    state_->CheckProcess();
    Loan l;
    l.call_ = state_->AcquireCell(deadline);
    std::span<std::byte> area;
    bool ok = false;
    try {
      ok = state_->core().RequestArea(l.call_, sizeof(Req), deadline, &area);
    } catch (...) {
      state_->ReleaseCell(l.call_);
      throw;
    }
    if (!ok) {
      state_->ReleaseCell(l.call_);
      throw TimeoutError("ServiceClient.loan: no room in the shared heap");
    }
    l.state_ = state_;
    l.value_ = ::new (static_cast<void*>(area.data())) Req;
    return l;
  }

  // Posts `req` and returns at once; a receiver thread of this client
  // completes the future. Waits only for a free cell (calls_per_client in
  // flight) until `deadline`.
  Future<Resp> call_async(const Req& req,
                          const Deadline& deadline = Deadline::Infinite()) {
    Promise<Resp> promise;
    promise.set_running_or_notify_cancel();
    Call call = Post(req, deadline, /*async=*/true);
    // The receiver thread runs only while the state lives (its destructor
    // ends every pending call first), so a plain pointer is safe here.
    internal::ServiceClientState* state = state_.get();
    state_->AddPending(
        call, [state, promise](internal::ServiceCore::Outcome outcome,
                               const Call& ended) mutable {
          Call c = ended;
          try {
            promise.set_result(state->Collect(
                c, outcome, [](std::span<const std::byte> bytes) {
                  return internal::ServiceDecode<Resp>(bytes);
                }));
          } catch (...) {
            promise.set_exception(std::current_exception());
          }
        });
    return promise.future();
  }

  // The service's counters.
  ServiceStats stats() const { return state_->core().Stats(); }

 private:
  Call Post(const Req& req, const Deadline& deadline, bool async) {
    state_->CheckProcess();
    const std::size_t n = internal::ServiceEncodedSize(req);
    Call call = state_->AcquireCell(deadline);
    internal::ServiceCore::Result r;
    try {
      r = state_->core().Post(
          state_->client(), call, n,
          [&](std::span<std::byte> dst) { internal::ServiceEncode(req, dst); },
          deadline, async);
    } catch (...) {
      state_->ReleaseCell(call);
      throw;
    }
    return Posted(call, r);
  }

  Call PostLoan(Loan&& loan, const Deadline& deadline) {
    if (!loan.state_) throw ValueError("ServiceClient.call: an empty Loan");
    if (loan.state_ != state_) {
      throw ValueError("ServiceClient.call: a Loan of another client");
    }
    Call call = loan.call_;
    loan.state_.reset();
    return Posted(call, state_->core().PostWritten(state_->client(), call,
                                                   /*async=*/false, deadline));
  }

  Call Posted(Call& call, internal::ServiceCore::Result r) {
    if (r == internal::ServiceCore::Result::kOk) return call;
    state_->ReleaseCell(call);
    if (r == internal::ServiceCore::Result::kClosed) {
      throw Closed("Service: closed");
    }
    throw TimeoutError("ServiceClient.call: no room to post before the deadline");
  }

  template <class Use>
  decltype(auto) Wait(Call& call, const Deadline& deadline, Use&& use) {
    const internal::ServiceCore::Outcome outcome =
        state_->core().Wait(state_->client(), call, deadline);
    return state_->Collect(call, outcome, use);
  }

  Reply WaitInPlace(Call& call, const Deadline& deadline) {
    internal::ServiceCore::Outcome outcome =
        state_->core().Wait(state_->client(), call, deadline);
    if (outcome == internal::ServiceCore::Outcome::kDone) {
      bool is_error = false;
      std::span<const std::byte> bytes = state_->core().Reply(call, &is_error);
      if (!is_error) {
        Reply r;
        r.value_ = &internal::ServiceView<Resp>(bytes);
        r.state_ = state_;
        r.call_ = call;
        return r;
      }
    }
    // Errors, losses and timeouts: as call() reports them.
    state_->Collect(call, outcome, [](std::span<const std::byte>) { return 0; });
    throw InvalidRegion("Service: unreachable");
  }

  std::shared_ptr<internal::ServiceClientState> state_;
};

// A Service travels to other processes as its region's ref.
template <class Req, class Resp>
struct CodecTraits<Service<Req, Resp>>
    : internal::RefHandleCodec<Service<Req, Resp>> {};

}  // namespace shoal

#endif  // SHOAL_POOL_SERVICE_H_
