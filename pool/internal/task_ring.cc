// Copyright 2026 The shoal Authors.
#include "shoal/pool/internal/task_ring.h"

#include <cstring>
#include <string>

#include "shoal/base/errors.h"

namespace shoal::internal {
namespace {

constexpr uint32_t kMaxCapacity = 1u << 24;

bool CapacityOk(uint32_t capacity) {
  return capacity != 0 && (capacity & (capacity - 1)) == 0 &&
         capacity <= kMaxCapacity;
}

constexpr RingOptions kTaskRingOptions{
    .holder_death = HolderDeath::kRepairedByOwner,
    .writes_after_close = true,
};

uint64_t ValueIn(const RingClaim& claim) {
  uint64_t v;
  std::memcpy(&v, claim.data, sizeof(v));
  return v;
}

}  // namespace

std::size_t TaskRing::BytesFor(uint32_t capacity) {
  if (!CapacityOk(capacity)) {
    throw ValueError("task ring: capacity must be a power of two <= 2^24");
  }
  return RingCore::BytesFor(capacity, sizeof(uint64_t));
}

TaskRing TaskRing::Create(void* mem, std::size_t bytes, uint32_t capacity) {
  if (bytes < BytesFor(capacity)) {
    throw ValueError("task ring: memory too small or misaligned");
  }
  return TaskRing(RingCore::Create(mem, bytes, capacity, sizeof(uint64_t),
                                   kTaskRingOptions));
}

TaskRing TaskRing::Attach(void* mem, std::size_t bytes) {
  const RingCore core = RingCore::Attach(mem, bytes, kTaskRingOptions);
  if (!CapacityOk(core.capacity()) ||
      core.inline_capacity() < sizeof(uint64_t)) {
    throw InvalidRegion("task ring: corrupt geometry (capacity " +
                        std::to_string(core.capacity()) + ")");
  }
  return TaskRing(core);
}

bool TaskRing::Push(uint64_t value, const Deadline& deadline) {
  RingClaim claim;
  if (writer_.Claim(&claim, deadline) != RingCore::Status::kOk) return false;
  std::memcpy(claim.data, &value, sizeof(value));
  writer_.Publish(claim, sizeof(value));
  return true;
}

TaskRing::Status TaskRing::Take(uint64_t* value, uint64_t* pos,
                                const Deadline& deadline, bool may_spin) {
  RingClaim claim;
  switch (reader_.Claim(&claim, deadline, may_spin)) {
    case RingCore::Status::kOk:
      *value = ValueIn(claim);
      *pos = claim.pos.raw();
      return Status::kOk;
    case RingCore::Status::kClosed:
      return Status::kClosed;
    case RingCore::Status::kWouldBlock:
      return Status::kEmpty;
    default:
      return Status::kTimedOut;
  }
}

void TaskRing::Release(uint64_t pos) {
  reader_.Release(reader_.core().ClaimAt(RingPos::FromRaw(pos)));
}

void TaskRing::TakeFromDead(pid_t pid, std::vector<uint64_t>* values) {
  writer_.core().RepairReadsOf(
      pid, [&](const RingClaim& claim) { values->push_back(ValueIn(claim)); });
}

}  // namespace shoal::internal
