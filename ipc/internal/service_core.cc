// Copyright 2026 The shoal Authors.
#include "shoal/ipc/internal/service_core.h"

#include <climits>
#include <cstring>
#include <new>
#include <string>

#include "shoal/base/errors.h"
#include "shoal/base/internal/futex.h"
#include "shoal/base/internal/process_liveness.h"

namespace shoal::internal {
namespace {

using P = CellPhase;

uint64_t RoundUp(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

// Bounds the CAS retry loops: each retry means another process changed the
// word meanwhile (a flag); a word that keeps changing is corrupt or hostile.
constexpr int kMaxCasTries = 64;

}  // namespace

uint64_t SelfServiceId() {
  return (static_cast<uint64_t>(static_cast<uint32_t>(CachedPid())) << 32) |
         (CachedStartTime() & 0xffffffffu);
}

// ---------------------------------------------------------------------------
// Creation and validation.

std::shared_ptr<ServiceCore> ServiceCore::Create(
    const ServiceGeometry& g, const RegionLayout& layout,
    const RegionOptions& options) {
  if (g.max_clients == 0 || g.max_clients > kServiceMaxClients) {
    throw ValueError("Service: max_clients must be in [1, " +
                     std::to_string(kServiceMaxClients) + "]");
  }
  if (g.calls_per_client == 0 ||
      g.calls_per_client > kServiceMaxCallsPerClient) {
    throw ValueError("Service: calls_per_client must be in [1, " +
                     std::to_string(kServiceMaxCallsPerClient) + "]");
  }
  if (g.inline_bytes > (std::size_t{1} << 20)) {
    throw ValueError("Service: inline_bytes must be at most 1 MiB");
  }
  const uint64_t inline_bytes =
      std::max<uint64_t>(64, RoundUp(g.inline_bytes, 64));
  const uint64_t clients_offset = RoundUp(sizeof(ServiceShared), 64);
  const uint64_t cells_offset =
      clients_offset + uint64_t{g.max_clients} * sizeof(ServiceClientEntry);
  const uint64_t cell_stride = sizeof(ServiceCell) + 2 * inline_bytes;
  const uint64_t ncells = uint64_t{g.max_clients} * g.calls_per_client;
  const uint64_t ring_offset = RoundUp(cells_offset + ncells * cell_stride, 64);
  const uint64_t ring_bytes =
      RingCore::BytesFor(static_cast<uint32_t>(ncells), sizeof(ServiceRef));
  const uint64_t heap_offset = RoundUp(ring_offset + ring_bytes, 64);
  const uint64_t heap_bytes =
      g.heap_bytes == 0 ? 0 : BlockHeap::BytesFor(g.heap_bytes);
  if (options.kind == RegionKind::kNamed) {
    SweepStale(layout.type_name.substr(0, layout.type_name.find('<') + 1));
  }
  // Everything before the heap's data is reserved now; the heap's data as
  // it grows (BlockHeap).
  Region region = Region::Create(
      heap_offset + heap_bytes, layout, options,
      heap_offset +
          (heap_bytes - std::min<uint64_t>(heap_bytes, g.heap_bytes)));
  std::byte* base = region.payload();
  auto* s = new (base) ServiceShared;
  s->version = kServiceLayoutVersion;
  s->max_clients = g.max_clients;
  s->calls_per_client = g.calls_per_client;
  s->inline_bytes = static_cast<uint32_t>(inline_bytes);
  s->clients_offset = clients_offset;
  s->cells_offset = cells_offset;
  s->cell_stride = cell_stride;
  s->ring_offset = ring_offset;
  s->ring_bytes = ring_bytes;
  s->heap_offset = heap_offset;
  s->heap_bytes = heap_bytes;
  for (auto* c : {&s->dropped, &s->lost, &s->discarded}) {
    c->store(0, std::memory_order_relaxed);
  }
  for (uint32_t i = 0; i < g.max_clients; ++i) {
    auto* e = new (base + clients_offset + uint64_t{i} * sizeof(
                                                      ServiceClientEntry))
        ServiceClientEntry;
    e->owner.store(0, std::memory_order_relaxed);
    e->async_seq.store(0, std::memory_order_relaxed);
    e->async_waiting.store(0, std::memory_order_relaxed);
    e->spin.Init();
    e->pad = 0;
    e->calls.store(0, std::memory_order_relaxed);
  }
  for (uint64_t i = 0; i < ncells; ++i) {
    auto* c = new (base + cells_offset + i * cell_stride) ServiceCell;
    c->state.store(0, std::memory_order_relaxed);
    c->req_size.store(0, std::memory_order_relaxed);
    c->resp_size.store(0, std::memory_order_relaxed);
    c->resp_kind.store(0, std::memory_order_relaxed);
    c->server.store(0, std::memory_order_relaxed);
    c->ring_pos.store(0, std::memory_order_relaxed);
    c->req_block.Clear();
    c->resp_block.Clear();
    c->served.store(0, std::memory_order_relaxed);
    c->errors.store(0, std::memory_order_relaxed);
  }
  RingCore::Create(base + ring_offset, ring_bytes,
                   static_cast<uint32_t>(ncells), sizeof(ServiceRef));
  if (heap_bytes > 0) {
    BlockHeap::Create(base + heap_offset, heap_bytes, g.heap_bytes);
  }
  region.PublishReady();
  return Attach(std::move(region));
}

std::shared_ptr<ServiceCore> ServiceCore::Attach(Region region) {
  std::shared_ptr<ServiceCore> core(new ServiceCore);
  core->region_ = std::move(region);
  core->Init();
  return core;
}

void ServiceCore::Init() {
  shared_ = region_.at<ServiceShared>(0);
  const std::string where = region_.description();
  // Copy the geometry once: a peer that rewrites it later cannot move what
  // this process already validated.
  const uint32_t version = shared_->version;
  const uint64_t clients = shared_->max_clients;
  const uint64_t per = shared_->calls_per_client;
  const uint64_t inl = shared_->inline_bytes;
  const uint64_t co = shared_->clients_offset, lo = shared_->cells_offset;
  const uint64_t stride = shared_->cell_stride;
  const uint64_t ro = shared_->ring_offset, rb = shared_->ring_bytes;
  const uint64_t ho = shared_->heap_offset, hb = shared_->heap_bytes;
  const uint64_t size = region_.payload_size();
  if (version != kServiceLayoutVersion) {
    throw InvalidRegion(where + ": service layout version " +
                        std::to_string(version) + ", expected " +
                        std::to_string(kServiceLayoutVersion));
  }
  auto bad = [&](const char* what) {
    throw InvalidRegion(where + ": corrupt service layout (" + what +
                        "): shared memory corrupt");
  };
  if (clients == 0 || clients > kServiceMaxClients) bad("max_clients");
  if (per == 0 || per > kServiceMaxCallsPerClient) bad("calls_per_client");
  if (inl < 64 || inl % 64 != 0 || inl > (uint64_t{1} << 20)) {
    bad("inline_bytes");
  }
  if (stride != sizeof(ServiceCell) + 2 * inl) bad("cell stride");
  const uint64_t ncells = clients * per;
  if (co < sizeof(ServiceShared) || co % 64 != 0 || co > size ||
      clients * sizeof(ServiceClientEntry) > size - co) {
    bad("client table");
  }
  if (lo < co + clients * sizeof(ServiceClientEntry) || lo % 64 != 0 ||
      lo > size || ncells * stride > size - lo) {
    bad("cells");
  }
  if (ro < lo + ncells * stride || ro % 64 != 0 || ro > size ||
      rb > size - ro) {
    bad("ring");
  }
  if (hb > 0 && (ho < ro + rb || ho % 64 != 0 || ho > size || hb > size - ho)) {
    bad("heap");
  }
  max_clients_ = static_cast<uint32_t>(clients);
  calls_per_client_ = static_cast<uint32_t>(per);
  inline_bytes_ = static_cast<std::size_t>(inl);
  cell_stride_ = stride;
  clients_ = region_.payload() + co;
  cells_ = region_.payload() + lo;
  ring_ = RingCore::Attach(region_.payload() + ro, rb);
  if (ring_.capacity() != ncells || ring_.inline_capacity() < sizeof(ServiceRef)) {
    bad("ring capacity");
  }
  if (hb > 0) heap_ = BlockHeap::Attach(region_.payload() + ho, hb);
  writer_ = RingWriter(ring_);
  reader_ = RingReader(ring_);
}

void ServiceCore::ThrowCorrupt(const std::string& what) const {
  throw InvalidRegion(region_.description() + ": " + what +
                      ": shared memory corrupt");
}

ServiceCell* ServiceCore::CellAt(uint32_t client, uint32_t cell) const {
  if (client >= max_clients_ || cell >= calls_per_client_) [[unlikely]] {
    ThrowCorrupt("call cell (" + std::to_string(client) + ", " +
                 std::to_string(cell) + ") out of range");
  }
  return reinterpret_cast<ServiceCell*>(
      cells_ + (uint64_t{client} * calls_per_client_ + cell) * cell_stride_);
}

ServiceClientEntry* ServiceCore::EntryAt(uint32_t client) const {
  if (client >= max_clients_) [[unlikely]] {
    ThrowCorrupt("client " + std::to_string(client) + " out of range");
  }
  return reinterpret_cast<ServiceClientEntry*>(
      clients_ + uint64_t{client} * sizeof(ServiceClientEntry));
}

std::byte* ServiceCore::InlineRequest(ServiceCell* c) const {
  return reinterpret_cast<std::byte*>(c) + sizeof(ServiceCell);
}

std::byte* ServiceCore::InlineReply(ServiceCell* c) const {
  return reinterpret_cast<std::byte*>(c) + sizeof(ServiceCell) + inline_bytes_;
}

CellState ServiceCore::Load(const ServiceCell* c) const {
  const CellState st =
      CellState::FromRaw(c->state.load(std::memory_order_seq_cst));
  if (!st.valid()) [[unlikely]] {
    ThrowCorrupt("call cell in unknown state " + std::to_string(st.raw()));
  }
  return st;
}

void ServiceCore::FreeBlock(SharedBlockRef& ref) noexcept {
  const BlockRef b = ref.Take();
  if (b.is_none() || !heap_.valid()) return;
  try {
    heap_.Free(b);
  } catch (...) {
    // A corrupt reference: the block leaks; whoever resolves it reports it.
  }
}

bool ServiceCore::ServerGone(uint64_t id) const {
  const pid_t pid = static_cast<pid_t>(id >> 32);
  if (pid <= 0 || pid == CachedPid()) return false;
  if (IsProcessGone(pid)) return true;
  const uint64_t start = ProcessStartTime(pid);
  return start != 0 && (start & 0xffffffffu) != (id & 0xffffffffu);
}

void ServiceCore::set_max_spin(std::chrono::nanoseconds max) {
  ring_.set_max_spin(max);
  for (uint32_t i = 0; i < max_clients_; ++i) SetMaxSpin(EntryAt(i)->spin, max);
}

// ---------------------------------------------------------------------------
// Clients.

uint32_t ServiceCore::AcquireClient() {
  const uint64_t me = SelfServiceId();
  for (int pass = 0; pass < 2; ++pass) {
    for (uint32_t i = 0; i < max_clients_; ++i) {
      ServiceClientEntry* e = EntryAt(i);
      uint64_t cur = e->owner.load(std::memory_order_relaxed);
      if (cur == 0 &&
          e->owner.compare_exchange_strong(cur, me, std::memory_order_seq_cst)) {
        return i;
      }
    }
    if (pass == 0) SweepDeadClients();
  }
  throw ValueError("ServiceClient: every one of the service's " +
                   std::to_string(max_clients_) +
                   " client entries is in use (ServiceOptions::max_clients)");
}

void ServiceCore::ReleaseClient(uint32_t client, uint64_t /*in_use_mask*/) {
  for (uint32_t k = 0; k < calls_per_client_; ++k) {
    try {
      CleanCell(CellAt(client, k), /*owner_gone=*/true);
    } catch (const Error&) {
      // A corrupt cell: leave it; the entry is still given back.
    }
  }
  EntryAt(client)->owner.store(0, std::memory_order_seq_cst);
}

ServiceCore::Call ServiceCore::AcquireCell(uint32_t client, uint64_t* in_use) {
  for (int pass = 0; pass < 2; ++pass) {
    for (uint32_t k = 0; k < calls_per_client_; ++k) {
      const uint64_t bit = uint64_t{1} << k;
      if (*in_use & bit) continue;
      ServiceCell* c = CellAt(client, k);
      const CellState st = Load(c);
      if (st.is(P::kFree)) {
        *in_use |= bit;
        return Call{k, st.seq(), c};
      }
      // Not free and not ours: a call this client abandoned (timed out) or
      // one a previous owner of the entry left. Clean it if it is over.
      if (pass == 0) CleanCell(c, /*owner_gone=*/false);
    }
  }
  return Call{};
}

bool ServiceCore::RequestArea(Call& call, std::size_t size,
                              const Deadline& deadline,
                              std::span<std::byte>* area) {
  ServiceCell* c = call.c;
  if (size <= inline_bytes_) {
    c->req_size.store(static_cast<uint32_t>(size), std::memory_order_relaxed);
    *area = {InlineRequest(c), size};
    return true;
  }
  if (!heap_.valid()) {
    throw ValueError("Service: a request of " + std::to_string(size) +
                     " bytes exceeds the inline bytes (" +
                     std::to_string(inline_bytes_) +
                     ") and the service has no heap");
  }
  std::optional<uint64_t> block = heap_.Allocate(size, deadline);
  if (!block) return false;
  c->req_block.Record(*block, size);
  c->req_size.store(0, std::memory_order_relaxed);
  *area = {heap_.At(*block, size), size};
  return true;
}

void ServiceCore::DropRequest(Call& call) { FreeBlock(call.c->req_block); }

ServiceCore::Result ServiceCore::Post(uint32_t client, Call& call,
                                      std::size_t size, WriteFn write,
                                      const Deadline& deadline, bool async) {
  std::span<std::byte> area;
  if (!RequestArea(call, size, deadline, &area)) return Result::kTimedOut;
  try {
    write(area);
  } catch (...) {
    DropRequest(call);
    throw;
  }
  return PostWritten(client, call, async, deadline);
}

ServiceCore::Result ServiceCore::PostWritten(uint32_t client, Call& call,
                                             bool async,
                                             const Deadline& deadline) {
  ServiceCell* c = call.c;
  using S = RingWriter::Status;
  RingClaim claim;
  const S s = ring_.closed() ? S::kClosed : writer_.Claim(&claim, deadline);
  if (s != S::kOk) {
    DropRequest(call);
    return s == S::kClosed ? Result::kClosed : Result::kTimedOut;
  }
  c->resp_kind.store(0, std::memory_order_relaxed);
  c->server.store(0, std::memory_order_relaxed);
  c->ring_pos.store(claim.pos.raw(), std::memory_order_relaxed);
  const CellState queued = CellState::Make(
      call.seq + 1, async ? kCellAsync : 0, P::kQueued);
  // The cell is free and ours: nobody else writes a free cell's word.
  c->state.store(queued.raw(), std::memory_order_seq_cst);
  call.seq = queued.seq();
  const ServiceRef ref{kServiceRefMagic, client, call.cell, call.seq};
  std::memcpy(claim.data, &ref, sizeof ref);
  ServiceClientEntry* e = EntryAt(client);
  // This client's line (its threads may post at once, hence the RMW).
  e->calls.fetch_add(1, std::memory_order_relaxed);
  writer_.Publish(claim, sizeof ref);
  return Result::kOk;
}

ServiceCore::Outcome ServiceCore::Poll(const Call& call, bool check) {
  CellState st = Load(call.c);
  if (st.seq() != call.seq) ThrowCorrupt("a call cell changed under its call");
  if (st.is(P::kDone)) return Outcome::kDone;
  if (st.is(P::kLost)) return Outcome::kLost;
  if (check && CheckCall(call)) return Outcome::kLost;
  return Outcome::kPending;
}

ServiceCore::Outcome ServiceCore::Wait(uint32_t client, const Call& call,
                                       const Deadline& deadline) {
  ServiceCell* c = call.c;
  auto ended = [](CellState st) {
    return st.is(P::kDone) || st.is(P::kLost);
  };
  CellState st = Load(c);
  if (!ended(st) && !deadline.expired()) {
    SpinUntil(EntryAt(client)->spin, [&] {
      st = Load(c);
      return ended(st);
    });
  }
  auto last_check = Deadline::Clock::now();
  for (int tries = 0;;) {
    st = Load(c);
    if (st.seq() != call.seq) {
      ThrowCorrupt("a call cell changed under its call");
    }
    if (st.is(P::kDone)) return Outcome::kDone;
    if (st.is(P::kLost)) return Outcome::kLost;
    if (deadline.expired()) return Outcome::kTimedOut;
    const auto now = Deadline::Clock::now();
    if (now - last_check >= kLivenessCheckInterval) {
      last_check = now;
      if (CheckCall(call)) return Outcome::kLost;
    }
    if (!st.has(kCellWaiter)) {
      uint32_t expected = st.raw();
      const CellState with = st.WithFlags(st.flags() | kCellWaiter);
      if (!c->state.compare_exchange_strong(expected, with.raw(),
                                            std::memory_order_seq_cst)) {
        if (++tries > kMaxCasTries) ThrowCorrupt("a call cell keeps changing");
        continue;
      }
      st = with;
    }
    FutexWait(&c->state, st.raw(),
              Deadline::Min(deadline, Deadline(now + kLivenessCheckInterval)));
  }
}

bool ServiceCore::CheckCall(const Call& call) {
  ServiceCell* c = call.c;
  const CellState st = Load(c);
  if (st.seq() != call.seq) return false;
  if (st.is(P::kTaken)) {
    const uint64_t server = c->server.load(std::memory_order_seq_cst);
    return ServerGone(server) && MarkLost(c, st, server, /*free_cell=*/false);
  }
  if (!st.is(P::kQueued)) return false;
  // Still queued as far as the cell knows: look at its ring entry.
  const RingPos pos =
      RingPos::FromRaw(c->ring_pos.load(std::memory_order_relaxed));
  const RingClaim rc = ring_.ClaimAt(pos);
  const SlotWord s = rc.slot->state.Load(std::memory_order_seq_cst);
  const int32_t ahead = s.LapsAheadOf(pos);
  if (ahead == 0 && s.is(SlotPhase::kReading) && s.pid() != CachedPid() &&
      IsProcessGone(s.pid())) {
    // A server died after taking the entry and before recording itself.
    RepairDeadReader(s.pid());
    return Load(c).is(P::kLost);
  }
  if (ahead > 0 && Load(c) == st) {
    // The entry left the ring and no server recorded itself: it was lost
    // with a reader that died (and somebody else repaired its slot).
    return MarkLost(c, st, 0, /*free_cell=*/false);
  }
  return false;
}

bool ServiceCore::MarkLost(ServiceCell* c, CellState st, uint64_t server,
                           bool free_cell) {
  if (free_cell) {
    // Nobody collects it: free what it holds, then the cell.
    FreeBlock(c->req_block);
    FreeBlock(c->resp_block);
    uint32_t expected = st.raw();
    if (!c->state.compare_exchange_strong(
            expected, CellState::Make(st.seq(), 0, P::kFree).raw(),
            std::memory_order_seq_cst)) {
      return false;
    }
    shared_->lost.fetch_add(1, std::memory_order_relaxed);
    return true;
  }
  c->server.store(server, std::memory_order_relaxed);
  uint32_t expected = st.raw();
  if (!c->state.compare_exchange_strong(
          expected, st.With(P::kLost, st.flags() & ~kCellWaiter).raw(),
          std::memory_order_seq_cst)) {
    return false;
  }
  shared_->lost.fetch_add(1, std::memory_order_relaxed);
  return true;
}

void ServiceCore::RepairDeadReader(pid_t pid) {
  ring_.RepairReadsOf(pid, [&](const RingClaim& claim) {
    try {
      ServiceRef ref;
      std::memcpy(&ref, claim.data, sizeof ref);
      if (ref.magic != kServiceRefMagic || ref.client >= max_clients_ ||
          ref.cell >= calls_per_client_) {
        return;  // garbage: nothing to fail
      }
      ServiceCell* c = CellAt(ref.client, ref.cell);
      for (int tries = 0; tries < kMaxCasTries; ++tries) {
        const CellState st = Load(c);
        if (st.seq() != (ref.seq & 0xffffffu) || !st.is(P::kQueued)) return;
        const uint64_t server = static_cast<uint64_t>(
                                    static_cast<uint32_t>(pid))
                                << 32;
        const bool abandoned = st.has(kCellAbandoned);
        if (MarkLost(c, st, server, abandoned)) {
          if (!abandoned) WakeClient(ref.client, c, st);
          return;
        }
      }
    } catch (const Error&) {
      // A corrupt cell: its client reports it.
    }
  });
}

void ServiceCore::WakeClient(uint32_t client, ServiceCell* c, CellState st) {
  if (st.has(kCellWaiter)) FutexWake(&c->state, INT_MAX);
  if (st.has(kCellAsync)) {
    ServiceClientEntry* e = EntryAt(client);
    e->async_seq.fetch_add(1, std::memory_order_seq_cst);
    if (e->async_waiting.load(std::memory_order_seq_cst) > 0) {
      FutexWake(&e->async_seq, INT_MAX);
    }
  }
}

uint32_t ServiceCore::AsyncSeq(uint32_t client) const {
  return EntryAt(client)->async_seq.load(std::memory_order_seq_cst);
}

void ServiceCore::WaitAsync(uint32_t client, uint32_t seq,
                            const Deadline& deadline) {
  ServiceClientEntry* e = EntryAt(client);
  e->async_waiting.fetch_add(1, std::memory_order_seq_cst);
  if (e->async_seq.load(std::memory_order_seq_cst) == seq) {
    FutexWait(&e->async_seq, seq, deadline);
  }
  e->async_waiting.fetch_sub(1, std::memory_order_seq_cst);
}

void ServiceCore::WakeAsync(uint32_t client) {
  ServiceClientEntry* e = EntryAt(client);
  e->async_seq.fetch_add(1, std::memory_order_seq_cst);
  FutexWake(&e->async_seq, INT_MAX);
}

std::span<const std::byte> ServiceCore::Reply(const Call& call,
                                              bool* is_error) const {
  ServiceCell* c = call.c;
  const uint32_t kind = c->resp_kind.load(std::memory_order_relaxed);
  if (kind != kReplyValue && kind != kReplyError) {
    ThrowCorrupt("reply of unknown kind " + std::to_string(kind));
  }
  *is_error = kind == kReplyError;
  const BlockRef block = c->resp_block.Load();
  if (block.is_none()) {
    const uint32_t n = c->resp_size.load(std::memory_order_relaxed);
    return BlockRef::Inline(n).Resolve(
        {InlineReply(c), inline_bytes_}, {},
        [&] { return region_.description() + ": service reply"; });
  }
  return block.Resolve({}, heap_.data(), [&] {
    return region_.description() + ": service reply";
  });
}

pid_t ServiceCore::LostServer(const Call& call) const {
  return static_cast<pid_t>(call.c->server.load(std::memory_order_relaxed) >>
                            32);
}

void ServiceCore::Finish(const Call& call) {
  ServiceCell* c = call.c;
  FreeBlock(c->req_block);
  FreeBlock(c->resp_block);
  c->state.store(CellState::Make(call.seq, 0, P::kFree).raw(),
                 std::memory_order_seq_cst);
}

bool ServiceCore::Abandon(const Call& call) {
  ServiceCell* c = call.c;
  for (int tries = 0; tries < kMaxCasTries; ++tries) {
    const CellState st = Load(c);
    if (st.seq() != call.seq || st.is(P::kDone) || st.is(P::kLost) ||
        st.is(P::kFree)) {
      return false;
    }
    uint32_t expected = st.raw();
    if (c->state.compare_exchange_strong(
            expected,
            st.WithFlags((st.flags() | kCellAbandoned) & ~kCellWaiter).raw(),
            std::memory_order_seq_cst)) {
      return true;
    }
  }
  ThrowCorrupt("a call cell keeps changing");
}

void ServiceCore::CleanCell(ServiceCell* c, bool owner_gone) {
  for (int tries = 0; tries < kMaxCasTries; ++tries) {
    const CellState st = Load(c);
    const bool abandoned = st.has(kCellAbandoned);
    uint32_t expected = st.raw();
    const uint32_t free_word = CellState::Make(st.seq(), 0, P::kFree).raw();
    switch (st.phase()) {
      case P::kFree:
        if (owner_gone) {
          // A request block recorded by a client that died before posting.
          FreeBlock(c->req_block);
          FreeBlock(c->resp_block);
        }
        return;
      case P::kQueued: {
        if (!owner_gone && !abandoned) return;  // a live call
        const RingPos pos =
            RingPos::FromRaw(c->ring_pos.load(std::memory_order_relaxed));
        const SlotWord s =
            ring_.ClaimAt(pos).slot->state.Load(std::memory_order_seq_cst);
        const int32_t ahead = s.LapsAheadOf(pos);
        if (ahead == 0 && s.is(SlotPhase::kReading) &&
            s.pid() != CachedPid() && IsProcessGone(s.pid())) {
          RepairDeadReader(s.pid());
          continue;
        }
        if (ahead > 0) {
          // Left the ring unserved (its entry was skipped or lost).
          if (Load(c) != st) continue;
          FreeBlock(c->req_block);
          if (c->state.compare_exchange_strong(expected, free_word,
                                               std::memory_order_seq_cst)) {
            shared_->discarded.fetch_add(1, std::memory_order_relaxed);
            return;
          }
          continue;
        }
        if (abandoned) return;  // the server that takes it drops it
        if (c->state.compare_exchange_strong(
                expected, st.WithFlags(st.flags() | kCellAbandoned).raw(),
                std::memory_order_seq_cst)) {
          return;
        }
        continue;
      }
      case P::kTaken: {
        const uint64_t server = c->server.load(std::memory_order_seq_cst);
        if (ServerGone(server)) {
          if (MarkLost(c, st, server, /*free_cell=*/true)) return;
          continue;
        }
        if (abandoned || !owner_gone) return;
        if (c->state.compare_exchange_strong(
                expected, st.WithFlags(st.flags() | kCellAbandoned).raw(),
                std::memory_order_seq_cst)) {
          return;
        }
        continue;
      }
      case P::kDone:
      case P::kLost:
        if (!owner_gone) return;  // its client collects it
        // Only the sweeper (which holds the entry) touches these now.
        FreeBlock(c->req_block);
        FreeBlock(c->resp_block);
        if (c->state.compare_exchange_strong(expected, free_word,
                                             std::memory_order_seq_cst)) {
          if (st.is(P::kDone)) {
            shared_->dropped.fetch_add(1, std::memory_order_relaxed);
          }
          return;
        }
        continue;
    }
  }
}

void ServiceCore::SweepDeadClients() {
  const uint64_t me = SelfServiceId();
  for (uint32_t i = 0; i < max_clients_; ++i) {
    ServiceClientEntry* e = EntryAt(i);
    uint64_t owner = e->owner.load(std::memory_order_acquire);
    if (owner == 0 || !ServerGone(owner)) continue;
    // Hold the entry while cleaning it (a sweeper that dies meanwhile is
    // itself gone, and the next sweep redoes the idempotent steps).
    if (!e->owner.compare_exchange_strong(owner, me,
                                          std::memory_order_seq_cst)) {
      continue;
    }
    for (uint32_t k = 0; k < calls_per_client_; ++k) {
      try {
        CleanCell(CellAt(i, k), /*owner_gone=*/true);
      } catch (const Error&) {
        // A corrupt cell stays as it is.
      }
    }
    e->owner.store(0, std::memory_order_seq_cst);
  }
}

ServiceStats ServiceCore::Stats() {
  SweepDeadClients();
  ServiceStats s;
  for (uint32_t i = 0; i < max_clients_; ++i) {
    ServiceClientEntry* e = EntryAt(i);
    s.calls += e->calls.load(std::memory_order_seq_cst);
    if (e->owner.load(std::memory_order_relaxed) != 0) ++s.clients;
    for (uint32_t k = 0; k < calls_per_client_; ++k) {
      ServiceCell* c = CellAt(i, k);
      s.served += c->served.load(std::memory_order_seq_cst);
      s.errors += c->errors.load(std::memory_order_seq_cst);
    }
  }
  s.dropped = shared_->dropped.load(std::memory_order_seq_cst);
  s.lost = shared_->lost.load(std::memory_order_seq_cst);
  s.discarded = shared_->discarded.load(std::memory_order_seq_cst);
  return s;
}

// ---------------------------------------------------------------------------
// Servers.

ServiceCore::Result ServiceCore::Take(Taken* taken, const Deadline& deadline) {
  using S = RingReader::Status;
  const uint64_t me = SelfServiceId();
  for (;;) {
    RingClaim claim;
    const S s = reader_.Claim(&claim, deadline);
    if (s == S::kClosed) return Result::kClosed;
    if (s != S::kOk) return Result::kTimedOut;
    struct ReleaseOnExit {
      RingReader& reader;
      const RingClaim& claim;
      ~ReleaseOnExit() {
        try {
          reader.Release(claim);
        } catch (...) {
        }
      }
    } release{reader_, claim};
    const std::span<const std::byte> bytes = reader_.PayloadOf(claim).Resolve(
        ring_.InlineArea(claim), {},
        [&] { return region_.description() + ": service queue slot"; });
    ServiceRef ref;
    if (bytes.size() != sizeof ref) {
      ThrowCorrupt("service queue entry of " + std::to_string(bytes.size()) +
                   " bytes");
    }
    std::memcpy(&ref, bytes.data(), sizeof ref);
    if (ref.magic != kServiceRefMagic) {
      ThrowCorrupt("service queue entry without its magic");
    }
    ServiceCell* c = CellAt(ref.client, ref.cell);
    for (int tries = 0; tries < kMaxCasTries; ++tries) {
      const CellState st = Load(c);
      if (st.seq() != (ref.seq & 0xffffffu) || !st.is(P::kQueued)) break;
      uint32_t expected = st.raw();
      if (st.has(kCellAbandoned)) {
        // Its client gave up or died before anybody served it.
        FreeBlock(c->req_block);
        if (c->state.compare_exchange_strong(
                expected, CellState::Make(st.seq(), 0, P::kFree).raw(),
                std::memory_order_seq_cst)) {
          shared_->discarded.fetch_add(1, std::memory_order_relaxed);
          break;
        }
        continue;
      }
      // Record who serves it before the ring entry goes (see the file
      // comment: at every instant the entry or the cell names the server).
      c->server.store(me, std::memory_order_seq_cst);
      if (c->state.compare_exchange_strong(
              expected, st.With(P::kTaken, st.flags()).raw(),
              std::memory_order_seq_cst)) {
        *taken = Taken{ref.client, ref.cell, st.seq(), c};
        return Result::kOk;
      }
    }
    // A stale or abandoned entry: take the next one.
  }
}

std::span<const std::byte> ServiceCore::Request(const Taken& t) const {
  ServiceCell* c = t.c;
  const BlockRef block = c->req_block.Load();
  if (block.is_none()) {
    const uint32_t n = c->req_size.load(std::memory_order_relaxed);
    return BlockRef::Inline(n).Resolve(
        {InlineRequest(c), inline_bytes_}, {},
        [&] { return region_.description() + ": service request"; });
  }
  return block.Resolve({}, heap_.data(), [&] {
    return region_.description() + ": service request";
  });
}

bool ServiceCore::ReplyArea(const Taken& t, std::size_t size,
                            const Deadline& deadline,
                            std::span<std::byte>* area) {
  ServiceCell* c = t.c;
  FreeBlock(c->resp_block);  // an earlier, abandoned attempt
  if (size <= inline_bytes_) {
    c->resp_size.store(static_cast<uint32_t>(size), std::memory_order_relaxed);
    *area = {InlineReply(c), size};
    return true;
  }
  if (!heap_.valid()) {
    throw ValueError("Service: a reply of " + std::to_string(size) +
                     " bytes exceeds the inline bytes (" +
                     std::to_string(inline_bytes_) +
                     ") and the service has no heap");
  }
  std::optional<uint64_t> block = heap_.Allocate(size, deadline);
  if (!block) return false;
  c->resp_block.Record(*block, size);
  c->resp_size.store(0, std::memory_order_relaxed);
  *area = {heap_.At(*block, size), size};
  return true;
}

void ServiceCore::CountServed(ServiceCell* c, uint32_t kind) {
  // Several servers may serve one cell over time (never at once): RMWs.
  c->served.fetch_add(1, std::memory_order_relaxed);
  if (kind == kReplyError) c->errors.fetch_add(1, std::memory_order_relaxed);
}

void ServiceCore::UncountServed(ServiceCell* c, uint32_t kind) {
  c->served.fetch_sub(1, std::memory_order_relaxed);
  if (kind == kReplyError) c->errors.fetch_sub(1, std::memory_order_relaxed);
}

void ServiceCore::Complete(const Taken& t, uint32_t kind) {
  ServiceCell* c = t.c;
  c->resp_kind.store(kind, std::memory_order_relaxed);
  for (int tries = 0; tries < kMaxCasTries; ++tries) {
    const CellState st = Load(c);
    // Someone declared this server dead and the cell moved on: drop the
    // reply without touching blocks that may be another call's now.
    if (st.seq() != t.seq || !st.is(P::kTaken)) return;
    uint32_t expected = st.raw();
    if (st.has(kCellAbandoned)) {
      FreeBlock(c->req_block);
      FreeBlock(c->resp_block);
      if (c->state.compare_exchange_strong(
              expected, CellState::Make(st.seq(), 0, P::kFree).raw(),
              std::memory_order_seq_cst)) {
        CountServed(c, kind);
        shared_->dropped.fetch_add(1, std::memory_order_relaxed);
        return;
      }
      continue;
    }
    // Counted before the reply is visible, so a client that sees it
    // also sees it counted (stats() right after a call adds up).
    CountServed(c, kind);
    if (c->state.compare_exchange_strong(
            expected, st.With(P::kDone, st.flags()).raw(),
            std::memory_order_seq_cst)) {
      WakeClient(t.client, c, st);
      return;
    }
    UncountServed(c, kind);
  }
  ThrowCorrupt("a call cell keeps changing");
}

}  // namespace shoal::internal
