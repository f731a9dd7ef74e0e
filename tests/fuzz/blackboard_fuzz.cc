// Fuzz target: a Blackboard and a Latest<T> whose shared memory a hostile
// peer has scribbled over (ipc/blackboard.h, ipc/latest.h,
// ipc/internal/latest_cell.h). The input is a list of edits (2-byte offset,
// byte) applied to a fresh board's payload, then every call a reader or
// writer makes. Contract: results or shoal errors (InvalidRegion,
// ValueError, TimeoutError on the timed forms), never a crash, a hang or a
// sanitizer report. Writers are exercised only when the edits spared the
// robust mutexes (glibc's pthread mutex is not built to survive garbage).
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "shoal/base/errors.h"
#include "shoal/ipc/blackboard.h"
#include "shoal/ipc/latest.h"

namespace {

struct Pair {
  uint64_t a;
  uint64_t b;
};

bool InLock(uint64_t at, const std::vector<uint64_t>& cells) {
  for (uint64_t c : cells) {
    if (at >= c && at < c + sizeof(shoal::Lock)) return true;
  }
  return false;
}

template <class F>
void Try(F&& f) {
  try {
    f();
  } catch (const shoal::Error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using shoal::Blackboard;
  shoal::RegionOptions anon;
  anon.kind = shoal::RegionKind::kAnonymous;
  Blackboard board({Blackboard::Key<int>("a", 1),
                    Blackboard::Key<Pair>("pair", Pair{2, 3}),
                    Blackboard::Key<double>("d", 4.0)},
                   anon);
  shoal::Latest<Pair> latest(Pair{5, 6}, anon);
  std::byte* bb = board.region().payload();
  const uint64_t bb_size = board.region().payload_size();
  std::byte* lb = latest.region().payload();
  const uint64_t lb_size = latest.region().payload_size();
  // Where the cells' locks are (from the pristine table).
  std::vector<uint64_t> bb_cells;
  {
    auto* d = reinterpret_cast<shoal::internal::BlackboardData*>(bb);
    auto* e = reinterpret_cast<shoal::internal::BlackboardEntryData*>(
        bb + d->entries_offset);
    for (uint32_t i = 0; i < d->key_count; ++i) bb_cells.push_back(e[i].cell_offset);
  }
  bool locks_intact = true;
  for (size_t i = 0; i + 3 <= size; i += 3) {
    const uint64_t off = static_cast<uint64_t>(data[i]) << 8 | data[i + 1];
    if (off & 0x8000) {
      const uint64_t at = (off & 0x7fff) % lb_size;
      if (at < sizeof(shoal::Lock)) locks_intact = false;
      lb[at] = static_cast<std::byte>(data[i + 2]);
    } else {
      const uint64_t at = off % bb_size;
      if (InLock(at, bb_cells)) locks_intact = false;
      bb[at] = static_cast<std::byte>(data[i + 2]);
    }
  }
  const shoal::Deadline soon(std::chrono::milliseconds(10));
  Try([&] {
    Blackboard again = Blackboard::Open(board.ref());
    (void)again.keys();
  });
  Try([&] { (void)board.contains("pair"); });
  Try([&] { (void)board.generation(); });
  Try([&] { (void)board.wait_changed(board.generation(), shoal::Deadline::Now()); });
  Try([&] {
    auto e = board.entry<Pair>("pair");
    (void)e.read(soon);
    (void)e.read_versioned(soon);
    (void)e.read_if_newer(0);
    (void)e.wait_newer(e.version(), shoal::Deadline::Now());
    if (locks_intact) {
      e.publish(Pair{7, 8}, shoal::Deadline::Now());
      e.update([](Pair& p) { ++p.a; }, shoal::Deadline::Now());
      (void)e.read(soon);
    }
  });
  Try([&] { (void)board.entry<int>("a").read(soon); });
  Try([&] { (void)board.entry<float>("d").read(soon); });
  Try([&] { (void)board.entry<double>("missing").read(soon); });
  Try([&] { (void)board.read<double>("d"); });
  Try([&] {
    auto l = shoal::Latest<Pair>::Open(latest.ref());
    (void)l.read(soon);
    (void)l.read_versioned(soon);
    (void)l.wait_newer(l.version(), shoal::Deadline::Now());
    if (locks_intact) {
      l.publish(Pair{9, 9}, shoal::Deadline::Now());
      (void)l.read(soon);
    }
  });
  return 0;
}
