// Fuzz target: a LIVE Broadcast (ipc/broadcast.h) whose shared memory a
// hostile peer writes into between the real operations of publishers and
// subscribers. The input is a script: each step either runs an operation
// (loan and publish, abandon a loan, subscribe with either policy and some
// history, receive, release a held view, leave, evict_dead, open the
// region again, wait on the subscribers) or overwrites a few bytes anywhere in the broadcast's
// shared memory: the geometry, the tail, the wake-up words and counters,
// slot states, sizes, flags and pin bits, subscriber entries and cursors,
// and payloads.
//
// Contract checked: every operation returns (a value, nothing, false) or
// throws a shoal error (InvalidRegion, RuntimeError, ...), never crashes,
// never reads outside the mapping (ASan), and returns within kBound of its
// deadline whatever was written (aborts otherwise, which libFuzzer reports).
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <vector>

#include "shoal/base/deadline.h"
#include "shoal/base/errors.h"
#include "shoal/ipc/broadcast.h"
#include "shoal/ipc/wait.h"

namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kBound = std::chrono::seconds(2);

class Script {
 public:
  Script(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  bool done() const { return size_ == 0; }
  uint8_t Byte() {
    if (size_ == 0) return 0;
    --size_;
    return *data_++;
  }
  uint32_t Bytes(int n) {
    uint32_t v = 0;
    for (int i = 0; i < n; ++i) v = v << 8 | Byte();
    return v;
  }

 private:
  const uint8_t* data_;
  size_t size_;
};

template <class Fn>
void Bounded(const char* what, Fn&& fn) {
  const auto start = Clock::now();
  try {
    fn();
  } catch (const shoal::Error&) {
  }
  if (Clock::now() - start > kBound) {
    std::fprintf(stderr, "broadcast_fuzz: %s took longer than its bound\n",
                 what);
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace shoal;
  using namespace std::chrono_literals;
  using B = Broadcast<uint32_t>;
  BroadcastOptions options{.slots = 4, .history = 2, .max_subscribers = 70};
  options.region.kind = RegionKind::kAnonymous;
  B pub(8, options);
  std::optional<B> other;
  try {
    other.emplace(B::Open(pub.ref()));
  } catch (const Error&) {
    return 0;
  }
  std::vector<B::Subscriber> subs;
  std::vector<B::View> views;
  std::vector<B::Loan> loans;
  subs.push_back(pub.subscribe());
  subs.push_back(other->subscribe({.when_behind = WhenBehind::kOverwrite}));
  pub.send(std::vector<uint32_t>{1, 2, 3});

  std::byte* base = pub.region().payload();
  const uint64_t payload = pub.region().payload_size();

  Script s(data, size);
  for (int step = 0; step < 64 && !s.done(); ++step) {
    const uint8_t op = s.Byte();
    const uint8_t arg = op >> 4;
    switch (op & 15) {
      case 0:
      case 1:
        Bounded("try_send", [&] {
          B& h = (arg & 1) ? *other : pub;
          (void)h.try_send(std::vector<uint32_t>(arg % 9, arg));
        });
        break;
      case 2:
        Bounded("loan(1ms)", [&] {
          auto l = pub.try_loan(arg % 9, Deadline(1ms));
          if (l && loans.size() < 4) loans.push_back(std::move(*l));
        });
        break;
      case 3:
        Bounded("publish or abandon", [&] {
          if (loans.empty()) return;
          if (arg & 1) loans.back().publish(arg % 2);
          loans.pop_back();
        });
        break;
      case 4:
        Bounded("subscribe", [&] {
          if (subs.size() >= 8) return;
          subs.push_back(pub.subscribe(
              {.when_behind = (arg & 1) ? WhenBehind::kOverwrite
                                        : WhenBehind::kBlockWriter,
               .history = static_cast<uint32_t>(arg >> 1)}));
        });
        break;
      case 5:
      case 6:
        Bounded("try_receive", [&] {
          if (subs.empty()) return;
          auto v = subs[arg % subs.size()].try_receive(
              (op & 15) == 6 ? Deadline(1ms) : Deadline::Now());
          if (v) {
            uint64_t sum = 0;
            for (uint32_t x : *v) sum += x;  // every byte of it is readable
            (void)sum;
            if (views.size() < 6) views.push_back(std::move(*v));
          }
        });
        break;
      case 7:
        Bounded("release", [&] {
          if (!views.empty()) views.erase(views.begin() + arg % views.size());
        });
        break;
      case 8:
        Bounded("leave", [&] {
          if (subs.empty()) return;
          views.clear();  // a View must not outlive its reads of a left entry
          subs.erase(subs.begin() + arg % subs.size());
        });
        break;
      case 9:
        Bounded("counters", [&] {
          (void)pub.evict_dead();
          (void)pub.subscribers();
          (void)pub.lost();
          (void)pub.published();
          for (auto& sub : subs) (void)(sub.missed() + sub.lost() + sub.cursor());
        });
        break;
      case 10:
        Bounded("open", [&] {
          B again = B::Open(pub.ref());
          auto sub = again.subscribe();
          (void)sub.try_receive();
        });
        break;
      case 11:
        Bounded("wait", [&] {
          // A WaitSet on the subscribers reads their entries, cursors and
          // slots (BroadcastWatch); a ready one's receive must not crash.
          WaitSet set;
          for (auto& sub : subs) set.add(sub);
          for (const Waitable& r : set.wait(Deadline(1ms))) {
            for (auto& sub : subs) {
              if (r.is(sub)) (void)sub.try_receive();
            }
          }
        });
        break;
      default: {
        // The hostile peer: a few bytes at an offset anywhere in the ring.
        const uint64_t at = s.Bytes(2) % payload;
        const int n = 1 + arg % 8;
        for (int i = 0; i < n && at + i < payload; ++i) {
          base[at + i] = static_cast<std::byte>(s.Byte());
        }
        break;
      }
    }
  }
  views.clear();
  loans.clear();
  return 0;
}
