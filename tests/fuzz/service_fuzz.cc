// Fuzz target: a request/response service whose shared memory a hostile
// peer has scribbled over (ipc/internal/service_core.h, the engine under
// pool/service.h; the typed layer adds only the codec, fuzzed on its own).
// The input is a list of edits (2-byte offset, byte) applied to a fresh
// service's payload (control block, client table, call cells, request
// ring, heap header), after one call has been made, one posted and taken,
// and one left queued; then every call a client and a server make, with
// deadlines that have already passed (so nothing waits), and a second
// process-local handle attached to the garbage. Contract: results or shoal
// errors, never a crash, a hang or a sanitizer report. Edits to
// the heap's robust mutex are skipped (glibc's pthread mutex is not built
// to survive garbage; the heap fuzzer's concern, not this one's).
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>

#include "shoal/base/errors.h"
#include "shoal/ipc/internal/service_core.h"
#include "shoal/ipc/layout.h"
#include "shoal/sync/lock.h"

namespace {

template <class F>
void Try(F&& f) {
  try {
    f();
  } catch (const shoal::Error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using Core = shoal::internal::ServiceCore;
  shoal::internal::ServiceGeometry g;
  g.max_clients = 2;
  g.calls_per_client = 2;
  g.inline_bytes = 64;
  g.heap_bytes = 64 << 10;
  shoal::RegionOptions anon;
  anon.kind = shoal::RegionKind::kAnonymous;
  std::shared_ptr<Core> core =
      Core::Create(g, shoal::LayoutOf<Core>("service-fuzz", 1), anon);
  std::byte* base = core->region().payload();
  const auto* shared =
      reinterpret_cast<const shoal::internal::ServiceShared*>(base);
  const uint64_t heap = shared->heap_offset;
  const uint64_t span = heap + 256;  // everything up to the heap's header
  const uint64_t lock_begin = heap + 64;
  const uint64_t lock_end = lock_begin + sizeof(shoal::Lock);
  const shoal::Deadline now = shoal::Deadline::Now();
  // A call served and collected, one held by a "server" (TAKEN), one left
  // queued in the ring, one large one through the heap.
  const uint32_t client = core->AcquireClient();
  uint64_t in_use = 0;
  auto post = [&](Core::Call& call, std::size_t n) {
    return core->Post(
        client, call, n,
        [](std::span<std::byte> dst) {
          for (auto& b : dst) b = std::byte{7};
        },
        now, false);
  };
  Core::Call a = core->AcquireCell(client, &in_use);
  Core::Call b = core->AcquireCell(client, &in_use);
  Core::Taken held;
  (void)post(a, 4);
  (void)core->Take(&held, now);
  (void)post(b, 400);
  for (size_t i = 0; i + 3 <= size; i += 3) {
    const uint64_t at =
        ((static_cast<uint64_t>(data[i]) << 8) | data[i + 1]) % span;
    if (at >= lock_begin && at < lock_end) continue;
    base[at] = static_cast<std::byte>(data[i + 2]);
  }
  Try([&] {
    (void)core->Request(held);
    std::span<std::byte> area;
    if (core->ReplyArea(held, 300, now, &area)) {
      core->Complete(held, shoal::internal::kReplyValue);
    }
  });
  Try([&] {
    if (core->Poll(a, true) == Core::Outcome::kDone) {
      bool err = false;
      (void)core->Reply(a, &err);
    }
    (void)core->LostServer(a);
    core->Finish(a);
  });
  Try([&] { (void)core->Wait(client, b, now); });
  Try([&] { (void)core->Abandon(b); });
  Try([&] {
    Core::Taken t;
    if (core->Take(&t, now) == Core::Result::kOk) {
      (void)core->Request(t);
      std::span<std::byte> area;
      if (core->ReplyArea(t, 8, now, &area)) {
        core->Complete(t, shoal::internal::kReplyError);
      }
    }
  });
  Try([&] {
    Core::Call c = core->AcquireCell(client, &in_use);
    if (c) {
      (void)post(c, 10);
      (void)core->Poll(c, true);
    }
  });
  Try([&] { (void)core->Stats(); });
  Try([&] { core->ReleaseClient(client, in_use); });
  // Another handle attaching to the garbage, as a new process would.
  Try([&] {
    std::shared_ptr<Core> again = Core::Attach(core->region());
    const uint32_t c2 = again->AcquireClient();
    uint64_t used = 0;
    Core::Call c = again->AcquireCell(c2, &used);
    if (c) {
      (void)again->Post(
          c2, c, 3, [](std::span<std::byte>) {}, now, false);
      (void)again->Wait(c2, c, now);
    }
    Core::Taken t;
    (void)again->Take(&t, now);
    (void)again->Stats();
    again->ReleaseClient(c2, used);
  });
  return 0;
}
