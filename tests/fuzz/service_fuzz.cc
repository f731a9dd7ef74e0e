// Fuzz target: a request/response Service whose shared memory a hostile
// peer has scribbled over (pool/service.h, ipc/internal/service_core.h).
// The input is a list of edits (2-byte offset, byte) applied to a fresh
// service's payload (control block, client table, call cells, request
// ring, heap header), after one call has been made, one posted and taken,
// and one left queued; then every call a client and a server make, with
// deadlines that have already passed (so nothing waits). Contract: results
// or shoal errors, never a crash, a hang or a sanitizer report. Edits to
// the heap's robust mutex are skipped (glibc's pthread mutex is not built
// to survive garbage; the heap fuzzer's concern, not this one's).
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "shoal/base/errors.h"
#include "shoal/ipc/internal/service_core.h"
#include "shoal/pool/service.h"

namespace {

template <class F>
void Try(F&& f) {
  try {
    f();
  } catch (const shoal::Error&) {
  } catch (const std::invalid_argument&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using Svc = shoal::Service<int, std::string>;
  using Client = shoal::ServiceClient<int, std::string>;
  shoal::ServiceOptions o;
  o.max_clients = 2;
  o.calls_per_client = 2;
  o.inline_bytes = 64;
  o.heap_bytes = 64 << 10;
  o.region.kind = shoal::RegionKind::kAnonymous;
  Svc svc(o);
  std::byte* base = svc.region().payload();
  const auto* shared =
      reinterpret_cast<const shoal::internal::ServiceShared*>(base);
  const uint64_t heap = shared->heap_offset;
  const uint64_t span = heap + 256;  // everything up to the heap's header
  const uint64_t lock_begin = heap + 64;
  const uint64_t lock_end = lock_begin + sizeof(shoal::Lock);
  const shoal::Deadline now = shoal::Deadline::Now();
  auto handler = [](int x) -> std::string {
    if (x < 0) throw std::invalid_argument("negative");
    return std::string(static_cast<std::size_t>(x % 200), 'x');
  };
  // The untyped core on the same mapping: a call served and collected, one
  // held by a "server" (TAKEN), one left queued in the ring.
  using Core = shoal::internal::ServiceCore;
  std::shared_ptr<Core> core = Core::Attach(svc.region());
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
  (void)post(b, 40);
  for (size_t i = 0; i + 3 <= size; i += 3) {
    const uint64_t at =
        ((static_cast<uint64_t>(data[i]) << 8) | data[i + 1]) % span;
    if (at >= lock_begin && at < lock_end) continue;
    base[at] = static_cast<std::byte>(data[i + 2]);
  }
  Try([&] {
    (void)core->Request(held);
    std::span<std::byte> area;
    if (core->ReplyArea(held, 10, now, &area)) {
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
  Try([&] { (void)core->Abandon(b); });
  Try([&] {
    Core::Taken t;
    if (core->Take(&t, now) == Core::Result::kOk) {
      (void)core->Request(t);
      core->Complete(t, shoal::internal::kReplyError);
    }
  });
  Try([&] { (void)core->Wait(client, b, now); });
  Try([&] { (void)core->Stats(); });
  Try([&] { core->ReleaseClient(client, in_use); });
  // The typed layer over the same (now garbage) memory.
  Try([&] {
    Client c(svc);
    Try([&] { (void)c.call(-1, now); });
    Try([&] { (void)svc.serve_one(handler, now); });
    Try([&] { (void)c.call(150, now); });
    Try([&] { (void)svc.serve_one(handler, now); });
  });
  Try([&] { (void)svc.stats(); });
  Try([&] {
    Svc again = Svc::Open(svc.ref());
    Client c2(again);
    (void)c2.call(1, now);
    (void)again.serve_one(handler, now);
    (void)again.stats();
  });
  return 0;
}
