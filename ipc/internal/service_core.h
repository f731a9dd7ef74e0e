// Copyright 2026 The shoal Authors.
//
// service_core.h: the untyped engine under shoal::Service<Req, Resp> and
// shoal::ServiceClient<Req, Resp> (pool/service.h): one region holding a
// control block, a table of clients, their call cells, a request ring
// (ring_core.h) and a BlockHeap for payloads larger than a cell's inline
// bytes. The typed layer adds the codec, loans and futures.
//
// Payload layout (offsets from the region payload, all checked on attach):
//   [ServiceShared][ServiceClientEntry x max_clients]
//   [ServiceCell x max_clients * calls_per_client][ring][BlockHeap]
//
// A call lives in a *cell* owned by its client (the pool's task slots, one
// table per client): the request is written into the cell (inline, or a heap
// block recorded in the cell), and only a 16-byte reference (client, cell,
// sequence) travels through the ring, which every server reads from; each
// request goes to exactly one server. The server writes the response into
// the same cell and completes it with one CAS on the cell's state word,
// which is also the futex the client sleeps on. So a call is one ring
// put/get plus two CASes, and the reply needs no second ring.
//
// Cell state (32 bits, the futex word):
//   [ seq : 24 ][ flags : 4 ][ phase : 4 ]
//   phase: FREE -> QUEUED (client posted) -> TAKEN (a server recorded its
//          pid + start time in the cell) -> DONE (reply written) -> FREE
//          (client collected); LOST: the server died holding it.
//   flags: WAITER (the client sleeps on the word), ASYNC (wake the client's
//          receiver through its entry's async_seq instead), ABANDONED (the
//          client gave up or died: whoever ends the call frees the cell).
// Every transition is a CAS on the whole word; `seq` changes on every post,
// so a stale reference in the ring is recognized and ignored.
//
// Process death
//   * A server killed holding a request: the waiting client (sync call or
//     async receiver) checks, every kLivenessCheckInterval, the server
//     recorded in its TAKEN cell (pid + start time); if it is gone it moves
//     the cell to LOST and reports WorkerLost naming the pid. A server
//     killed between taking the ring entry and recording itself leaves a
//     READING ring slot under its pid: the client finds it at the ring
//     position recorded in its cell and repairs it (RepairReadsOf), with
//     the same result. Other servers are not involved and keep serving.
//   * A client killed with calls in flight: the next client that needs an
//     entry, or anyone calling Stats(), sweeps its entry: replies already
//     written are dropped, requests still queued or being served are marked
//     ABANDONED and dropped by the server that ends them; each counted once
//     (dropped: replies nobody collected; discarded: requests no server
//     took before their client went).
//
// Validation: the geometry on attach; every reference read from the ring
// (client and cell index, sequence); every cell state's phase; every size
// and block reference before its bytes are touched. Garbage gives
// InvalidRegion, never an out-of-bounds access or an endless loop; every
// wait is bounded by a Deadline.
#ifndef SHOAL_IPC_INTERNAL_SERVICE_CORE_H_
#define SHOAL_IPC_INTERNAL_SERVICE_CORE_H_

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <span>
#include <type_traits>

#include "absl/functional/function_ref.h"
#include "shoal/base/deadline.h"
#include "shoal/base/internal/spin.h"
#include "shoal/ipc/internal/block_heap.h"
#include "shoal/ipc/internal/ring_core.h"
#include "shoal/ipc/region.h"

namespace shoal {

// What every service counts (shared by all its processes). At rest:
//   calls == served + lost + discarded  (+ calls still in flight)
// and dropped <= served.
struct ServiceStats {
  uint64_t calls = 0;      // requests posted by clients
  uint64_t served = 0;     // replies written by servers (errors included)
  uint64_t errors = 0;     // of which the handler threw
  uint64_t dropped = 0;    // replies nobody collected: the client died or
                           // had given up (timed out) by then
  uint64_t lost = 0;       // requests lost with a server that died
  uint64_t discarded = 0;  // requests no server took before their client
                           // died or gave up
  uint32_t clients = 0;    // client entries in use
};

}  // namespace shoal

