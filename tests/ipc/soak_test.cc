// Soak: 8 producers and 8 consumers on one queue for a bounded time
// (SHOAL_SOAK_SECONDS, default 60), items of random size from 0 B to 1 MiB
// (mostly small, some large: inline slots and the heap both work hard). Every
// item carries (producer, sequence) and a payload pattern derived from them;
// consumers check the pattern and tick a shared bitmap. At the end: 0 lost,
// 0 duplicated, 0 corrupt, and the figures are printed for RELIABILITY.md.
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "shoal/base/errors.h"
#include "shoal/ipc/queue.h"
#include "tests/ipc/fork_helper.h"

namespace shoal {
namespace {

using namespace std::chrono_literals;
using Item = std::pair<std::pair<uint32_t, uint32_t>, std::string>;

constexpr int kProducers = 8, kConsumers = 8;
constexpr uint32_t kMaxPerProducer = 4u << 20;

char Pattern(uint32_t p, uint32_t seq, size_t k) {
  return static_cast<char>((p * 31u + seq * 7u + k * 13u) & 0xff);
}

struct Shared {
  std::atomic<uint32_t> produced[kProducers];
  std::atomic<uint64_t> bytes;
  std::atomic<uint64_t> corrupt;
  std::atomic<uint8_t> seen[kProducers][kMaxPerProducer];
};

TEST(Soak, EightProducersEightConsumersRandomSizes) {
  const char* env = std::getenv("SHOAL_SOAK_SECONDS");
  const int seconds = env ? std::atoi(env) : 60;
  void* mem = mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(mem, MAP_FAILED);
  auto* sh = new (mem) Shared();
  Queue<Item> q(QueueOptions{.maxsize = 256, .heap_bytes = uint64_t{96} << 20});

  std::vector<pid_t> consumers, producers;
  for (int c = 0; c < kConsumers; ++c) {
    consumers.push_back(testing::StartChild(
        [&] {
          for (;;) {
            std::optional<Item> it = q.try_get(30s);
            if (!it) return 0;  // closed and drained
            auto [p, seq] = it->first;
            const std::string& s = it->second;
            bool ok = p < kProducers && seq < kMaxPerProducer;
            for (size_t k = 0; ok && k < s.size(); k += 61) {
              ok = s[k] == Pattern(p, seq, k);
            }
            if (ok && !s.empty()) ok = s.back() == Pattern(p, seq, s.size() - 1);
            if (!ok) {
              sh->corrupt.fetch_add(1);
              continue;
            }
            sh->seen[p][seq].fetch_add(1);
            sh->bytes.fetch_add(s.size());
          }
        },
        seconds + 120));
  }
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  for (int p = 0; p < kProducers; ++p) {
    producers.push_back(testing::StartChild(
        [&, p] {
          std::mt19937 rng(100 + p);
          uint32_t seq = 0;
          while (std::chrono::steady_clock::now() < end &&
                 seq < kMaxPerProducer) {
            size_t n = rng() % 100 < 97 ? rng() % 512 : rng() % (1 << 20);
            std::string s(n, '\0');
            for (size_t k = 0; k < n; ++k) s[k] = Pattern(p, seq, k);
            q.put(Item{{uint32_t(p), seq}, std::move(s)}, 30s);
            ++seq;
            sh->produced[p].store(seq);
          }
          return 0;
        },
        seconds + 120));
  }
  for (pid_t p : producers) ASSERT_EQ(testing::WaitChild(p, seconds + 130), 0);
  q.close();
  for (pid_t c : consumers) ASSERT_EQ(testing::WaitChild(c, 130), 0);

  uint64_t total = 0, lost = 0, duplicated = 0;
  for (int p = 0; p < kProducers; ++p) {
    const uint32_t n = sh->produced[p].load();
    total += n;
    for (uint32_t s = 0; s < n; ++s) {
      const uint8_t c = sh->seen[p][s].load();
      lost += c == 0;
      duplicated += c > 1;
    }
  }
  std::printf(
      "[figures] soak: %d s, %d producers x %d consumers, %llu items "
      "(%.1f MiB) delivered; lost %llu, duplicated %llu, corrupt %llu; "
      "queue lost() %llu\n",
      seconds, kProducers, kConsumers, static_cast<unsigned long long>(total),
      sh->bytes.load() / 1048576.0, static_cast<unsigned long long>(lost),
      static_cast<unsigned long long>(duplicated),
      static_cast<unsigned long long>(sh->corrupt.load()),
      static_cast<unsigned long long>(q.lost()));
  EXPECT_GT(total, 0u);
  EXPECT_EQ(lost, 0u);
  EXPECT_EQ(duplicated, 0u);
  EXPECT_EQ(sh->corrupt.load(), 0u);
  EXPECT_EQ(q.lost(), 0u);
  munmap(mem, sizeof(Shared));
}

}  // namespace
}  // namespace shoal
