// Tests for pool/internal/stream_job.h: the lazy-map protocol (TopUp / Next
// / Abandon) over a real engine with thread workers.
#include "shoal/pool/internal/stream_job.h"

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "shoal/base/errors.h"
#include "shoal/pool/pool.h"

namespace {

using namespace std::chrono_literals;
using shoal::Deadline;
using shoal::internal::Engine;
using shoal::internal::StreamCore;

constexpr auto kWait = 30s;

int Square(int x) { return x * x; }
int FailAt5(int x) {
  if (x == 5) throw std::out_of_range("five");
  return x;
}
int Sleepy(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return ms;
}

// Counts what was read; throws at `fail_at` (if >= 0); ends at `end`.
struct Counter {
  std::atomic<int> pulled{0};
  int end = 1 << 30;
  int fail_at = -1;
  std::optional<int> operator()() {
    const int v = pulled.load();
    if (v == fail_at) throw std::runtime_error("input broke");
    if (v >= end) return std::nullopt;
    pulled.store(v + 1);
    return v;
  }
};

using Fn = int (*)(int);
using Inv =
    shoal::internal::ChunkInvoker<Fn, shoal::internal::RawFor<Fn, int, false>,
                                  false>;

std::shared_ptr<shoal::internal::StreamJob<int>> Stream(
    std::shared_ptr<Engine> engine, Fn fn, Counter* input, bool ordered,
    std::size_t max_ahead, std::size_t chunksize,
    std::optional<Deadline> overall = std::nullopt) {
  StreamCore::Options o;
  o.ordered = ordered;
  o.max_ahead = max_ahead;
  o.overall = overall;
  auto gen = [input] { return (*input)(); };
  auto job = std::make_shared<
      shoal::internal::FedStream<int, int, Fn, Inv>>(
      std::move(engine), o,
      std::make_unique<shoal::internal::GeneratorSource<int, decltype(gen)>>(gen),
      fn, chunksize);
  job->TopUp();
  return job;
}

std::shared_ptr<Engine> Threads(uint32_t workers = 2, uint32_t slots = 0) {
  shoal::internal::EngineOptions o;
  o.workers = workers;
  o.threads = true;
  o.slots = slots;
  o.worker_name = "Thread";
  return Engine::Start(o);
}

TEST(StreamJobTest, InOrderAndNeverReadsMoreThanMaxAheadChunksAhead) {
  auto engine = Threads();
  Counter in;
  auto s = Stream(engine, Square, &in, /*ordered=*/true, 3, 2);
  EXPECT_LE(in.pulled.load(), 3 * 2);
  for (int i = 0; i < 50; ++i) {
    ASSERT_EQ(*s->Next(Deadline(kWait)), i * i);
    // Chunks fully handed out: i / 2 (after item 2k+1 a chunk is done).
    const int handed = (i + 1) / 2;
    ASSERT_LE(in.pulled.load(), (handed + 3) * 2) << i;
  }
  s->Abandon();
}

TEST(StreamJobTest, UnorderedIsBoundedTooWhenTheConsumerIsSlow) {
  auto engine = Threads();
  Counter in;
  auto s = Stream(engine, Square, &in, /*ordered=*/false, 4, 1);
  std::this_thread::sleep_for(50ms);  // results pile up: no more reading
  EXPECT_LE(in.pulled.load(), 4);
  std::set<int> got;
  for (int i = 0; i < 40; ++i) {
    got.insert(*s->Next(Deadline(kWait)));
    ASSERT_LE(in.pulled.load(), i + 1 + 4);
  }
  EXPECT_EQ(got.size(), 40u);
  s->Abandon();
}

TEST(StreamJobTest, AnInputThatThrowsEndsTheStreamAtItsPosition) {
  auto engine = Threads();
  {
    Counter in;
    in.fail_at = 3;
    auto s = Stream(engine, Square, &in, true, 4, 1);  // no throw here
    EXPECT_EQ(*s->Next(Deadline(kWait)), 0);
    EXPECT_EQ(*s->Next(Deadline(kWait)), 1);
    EXPECT_EQ(*s->Next(Deadline(kWait)), 4);
    EXPECT_THROW(s->Next(Deadline(kWait)), std::runtime_error);
    EXPECT_FALSE(s->Next(Deadline(kWait)).has_value());
  }
  {
    // chunksize 2, fails reading item 7: items 0..5 (whole chunks), then
    // the error (item 6 was read into the failing chunk: dropped).
    Counter in;
    in.end = 20;
    in.fail_at = 7;
    auto s = Stream(engine, Square, &in, true, 4, 2);
    for (int i = 0; i < 6; ++i) ASSERT_EQ(*s->Next(Deadline(kWait)), i * i);
    EXPECT_THROW(s->Next(Deadline(kWait)), std::runtime_error);
    EXPECT_FALSE(s->Next(Deadline(kWait)).has_value());
  }
  {
    Counter in;
    in.fail_at = 3;
    auto s = Stream(engine, Square, &in, false, 4, 1);
    std::multiset<int> got;
    for (int i = 0; i < 3; ++i) got.insert(*s->Next(Deadline(kWait)));
    EXPECT_EQ(got, (std::multiset<int>{0, 1, 4}));
    EXPECT_THROW(s->Next(Deadline(kWait)), std::runtime_error);
    EXPECT_FALSE(s->Next(Deadline(kWait)).has_value());
  }
}

TEST(StreamJobTest, AFailedChunkRaisesOnceAtItsPlaceThenIterationGoesOn) {
  auto engine = Threads();
  Counter in;
  in.end = 8;
  auto s = Stream(engine, FailAt5, &in, true, 3, 1);
  for (int i = 0; i < 5; ++i) ASSERT_EQ(*s->Next(Deadline(kWait)), i);
  EXPECT_THROW(s->Next(Deadline(kWait)), std::out_of_range);
  EXPECT_EQ(*s->Next(Deadline(kWait)), 6);
  EXPECT_EQ(*s->Next(Deadline(kWait)), 7);
  EXPECT_FALSE(s->Next(Deadline(kWait)).has_value());
}

TEST(StreamJobTest, AbandonStopsReadingAndGivesTheSlotsBack) {
  auto engine = Threads(2, /*slots=*/4);
  for (int round = 0; round < 20; ++round) {
    Counter in;
    auto s = Stream(engine, Square, &in, round % 2 == 0, 4, 1);
    ASSERT_TRUE(s->Next(Deadline(kWait)).has_value());
    const int pulled = in.pulled.load();
    s->Abandon();
    EXPECT_FALSE(s->Next(Deadline(kWait)).has_value());
    EXPECT_EQ(in.pulled.load(), pulled) << round;
  }
  // Every slot came back: a whole stream still fits.
  Counter in;
  in.end = 100;
  auto s = Stream(engine, Square, &in, true, 4, 1);
  int n = 0;
  while (auto v = s->Next(Deadline(kWait))) {
    ASSERT_EQ(*v, n * n);
    ++n;
  }
  EXPECT_EQ(n, 100);
}

TEST(StreamJobTest, TimeoutsLeaveTheStreamUsable) {
  auto engine = Threads(1);
  struct Slow {
    std::atomic<int> n{0};
    std::optional<int> operator()() {
      if (n.load() == 2) return std::nullopt;
      n.fetch_add(1);
      return 300;
    }
  };
  // A slow chunk: a short Next times out, a later one gets it.
  StreamCore::Options o;
  o.ordered = true;
  o.max_ahead = 2;
  auto slow_in = std::make_shared<Slow>();
  auto gen = [slow_in] { return (*slow_in)(); };
  auto job = std::make_shared<shoal::internal::FedStream<int, int, Fn, Inv>>(
      engine, o,
      std::make_unique<shoal::internal::GeneratorSource<int, decltype(gen)>>(gen),
      Sleepy, 1);
  job->TopUp();
  EXPECT_THROW(job->Next(Deadline(10ms)), shoal::TimeoutError);
  EXPECT_EQ(*job->Next(Deadline(kWait)), 300);
  // Executor.map's overall deadline, already past: TimeoutError.
  o.overall = Deadline::Now();
  auto late_in = std::make_shared<Slow>();
  auto late_gen = [late_in] { return (*late_in)(); };
  auto late = std::make_shared<shoal::internal::FedStream<int, int, Fn, Inv>>(
      engine, o,
      std::make_unique<
          shoal::internal::GeneratorSource<int, decltype(late_gen)>>(late_gen),
      Sleepy, 1);
  late->TopUp();
  EXPECT_THROW(late->Next(Deadline(kWait)), shoal::TimeoutError);
  late->Abandon();
  job->Abandon();
}

}  // namespace
