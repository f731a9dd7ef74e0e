#include "shoal/mpi/internal/server.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "shoal/base/errors.h"
#include "shoal/base/internal/clock.h"
#include "shoal/base/internal/spin.h"
#include "shoal/mpi/internal/idle.h"
#include "shoal/mpi/internal/mpi_comm.h"
#include "shoal/pool/context.h"
#include "shoal/pool/internal/callable.h"
#include "shoal/pool/internal/engine.h"
#include "shoal/pool/internal/remote_error.h"
#include "shoal/pool/pool.h"

namespace shoal::mpi::internal {
namespace {

using shoal::internal::MonotonicNanos;

// A received message, owned (a task's buffer moves to its runner).
struct Bytes {
  std::unique_ptr<std::byte[]> data;
  std::size_t size = 0;
  std::span<const std::byte> span() const { return {data.get(), size}; }
};

Message ErrorResult(uint64_t session, uint64_t task,
                    const shoal::internal::ErrorRecord& record) {
  const std::size_t n = shoal::internal::EncodedErrorSize(record);
  Message m(Kind::kResult, session, task, n);
  shoal::internal::EncodeErrorRecordTo(record, m.payload().data(), n);
  m.header().arg = 1;
  return m;
}

Message ErrorResult(uint64_t session, uint64_t task, std::exception_ptr e) {
  return ErrorResult(session, task, shoal::internal::CaptureException(e));
}

// Results on their way from task threads (or a local pool's handler
// thread) to the MPI thread.
class Outbox {
 public:
  explicit Outbox(Doorbell* bell) : bell_(bell) {}
  void Post(Message m) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      q_.push_back(std::move(m));
    }
    bell_->Ring();
  }
  void TakeAll(std::vector<Message>& out) {
    std::lock_guard<std::mutex> lock(mu_);
    out.swap(q_);
  }

 private:
  Doorbell* bell_;
  std::mutex mu_;
  std::vector<Message> q_;
};

class Runner {
 public:
  virtual ~Runner() = default;
  // Must not block. `message` is the whole kTask message.
  virtual void Run(const Header& h, Bytes message) = 0;
  virtual std::size_t inflight() const = 0;
};

// A session whose set-up failed: every task fails with that error.
class FailedRunner final : public Runner {
 public:
  FailedRunner(uint64_t session, Outbox* out, std::exception_ptr e)
      : session_(session), out_(out), error_(std::move(e)) {}
  void Run(const Header& h, Bytes) override {
    out_->Post(ErrorResult(session_, h.task, error_));
  }
  std::size_t inflight() const override { return 0; }

 private:
  uint64_t session_;
  Outbox* out_;
  std::exception_ptr error_;
};

// The task thread's view of one task (callable.h's TaskIO).
class BufferIO final : public shoal::internal::TaskIO {
 public:
  BufferIO(std::span<const std::byte> in, uint64_t session, uint64_t task)
      : in_(in), session_(session), task_(task) {}
  std::span<const std::byte> input() override { return in_; }
  std::span<std::byte> Reserve(std::size_t n) override {
    out_ = Message(Kind::kResult, session_, task_, n);
    return out_.payload();
  }
  Message Take() {
    if (!out_) Reserve(0);
    return std::move(out_);
  }

 private:
  std::span<const std::byte> in_;
  uint64_t session_;
  uint64_t task_;
  Message out_;
};