namespace shoal::internal {

inline constexpr uint32_t kServiceLayoutVersion = 1;
inline constexpr uint32_t kServiceMaxCallsPerClient = 64;
inline constexpr uint32_t kServiceMaxClients = 1u << 14;

// Cell phases and flags (see the file comment).
enum class CellPhase : uint32_t { kFree, kQueued, kTaken, kDone, kLost };
inline constexpr uint32_t kCellWaiter = 1;
inline constexpr uint32_t kCellAsync = 2;
inline constexpr uint32_t kCellAbandoned = 4;

class CellState {
 public:
  constexpr CellState() = default;
  static constexpr CellState FromRaw(uint32_t raw) { return CellState(raw); }
  static constexpr CellState Make(uint32_t seq, uint32_t flags,
                                  CellPhase phase) {
    return CellState(((seq & 0xffffffu) << 8) | ((flags & 0xfu) << 4) |
                     static_cast<uint32_t>(phase));
  }
  constexpr uint32_t raw() const { return raw_; }
  constexpr uint32_t seq() const { return raw_ >> 8; }
  constexpr uint32_t flags() const { return (raw_ >> 4) & 0xfu; }
  constexpr uint32_t phase_bits() const { return raw_ & 0xfu; }
  constexpr bool valid() const {
    return phase_bits() <= static_cast<uint32_t>(CellPhase::kLost);
  }
  constexpr CellPhase phase() const {
    return static_cast<CellPhase>(phase_bits());
  }
  constexpr bool is(CellPhase p) const { return phase() == p; }
  constexpr bool has(uint32_t flag) const { return (flags() & flag) != 0; }
  constexpr CellState With(CellPhase p, uint32_t flags) const {
    return Make(seq(), flags, p);
  }
  constexpr CellState WithFlags(uint32_t flags) const {
    return Make(seq(), flags, phase());
  }
  friend constexpr bool operator==(CellState, CellState) = default;

 private:
  explicit constexpr CellState(uint32_t raw) : raw_(raw) {}
  uint32_t raw_ = 0;
};

struct ServiceShared {
  uint32_t version;
  uint32_t max_clients;
  uint32_t calls_per_client;
  uint32_t inline_bytes;      // per direction, a multiple of 64
  uint64_t clients_offset;
  uint64_t cells_offset;
  uint64_t cell_stride;       // sizeof(ServiceCell) + 2 * inline_bytes
  uint64_t ring_offset;
  uint64_t ring_bytes;
  uint64_t heap_offset;
  uint64_t heap_bytes;
  // The rare events. (calls, served and errors are counted where the hot
  // path already writes: each client's entry, each cell's second line, so a
  // call touches no cache line that every process shares.)
  alignas(64) std::atomic<uint64_t> dropped;
  std::atomic<uint64_t> lost;
  std::atomic<uint64_t> discarded;
};
static_assert(std::is_standard_layout_v<ServiceShared>);

// One client (a ServiceClient handle in one process). 64 bytes.
struct ServiceClientEntry {
  // pid << 32 | low 32 bits of its start time; 0 = free.
  std::atomic<uint64_t> owner;
  // A reply for an ASYNC cell landed: the receiver sleeps on it.
  std::atomic<uint32_t> async_seq;
  std::atomic<uint32_t> async_waiting;
  SpinPolicy spin;  // the client's wait for replies
  uint32_t pad;
  std::atomic<uint64_t> calls;  // posted through this entry, ever
  uint64_t reserved[3];
};
static_assert(std::is_standard_layout_v<ServiceClientEntry>);
static_assert(sizeof(ServiceClientEntry) == 64);

// A call cell (a 64-byte line the client and its server hand back and
// forth, and a line of counters); the inline request bytes, then the
// inline reply bytes follow.
struct ServiceCell {
  std::atomic<uint32_t> state;      // CellState, the client's futex
  std::atomic<uint32_t> req_size;   // inline request bytes (no block)
  std::atomic<uint32_t> resp_size;  // inline reply bytes (no block)
  std::atomic<uint32_t> resp_kind;  // kReplyValue / kReplyError
  std::atomic<uint64_t> server;     // who took it (as `owner` above)
  std::atomic<uint64_t> ring_pos;   // RingPos of its ring entry
  SharedBlockRef req_block;
  SharedBlockRef resp_block;
  // Written by the servers of this cell only (see ServiceShared).
  alignas(64) std::atomic<uint64_t> served;
  std::atomic<uint64_t> errors;
  uint64_t reserved[6];
};
static_assert(std::is_standard_layout_v<ServiceCell>);
static_assert(sizeof(ServiceCell) == 128);
static_assert(std::atomic<uint64_t>::is_always_lock_free);
inline constexpr uint32_t kReplyValue = 1;
inline constexpr uint32_t kReplyError = 2;

// What travels through the ring: 16 bytes, inline in a ring slot.
struct ServiceRef {
  uint32_t magic;
  uint32_t client;
  uint32_t cell;
  uint32_t seq;
};
inline constexpr uint32_t kServiceRefMagic = 0x53525631;  // "SRV1"

// The geometry a service is created with (validated by Create).
struct ServiceGeometry {
  uint32_t max_clients = 64;
  uint32_t calls_per_client = 16;
  std::size_t inline_bytes = 256;
  uint64_t heap_bytes = uint64_t{64} << 20;
};

class ServiceCore {
 public:
  enum class Result { kOk, kTimedOut, kClosed };
  using WriteFn = absl::FunctionRef<void(std::span<std::byte>)>;

