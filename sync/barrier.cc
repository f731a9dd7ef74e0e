#include "shoal/sync/barrier.h"

#include <algorithm>
#include <climits>
#include <string>

#include "shoal/base/internal/fnv.h"
#include "shoal/base/internal/futex.h"

namespace shoal {

Barrier::Barrier(uint32_t parties, void (*action)(), Timeout timeout) {
  if (parties == 0) throw ValueError("Barrier: parties must be at least 1");
  generation_.store(0, std::memory_order_relaxed);
  sleepers_.store(0, std::memory_order_relaxed);
  count_.store(0, std::memory_order_relaxed);
  broken_.store(0, std::memory_order_relaxed);
  parties_ = parties;
  spin_.Init();
  for (auto& w : outcome_) w.store(0, std::memory_order_relaxed);
  static_assert(offsetof(Barrier, action_) == internal::kCacheLine + 32,
                "the action fields fill the hot line after the spin policy");
  action_ = action == nullptr
                ? internal::CodeRef{}
                : internal::RefOf(reinterpret_cast<const void*>(action));
  timeout_ns_ = timeout.count();
  check_ = FieldsCheck();
}

uint64_t Barrier::FieldsCheck() const {
  constexpr uint64_t kSeed = internal::Fnv1a64("shoal::Barrier fields");
  uint64_t h = kSeed;
  h = internal::Fnv1a64(action_.module, h);
  h = internal::Fnv1a64(action_.offset, h);
  h = internal::Fnv1a64(static_cast<uint64_t>(timeout_ns_), h);
  return internal::Fnv1a64(uint64_t{parties_}, h);
}

void Barrier::VerifyFields() const {
  if (check_ != FieldsCheck()) {
    throw InvalidRegion(
        "Barrier: its action or timeout fields in shared memory were "
        "overwritten (checksum mismatch); the barrier is corrupt");
  }
}

Timeout Barrier::timeout() const {
  VerifyFields();
  return Timeout(std::chrono::nanoseconds(timeout_ns_));
}

void Barrier::RunOwnAction() {
  VerifyFields();
  if (action_.module == 0 && action_.offset == 0) return;
  const void* fn = internal::Resolve(action_, internal::CodeKind::kCode);
  reinterpret_cast<void (*)()>(const_cast<void*>(fn))();
}

bool Barrier::LockInternal() {
  if (mu_.acquire_status() == LockStatus::kAcquired) return false;
  // A process died holding the internal lock: the count (or the generation
  // it was ending) cannot be trusted. Repair by breaking: end the current
  // generation as broken, which releases every sleeper with
  // BrokenBarrierError, and leave the barrier broken until reset().
  broken_.store(1, std::memory_order_relaxed);
  const bool wake = EndGenerationLocked(/*broken=*/true);
  mu_.make_consistent();
  if (wake) WakeAll();
  return true;
}

bool Barrier::EndGenerationLocked(bool broken) {
  const uint32_t g = generation_.load(std::memory_order_relaxed);
  const uint32_t slot = g % kRingBits;
  const uint64_t bit = uint64_t{1} << (slot % 64);
  std::atomic<uint64_t>& word = outcome_[slot / 64];
  if (broken) {
    word.fetch_or(bit, std::memory_order_acq_rel);
  } else {
    word.fetch_and(~bit, std::memory_order_acq_rel);
  }
  count_.store(0, std::memory_order_relaxed);
  generation_.store(g + 1, std::memory_order_seq_cst);
  // Dekker pair with AwaitOutcome: generation first, then the sleeper flag.
  return sleepers_.load(std::memory_order_seq_cst) != 0 &&
         sleepers_.exchange(0, std::memory_order_seq_cst) != 0;
}

void Barrier::EndGenerationAndUnlock(bool broken) {
  if (broken) broken_.store(1, std::memory_order_relaxed);
  const bool wake = EndGenerationLocked(broken);
  mu_.release();
  if (wake) WakeAll();
}

void Barrier::WakeAll() { internal::FutexWake(&generation_, INT_MAX); }

Barrier::Arrival Barrier::Arrive() {
  if (LockInternal()) {
    mu_.release();
    throw BrokenBarrierError(
        "Barrier::wait: a process died inside the barrier; the barrier is "
        "broken until reset()");
  }
  if (broken_.load(std::memory_order_relaxed) != 0) {
    mu_.release();
    throw BrokenBarrierError("Barrier::wait: the barrier is broken");
  }
  const uint32_t index = count_.load(std::memory_order_relaxed);
  const uint32_t g = generation_.load(std::memory_order_relaxed);
  if (index + 1 == parties_) return {index, g, true};  // keeps the lock
  count_.store(index + 1, std::memory_order_relaxed);
  mu_.release();
  return {index, g, false};
}

int Barrier::OutcomeOf(uint32_t g) const {
  const uint32_t slot = g % kRingBits;
  const uint64_t word = outcome_[slot / 64].load(std::memory_order_acquire);
  // Seqlock-style validation: slot g is rewritten only while generation
  // g + kRingBits is ending, i.e. after the generation word reached it.
  const uint32_t now = generation_.load(std::memory_order_acquire);
  if (now - g >= kRingBits) return -1;
  return static_cast<int>((word >> (slot % 64)) & 1);
}

uint32_t Barrier::AwaitOutcome(const Arrival& a, const Deadline& deadline) {
  const uint32_t g = a.generation;
  auto moved = [&] {
    return generation_.load(std::memory_order_seq_cst) != g;
  };
  if (!internal::SpinUntil(spin_, moved)) {
    for (;;) {
      if (sleepers_.load(std::memory_order_seq_cst) == 0) {
        sleepers_.store(1, std::memory_order_seq_cst);
      }
      if (moved()) break;
      const auto r = internal::FutexWait(&generation_, g, deadline);
      if (moved()) break;
      if (r == internal::WaitResult::kTimedOut) {
        // Python: a party that times out breaks the barrier, so the others
        // do not wait forever for it.
        LockInternal();
        if (generation_.load(std::memory_order_relaxed) == g) {
          EndGenerationAndUnlock(/*broken=*/true);
          throw BrokenBarrierError(
              "Barrier::wait: timed out; the barrier is broken until reset()");
        }
        mu_.release();
        break;  // the generation ended meanwhile: its outcome decides
      }
    }
  }
  switch (OutcomeOf(g)) {
    case 0:
      return a.index;
    case 1:
      throw BrokenBarrierError(
          "Barrier::wait: the barrier was broken (abort(), reset(), a timeout "
          "or a failed action) while waiting");
    default:
      throw BrokenBarrierError(
          "Barrier::wait: the outcome of this generation is unknown (more "
          "than 256 generations ended while this waiter was descheduled)");
  }
}

void Barrier::reset() {
  LockInternal();
  bool wake = false;
  if (count_.load(std::memory_order_relaxed) > 0) {
    wake = EndGenerationLocked(/*broken=*/true);
  }
  broken_.store(0, std::memory_order_relaxed);
  mu_.release();
  if (wake) WakeAll();
}

void Barrier::abort() {
  LockInternal();
  broken_.store(1, std::memory_order_relaxed);
  bool wake = false;
  if (count_.load(std::memory_order_relaxed) > 0) {
    wake = EndGenerationLocked(/*broken=*/true);
  }
  mu_.release();
  if (wake) WakeAll();
}

void Barrier::set_max_spin(Timeout max) {
  internal::SetMaxSpin(spin_, max);
}

}  // namespace shoal
