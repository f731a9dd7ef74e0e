// Copyright 2026 The shoal Authors.
//
// world.h: rank 0's side of shoal::mpi. Executor and Pool are typed fronts
// over one World, as Pool and ProcessPoolExecutor are over one Engine.
//
// What the World does
//   * Sessions: every Executor or Pool is a session. Opening one sends kOpen
//     to every worker rank (which sets up a task thread, or a local shoal
//     Pool in hierarchical mode); closing it sends kClose.
//   * Submit() (any thread) queues a ready-to-send message (the task's
//     header and encoded call, built by the caller's thread) with a Sink
//     that will receive its outcome, and rings the MPI thread's doorbell.
//     No MPI call happens outside the MPI thread (MPI_THREAD_FUNNELED).
//   * The MPI thread hands each queued task to the live rank of its
//     session with the fewest tasks in flight, at most `credits` each, with
//     MPI_Isend. Credits adapt between the session's min and max: short
//     tasks (estimated service time under 250 us) get the max, so a rank
//     always has the next task queued and never waits a round trip (or a
//     thread wake-up) between two; long ones (over 500 us) the min, so a
//     batch is not pre-assigned unevenly and stays cancellable on rank 0.
//     It polls for results with MPI_Improbe and
//     MPI_Mrecv, delivers them to their Sinks (decoding in the MPI thread),
//     completes sends with MPI_Testsome, and sleeps per idle.h when there
//     is nothing to do.
//   * Liveness (see init.h): a rank with tasks in flight that has been
//     silent for rank_timeout is lost: its tasks fail with WorkerLost. A
//     keepalive goes to each rank that heard nothing for rank_timeout / 4.
//   * Callbacks of futures and async results run in one callback thread,
//     never in the MPI thread (a slow callback must not stall MPI).
//
// Cancellation: a task is cancellable while it waits on rank 0 (Sink::Start
// is asked just before it is sent; a cancelled Future says no). Once sent
// it runs to completion on its rank (as a task in Python's call queue).
//
// Thread safety: every public method may be called from any thread of rank
// 0. Sinks are called in the MPI thread, except Cancel (the caller of
// CancelPending) and failures at Stop.
#ifndef SHOAL_MPI_INTERNAL_WORLD_H_
#define SHOAL_MPI_INTERNAL_WORLD_H_

#include <sys/types.h>

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "shoal/base/deadline.h"
#include "shoal/mpi/internal/idle.h"
#include "shoal/mpi/internal/wire.h"

namespace shoal::mpi::internal {

// Receives the outcome of the tasks of one job on rank 0.
class Sink {
 public:
  virtual ~Sink() = default;
  // Just before task `index` is sent; false drops it (a cancelled future).
  virtual bool Start(uint32_t index) { return true; }
  // The encoded result, valid during the call. An exception thrown here is
  // passed to Fail instead.
  virtual void Done(uint32_t index, std::span<const std::byte> bytes) = 0;
  virtual void Fail(uint32_t index, std::exception_ptr error) = 0;
  // The task was dropped before it was sent (cancel_futures, terminate).
  virtual void Cancel(uint32_t index);
};

// The World's tuning, from InitOptions (rank 0's values).
struct Tuning {
  int64_t rank_timeout_ns = 10'000'000'000;
  int64_t spin_ns = 200'000;
  int64_t busy_ns = 5'000'000;
  int64_t max_sleep_ns = 1'000'000;
};

struct MpiComm;  // mpi_comm.h

struct PeerInfo {
  std::string host;
  pid_t pid = 0;
};

class World {
 public:
  using CallbackRunner = std::function<void(std::function<void()>)>;

  // Made by the MPI thread after the handshake, over its own communicator
  // (mpi_comm.h: .cc files only, they include <mpi.h>).
  World(const MpiComm& comm, int size, std::vector<PeerInfo> peers,
        Tuning tuning);
  ~World();
  World(const World&) = delete;
  World& operator=(const World&) = delete;

  // The World of this process: rank 0 after init(). Throws ValueError when
  // init() was not called (or after finalize()).
  static World& Get();
  static void Install(World* w);  // init.cc

