#include "shoal/mpi/internal/world.h"

#include <algorithm>
#include <cstdio>
#include <string>
#include <utility>

#include "shoal/base/errors.h"
#include "shoal/base/internal/clock.h"
#include "shoal/mpi/internal/mpi_comm.h"
#include "shoal/pool/internal/remote_error.h"

namespace shoal::mpi::internal {

using shoal::internal::MonotonicNanos;

void Sink::Cancel(uint32_t index) {
  Fail(index, std::make_exception_ptr(
                  CancelledError("the task was cancelled before it was sent")));
}

struct World::Mpi {
  MPI_Comm comm = MPI_COMM_NULL;
  std::vector<MPI_Request> requests;  // parallel to sends_
  std::vector<int> indices;           // MPI_Testsome scratch
};

namespace {

std::atomic<World*> g_world{nullptr};

std::string MpiErrorString(int code) {
  char buf[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(code, buf, &len) != MPI_SUCCESS) {
    return "MPI error " + std::to_string(code);
  }
  return std::string(buf, static_cast<std::size_t>(len));
}

std::exception_ptr Broken(const std::string& why) {
  return std::make_exception_ptr(BrokenPool(why));
}

}  // namespace

World::World(const MpiComm& comm, int size, std::vector<PeerInfo> peers,
             Tuning tuning)
    : mpi_(std::make_unique<Mpi>()),
      size_(size),
      peers_(std::move(peers)),
      tuning_(tuning) {
  mpi_->comm = comm.comm;
  ranks_.resize(static_cast<std::size_t>(size));
  ranks_[0].live = false;  // rank 0 runs no tasks
  live_copy_.assign(static_cast<std::size_t>(size), true);
  live_copy_[0] = false;
  live_.store(size > 1 ? static_cast<std::size_t>(size - 1) : 0,
              std::memory_order_release);
  const int64_t now = MonotonicNanos();
  for (Rank& r : ranks_) {
    r.last_heard_ns = now;
    r.last_sent_ns = now;
  }
}

World::~World() = default;

World& World::Get() {
  World* w = g_world.load(std::memory_order_acquire);
  if (w == nullptr) {
    throw ValueError(
        "shoal::mpi: call shoal::mpi::init(argc, argv) first thing in main() "
        "(and launch with mpirun); executors and pools need it");
  }
  return *w;
}

void World::Install(World* w) { g_world.store(w, std::memory_order_release); }

// --- sessions ---------------------------------------------------------------

uint64_t World::OpenSession(const SessionConfig& config, uint32_t min_credits,
                            uint32_t max_credits) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_) throw ValueError("shoal::mpi was finalized");
  if (size_ < 2) {
    throw ValueError(
        "shoal::mpi: no worker ranks (this job has 1 rank); launch with "
        "mpirun -np N, N >= 2: rank 0 runs main(), the others run tasks");
  }
  if (live_workers() == 0) {
    throw BrokenPool("shoal::mpi: every worker rank was lost");
  }
  const uint64_t id = next_session_++;
  Session& s = sessions_[id];
  s.config = config;
  s.min_credits = std::max<uint32_t>(min_credits, 1);
  s.max_credits = std::max(s.min_credits, max_credits);
  s.credits = s.min_credits;  // until tasks show they are short
  s.inflight.assign(static_cast<std::size_t>(size_), 0);
  bell_.Ring();
  return id;
}

void World::CloseSession(uint64_t session) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = sessions_.find(session);
    if (it == sessions_.end()) return;
    it->second.closing = true;
  }
  bell_.Ring();
}

void World::Submit(uint64_t session, Message message,
                   std::shared_ptr<Sink> sink, uint32_t index) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) throw ValueError("shoal::mpi was finalized");
    if (live_workers() == 0) {
      throw BrokenPool("shoal::mpi: every worker rank was lost");
    }
    auto it = sessions_.find(session);
    if (it == sessions_.end() || it->second.closing) {
      throw ValueError("shoal::mpi: the executor or pool was shut down");
    }
    message.header().session = session;
    it->second.pending.push_back(
        Outgoing{std::move(message), std::move(sink), index});
  }
  bell_.Ring();
}

std::size_t World::CancelPending(uint64_t session) {
  std::deque<Outgoing> dropped;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = sessions_.find(session);
    if (it == sessions_.end()) return 0;
    dropped.swap(it->second.pending);
    idle_cv_.notify_all();
  }
  for (Outgoing& o : dropped) o.sink->Cancel(o.index);
  bell_.Ring();
  return dropped.size();
}