  // A call in flight, as its client sees it.
  struct Call {
    uint32_t cell = 0;
    uint32_t seq = 0;
    ServiceCell* c = nullptr;
    explicit operator bool() const { return c != nullptr; }
  };
  // A request a server took.
  struct Taken {
    uint32_t client = 0;
    uint32_t cell = 0;
    uint32_t seq = 0;
    ServiceCell* c = nullptr;
    explicit operator bool() const { return c != nullptr; }
  };
  // How a wait for a reply ended.
  enum class Outcome { kPending, kDone, kLost, kTimedOut };

  static std::shared_ptr<ServiceCore> Create(const ServiceGeometry& geometry,
                                             const RegionLayout& layout,
                                             const RegionOptions& options);
  static std::shared_ptr<ServiceCore> Attach(Region region);

  // ---- client side ----
  // Takes a free client entry for this process (sweeping dead clients
  // first). Throws ValueError when every entry is in use.
  uint32_t AcquireClient();
  // Gives the entry back; calls still in flight are abandoned.
  void ReleaseClient(uint32_t client, uint64_t in_use_mask);
  // A free cell of `client` not in `*in_use` (marked there), or an empty
  // Call when every cell is busy.
  Call AcquireCell(uint32_t client, uint64_t* in_use);
  // Writes the request (`size` bytes that `write` produces: inline, or into
  // a heap block allocated until `deadline`) and queues it. On anything but
  // kOk the cell is free again (exceptions from `write` propagate).
  Result Post(uint32_t client, Call& call, std::size_t size, WriteFn write,
              const Deadline& deadline, bool async);
  // Zero-copy request: the area for `size` request bytes, in the cell or in
  // a heap block (recorded in the cell) allocated until `deadline` (false
  // on timeout); then PostWritten, or DropRequest to give it up.
  bool RequestArea(Call& call, std::size_t size, const Deadline& deadline,
                   std::span<std::byte>* area);
  Result PostWritten(uint32_t client, Call& call, bool async,
                     const Deadline& deadline);
  void DropRequest(Call& call);
  // Waits for the reply (spin, then sleep; liveness checks of the server
  // every kLivenessCheckInterval). kDone, kLost or kTimedOut.
  Outcome Wait(uint32_t client, const Call& call, const Deadline& deadline);
  // Without waiting: kDone, kLost or kPending; `check` also runs the
  // liveness checks (the async receiver, every interval).
  Outcome Poll(const Call& call, bool check);
  // The reply's bytes (validated), and whether it is an encoded error.
  std::span<const std::byte> Reply(const Call& call, bool* is_error) const;
  // The async receiver's wait: the entry's async_seq (bumped when a reply
  // to an ASYNC call lands), a sleep until it moves past `seq`, a wake-up.
  uint32_t AsyncSeq(uint32_t client) const;
  void WaitAsync(uint32_t client, uint32_t seq, const Deadline& deadline);
  void WakeAsync(uint32_t client);
  // The pid of the server a LOST call died with (0: unknown).
  pid_t LostServer(const Call& call) const;
  // Frees what the call holds and makes the cell free again.
  void Finish(const Call& call);
  // The client gives up on the call: true when it is abandoned (the cell is
  // freed by whoever ends it), false when it ended first (collect it).
  bool Abandon(const Call& call);

