#include "shoal/pool/internal/stream_job.h"

#include <utility>

#include "shoal/base/errors.h"
#include "shoal/pool/internal/cv_wait.h"

namespace shoal::internal {

StreamCore::StreamCore(std::shared_ptr<Engine> engine, const Options& options)
    : engine_(std::move(engine)), options_(options) {
  if (options_.max_ahead == 0) options_.max_ahead = 1;
}

StreamCore::~StreamCore() {
  if (registered_) engine_->StreamEnded();
}

void StreamCore::Open() {
  engine_->OpenStream(std::static_pointer_cast<StreamCore>(shared_from_this()));
  {
    std::lock_guard<std::mutex> lock(mu_);
    registered_ = true;
  }
  TopUp();
}

void StreamCore::EndLocked() {
  ended_ = true;
  cv_.notify_all();
  if (registered_) {
    registered_ = false;
    engine_->StreamEnded();  // takes only the engine's own locks
  }
}

bool StreamCore::Drain(const Deadline& deadline) {
  std::lock_guard<std::mutex> feed(feed_mu_);
  std::vector<TaskRef> refs;
  {
    std::lock_guard<std::mutex> lock(mu_);
    draining_ = true;
    for (const auto& [k, r] : inflight_) {
      if (r.gen != 0) refs.push_back(r);
    }
  }
  // Chunks a consumer would have collected itself: the callback thread now.
  for (const TaskRef& r : refs) engine_->Watch(r);
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (ended_) return true;
    }
    if (deadline.expired()) return false;
    SubmitOne(/*notify=*/true);
  }
}

void StreamCore::StopInput() {
  std::lock_guard<std::mutex> lock(mu_);
  if (!ended_) EndLocked();
}

bool StreamCore::TopUp() {
  std::unique_lock<std::mutex> feed(feed_mu_, std::try_to_lock);
  if (!feed.owns_lock()) return false;
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (ended_ || next_chunk_ - handed_ >= options_.max_ahead) return true;
    }
    // Ordered chunks are collected by the consumer (no thread hop);
    // unordered ones by whoever is first, so the callback thread is told.
    bool notify;
    {
      std::lock_guard<std::mutex> lock(mu_);
      notify = !options_.ordered || draining_;
    }
    SubmitOne(notify);
  }
}

void StreamCore::SubmitOne(bool notify) {
  bool got;
  try {
    got = ReadChunk();
  } catch (...) {
    // The input failed: the results before it, then this, then the end.
    std::lock_guard<std::mutex> lock(mu_);
    const uint32_t at = next_chunk_++;
    if (options_.ordered) {
      done_[at] = std::current_exception();
    } else {
      input_error_ = std::current_exception();
      input_error_at_ = at;
    }
    EndLocked();
    return;
  }
  uint32_t index;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!got || abandoned_) {
      EndLocked();
      return;
    }
    index = next_chunk_++;
    // In flight before it is submitted: its outcome may be delivered (by
    // another thread) before Submit returns.
    inflight_[index] = TaskRef{};
  }
  TaskRef ref;
  try {
    ref = SubmitChunk(index, notify);
  } catch (...) {
    std::lock_guard<std::mutex> lock(mu_);
    inflight_.erase(index);
    if (!abandoned_) {
      done_[index] = std::current_exception();
      if (!options_.ordered) done_order_.push_back(index);
    }
    // A pool that stopped taking work ends the input; an argument that
    // could not be encoded fails only its chunk.
    if (!engine_->accepting(/*continuation=*/true)) EndLocked();
    cv_.notify_all();
    return;
  }
  bool watch = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = inflight_.find(index);
    if (it != inflight_.end()) {
      it->second = ref;
    } else if (abandoned_) {
      watch = true;  // nobody will collect it: the callback thread must
    }
    cv_.notify_all();
  }
  if (watch) engine_->Watch(ref);
}

bool StreamCore::FinishLocked(uint32_t index, std::exception_ptr error) {
  if (inflight_.erase(index) == 0) return false;  // abandoned or duplicate
  done_[index] = std::move(error);
  if (!options_.ordered) done_order_.push_back(index);
  cv_.notify_all();
  return true;
}

void StreamCore::OnError(uint32_t index, std::exception_ptr error, bool) {
  std::lock_guard<std::mutex> lock(mu_);
  FinishLocked(index, std::move(error));
}