void World::AbandonInFlight(uint64_t session) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = sessions_.find(session);
    if (it == sessions_.end()) return;
    it->second.abandon = true;
  }
  bell_.Ring();
  // The MPI thread fails them; wait for that (bounded: it never blocks).
  std::unique_lock<std::mutex> lock(mu_);
  idle_cv_.wait_for(lock, std::chrono::seconds(30), [&] {
    auto it = sessions_.find(session);
    return it == sessions_.end() || !it->second.abandon || stopping_;
  });
}

bool World::WaitIdle(uint64_t session, const Deadline& deadline) {
  std::unique_lock<std::mutex> lock(mu_);
  auto idle = [&] {
    auto it = sessions_.find(session);
    return it == sessions_.end() ||
           (it->second.pending.empty() && it->second.inflight_total == 0);
  };
  while (!idle()) {
    if (deadline.infinite()) {
      idle_cv_.wait(lock);
    } else if (idle_cv_.wait_until(lock, deadline.when()) ==
                   std::cv_status::timeout &&
               !idle()) {
      return false;
    }
  }
  return true;
}

std::vector<bool> World::live_ranks() const {
  std::lock_guard<std::mutex> lock(mu_);
  return live_copy_;
}

// --- callbacks --------------------------------------------------------------

World::CallbackRunner World::callback_runner() {
  return [this](std::function<void()> fn) {
    {
      std::lock_guard<std::mutex> lock(cb_mu_);
      if (!cb_stop_) {
        if (!cb_thread_.joinable()) {
          cb_thread_ = std::thread([this] { CallbackMain(); });
        }
        callbacks_.push_back(std::move(fn));
        cb_cv_.notify_one();
        return;
      }
    }
    fn();  // after finalize: run here
  };
}

bool World::InCallbackThread() const {
  return cb_id_.load(std::memory_order_acquire) == std::this_thread::get_id();
}

void World::CallbackMain() {
  cb_id_.store(std::this_thread::get_id(), std::memory_order_release);
  std::unique_lock<std::mutex> lock(cb_mu_);
  for (;;) {
    cb_cv_.wait(lock, [&] { return cb_stop_ || !callbacks_.empty(); });
    if (callbacks_.empty()) return;
    std::function<void()> fn = std::move(callbacks_.front());
    callbacks_.pop_front();
    lock.unlock();
    fn();  // RunCallbacks catches what user code throws
    lock.lock();
  }
}

// --- the MPI thread ---------------------------------------------------------

void World::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    idle_cv_.notify_all();
  }
  bell_.Ring();
}

void World::PostSend(int rank, Message m) {
  MPI_Request req = MPI_REQUEST_NULL;
  const int rc = MPI_Isend(m.data(), static_cast<int>(m.size()), MPI_BYTE,
                           rank, kTagDown, mpi_->comm, &req);
  ranks_[static_cast<std::size_t>(rank)].last_sent_ns = MonotonicNanos();
  if (rc != MPI_SUCCESS) {
    LoseRank(rank, "MPI_Isend failed: " + MpiErrorString(rc));
    return;
  }
  mpi_->requests.push_back(req);
  sends_.push_back(Send{rank, std::move(m)});
}

bool World::ReapSends() {
  if (sends_.empty()) return false;
  const int n = static_cast<int>(mpi_->requests.size());
  mpi_->indices.resize(static_cast<std::size_t>(n));
  int done = 0;
  const int rc = MPI_Testsome(n, mpi_->requests.data(), &done,
                              mpi_->indices.data(), MPI_STATUSES_IGNORE);
  if (rc != MPI_SUCCESS || done == MPI_UNDEFINED || done == 0) return false;
  // Completed requests are MPI_REQUEST_NULL now: compact both vectors.
  std::size_t out = 0;
  for (std::size_t i = 0; i < sends_.size(); ++i) {
    if (mpi_->requests[i] == MPI_REQUEST_NULL) continue;
    if (out != i) {
      mpi_->requests[out] = mpi_->requests[i];
      sends_[out] = std::move(sends_[i]);
    }
    ++out;
  }
  mpi_->requests.resize(out);
  sends_.resize(out);
  return true;
}