  // ---- server side ----
  Result Take(Taken* taken, const Deadline& deadline);
  std::span<const std::byte> Request(const Taken& t) const;
  // The area for `size` reply bytes (inline, or a heap block allocated
  // until `deadline`; false on timeout). Throws ValueError when it can
  // never fit.
  bool ReplyArea(const Taken& t, std::size_t size, const Deadline& deadline,
                 std::span<std::byte>* area);
  // Publishes the reply (kReplyValue or kReplyError) and wakes the client.
  // A reply to an abandoned call is dropped (counted).
  void Complete(const Taken& t, uint32_t kind);

  // ---- everybody ----
  void Close() { ring_.Close(); }
  bool closed() const { return ring_.closed(); }
  // Sweeps the entries of dead clients, then reads the counters.
  ServiceStats Stats();
  void SweepDeadClients();

  const Region& region() const { return region_; }
  uint32_t max_clients() const { return max_clients_; }
  uint32_t calls_per_client() const { return calls_per_client_; }
  std::size_t inline_bytes() const { return inline_bytes_; }
  uint64_t heap_capacity() const { return heap_.capacity(); }
  void set_max_spin(std::chrono::nanoseconds max);

  static constexpr auto kLivenessCheckInterval = std::chrono::milliseconds(50);

  ServiceCore(const ServiceCore&) = delete;
  ServiceCore& operator=(const ServiceCore&) = delete;
  ~ServiceCore() { writer_.Detach(); }

 private:
  ServiceCore() = default;
  void Init();
  ServiceCell* CellAt(uint32_t client, uint32_t cell) const;
  ServiceClientEntry* EntryAt(uint32_t client) const;
  std::byte* InlineRequest(ServiceCell* c) const;
  std::byte* InlineReply(ServiceCell* c) const;
  CellState Load(const ServiceCell* c) const;
  [[noreturn]] void ThrowCorrupt(const std::string& what) const;
  void FreeBlock(SharedBlockRef& ref) noexcept;
  // Liveness checks of a call that has waited a while (see the file
  // comment); true when it moved to LOST.
  bool CheckCall(const Call& call);
  // Moves a cell whose server is gone to LOST (or, `free_cell`, to FREE:
  // nobody will collect it).
  bool MarkLost(ServiceCell* c, CellState st, uint64_t server,
                bool free_cell);
  // The ring entry at `pos` is held READING by a dead process: repair it,
  // marking the calls it held LOST.
  void RepairDeadReader(pid_t pid);
  // Cleans one cell whose client is gone (`owner_gone`) or that its client
  // abandoned earlier.
  void CleanCell(ServiceCell* c, bool owner_gone);
  bool ServerGone(uint64_t server) const;
  void CountServed(ServiceCell* c, uint32_t kind);
  void UncountServed(ServiceCell* c, uint32_t kind);
  void WakeClient(uint32_t client, ServiceCell* c, CellState st);

  Region region_;
  ServiceShared* shared_ = nullptr;
  std::byte* clients_ = nullptr;
  std::byte* cells_ = nullptr;
  uint32_t max_clients_ = 0;
  uint32_t calls_per_client_ = 0;
  std::size_t inline_bytes_ = 0;
  uint64_t cell_stride_ = 0;
  RingCore ring_;
  RingWriter writer_;
  RingReader reader_;
  BlockHeap heap_;
};

// This process's identity as stored in `owner`/`server` words.
uint64_t SelfServiceId();

}  // namespace shoal::internal

#endif  // SHOAL_IPC_INTERNAL_SERVICE_CORE_H_