// Inline mode: one thread runs the session's tasks in arrival order.
class InlineRunner final : public Runner {
 public:
  InlineRunner(uint64_t session, Outbox* out, const Tuning& tuning)
      : session_(session),
        out_(out),
        tuning_(tuning),
        thread_([this] { Main(); }) {}
  ~InlineRunner() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    bell_.Ring();
    thread_.join();
  }
  void Run(const Header& h, Bytes message) override {
    inflight_.fetch_add(1, std::memory_order_relaxed);
    {
      std::lock_guard<std::mutex> lock(mu_);
      q_.push_back(Item{h, std::move(message)});
    }
    bell_.Ring();
  }
  std::size_t inflight() const override {
    return inflight_.load(std::memory_order_acquire);
  }

 private:
  struct Item {
    Header h;
    Bytes message;
  };

  void Main() {
    // Nothing to poll here: a short adaptive spin (none once it stops
    // paying, e.g. on a busy machine), then sleep until the MPI thread
    // rings. A thread woken by a futex wake is scheduled at once, where one
    // that yielded may wait for a whole time slice.
    shoal::internal::SpinPolicy spin;
    spin.Init();
    for (;;) {
      const uint32_t seen = bell_.Snapshot();
      Item item;
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (q_.empty()) {
          if (stop_) return;
        } else {
          item = std::move(q_.front());
          q_.pop_front();
        }
      }
      if (!item.message.data) {
        if (!shoal::internal::SpinUntil(
                spin, [&] { return bell_.Snapshot() != seen; })) {
          bell_.Wait(seen, Deadline::Infinite());
        }
        continue;
      }
      out_->Post(RunOne(item));
      inflight_.fetch_sub(1, std::memory_order_release);
    }
  }

  Message RunOne(const Item& item) {
    const std::span<const std::byte> payload =
        item.message.span().subspan(sizeof(Header));
    BufferIO io(payload, session_, item.h.task);
    try {
      shoal::internal::InvokeFn fn =
          shoal::internal::ResolveInvoker(item.h.invoker);
      fn(io);
      return io.Take();
    } catch (...) {
      return ErrorResult(session_, item.h.task, std::current_exception());
    }
  }

  uint64_t session_;
  Outbox* out_;
  Tuning tuning_;
  Doorbell bell_;
  std::mutex mu_;
  std::deque<Item> q_;
  bool stop_ = false;
  std::atomic<std::size_t> inflight_{0};
  std::thread thread_;  // last: starts after the rest exists
};

// Hierarchical mode: tasks go into a local shoal Pool.
class PoolRunner final : public Runner {
 public:
  PoolRunner(uint64_t session, Outbox* out, const SessionConfig& c)
      : session_(session),
        out_(out),
        pool_(PoolOptions{
            .processes = c.processes,
            .maxtasksperchild = c.max_tasks_per_child,
            .context = get_context(c.start_method == 1   ? "spawn"
                                   : c.start_method == 2 ? "forkserver"
                                                         : "fork"),
            .task_timeout = std::chrono::nanoseconds(c.task_timeout_ns)}) {}
  ~PoolRunner() override = default;  // ~Pool terminates and joins

  void Run(const Header& h, Bytes message) override {
    const std::span<const std::byte> payload =
        message.span().subspan(sizeof(Header));
    auto job = std::make_shared<TaskJob>(this, h.task);
    auto write = [&](std::span<std::byte> dst) {
      std::memcpy(dst.data(), payload.data(), payload.size());
    };
    shoal::internal::SubmitSpec spec{h.invoker,
                                     payload.size(),
                                     write,
                                     job,
                                     0,
                                     std::chrono::nanoseconds(-1),
                                     /*notify=*/true};
    inflight_.fetch_add(1, std::memory_order_relaxed);
    try {
      // Never blocks for long: rank 0 sends at most its credit per rank,
      // which is below the local pool's slot count.
      pool_.engine()->Submit(spec, Deadline::Infinite());
    } catch (...) {
      inflight_.fetch_sub(1, std::memory_order_relaxed);
      out_->Post(ErrorResult(session_, h.task, std::current_exception()));
    }
  }
  std::size_t inflight() const override {
    return inflight_.load(std::memory_order_acquire);
  }

 private:
  // Receives one task's outcome in the local pool's handler thread.
  class TaskJob final : public shoal::internal::Job {
   public:
    TaskJob(PoolRunner* r, uint64_t task) : r_(r), task_(task) {}
    void OnResult(uint32_t, std::span<const std::byte> bytes) override {
      Message m(Kind::kResult, r_->session_, task_, bytes.size());
      if (!bytes.empty()) {
        std::memcpy(m.payload().data(), bytes.data(), bytes.size());
      }
      Finish(std::move(m));
    }
    void OnError(uint32_t, std::exception_ptr e, bool) override {
      Finish(ErrorResult(r_->session_, task_, e));
    }

   private:
    void Finish(Message m) {
      r_->out_->Post(std::move(m));
      r_->inflight_.fetch_sub(1, std::memory_order_release);
    }
    PoolRunner* r_;
    uint64_t task_;
  };