bool World::Dispatch() {
  struct Out {
    int rank;
    Message message;
  };
  std::vector<Out> out;
  std::vector<std::pair<std::shared_ptr<Sink>, uint32_t>> abandoned;
  {
    std::lock_guard<std::mutex> lock(mu_);
    const int64_t now = MonotonicNanos();
    for (auto it = sessions_.begin(); it != sessions_.end();) {
      const uint64_t id = it->first;
      Session& s = it->second;
      if (!s.announced) {
        for (int r = 1; r < size_; ++r) {
          if (!ranks_[static_cast<std::size_t>(r)].live) continue;
          Message m(Kind::kOpen, id, 0, sizeof(SessionConfig));
          std::memcpy(m.payload().data(), &s.config, sizeof(SessionConfig));
          out.push_back(Out{r, std::move(m)});
        }
        s.announced = true;
      }
      if (s.abandon) {
        for (auto& [task, f] : inflight_) {
          if (f.session != id || f.abandoned) continue;
          f.abandoned = true;
          --s.inflight_total;
          abandoned.emplace_back(f.sink, f.index);
        }
        s.abandon = false;
        idle_cv_.notify_all();
      }
      while (!s.pending.empty()) {
        // The live rank with the fewest of this session's tasks, below its
        // credit; ties go to the lowest rank (cheap, and fair enough: ranks
        // fill up one after another within a pass).
        int best = -1;
        for (int r = 1; r < size_; ++r) {
          const auto ur = static_cast<std::size_t>(r);
          if (!ranks_[ur].live || s.inflight[ur] >= s.credits) continue;
          if (best < 0 ||
              s.inflight[ur] < s.inflight[static_cast<std::size_t>(best)]) {
            best = r;
          }
        }
        if (best < 0) break;
        Outgoing o = std::move(s.pending.front());
        s.pending.pop_front();
        if (!o.sink->Start(o.index)) continue;  // cancelled while pending
        const uint64_t task = next_task_++;
        o.message.header().task = task;
        const auto ub = static_cast<std::size_t>(best);
        const uint32_t depth = ++s.inflight[ub];
        ++s.inflight_total;
        if (ranks_[ub].inflight++ == 0) ranks_[ub].last_heard_ns = now;
        inflight_.emplace(task, InFlight{best, id, o.index, std::move(o.sink),
                                         false, now, depth});
        out.push_back(Out{best, std::move(o.message)});
      }
      if (s.pending.empty()) idle_cv_.notify_all();
      if (s.closing && s.pending.empty() && !s.close_sent) {
        for (int r = 1; r < size_; ++r) {
          if (!ranks_[static_cast<std::size_t>(r)].live) continue;
          out.push_back(Out{r, Message(Kind::kClose, id, 0, 0)});
        }
        s.close_sent = true;
      }
      if (s.close_sent && s.inflight_total == 0) {
        it = sessions_.erase(it);
        idle_cv_.notify_all();
      } else {
        ++it;
      }
    }
  }
  for (auto& [sink, index] : abandoned) {
    sink->Fail(index, std::make_exception_ptr(CancelledError(
                      "the pool was terminated while the task ran on its "
                      "rank (its result will be dropped)")));
  }
  for (Out& o : out) PostSend(o.rank, std::move(o.message));
  return !out.empty() || !abandoned.empty();
}