  // --- sessions ---------------------------------------------------------
  // Throws BrokenPool when no worker rank is left, ValueError when there is
  // none at all or the World stopped.
  // Credits per rank adapt between min_credits and max_credits (equal:
  // fixed).
  uint64_t OpenSession(const SessionConfig& config, uint32_t min_credits,
                       uint32_t max_credits);
  // No more tasks. Tasks in flight still deliver their outcomes.
  void CloseSession(uint64_t session);
  // Queues a message built by Message(Kind::kTask, session, 0, n). Throws
  // BrokenPool (no live rank), ValueError (session closed, World stopped).
  void Submit(uint64_t session, Message message, std::shared_ptr<Sink> sink,
              uint32_t index);
  // Drops every task of the session not yet sent (Sink::Cancel); returns
  // how many.
  std::size_t CancelPending(uint64_t session);
  // Tasks in flight fail now with CancelledError; their results, when they
  // come, are dropped (Pool::terminate).
  void AbandonInFlight(uint64_t session);
  // True once the session has nothing pending or in flight.
  bool WaitIdle(uint64_t session, const Deadline& deadline);

  // Live worker ranks (ranks 1..size-1 not declared lost).
  std::size_t live_workers() const {
    return live_.load(std::memory_order_acquire);
  }
  int size() const { return size_; }
  std::vector<PeerInfo> peers() const { return peers_; }
  std::vector<bool> live_ranks() const;
  bool broken() const { return live_workers() == 0 && size_ > 1; }

  // Runs callbacks in the callback thread (started on first use).
  CallbackRunner callback_runner();
  bool InCallbackThread() const;

  // --- the MPI thread ---------------------------------------------------
  // Runs until Stop(); then stops the workers and frees the communicator.
  // Returns true when MPI_Finalize may be called (no rank was lost).
  bool Loop();
  // Loop() looks at the sessions at least this often, rung or not.
  static constexpr int64_t kLookEveryNs = 1'000'000;
  // Any thread: ends Loop(). Tasks still pending or in flight fail with
  // BrokenPool. Returns at once; the MPI thread finishes on its own.
  void Stop();

 private:
  struct Outgoing {
    Message message;
    std::shared_ptr<Sink> sink;
    uint32_t index = 0;
  };
  struct Session {
    SessionConfig config;
    uint32_t min_credits = 1;
    uint32_t max_credits = 1;
    uint32_t credits = 1;          // the current limit per rank
    int64_t service_ns = -1;       // EWMA of a task's time on its rank
    std::deque<Outgoing> pending;
    std::vector<uint32_t> inflight;  // per rank
    std::size_t inflight_total = 0;
    bool announced = false;  // kOpen sent (MPI thread)
    bool closing = false;
    bool close_sent = false;
    bool abandon = false;  // AbandonInFlight() asked; the MPI thread acts
  };
  struct InFlight {
    int rank = 0;
    uint64_t session = 0;
    uint32_t index = 0;
    std::shared_ptr<Sink> sink;
    bool abandoned = false;  // failed already (terminate): drop the result
    int64_t sent_ns = 0;
    uint32_t depth = 1;  // the session's tasks on that rank, this one included
  };
  struct Rank {
    bool live = true;
    uint32_t inflight = 0;
    int64_t last_heard_ns = 0;
    int64_t last_sent_ns = 0;
  };
  struct Send {
    int rank;
    Message message;
  };

  // MPI thread.
  bool Dispatch();
  bool Receive();
  bool ReapSends();
  void PostSend(int rank, Message m);
  void HandleResult(int from, const Parsed& p);
  void CheckLiveness(int64_t now);
  void LoseRank(int rank, const std::string& why);
  void Shutdown();

  struct Mpi;  // MPI_Comm and MPI_Request storage (world.cc)
  std::unique_ptr<Mpi> mpi_;
  const int size_;
  const std::vector<PeerInfo> peers_;
  const Tuning tuning_;
  Doorbell bell_;
  std::atomic<std::size_t> live_{0};

  // Shared with submitters (mu_).
  mutable std::mutex mu_;
  std::condition_variable idle_cv_;
  std::map<uint64_t, Session> sessions_;
  uint64_t next_session_ = 1;
  bool stopping_ = false;
  std::vector<bool> live_copy_;  // for live_ranks()

  // MPI thread only.
  std::vector<Rank> ranks_;
  std::unordered_map<uint64_t, InFlight> inflight_;
  uint64_t next_task_ = 1;
  std::vector<Send> sends_;  // parallel to mpi_->requests
  std::vector<std::byte> rx_;
  bool any_lost_ = false;
  bool delivered_ = false;  // this pass of Loop() delivered an outcome

  // Callback thread.
  std::mutex cb_mu_;
  std::condition_variable cb_cv_;
  std::deque<std::function<void()>> callbacks_;
  std::thread cb_thread_;
  std::atomic<std::thread::id> cb_id_{};
  bool cb_stop_ = false;
  void CallbackMain();
};

}  // namespace shoal::mpi::internal

#endif  // SHOAL_MPI_INTERNAL_WORLD_H_