  uint64_t session_;
  Outbox* out_;
  std::atomic<std::size_t> inflight_{0};
  Pool pool_;
};

class Server {
 public:
  Server(const MpiComm& comm, int rank, const Tuning& tuning)
      : comm_(comm.comm), rank_(rank), tuning_(tuning), outbox_(&bell_) {}

  ServeResult Run() {
    TightTimers();
    IdlePolicy idle(tuning_.spin_ns, tuning_.busy_ns, tuning_.max_sleep_ns);
    int64_t last_from_0 = MonotonicNanos();
    int64_t last_sent = last_from_0;
    ServeResult result;
    bool stop = false;
    uint32_t last_seen = bell_.Snapshot() - 1;
    while (!stop) {
      const uint32_t seen = bell_.Snapshot();
      const bool rung = seen != std::exchange(last_seen, seen);
      bool progress = false;
      // 1. Messages from rank 0.
      for (int k = 0; k < 64 && !stop; ++k) {
        int flag = 0;
        MPI_Message msg;
        MPI_Status st;
        if (MPI_Improbe(0, kTagDown, comm_, &flag, &msg, &st) != MPI_SUCCESS) {
          break;
        }
        if (!flag) break;
        int count = 0;
        MPI_Get_count(&st, MPI_BYTE, &count);
        Bytes b;
        b.size = static_cast<std::size_t>(std::max(count, 0));
        b.data = std::make_unique_for_overwrite<std::byte[]>(
            std::max<std::size_t>(b.size, 1));
        if (MPI_Mrecv(b.data.get(), count, MPI_BYTE, &msg, &st) !=
            MPI_SUCCESS) {
          continue;
        }
        progress = true;
        last_from_0 = MonotonicNanos();
        try {
          stop = Handle(std::move(b), &result);
        } catch (const std::exception& e) {
          std::fprintf(stderr, "shoal::mpi rank %d: %s; dropped\n", rank_,
                       e.what());
        }
      }
      // 2. Finished results (each Post() rings the bell: no lock otherwise).
      if (seen != taken_) {
        outbox_.TakeAll(batch_);
        taken_ = seen;
      }
      for (Message& m : batch_) {
        Post(std::move(m));
        last_sent = MonotonicNanos();
        progress = true;
      }
      batch_.clear();
      progress |= Reap() || LargeSendPending(sends_);
      // 3. Sessions closed by rank 0 whose tasks are all done.
      for (auto it = closing_.begin(); it != closing_.end();) {
        auto r = runners_.find(*it);
        if (r == runners_.end() || r->second->inflight() == 0) {
          if (r != runners_.end()) runners_.erase(r);
          it = closing_.erase(it);
        } else {
          ++it;
        }
      }
      // 4. Liveness both ways.
      const int64_t now = MonotonicNanos();
      if (tuning_.rank_timeout_ns > 0) {
        if (Busy() && now - last_sent > tuning_.rank_timeout_ns / 4) {
          Post(Message(Kind::kHeartbeat, 0, 0, 0));
          last_sent = now;
        }
        if (now - last_from_0 > tuning_.rank_timeout_ns) {
          std::fprintf(stderr,
                       "shoal::mpi rank %d: nothing from rank 0 for %lld ms "
                       "(it died or hangs): leaving\n",
                       rank_,
                       static_cast<long long>(tuning_.rank_timeout_ns /
                                              1'000'000));
          result.status = 1;
          result.finalize = false;
          break;
        }
      }
      if (stop) break;
      if (progress) {
        idle.Progress();
        // The task thread (or a local pool's worker) shares this CPU.
        if (handed_) idle.HandedOff();
        handed_ = false;
      } else {
        // Wake in time for a heartbeat or the rank-0 check.
        const int64_t wake =
            tuning_.rank_timeout_ns > 0
                ? std::min(last_sent + tuning_.rank_timeout_ns / 4,
                           last_from_0 + tuning_.rank_timeout_ns)
                : 0;
        // With a session open, tasks come back to back: poll longer.
        // Alone: no task running here, and no result posted since the
        // last pass.
        const bool alone = !rung && !Busy();
        idle.Idle(bell_, seen, wake, /*expecting=*/!runners_.empty(), alone);
      }
    }
    // Tasks still running cannot be interrupted: leave them to _exit.
    result.clean = !Busy();
    if (result.clean) runners_.clear();
    // Flush what is being sent (bounded).
    const int64_t give_up = MonotonicNanos() + 1'000'000'000;
    while (!sends_.empty() && MonotonicNanos() < give_up) {
      if (!Reap()) std::this_thread::yield();
    }
    if (!sends_.empty()) result.finalize = false;
    return result;
  }