void World::HandleResult(int from, const Parsed& p) {
  auto it = inflight_.find(p.header.task);
  if (it == inflight_.end()) return;  // its rank was lost meanwhile
  if (it->second.rank != from) {
    std::fprintf(stderr,
                 "shoal::mpi: rank %d sent a result for a task of rank %d; "
                 "dropped\n",
                 from, it->second.rank);
    return;
  }
  InFlight f = std::move(it->second);
  inflight_.erase(it);
  delivered_ = true;
  --ranks_[static_cast<std::size_t>(from)].inflight;
  if (!f.abandoned) {
    // Deliver first: when WaitIdle() returns, every future is done.
    if (p.header.arg == 0) {
      try {
        f.sink->Done(f.index, p.payload);
      } catch (...) {
        f.sink->Fail(f.index, std::current_exception());
      }
    } else {
      std::exception_ptr e;
      try {
        e = shoal::internal::ToExceptionPtr(shoal::internal::DecodeErrorRecord(
            p.payload.data(), p.payload.size()));
      } catch (...) {
        e = std::current_exception();
      }
      f.sink->Fail(f.index, e);
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  auto s = sessions_.find(f.session);
  if (s != sessions_.end()) {
    Session& ss = s->second;
    --ss.inflight[static_cast<std::size_t>(from)];
    if (!f.abandoned) --ss.inflight_total;
    // The task waited behind depth - 1 others on its rank: its own share of
    // the latency is about latency / depth.
    const int64_t service =
        (MonotonicNanos() - f.sent_ns) / std::max<uint32_t>(f.depth, 1);
    ss.service_ns = ss.service_ns < 0
                        ? service
                        : ss.service_ns + (service - ss.service_ns) / 8;
    if (ss.service_ns < 250'000) {
      ss.credits = ss.max_credits;
    } else if (ss.service_ns > 500'000) {
      ss.credits = ss.min_credits;
    }
    idle_cv_.notify_all();
  }
}

bool World::Receive() {
  bool any = false;
  for (int k = 0; k < 64; ++k) {
    int flag = 0;
    MPI_Message msg;
    MPI_Status st;
    int rc = MPI_Improbe(MPI_ANY_SOURCE, kTagUp, mpi_->comm, &flag, &msg, &st);
    if (rc != MPI_SUCCESS) {
      std::fprintf(stderr, "shoal::mpi: MPI_Improbe failed: %s\n",
                   MpiErrorString(rc).c_str());
      return any;
    }
    if (!flag) break;
    int count = 0;
    MPI_Get_count(&st, MPI_BYTE, &count);
    rx_.resize(static_cast<std::size_t>(std::max(count, 0)));
    rc = MPI_Mrecv(rx_.data(), count, MPI_BYTE, &msg, &st);
    any = true;
    const int from = st.MPI_SOURCE;
    if (from <= 0 || from >= size_) continue;
    Rank& r = ranks_[static_cast<std::size_t>(from)];
    r.last_heard_ns = MonotonicNanos();
    if (!r.live) continue;  // lost: whatever it says now is dropped
    if (rc != MPI_SUCCESS) {
      LoseRank(from, "MPI_Mrecv failed: " + MpiErrorString(rc));
      continue;
    }
    try {
      Parsed p = Parse(rx_, from);
      if (p.kind == Kind::kResult) {
        HandleResult(from, p);
      } else if (p.kind != Kind::kHeartbeat) {
        std::fprintf(stderr, "shoal::mpi: rank %d sent an unexpected %s\n",
                     from, std::string(KindName(p.kind)).c_str());
      }
    } catch (const std::exception& e) {
      std::fprintf(stderr, "shoal::mpi: %s; dropped\n", e.what());
    }
  }
  return any;
}

void World::LoseRank(int rank, const std::string& why) {
  const auto ur = static_cast<std::size_t>(rank);
  if (!ranks_[ur].live) return;
  ranks_[ur].live = false;
  any_lost_ = true;
  const PeerInfo& peer = peers_[ur];
  const std::string what = "shoal::mpi: rank " + std::to_string(rank) +
                           " (host " + peer.host + ", pid " +
                           std::to_string(peer.pid) + ") was lost: " + why;
  std::fprintf(stderr, "%s\n", what.c_str());
  std::vector<InFlight> failed;
  for (auto it = inflight_.begin(); it != inflight_.end();) {
    if (it->second.rank == rank) {
      failed.push_back(std::move(it->second));
      it = inflight_.erase(it);
    } else {
      ++it;
    }
  }
  ranks_[ur].inflight = 0;
  std::deque<Outgoing> orphans;
  {
    std::lock_guard<std::mutex> lock(mu_);
    live_copy_[ur] = false;
    const std::size_t left = live_.fetch_sub(1, std::memory_order_acq_rel) - 1;
    for (auto& [id, s] : sessions_) {
      s.inflight[ur] = 0;
      if (left == 0) {
        for (Outgoing& o : s.pending) orphans.push_back(std::move(o));
        s.pending.clear();
      }
    }
  }
  for (InFlight& f : failed) {
    if (!f.abandoned) {
      f.sink->Fail(f.index,
                   std::make_exception_ptr(WorkerLost(
                       what + "; the task it was running is lost",
                       peer.pid, 0, -1)));
    }
    std::lock_guard<std::mutex> lock(mu_);
    auto s = sessions_.find(f.session);
    if (s != sessions_.end() && !f.abandoned) --s->second.inflight_total;
  }
  for (Outgoing& o : orphans) {
    o.sink->Fail(o.index, Broken("shoal::mpi: every worker rank was lost"));
  }
  std::lock_guard<std::mutex> lock(mu_);
  idle_cv_.notify_all();
}

void World::CheckLiveness(int64_t now) {
  if (tuning_.rank_timeout_ns <= 0) return;
  for (int r = 1; r < size_; ++r) {
    Rank& rk = ranks_[static_cast<std::size_t>(r)];
    if (!rk.live) continue;
    if (rk.inflight > 0 && now - rk.last_heard_ns > tuning_.rank_timeout_ns) {
      LoseRank(r, "it had tasks and sent nothing for " +
                      std::to_string(tuning_.rank_timeout_ns / 1'000'000) +
                      " ms (killed, stopped, or its host is gone)");
      continue;
    }
    if (now - rk.last_sent_ns > tuning_.rank_timeout_ns / 4) {
      PostSend(r, Message(Kind::kKeepalive, 0, 0, 0));
    }
  }
}

void World::Shutdown() {
  // Whatever is left fails: the program is ending.
  std::vector<std::pair<std::shared_ptr<Sink>, uint32_t>> left;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [id, s] : sessions_) {
      for (Outgoing& o : s.pending) left.emplace_back(o.sink, o.index);
      s.pending.clear();
      s.inflight_total = 0;
    }
    sessions_.clear();
    idle_cv_.notify_all();
  }
  for (auto& [task, f] : inflight_) {
    if (!f.abandoned) left.emplace_back(f.sink, f.index);
  }
  inflight_.clear();
  for (auto& [sink, index] : left) {
    sink->Fail(index, Broken("shoal::mpi::finalize() ran before the task "
                             "finished"));
  }
  for (int r = 1; r < size_; ++r) {
    if (!ranks_[static_cast<std::size_t>(r)].live) continue;
    Message m(Kind::kStop, 0, 0, 0);
    m.header().arg = any_lost_ ? 0 : 1;
    PostSend(r, std::move(m));
  }
  // Bounded: a rank that stopped reading cannot hold rank 0 forever.
  const int64_t give_up =
      MonotonicNanos() + std::max<int64_t>(tuning_.rank_timeout_ns,
                                           1'000'000'000);
  IdlePolicy idle(tuning_.spin_ns, tuning_.busy_ns, tuning_.max_sleep_ns);
  while (!sends_.empty() && MonotonicNanos() < give_up) {
    const uint32_t seen = bell_.Snapshot();
    if (ReapSends()) {
      idle.Progress();
    } else {
      idle.Idle(bell_, seen);
    }
  }
  if (!sends_.empty()) {
    any_lost_ = true;  // somebody is not reading: do not finalize
    for (MPI_Request& r : mpi_->requests) {
      MPI_Cancel(&r);
      MPI_Request_free(&r);
    }
    mpi_->requests.clear();
    sends_.clear();
  }
  if (!any_lost_) MPI_Comm_free(&mpi_->comm);
  {
    std::lock_guard<std::mutex> lock(cb_mu_);
    cb_stop_ = true;
    cb_cv_.notify_all();
  }
  if (cb_thread_.joinable()) cb_thread_.join();
}

bool World::Loop() {
  TightTimers();
  IdlePolicy idle(tuning_.spin_ns, tuning_.busy_ns, tuning_.max_sleep_ns);
  // A pass looks at the sessions (under mu_, which submitters take) only
  // when something may have changed there: every change a caller makes
  // rings the bell, credits free up only when results come in, and once
  // per kLookEveryNs for good measure. A pass is then cheap, and a busy
  // thread polling MPI keeps out of the submitters' way.
  uint32_t looked = bell_.Snapshot() - 1;
  int64_t looked_ns = 0;
  bool received = true;
  uint32_t last_seen = looked;
  for (;;) {
    const uint32_t seen = bell_.Snapshot();
    const bool rung = seen != std::exchange(last_seen, seen);
    int64_t now = MonotonicNanos();
    bool progress = false;
    if (seen != looked || received || now - looked_ns > kLookEveryNs) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (stopping_) break;
      }
      progress = Dispatch();
      looked = seen;
      looked_ns = now;
    }
    delivered_ = false;
    received = Receive();
    progress |= received;
    progress |= ReapSends() || LargeSendPending(sends_);
    now = MonotonicNanos();
    CheckLiveness(now);
    if (progress) {
      idle.Progress();
      // A caller may be waiting for what was delivered, on this CPU (when
      // nothing else is out: a stream of results is not waited for one by
      // one, and a yield per pass would slow it down).
      if (delivered_ && inflight_.empty()) idle.HandedOff();
    } else {
      // Results are due while tasks are out: poll longer before sleeping.
      // Alone: no caller rang since the last pass (one that is submitting
      // needs this CPU more than a poll does), and at most one task is out
      // (with several, a caller consuming a stream of outcomes is woken
      // for each and needs this CPU too; plain yields serve it better).
      idle.Idle(bell_, seen, 0, /*expecting=*/!inflight_.empty(),
                /*alone=*/!rung && inflight_.size() <= 1);
    }
  }
  Shutdown();
  return !any_lost_;
}

}  // namespace shoal::mpi::internal
