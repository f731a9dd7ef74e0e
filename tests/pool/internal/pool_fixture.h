// Test helpers for the parts of a pool's parent side (task table,
// supervisor, callback thread): a pool region in shared memory, a Job that
// records what it is told, and a hand-played worker.
#ifndef SHOAL_TESTS_POOL_INTERNAL_POOL_FIXTURE_H_
#define SHOAL_TESTS_POOL_INTERNAL_POOL_FIXTURE_H_

#include <sys/mman.h>

#include <chrono>
#include <cstring>
#include <exception>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "shoal/base/deadline.h"
#include "shoal/pool/internal/job.h"
#include "shoal/pool/internal/pool_shared.h"
#include "shoal/pool/internal/pool_view.h"
#include "shoal/pool/internal/task_table.h"

namespace shoal::testing {

using internal::Job;
using internal::PoolGeometry;
using internal::PoolView;
using internal::TaskRef;
using internal::TaskTable;

// A pool region in an anonymous shared mapping.
class PoolMemory {
 public:
  explicit PoolMemory(uint32_t slots = 8, uint32_t workers = 2,
                      uint64_t heap_bytes = 1 << 20) {
    g_.workers = workers;
    g_.slots = slots;
    g_.heap_bytes = heap_bytes;
    bytes_ = PoolView::BytesFor(g_);
    mem_ = static_cast<std::byte*>(mmap(nullptr, bytes_,
                                        PROT_READ | PROT_WRITE,
                                        MAP_SHARED | MAP_ANONYMOUS, -1, 0));
    view = PoolView::Create(mem_, bytes_, g_);
  }
  ~PoolMemory() { munmap(mem_, bytes_); }
  PoolMemory(const PoolMemory&) = delete;
  PoolMemory& operator=(const PoolMemory&) = delete;

  PoolView view;

 private:
  PoolGeometry g_;
  std::size_t bytes_ = 0;
  std::byte* mem_ = nullptr;
};

// Records every outcome and callback run it is given, and in which thread.
class Recorder : public Job {
 public:
  struct Error {
    uint32_t index;
    std::exception_ptr error;
    bool cancelled;
  };
  void OnResult(uint32_t index, std::span<const std::byte> bytes) override {
    std::lock_guard<std::mutex> lock(mu);
    results.emplace_back(index,
                         std::string(reinterpret_cast<const char*>(bytes.data()),
                                     bytes.size()));
    threads.push_back(std::this_thread::get_id());
  }
  void OnError(uint32_t index, std::exception_ptr error,
               bool cancelled) override {
    std::lock_guard<std::mutex> lock(mu);
    errors.push_back({index, error, cancelled});
    threads.push_back(std::this_thread::get_id());
  }
  void RunCallbacks(bool run_user_code) override {
    std::lock_guard<std::mutex> lock(mu);
    callbacks.push_back(run_user_code);
    threads.push_back(std::this_thread::get_id());
  }
  std::size_t outcomes() {
    std::lock_guard<std::mutex> lock(mu);
    return results.size() + errors.size();
  }

  std::mutex mu;
  std::vector<std::pair<uint32_t, std::string>> results;
  std::vector<Error> errors;
  std::vector<bool> callbacks;
  std::vector<std::thread::id> threads;
};

// Submits `payload` as task `index` of `job`.
inline std::optional<TaskRef> SubmitBytes(
    TaskTable& table, std::shared_ptr<Job> job, const std::string& payload,
    uint32_t index = 0, bool notify = false,
    const Deadline& deadline = Deadline::Infinite(),
    std::chrono::nanoseconds timeout = std::chrono::nanoseconds(-1)) {
  auto write = [&](std::span<std::byte> dst) {
    std::memcpy(dst.data(), payload.data(), payload.size());
  };
  internal::SubmitSpec spec{internal::CodeRef{}, payload.size(), write,
                            std::move(job),      index,          timeout,
                            notify};
  return table.Submit(spec, deadline);
}

// Plays a worker: takes the next task from the ring and starts it (QUEUED
// -> RUNNING). Returns its reference, or 0 when the ring stayed empty.
inline uint64_t TakeAndStart(PoolView& view) {
  uint64_t value = 0, pos = 0;
  if (view.ring().Take(&value, &pos, Deadline(std::chrono::seconds(5))) !=
      internal::TaskRing::Status::kOk) {
    return 0;
  }
  view.ring().Release(pos);
  internal::TaskSlot& t = view.slot(internal::SlotOfRef(value));
  uint32_t s = t.state.load();
  if (!t.state.compare_exchange_strong(
          s, internal::WithPhase(s, internal::kPhaseRunning))) {
    return 0;
  }
  return value;
}

// Finishes a started task with `result` as its (inline) output.
inline void Finish(PoolView& view, uint64_t ref, const std::string& result,
                   uint32_t phase = internal::kPhaseOk) {
  const uint32_t slot = internal::SlotOfRef(ref);
  internal::TaskSlot& t = view.slot(slot);
  t.out_where = internal::kWhereInline;
  t.out_size = result.size();
  std::memcpy(view.slot_out(slot), result.data(), result.size());
  view.Complete(slot, internal::GenOfRef(ref), internal::kPhaseRunning, phase);
}

// The payload of a started task, as a string.
inline std::string Input(PoolView& view, uint64_t ref) {
  auto in = view.Input(internal::SlotOfRef(ref));
  return std::string(reinterpret_cast<const char*>(in.data()), in.size());
}

}  // namespace shoal::testing

#endif  // SHOAL_TESTS_POOL_INTERNAL_POOL_FIXTURE_H_
