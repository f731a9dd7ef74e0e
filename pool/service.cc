// Copyright 2026 The shoal Authors.
#include "shoal/pool/service.h"

#include <algorithm>

#include "shoal/base/internal/process_liveness.h"

namespace shoal::internal {

std::size_t ServiceInlineBytes(std::size_t asked, std::size_t req_size,
                               std::size_t resp_size) {
  if (asked != 0) return asked;
  constexpr std::size_t kDefault = 256, kMaxAuto = 4096;
  std::size_t n = kDefault;
  for (std::size_t s : {req_size, resp_size}) {
    if (s > n && s <= kMaxAuto) n = s;
  }
  return n;
}

void WriteServiceError(ServiceCore& core, const ServiceCore::Taken& t,
                       ErrorRecord record) {
  // An error reply always goes inline (it must never wait for heap room):
  // cut the message until it fits.
  const std::size_t room = core.inline_bytes();
  std::size_t size = EncodedErrorSize(record);
  while (size > room && !record.message.empty()) {
    const std::size_t cut =
        std::min(record.message.size(), size - room + 16);
    record.message.resize(record.message.size() - cut);
    size = EncodedErrorSize(record);
  }
  if (size > room) {
    record.type_name.clear();
    size = EncodedErrorSize(record);
  }
  std::span<std::byte> area;
  if (size > room || !core.ReplyArea(t, size, Deadline::Now(), &area)) {
    // Cannot happen with inline_bytes >= 64 and an empty message.
    core.ReplyArea(t, 0, Deadline::Now(), &area);
    return;
  }
  EncodeErrorRecordTo(record, area.data(), area.size());
}

void ThrowServiceError(std::span<const std::byte> bytes) {
  std::rethrow_exception(
      ToExceptionPtr(DecodeErrorRecord(bytes.data(), bytes.size())));
}

void ThrowServiceLost(pid_t pid) {
  if (pid > 0) {
    throw WorkerLost("Service call: server pid " + std::to_string(pid) +
                         " died while it held the request",
                     pid, 0, 0);
  }
  throw WorkerLost(
      "Service call: a server died after taking the request (its pid was "
      "not recorded)",
      0, 0, 0);
}

ServiceClientState::ServiceClientState(std::shared_ptr<ServiceCore> core)
    : core_(std::move(core)), pid_(CachedPid()) {
  client_ = core_->AcquireClient();
}

ServiceClientState::~ServiceClientState() {
  if (pid_ != CachedPid()) {
    // A copy fork() gave a child: the entry and the thread are the
    // parent's. (A std::thread of another process cannot be joined.)
    (void)receiver_.release();
    return;
  }
  if (receiver_ && receiver_->get_id() == std::this_thread::get_id()) {
    // A done callback held the last handle: this runs in the receiver
    // thread, which cannot join itself. It leaves its loop at once (the
    // flag), and the calls still pending are cancelled here.
    *destroyed_in_receiver_ = true;
    receiver_->detach();
    std::map<uint32_t, std::pair<Call, Completer>> pending;
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
      pending.swap(pending_);
    }
    for (auto& [cell, entry] : pending) {
      try {
        entry.second(Outcome::kPending, entry.first);
      } catch (...) {
      }
    }
    core_->ReleaseClient(client_, in_use_);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (receiver_) {
    core_->WakeAsync(client_);
    receiver_->join();
  }
  // Calls still in flight are abandoned with the entry (ReleaseClient).
  core_->ReleaseClient(client_, in_use_);
}

void ServiceClientState::CheckProcess() const {
  if (pid_ != CachedPid()) {
    throw ValueError("ServiceClient: made in process " + std::to_string(pid_) +
                     "; make a ServiceClient in this process (pid " +
                     std::to_string(CachedPid()) + ")");
  }
}

ServiceCore::Call ServiceClientState::AcquireCell(const Deadline& deadline) {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    Call call = core_->AcquireCell(client_, &in_use_);
    if (call) return call;
    if (deadline.expired()) {
      throw TimeoutError("ServiceClient: all " +
                         std::to_string(core_->calls_per_client()) +
                         " calls of this client still in flight at the "
                         "deadline");
    }
    // Woken when a cell is released; a cell abandoned earlier becomes free
    // without telling us, so look again now and then.
    const Deadline slice = Deadline::Min(
        deadline,
        Deadline(Deadline::Clock::now() + ServiceCore::kLivenessCheckInterval));
    if (slice.infinite()) {
      cv_.wait(lock);
    } else {
      cv_.wait_until(lock, slice.when());
    }
  }
}

void ServiceClientState::ReleaseCell(const Call& call) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    in_use_ &= ~(uint64_t{1} << call.cell);
  }
  cv_.notify_all();
}

void ServiceClientState::AddPending(const Call& call, Completer done) {
  std::lock_guard<std::mutex> lock(mu_);
  pending_.emplace(call.cell, std::make_pair(call, std::move(done)));
  if (!receiver_) {
    receiver_ = std::make_unique<std::thread>([this] { ReceiverLoop(); });
  }
  // The receiver may be asleep on a snapshot of the pending calls taken
  // before this one was added (and its reply may have landed already).
  if (receiver_sleeping_) core_->WakeAsync(client_);
  cv_.notify_all();
}

void ServiceClientState::ReceiverLoop() {
  auto last_check = Deadline::Clock::now();
  std::vector<std::pair<Outcome, std::pair<Call, Completer>>> ended;
  bool destroyed = false;
  std::unique_lock<std::mutex> lock(mu_);
  destroyed_in_receiver_ = &destroyed;
  for (;;) {
    if (pending_.empty()) {
      if (stop_) break;
      cv_.wait(lock);
      continue;
    }
    const uint32_t seq = core_->AsyncSeq(client_);
    const auto now = Deadline::Clock::now();
    const bool check = now - last_check >= ServiceCore::kLivenessCheckInterval;
    if (check) last_check = now;
    for (auto it = pending_.begin(); it != pending_.end();) {
      Outcome o;
      try {
        o = core_->Poll(it->second.first, check);
      } catch (const Error&) {
        o = Outcome::kLost;  // corrupt: Collect reports it
      }
      if (o == Outcome::kPending && !stop_) {
        ++it;
        continue;
      }
      ended.emplace_back(o, std::move(it->second));
      it = pending_.erase(it);
    }
    if (!ended.empty()) {
      lock.unlock();
      // Completing a future runs its done callbacks here, and one of them
      // may drop the client's last handle: hold the state while they run;
      // if ours is then the last reference, the destructor runs in this
      // thread when it goes (see there) and the loop must end.
      std::shared_ptr<ServiceClientState> keep = weak_from_this().lock();
      for (auto& [o, entry_done] : ended) {
        Call call = entry_done.first;
        try {
          entry_done.second(o, call);
        } catch (...) {
        }
      }
      ended.clear();
      keep.reset();
      if (destroyed) return;
      lock.lock();
      continue;
    }
    receiver_sleeping_ = true;  // under the lock: see AddPending
    lock.unlock();
    core_->WaitAsync(client_, seq,
                     Deadline(now + ServiceCore::kLivenessCheckInterval));
    lock.lock();
    receiver_sleeping_ = false;
  }
}

}  // namespace shoal::internal
