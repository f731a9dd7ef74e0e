// Copyright 2026 The shoal Authors.
#include "bench/shootout/fanout.h"

#include <unistd.h>

#include <cstdio>

#include <stdexcept>
#include <vector>

#include "bench/shootout/links.h"
#include "bench/shootout/peer_links.h"
#include "bench/shootout/runner.h"
#include "iceoryx_posh/mepoo/chunk_header.hpp"
#include "iceoryx_posh/popo/untyped_subscriber.hpp"
#include "iceoryx_posh/popo/wait_set.hpp"

namespace shoal::shootout {
namespace {

// Nanoseconds process `pid` (0: this one) has run on a CPU: the first field
// of /proc/<pid>/schedstat (updated at each tick and context switch, so a
// reading may lag the truth by one tick). 0 when it cannot be read.
uint64_t OnCpuNs(pid_t pid) {
  char path[64];
  if (pid == 0) {
    std::snprintf(path, sizeof path, "/proc/self/schedstat");
  } else {
    std::snprintf(path, sizeof path, "/proc/%d/schedstat", static_cast<int>(pid));
  }
  FILE* f = std::fopen(path, "re");
  if (f == nullptr) return 0;
  unsigned long long ns = 0;
  if (std::fscanf(f, "%llu", &ns) != 1) ns = 0;
  std::fclose(f);
  return ns;
}

// Polls `cond` (with short sleeps) until it holds, `until_ns` passes or
// *abort is set.
template <class Cond>
bool PollUntil(Cond cond, uint64_t until_ns, const std::atomic<uint32_t>* abort) {
  for (uint32_t i = 0; !cond(); ++i) {
    if ((abort != nullptr && abort->load(std::memory_order_relaxed) != 0) ||
        bench::NowNs() > until_ns) {
      return false;
    }
    if (i < 10000) {
      bench::Relax();
    } else {
      usleep(20);
    }
  }
  return true;
}

iox::capro::ServiceDescription FanOutService(const std::string& service) {
  return iox::capro::ServiceDescription(
      "shoal", "fanout",
      iox::capro::IdString_t(iox::cxx::TruncateToCapacity, service.c_str()));
}

// Waits until cond(k) holds for every subscriber k < subs (see PollUntil).
template <class Cond>
bool PollAll(int subs, Cond cond, uint64_t until_ns, const std::atomic<uint32_t>* abort) {
  for (int k = 0; k < subs; ++k) {
    if (!PollUntil([&] { return cond(k); }, until_ns, abort)) return false;
  }
  return true;
}

}  // namespace

void FanOutCtl::MarkReady(int k) {
  reader[k].pid.store(getpid(), std::memory_order_relaxed);
  reader[k].ready.store(1, std::memory_order_release);
}

uint64_t FanOutCtl::CpuNs(int subs) const {
  uint64_t ns = OnCpuNs(0);
  for (int k = 0; k < subs; ++k) {
    if (const pid_t p = reader[k].pid.load(std::memory_order_relaxed); p > 0) ns += OnCpuNs(p);
  }
  return ns;
}

bool FanOutCtl::WaitReady(int subs, uint64_t until_ns,
                          const std::atomic<uint32_t>* abort) const {
  return PollAll(
      subs, [&](int k) { return reader[k].ready.load(std::memory_order_acquire) != 0; },
      until_ns, abort);
}

bool FanOutCtl::WaitAcked(int subs, uint64_t n, uint64_t until_ns,
                          const std::atomic<uint32_t>* abort) const {
  return PollAll(
      subs, [&](int k) { return reader[k].acked.load(std::memory_order_acquire) >= n; },
      until_ns, abort);
}

bool FanOutCtl::WaitDone(int subs, uint64_t until_ns,
                         const std::atomic<uint32_t>* abort) const {
  return PollAll(
      subs, [&](int k) { return reader[k].done.load(std::memory_order_acquire) != 0; },
      until_ns, abort);
}

namespace {

// The subscriber loop of the shoal rows: `receive()` returns the next View
// (Broadcast or Channel), or throws Closed after the last one.
template <class Receive>
void ReceiveViews(Receive receive, std::size_t words, FanOutCtl* ctl, int k,
                  CheckFn check) {
  ctl->MarkReady(k);
  try {
    for (uint64_t n = 0;;) {
      auto v = receive();
      if (v.size() != words || check(v.data(), words) != n) ctl->bad++;
      v.release();
      ctl->Ack(k, ++n);
    }
  } catch (const shoal::Closed&) {
  }
  ctl->reader[k].done.store(1, std::memory_order_release);
}

}  // namespace

void ReceiveBroadcast(shoal::Broadcast<uint64_t>& bus, std::size_t words, FanOutCtl* ctl,
                      int k, CheckFn check) {
  auto sub = bus.subscribe();
  ReceiveViews([&] { return sub.receive(); }, words, ctl, k, check);
}

void ReceiveChannel(shoal::Channel<uint64_t>& ch, std::size_t words, FanOutCtl* ctl, int k,
                    CheckFn check) {
  ReceiveViews([&] { return ch.receive(); }, words, ctl, k, check);
}

void ReceiveIceoryx(const std::string& name, const std::string& service, std::size_t words,
                    bool poll, FanOutCtl* ctl, int k, CheckFn check) {
  InitIceoryxRuntime(name);
  iox::popo::SubscriberOptions so;
  so.queueCapacity = kFanOutDepth;
  so.queueFullPolicy = iox::popo::QueueFullPolicy::BLOCK_PRODUCER;
  iox::popo::UntypedSubscriber sub(FanOutService(service), so);
  std::optional<iox::popo::WaitSet<>> ws;
  if (!poll) {
    ws.emplace();
    if (ws->attachState(sub, iox::popo::SubscriberState::HAS_DATA).has_error()) {
      throw std::runtime_error("iceoryx: WaitSet::attachState failed");
    }
  }
  if (!PollUntil(
          [&] { return sub.getSubscriptionState() == iox::SubscribeState::SUBSCRIBED; },
          bench::NowNs() + 30'000'000'000ull, nullptr)) {
    throw std::runtime_error("iceoryx: not subscribed within 30 s");
  }
  ctl->MarkReady(k);
  PollWait w;
  for (uint64_t n = 0;;) {
    auto r = sub.take();
    if (r.has_error()) {
      if (poll) {
        w.Wait();
      } else {
        ws->wait();
      }
      continue;
    }
    w.Reset();
    const void* p = r.value();
    const auto* h = iox::mepoo::ChunkHeader::fromUserPayload(p);
    const uint64_t s = h->userPayloadSize() == words * 8
                           ? check(static_cast<const uint64_t*>(p), words)
                           : bench::kBadSeq;
    sub.release(p);
    if (s == bench::kStopSeq) break;
    if (s != n) ctl->bad++;
    ctl->Ack(k, ++n);
  }
  ctl->reader[k].done.store(1, std::memory_order_release);
}

IceoryxFanOutPublisher::IceoryxFanOutPublisher(const std::string& name,
                                               const std::string& service) {
  InitIceoryxRuntime(name);
  iox::popo::PublisherOptions po;
  po.subscriberTooSlowPolicy = iox::popo::ConsumerTooSlowPolicy::WAIT_FOR_CONSUMER;
  pub_.emplace(FanOutService(service), po);
}

void IceoryxFanOutPublisher::Publish(std::size_t words, uint64_t seq, StampFn stamp) {
  for (;;) {
    auto r = pub_->loan(static_cast<uint32_t>(words * 8), 8);
    if (!r.has_error()) {
      stamp(static_cast<uint64_t*>(r.value()), words, seq);
      pub_->publish(r.value());
      return;
    }
    sched_yield();
  }
}

Outcome RunFanOut(const Config& cfg, const std::string& method, std::size_t size, int subs,
                  const std::string& tag) {
  Outcome out;
  const std::size_t words = size / 8;
  const bool ice = method.rfind("iceoryx", 0) == 0;
  const bool poll = method == "iceoryx.poll";
  std::optional<shoal::Broadcast<uint64_t>> bus;
  std::optional<shoal::Channel<uint64_t>> ch;
  try {
    if (method == "shoal.broadcast.loan") {
      bus.emplace(words, shoal::BroadcastOptions{.slots = kFanOutDepth});
    } else if (method == "shoal.channel.loan") {
      ch.emplace(words, kFanOutDepth);
    } else if (!ice) {
      throw std::invalid_argument("no fan-out method " + method);
    }
  } catch (const std::exception& e) {
    out.status = "failed";
    out.note = std::string("setup: ") + e.what();
    return out;
  }
  CaseShared* sh = NewCaseShared();
  auto* ctl = bench::NewShared<FanOutCtl>();
  const std::string service = "shoal-shootout-" + tag;
  std::vector<pid_t> pids;
  // The writer first: Supervise treats the first child as the driver.
  pids.push_back(SpawnChild(cfg, 0, ice, sh->error[0], [&] {
    std::optional<IceoryxFanOutPublisher> pub;
    if (ice) pub.emplace(service + "-w", service);
    auto publish = [&](uint64_t seq) {
      if (bus) {
        PublishLoaned(*bus, words, seq);
      } else if (ch) {
        PublishLoaned(*ch, words, seq);
      } else {
        pub->Publish(words, seq);
      }
    };
    const uint64_t until = bench::NowNs() + static_cast<uint64_t>(CaseTimeout(cfg) * 1e9);
    if (!ctl->WaitReady(subs, until, &sh->abort)) {
      throw std::runtime_error("a subscriber did not start");
    }
    uint64_t seq = 0;
    for (int rep = -1; rep < cfg.repeats; ++rep) {
      const uint64_t dur = RepeatNs(cfg, rep);
      const uint64_t first = seq;
      const uint64_t cpu0 = ctl->CpuNs(subs);
      const uint64_t t0 = bench::NowNs();
      do {
        for (uint64_t k = 0; k < kFanOutAckEvery; ++k) publish(seq++);
      } while (bench::NowNs() - t0 < dur);
      if (!ctl->WaitAcked(subs, seq, until, &sh->abort)) {
        throw std::runtime_error("a subscriber stopped acknowledging blocks");
      }
      const uint64_t t1 = bench::NowNs();
      const uint64_t cpu1 = ctl->CpuNs(subs);
      if (rep >= 0 && cpu1 > cpu0) {
        ctl->cpu_ns.fetch_add(cpu1 - cpu0);
        ctl->wall_ns.fetch_add(t1 - t0);
      }
      if (rep >= 0 && sh->nsamples < kMaxSamples) {
        const auto n = static_cast<double>(seq - first);
        sh->samples[sh->nsamples++] = n / (static_cast<double>(t1 - t0) * 1e-9);
        sh->messages.fetch_add((seq - first) * static_cast<uint64_t>(subs));
      }
    }
    if (bus) bus->close();
    if (ch) ch->close();
    if (pub) pub->Publish(words, bench::kStopSeq);
    // iceoryx: the port must outlive the stop marker's take().
    if (!ctl->WaitDone(subs, bench::NowNs() + 10'000'000'000ull, &sh->abort)) {
      throw std::runtime_error("a subscriber did not see the end");
    }
  }));
  for (int k = 0; k < subs; ++k) {
    pids.push_back(SpawnChild(cfg, k + 1, ice, sh->error[1], [&, k] {
      if (bus) {
        ReceiveBroadcast(*bus, words, ctl, k);
      } else if (ch) {
        ReceiveChannel(*ch, words, ctl, k);
      } else {
        ReceiveIceoryx(service + "-s" + std::to_string(k), service, words, poll, ctl, k);
      }
    }));
  }
  Supervise(pids, sh, CaseTimeout(cfg), &out);
  if (const uint64_t wall = ctl->wall_ns.load(); wall > 0) {
    out.cpus_busy = static_cast<double>(ctl->cpu_ns.load()) / static_cast<double>(wall);
  }
  if (out.status == "ok" && ctl->bad.load() != 0) {
    out.status = "mismatch";
    out.bad = ctl->bad.load();
    out.note = std::to_string(out.bad) + " blocks failed their check or came out of order";
  }
  bench::DestroyShared(ctl);
  FreeCaseShared(sh);
  return out;
}

}  // namespace shoal::shootout