 private:
  bool Busy() const {
    for (const auto& [id, r] : runners_) {
      if (r->inflight() != 0) return true;
    }
    return false;
  }

  // Returns true on kStop.
  bool Handle(Bytes b, ServeResult* result) {
    const Parsed p = Parse(b.span(), 0);
    const uint64_t s = p.header.session;
    switch (p.kind) {
      case Kind::kOpen: {
        const SessionConfig c = ParseSessionConfig(p.payload);
        try {
          if (c.processes == 0) {
            runners_[s] = std::make_unique<InlineRunner>(s, &outbox_, tuning_);
          } else {
            runners_[s] = std::make_unique<PoolRunner>(s, &outbox_, c);
          }
        } catch (...) {
          runners_[s] = std::make_unique<FailedRunner>(
              s, &outbox_, std::current_exception());
        }
        return false;
      }
      case Kind::kTask: {
        auto it = runners_.find(s);
        if (it == runners_.end()) {
          Post(ErrorResult(s, p.header.task,
                           std::make_exception_ptr(ValueError(
                               "shoal::mpi: rank " + std::to_string(rank_) +
                               " has no session " + std::to_string(s)))));
          return false;
        }
        // A runner with nothing to do was waiting for this one: let it run.
        if (it->second->inflight() == 0) handed_ = true;
        it->second->Run(p.header, std::move(b));
        return false;
      }
      case Kind::kClose:
        closing_.push_back(s);
        return false;
      case Kind::kStop:
        result->finalize = p.header.arg == 1;
        return true;
      case Kind::kKeepalive:
        return false;
      default:
        throw CodecError("rank 0 sent an unexpected " +
                         std::string(KindName(p.kind)));
    }
  }

  void Post(Message m) {
    MPI_Request req = MPI_REQUEST_NULL;
    if (MPI_Isend(m.data(), static_cast<int>(m.size()), MPI_BYTE, 0, kTagUp,
                  comm_, &req) != MPI_SUCCESS) {
      std::fprintf(stderr, "shoal::mpi rank %d: MPI_Isend to rank 0 failed\n",
                   rank_);
      return;
    }
    requests_.push_back(req);
    sends_.push_back(std::move(m));
  }

  bool Reap() {
    if (sends_.empty()) return false;
    const int n = static_cast<int>(requests_.size());
    indices_.resize(static_cast<std::size_t>(n));
    int done = 0;
    if (MPI_Testsome(n, requests_.data(), &done, indices_.data(),
                     MPI_STATUSES_IGNORE) != MPI_SUCCESS ||
        done == MPI_UNDEFINED || done == 0) {
      return false;
    }
    std::size_t out = 0;
    for (std::size_t i = 0; i < sends_.size(); ++i) {
      if (requests_[i] == MPI_REQUEST_NULL) continue;
      if (out != i) {
        requests_[out] = requests_[i];
        sends_[out] = std::move(sends_[i]);
      }
      ++out;
    }
    requests_.resize(out);
    sends_.resize(out);
    return true;
  }

  uint32_t taken_ = ~0u;  // the bell's number at the last TakeAll
  bool handed_ = false;   // this pass handed a task to an idle runner
  MPI_Comm comm_;
  int rank_;
  Tuning tuning_;
  Doorbell bell_;
  Outbox outbox_;
  std::vector<Message> batch_;
  std::map<uint64_t, std::unique_ptr<Runner>> runners_;
  std::vector<uint64_t> closing_;
  std::vector<MPI_Request> requests_;
  std::vector<Message> sends_;
  std::vector<int> indices_;
};

}  // namespace

ServeResult Serve(const MpiComm& comm, int rank, const Tuning& tuning) {
  Server s(comm, rank, tuning);
  return s.Run();
}

}  // namespace shoal::mpi::internal