void StreamCore::Handed() {
  std::lock_guard<std::mutex> lock(mu_);
  ++handed_;
}

StreamCore::Turn StreamCore::NextTurn(const Deadline& requested) {
  const Deadline deadline =
      options_.overall ? Deadline::Min(*options_.overall, requested)
                       : requested;
  const char* const kTimeout = options_.ordered
                                   ? "imap: the next result is not ready"
                                   : "imap_unordered: no result is ready";
  for (;;) {
    const bool fed = TopUp();
    std::unique_lock<std::mutex> lock(mu_);
    if (options_.ordered) {
      auto it = done_.find(next_turn_);
      if (it != done_.end()) {
        Turn t{false, next_turn_, std::move(it->second)};
        done_.erase(it);
        ++next_turn_;
        return t;
      }
      if (next_turn_ >= next_chunk_) {  // not read from the input yet
        if (ended_) return Turn{true, 0, nullptr};
        if (fed) continue;
        // Another thread is reading the input: wait for its progress.
        const uint32_t turn = next_turn_;
        if (!WaitUntil(cv_, lock, deadline,
                        [&] { return ended_ || turn < next_chunk_; })) {
          throw TimeoutError(kTimeout);
        }
        continue;
      }
      auto in = inflight_.find(next_turn_);
      if (in == inflight_.end()) return Turn{true, 0, nullptr};  // abandoned
      const TaskRef ref = in->second;
      if (ref.gen != 0) {
        lock.unlock();
        if (!engine_->WaitDone(ref, deadline)) throw TimeoutError(kTimeout);
        engine_->Collect(ref);
        lock.lock();
      }
      // Delivered by us just now, or being delivered by another thread
      // (which collected it first), or still being submitted.
      const uint32_t turn = next_turn_;
      if (!WaitUntil(cv_, lock, deadline, [&] {
            auto i = inflight_.find(turn);
            return i == inflight_.end() || i->second.gen != ref.gen;
          })) {
        throw TimeoutError(kTimeout);
      }
      continue;
    }
    if (!done_order_.empty()) {
      const uint32_t c = done_order_.front();
      done_order_.pop_front();
      Turn t{false, c, std::move(done_[c])};
      done_.erase(c);
      return t;
    }
    if (inflight_.empty()) {
      if (ended_) {
        if (!input_error_) return Turn{true, 0, nullptr};
        return Turn{false, input_error_at_, std::exchange(input_error_, nullptr)};
      }
      if (fed) continue;
      if (!WaitUntil(cv_, lock, deadline,
                      [&] { return ended_ || !inflight_.empty(); })) {
        throw TimeoutError(kTimeout);
      }
      continue;
    }
    // Collect what is done ourselves (no thread hop), else sleep until a
    // chunk is delivered.
    std::vector<TaskRef> refs;
    for (const auto& [k, r] : inflight_) {
      if (r.gen != 0) refs.push_back(r);
    }
    lock.unlock();
    bool got = false;
    for (const TaskRef& r : refs) {
      if (engine_->IsDone(r)) {
        engine_->Collect(r);
        got = true;
      }
    }
    if (got) continue;
    auto ready = [&] { return !done_order_.empty() || inflight_.empty(); };
    if (engine_->InHandlerThread()) {
      // A callback iterating: the deliveries are ours to collect.
      engine_->WaitAsCollector(deadline, [&] {
        std::lock_guard<std::mutex> l(mu_);
        return ready();
      });
      std::lock_guard<std::mutex> l(mu_);
      if (!ready() && deadline.expired()) throw TimeoutError(kTimeout);
      continue;
    }
    lock.lock();
    if (!WaitUntil(cv_, lock, deadline, ready)) throw TimeoutError(kTimeout);
  }
}

void StreamCore::Abandon() {
  std::vector<TaskRef> refs;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (abandoned_) return;
    abandoned_ = true;
    EndLocked();
    for (const auto& [k, r] : inflight_) {
      if (r.gen != 0) refs.push_back(r);
    }
    inflight_.clear();
    done_.clear();
    done_order_.clear();
    input_error_ = nullptr;
    ClearItemsLocked();
  }
  // Chunks in flight finish in the background; the callback thread
  // collects them so their slots come back.
  for (const TaskRef& r : refs) engine_->Watch(r);
}

}  // namespace shoal::internal
