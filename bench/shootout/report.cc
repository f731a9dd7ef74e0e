// Copyright 2026 The shoal Authors.
//
// report.cc: what the shoot-out prints and writes: the console table, and
// the results folder: report.md (for people), results.json (every sample,
// for programs), the plots (plots.cc) and the README's table
// (readme_table.cc). Nothing else is left there: working files live in a
// private temporary folder.
#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "bench/shootout/shootout.h"
#include "bench/shootout/stats.h"
#include "nlohmann/json.hpp"

namespace shoal::shootout {

double Cost(const Row& r) {
  return r.lower_is_better ? r.median : (r.median > 0 ? 1.0 / r.median : 0);
}

// Measured: ok, with at least one sample that says something (a repeat in
// which nothing completed reports 0 and is no measurement).
bool Usable(const Row& r) {
  return r.out.status == "ok" &&
         std::any_of(r.out.samples.begin(), r.out.samples.end(),
                     [](double x) { return std::isfinite(x) && x > 0; });
}

bool IsPeer(Family f) {
  return f == Family::kOs || f == Family::kLib || f == Family::kPython;
}

namespace {

using Key = std::tuple<std::string, std::size_t, int, int>;
Key KeyOf(const Row& r) { return {r.workload, r.size, r.producers, r.consumers}; }

// The floor a row is measured against: copying methods against the copy
// floor of the workload, loan-style ones against the zero-copy floor.
// A batching method (".batch") is held against the batching floor.
std::string FloorMethodFor(const std::string& workload, const std::string& method,
                           bool zero_copy) {
  const bool batch = method.size() > 6 && method.compare(method.size() - 6, 6, ".batch") == 0;
  if (workload == "rtt") return zero_copy ? "floor.loan" : "floor.spin";
  if (workload == "stream") {
    return zero_copy ? "floor.loan" : (batch ? "floor.spsc.batch" : "floor.spsc");
  }
  if (workload == "lock-uncontended" || workload == "lock-contended") {
    return "floor.pthread";
  }
  if (workload == "value-increment") return "floor.atomic";
  return "";
}

}  // namespace

std::string Num(double v) {
  char b[64];
  if (v == 0) return "0";
  const double a = std::fabs(v);
  if (a >= 100) {
    std::snprintf(b, sizeof b, "%.0f", v);
  } else if (a >= 10) {
    std::snprintf(b, sizeof b, "%.1f", v);
  } else if (a >= 1) {
    std::snprintf(b, sizeof b, "%.2f", v);
  } else {
    std::snprintf(b, sizeof b, "%.3g", v);
  }
  return b;
}

// "12.3 us", "14.2 M msg/s", "21 ns", "5.03 M op/s".
std::string Scaled(double v, const std::string& unit) {
  if (unit == "msg/s" || unit == "op/s") {
    if (v >= 1e6) return Num(v / 1e6) + " M" + unit;
    if (v >= 1e3) return Num(v / 1e3) + " k" + unit;
    return Num(v) + " " + unit;
  }
  if (unit == "us" && v >= 1000) return Num(v / 1000) + " ms";
  return Num(v) + " " + unit;
}

namespace {

std::string Bandwidth(double msgs, std::size_t size) {
  const double bps = msgs * static_cast<double>(size);
  if (bps >= 1e9) return Num(bps / 1e9) + " GB/s";
  return Num(bps / 1e6) + " MB/s";
}

std::string Ratio(double r) { return r > 0 ? Num(r) + "x" : "-"; }

}  // namespace

std::string WorkloadTitle(const Row& r) {
  if (r.workload == "rtt") return "round trip " + FormatSize(r.size);
  if (r.workload == "stream") return "stream " + FormatSize(r.size);
  if (r.workload == "scaling") {
    return "scaling " + std::to_string(r.producers) + "P x " +
           std::to_string(r.consumers) + "C (64 B)";
  }
  if (r.workload == "fanout") {
    return "fan-out " + FormatSize(r.size) + ", 1 writer -> " + std::to_string(r.consumers) +
           (r.consumers == 1 ? " reader" : " subscribers") + " (rate of each)";
  }
  if (r.workload == "pool-scaling") {
    return "pool map throughput, " + std::to_string(r.producers) +
           " worker(s), ~0.15 ms CPU tasks";
  }
  return r.workload;
}

namespace {

std::string Check(const Row& r) {
  if (r.out.status == "ok") return "ok";
  if (r.out.status == "mismatch") return "MISMATCH";
  if (r.out.status == "failed") return "FAILED";
  return "-";
}

}  // namespace

std::string FormatSize(std::size_t b) {
  if (b >= (1u << 20) && b % (1u << 20) == 0) return std::to_string(b >> 20) + " MiB";
  if (b >= 1024 && b % 1024 == 0) return std::to_string(b >> 10) + " KiB";
  return std::to_string(b) + " B";
}

std::vector<std::string> GoalLines(const std::vector<Row>& rows) {
  // The cheapest usable row among `methods` (a peer in any of its modes).
  auto best = [&](const std::string& w, std::size_t size, int p, int c,
                  const std::vector<std::string>& methods) -> const Row* {
    const Row* b = nullptr;
    for (const Row& r : rows) {
      if (r.workload != w || r.size != size || r.producers != p || r.consumers != c ||
          !Usable(r) ||
          std::find(methods.begin(), methods.end(), r.method) == methods.end()) {
        continue;
      }
      if (b == nullptr || Cost(r) < Cost(*b)) b = &r;
    }
    return b;
  };
  std::vector<std::string> out;
  // at_least: the goal is a speed-up of a over b (>= goal); else a cost
  // (a costs <= goal times b).
  auto goal = [&](const std::string& what, const std::string& w, std::size_t size,
                  const std::string& a, const std::vector<std::string>& b, double target,
                  bool at_least, int p = 0, int c = 0) {
    const Row* x = best(w, size, p, c, {a});
    const Row* y = best(w, size, p, c, b);
    if (x == nullptr || y == nullptr) return;
    const double ratio = Cost(*x) / Cost(*y);  // x costs `ratio` times y
    const double shown = at_least ? 1.0 / ratio : ratio;
    const bool met = at_least ? shown >= target : shown <= target;
    out.push_back(what + " (against " + y->method + "): " + Num(shown) + "x (goal " +
                  (at_least ? ">= " : "<= ") + Num(target) + "x): " +
                  (met ? "met" : "not met"));
  };
  const std::vector<std::string> boost = {"boost.mq", "boost.mq.poll"};
  const std::vector<std::string> socketpair = {"os.socketpair", "os.socketpair.poll"};
  goal("Queue 8 B stream, speed relative to the per-item SPSC floor", "stream", 8,
       "shoal.queue", {"floor.spsc"}, 0.8, true);
  goal("Queue declared single-producer/consumer, 8 B stream, speed relative to the "
       "per-item SPSC floor", "stream", 8, "shoal.queue.spsc", {"floor.spsc"}, 0.8, true);
  goal("Queue 8 B stream, speed-up over Boost message_queue (best mode)", "stream", 8,
       "shoal.queue", boost, 10, true);
  // Batches of 64 (put_many / get_many): a rate, a speed-up over Boost, and
  // a cost against the batching floor.
  if (const Row* b = best("stream", 8, 0, 0, {"shoal.queue.batch"})) {
    out.push_back("Queue 8 B in batches of 64 (shoal.queue.batch): " + Num(b->median / 1e6) +
                  " M items/s (goal >= 100 M items/s): " +
                  (b->median >= 100e6 ? "met" : "not met"));
  }
  goal("Queue 8 B in batches of 64, speed-up over Boost message_queue (best mode)", "stream",
       8, "shoal.queue.batch", boost, 10, true);
  goal("Queue 8 B in batches of 64, cost relative to the batching SPSC floor", "stream", 8,
       "shoal.queue.batch", {"floor.spsc.batch"}, 4, false);
  goal("Queue 64 B round trip, cost relative to the spin floor", "rtt", 64,
       "shoal.queue", {"floor.spin"}, 2, false);
  goal("Pipe 64 B round trip, cost relative to a blocking socketpair", "rtt", 64,
       "shoal.pipe", {"os.socketpair"}, 1.2, false);
  for (const char* m : {"shoal.queue", "shoal.channel"}) {
    const std::string name = std::string(m) == "shoal.queue" ? "Queue" : "Channel copy";
    goal(name + " 1 MiB round trip, cost relative to the copy floor", "rtt", 1 << 20, m,
         {"floor.spin"}, 1.3, false);
    goal(name + " 1 MiB round trip, speed-up over socketpair (best mode)", "rtt",
         1 << 20, m, socketpair, 1.0, true);
    goal(name + " 1 MiB stream, speed relative to the copy floor", "stream", 1 << 20, m,
         {"floor.spsc"}, 0.9, true);
  }
  // Scaling: the worst of the producer x consumer configurations.
  {
    double worst = 0;
    int n = 0;
    std::string at;
    for (const Row& r : rows) {
      if (r.workload != "scaling" || r.method != "shoal.queue" || !Usable(r)) continue;
      const Row* y = best("scaling", r.size, r.producers, r.consumers, boost);
      if (y == nullptr) continue;
      const double s = Cost(*y) / Cost(r);
      if (n++ == 0 || s < worst) {
        worst = s;
        at = std::to_string(r.producers) + "P x " + std::to_string(r.consumers) + "C";
      }
    }
    if (n > 0) {
      out.push_back("Queue scaling, speed-up over Boost message_queue in the worst of " +
                    std::to_string(n) + " configurations (" + at + "): " + Num(worst) +
                    "x (goal >= 1.2x): " + (worst >= 1.2 ? "met" : "not met"));
    }
  }
  // Fan-out (shoal::Broadcast, 1 writer -> 4 subscribers): each
  // subscriber's rate against a single-reader Channel of the same blocks,
  // and 64 B against iceoryx's publish/subscribe in its best mode.
  {
    const Row* b = best("fanout", 1 << 20, 1, 4, {"shoal.broadcast.loan"});
    const Row* c = best("fanout", 1 << 20, 1, 1, {"shoal.channel.loan"});
    if (b != nullptr && c != nullptr) {
      const double x = b->median / c->median;
      std::string cpus;
      if (b->out.cpus_busy > 0 && c->out.cpus_busy > 0) {
        // 5 processes doing the Channel's per-block work 2.5 times over: on
        // fewer CPUs than processes the CPUs, not the Broadcast, set the rate.
        cpus = " (the 5 processes kept " + Num(b->out.cpus_busy) + " CPUs busy, the "
               "Channel's 2 kept " + Num(c->out.cpus_busy) + ")";
      }
      out.push_back("Broadcast 1 MiB to 4 subscribers, each subscriber's rate relative to "
                    "a single-reader Channel (shoal.channel.loan): " + Num(x) +
                    "x (goal >= 0.8x): " + (x >= 0.8 ? "met" : "not met") + cpus);
    }
    const Row* b1 = best("fanout", 1 << 20, 1, 1, {"shoal.broadcast.loan"});
    if (b1 != nullptr && c != nullptr) {
      out.push_back("Broadcast 1 MiB to 1 subscriber, relative to the single-reader Channel "
                    "(the same 2 processes; for reference): " + Num(b1->median / c->median) +
                    "x");
    }
    const Row* i = best("fanout", 64, 1, 4, {"iceoryx", "iceoryx.poll"});
    const Row* s64 = best("fanout", 64, 1, 4, {"shoal.broadcast.loan"});
    if (i != nullptr && s64 != nullptr) {
      const double x = s64->median / i->median;
      out.push_back("Broadcast 64 B to 4 subscribers, speed-up over iceoryx's "
                    "publish/subscribe to 4 subscribers (against " + i->method + "): " +
                    Num(x) + "x (goal > 1x): " + (x > 1 ? "met" : "not met"));
    }
  }
  goal("Lock contended, speed relative to the robust pthread mutex", "lock-contended", 0,
       "shoal.lock", {"floor.pthread"}, 0.95, true);
  goal("Value increments, speed relative to the robust pthread mutex", "value-increment",
       0, "shoal.value", {"floor.pthread"}, 0.95, true);
  return out;
}

void Summarize(std::vector<Row>& rows) {
  for (Row& r : rows) {
    if (!Usable(r)) continue;
    const Samples s(r.out.samples);
    r.median = s.Median();
    r.lo = s.Min();
    r.hi = s.Max();
  }
  std::map<Key, std::vector<Row*>> groups;
  for (Row& r : rows) groups[KeyOf(r)].push_back(&r);
  for (auto& [key, g] : groups) {
    // The best peer: the cheapest row of any peer in any of its modes.
    const Row* peer = nullptr;
    for (const Row* r : g) {
      if (!Usable(*r)) continue;
      const bool peerish = IsPeer(r->family) ||
                           (std::get<0>(key) == "scaling" && r->family != Family::kShoal);
      if (peerish && (peer == nullptr || Cost(*r) < Cost(*peer))) peer = r;
    }
    auto find = [&](const std::string& method) -> Row* {
      for (Row* r : g) {
        if (r->method == method && Usable(*r)) return r;
      }
      return nullptr;
    };
    for (Row* r : g) {
      if (!Usable(*r)) continue;
      if (peer != nullptr) {
        r->best_peer = peer->method;
        r->vs_peer = Cost(*peer) / Cost(*r);
      }
      const Row* floor = find(FloorMethodFor(std::get<0>(key), r->method, r->zero_copy));
      if (floor == nullptr) continue;
      r->floor = floor->method;
      r->vs_floor = Cost(*r) / Cost(*floor);
      // A real method (not a floor or a reference) below its floor: the
      // floor is not the limit it claims to be, or the run is too noisy.
      // Boost's interprocess_mutex is not robust (a holder that dies leaves
      // it locked for ever): it skips the robust-list bookkeeping that
      // floor.pthread, the floor of robust locks, pays, and may beat it.
      const bool bound_by_floor = r->method != "boost.mutex";
      if (r->family != Family::kFloor && r->family != Family::kRef && bound_by_floor &&
          r->vs_floor < 1.0) {
        const bool overlap = r->lower_is_better ? r->hi >= floor->lo : r->lo <= floor->hi;
        r->floor_warning = r->method + " beats its floor " + floor->method + " (" +
                           Num(r->vs_floor) + "x its cost): the floor is wrong" +
                           (overlap ? " or within noise (the spreads overlap)" : "");
      }
    }
    // Fan-out: each subscriber's rate against the single-reader Channel of
    // the same block size (a reference, not a floor).
    if (std::get<0>(key) == "fanout") {
      for (Row* r : g) {
        if (!Usable(*r)) continue;
        for (const Row& c : rows) {
          if (c.workload == "fanout" && c.size == r->size && c.consumers == 1 &&
              c.method == "shoal.channel.loan" && Usable(c) && c.median > 0) {
            r->vs_single_reader = r->median / c.median;
          }
        }
      }
    }
    // The batched floor must not be slower than the per-item one.
    const Row* spsc = find("floor.spsc");
    if (Row* batch = find("floor.spsc.batch");
        batch != nullptr && spsc != nullptr && Cost(*batch) > Cost(*spsc)) {
      batch->floor_warning = "floor.spsc.batch is slower than floor.spsc (" +
                             Num(Cost(*batch) / Cost(*spsc)) +
                             "x its cost): batching should never lose; noisy run?";
    }
  }
}


std::string Figure(const Row& r) {
  std::string s = Scaled(r.median, r.unit);
  if (r.workload == "stream" || r.workload == "fanout") {
    s += " (" + Bandwidth(r.median, r.size) + ")";
  }
  return s;
}

// ----------------------------------------------------------- machine

std::string Machine::Line() const {
  std::string s = (cpu.empty() ? std::string("unknown CPU") : cpu) + ", " +
                  std::to_string(nproc) + " CPUs";
  if (cores > 0) s += " (" + std::to_string(cores) + " cores)";
  return s;
}

double Machine::Load() const { return std::atof(load_start.c_str()); }

std::string Sanitize(const std::string& text, const Config& cfg) {
  std::vector<std::pair<std::string, std::string>> subst;
  auto add = [&](const char* path, const char* name) {
    if (path != nullptr && path[0] == '/' && std::string(path).size() > 1) {
      subst.emplace_back(path, name);
    }
  };
  add(cfg.work_dir.c_str(), "<work>");
  add(cfg.out.c_str(), "<results>");
  add(std::getenv("RUNFILES_DIR"), "<runfiles>");
  add(std::getenv("TEST_SRCDIR"), "<runfiles>");
  add(std::getenv("TEST_TMPDIR"), "<tmp>");
  add(std::getenv("BUILD_WORKSPACE_DIRECTORY"), "<repo>");
  add(std::getenv("BUILD_WORKING_DIRECTORY"), "<cwd>");
  add(std::getenv("TMPDIR"), "<tmp>");
  add(std::getenv("HOME"), "~");
  // Longest first, so a folder inside another is replaced whole.
  std::sort(subst.begin(), subst.end(), [](const auto& a, const auto& b) {
    return a.first.size() > b.first.size();
  });
  std::string s = text;
  for (const auto& [from, to] : subst) {
    for (std::size_t at = s.find(from); at != std::string::npos;
         at = s.find(from, at + to.size())) {
      s.replace(at, from.size(), to);
    }
  }
  // Whatever is left that looks like a path into Bazel's cache.
  for (const std::string marker : {"/.cache/bazel/", "/bazel-out/", "/execroot/"}) {
    for (std::size_t at = s.find(marker); at != std::string::npos; at = s.find(marker)) {
      std::size_t b = s.rfind(' ', at);
      b = b == std::string::npos ? 0 : b + 1;
      std::size_t e = s.find_first_of(" \"'\n", at);
      if (e == std::string::npos) e = s.size();
      const std::string path = s.substr(b, e - b);
      const std::size_t slash = path.rfind('/');
      s.replace(b, e - b, "<bazel>/" + path.substr(slash + 1));
    }
  }
  return s;
}

// ----------------------------------------------------------- console

void PrintTable(const std::vector<Row>& rows, const Machine& m, FILE* out) {
  std::fprintf(out,
               "\nshoal shoot-out  %s  %s  load %s\n"
               "median and min..max over repeats; vs peer = speed-up over the best "
               "peer in any mode (>1: faster);\nvs floor = cost relative to the floor "
               "(1 = the floor); waits = how the method waits for its peer.\n",
               m.date.c_str(), m.Line().c_str(), m.load_start.c_str());
  if (m.Busy()) {
    std::fprintf(out,
                 "MEASURED UNDER LOAD: the load average (%s) exceeds the %d CPUs; "
                 "spinning rows and floors\nneed both processes on a CPU at once, so "
                 "their ratios mean little in this run.\n",
                 m.load_start.c_str(), m.nproc);
  }
  std::string last;
  for (const Row& r : rows) {
    const std::string title = WorkloadTitle(r);
    if (title != last) {
      std::fprintf(out, "\n%-34s %-16s %-22s %-24s %-9s %-9s %s\n", title.c_str(), "waits",
                   "median", "min..max", "vs peer", "vs floor", "check");
      last = title;
    }
    if (!Usable(r)) {
      std::fprintf(out, "  %-32s %-16s %s: %s\n", r.method.c_str(), r.waits.c_str(),
                   r.out.status.c_str(), r.out.note.c_str());
      continue;
    }
    std::string med = Scaled(r.median, r.unit);
    if (r.workload == "stream" || r.workload == "fanout") {
      med += " " + Bandwidth(r.median, r.size);
    }
    const std::string spread = Scaled(r.lo, r.unit) + ".." + Scaled(r.hi, r.unit);
    std::fprintf(out, "  %-32s %-16s %-22s %-24s %-9s %-9s %s\n", r.method.c_str(),
                 r.waits.c_str(), med.c_str(), spread.c_str(), Ratio(r.vs_peer).c_str(),
                 Ratio(r.vs_floor).c_str(), Check(r).c_str());
  }
  bool warned = false;
  for (const Row& r : rows) {
    if (r.floor_warning.empty()) continue;
    if (!warned) std::fprintf(out, "\nFloor check:\n");
    warned = true;
    std::fprintf(out, "  %s: %s\n", WorkloadTitle(r).c_str(), r.floor_warning.c_str());
  }
  const std::vector<std::string> goals = GoalLines(rows);
  if (!goals.empty()) {
    std::fprintf(out, "\nGoals from this run:\n");
    for (const auto& g : goals) std::fprintf(out, "  %s\n", g.c_str());
  }
  std::fflush(out);
}

// ----------------------------------------------------------- which method

std::vector<std::string> WhichMethodWhen(const std::vector<Row>& rows) {
  // The cheapest usable row of (workload, size) among those `pred` accepts.
  auto best = [&](const std::string& w, std::size_t size, auto pred) -> const Row* {
    const Row* b = nullptr;
    for (const Row& r : rows) {
      if (r.workload != w || r.size != size || !Usable(r) || !pred(r)) continue;
      if (b == nullptr || Cost(r) < Cost(*b)) b = &r;
    }
    return b;
  };
  auto is_shoal = [](const Row& r) { return r.family == Family::kShoal; };
  auto peer = [](const Row& r) { return IsPeer(r.family); };
  auto fig = [](const Row* r) { return "`" + r->method + "` " + Figure(*r); };
  auto vs = [&](const Row* a, const Row* b) {
    // "2.1x faster than `x` (busy-poll): 1.2 us"
    const double x = Cost(*b) / Cost(*a);
    return (x >= 1 ? Num(x) + "x faster than " : Num(1 / x) + "x slower than ") + "`" +
           b->method + "` (" + b->waits + "): " + Figure(*b);
  };
  std::vector<std::string> out;

  // Request/response with small messages.
  for (std::size_t size : {std::size_t{64}, std::size_t{4096}}) {
    const Row* s = best("rtt", size, is_shoal);
    const Row* p = best("rtt", size, peer);
    const Row* ps = best("rtt", size, [&](const Row& r) {
      return peer(r) && r.waits == kWaitsSleep;
    });
    if (s == nullptr || p == nullptr) continue;
    std::string line = "Request/response, " + FormatSize(size) + " messages: " + fig(s) +
                       " round trip, " + vs(s, p);
    if (ps != nullptr && ps != p) line += "; against a peer that sleeps: " + vs(s, ps);
    out.push_back(line + ".");
  }
  // Streams of small items.
  for (std::size_t size : {std::size_t{8}, std::size_t{64}}) {
    const Row* s = best("stream", size, is_shoal);
    const Row* p = best("stream", size, peer);
    if (s == nullptr || p == nullptr) continue;
    out.push_back("Streaming " + FormatSize(size) + " items: " + fig(s) + ", " + vs(s, p) +
                  ".");
  }
  // Large blocks: without copying, and copied.
  {
    const Row* loan = best("stream", 1 << 20, [&](const Row& r) {
      return is_shoal(r) && r.zero_copy;
    });
    const Row* loan_peer = best("stream", 1 << 20, [&](const Row& r) {
      return peer(r) && r.zero_copy;
    });
    const Row* copy = best("stream", 1 << 20, [&](const Row& r) {
      return is_shoal(r) && !r.zero_copy;
    });
    const Row* copy_peer = best("stream", 1 << 20, [&](const Row& r) {
      return peer(r) && !r.zero_copy;
    });
    if (loan != nullptr) {
      out.push_back("Large blocks (1 MiB) you can build in place: " + fig(loan) +
                    (loan_peer != nullptr ? ", " + vs(loan, loan_peer) : "") +
                    "; nothing is copied.");
    }
    if (copy != nullptr) {
      out.push_back("Large blocks (1 MiB) copied from your own buffer: " + fig(copy) +
                    (copy_peer != nullptr ? ", " + vs(copy, copy_peer) : "") + ".");
    }
  }
  // A byte stream between processes (or with unrelated programs).
  if (const Row* pipe = best("rtt", 64, [](const Row& r) { return r.method == "shoal.pipe"; })) {
    const Row* sp = best("rtt", 64, [](const Row& r) { return r.method == "os.socketpair"; });
    out.push_back("A connection (framed bytes, descriptors, other programs): " + fig(pipe) +
                  " round trip at 64 B" + (sp != nullptr ? ", " + vs(pipe, sp) : "") +
                  "; use a queue when both ends are shoal processes.");
  }
  // Busy-polling: what it buys the peers.
  {
    const Row* bp = best("rtt", 64, [](const Row& r) { return r.method == "boost.mq.poll"; });
    const Row* bs = best("rtt", 64, [](const Row& r) { return r.method == "boost.mq"; });
    if (bp != nullptr && bs != nullptr) {
      const bool pays = Cost(*bp) < Cost(*bs);
      out.push_back(
          std::string(pays ? "Busy-polling buys latency with a CPU: "
                           : "Busy-polling did not pay in this run: ") +
          "Boost's message_queue answers a 64 B round trip in " + Figure(*bp) +
          " busy-polling and " + Figure(*bs) + " sleeping" +
          (pays ? "" : " (a poller only helps when its peer has a CPU of its own)") +
          ". shoal's queues spin only while spinning pays (up to 20 us), then sleep, "
          "so a peer that is idle costs no CPU.");
    }
  }
  // Pools.
  if (const Row* a = best("pool-apply", 0, is_shoal)) {
    const Row* p = best("pool-apply", 0, peer);
    out.push_back("Calling functions in worker processes: `shoal::Pool` " + Figure(*a) +
                  " per apply" + (p != nullptr ? ", " + vs(a, p) : "") + ".");
  }
  // Locks.
  if (const Row* l = best("lock-uncontended", 0, is_shoal)) {
    const Row* b = best("lock-uncontended", 0, [](const Row& r) {
      return r.method == "boost.mutex";
    });
    out.push_back("A lock shared by processes: `shoal::Lock` " + Figure(*l) +
                  " uncontended" + (b != nullptr ? ", " + vs(l, b) : "") +
                  "; it survives a holder's death (the next acquirer is told), "
                  "Boost's interprocess_mutex does not.");
  }
  return out;
}

// ----------------------------------------------------------- results

namespace {

void WriteJson(const std::vector<Row>& rows, const Machine& m, const Config& cfg,
               const std::string& path) {
  using Json = nlohmann::ordered_json;
  Json doc;
  doc["meta"] = {{"date", m.date},
                 {"nproc", m.nproc},
                 {"cores", m.cores},
                 {"cpu", m.cpu},
                 {"kernel", m.kernel},
                 {"load_start", m.load_start},
                 {"load_end", m.load_end},
                 {"busy", m.Busy()},
                 {"command", cfg.command},
                 {"mode", cfg.mode},
                 {"repeats", cfg.repeats},
                 {"duration_s", cfg.duration},
                 {"warmup_s", cfg.warmup},
                 {"pin", cfg.pin}};
  auto num_or_null = [](double v) { return v > 0 && std::isfinite(v) ? Json(v) : Json(); };
  Json arr = Json::array();
  for (const Row& r : rows) {
    Json j;
    j["workload"] = r.workload;
    j["size"] = r.size;
    j["producers"] = r.producers;
    j["consumers"] = r.consumers;
    j["method"] = r.method;
    j["family"] = FamilyName(r.family);
    j["zero_copy"] = r.zero_copy;
    j["waits"] = r.waits;
    j["unit"] = r.unit;
    j["lower_is_better"] = r.lower_is_better;
    j["status"] = r.out.status;
    j["skip_kind"] = r.out.skip_kind;
    j["note"] = Sanitize(r.out.note, cfg);
    j["checksum_ok"] = r.out.status == "ok" || r.out.status == "skipped";
    j["messages"] = r.out.messages;
    j["bad"] = r.out.bad;
    j["median"] = Usable(r) ? Json(r.median) : Json();
    j["min"] = Usable(r) ? Json(r.lo) : Json();
    j["max"] = Usable(r) ? Json(r.hi) : Json();
    j["vs_best_peer"] = num_or_null(r.vs_peer);
    if (r.workload == "fanout") {
      j["vs_single_reader"] = num_or_null(r.vs_single_reader);
      j["cpus_busy"] = num_or_null(r.out.cpus_busy);
    }
    j["best_peer"] = r.best_peer;
    j["vs_floor"] = num_or_null(r.vs_floor);
    j["floor"] = r.floor;
    j["floor_warning"] = r.floor_warning;
    Json s = Json::array();
    for (double x : r.out.samples) s.push_back(std::isfinite(x) ? Json(x) : Json());
    j["samples"] = s;
    arr.push_back(j);
  }
  doc["rows"] = arr;
  std::ofstream(path) << doc.dump(1) << "\n";
}

std::string Md(const Row& r, const Config& cfg) {
  if (!Usable(r)) {
    return "| " + r.method + " | " + r.waits + " | " + r.out.status + ": " +
           Sanitize(r.out.note, cfg) + " | | | | " + Check(r) + " |";
  }
  return "| " + r.method + " | " + r.waits + " | " + Figure(r) + " | " +
         Scaled(r.lo, r.unit) + " .. " + Scaled(r.hi, r.unit) + " | " + Ratio(r.vs_peer) +
         " | " + Ratio(r.vs_floor) + (r.floor_warning.empty() ? "" : " (!)") + " | " +
         Check(r) + " |";
}

}  // namespace

std::string WriteResults(const std::vector<Row>& rows, const Machine& m,
                         const Config& cfg, const std::string& extra_notes) {
  const std::string& dir = cfg.out;
  WriteJson(rows, m, cfg, dir + "/results.json");
  WriteReadmeTable(rows, m, cfg);
  std::vector<std::string> plots;
  std::string notes = extra_notes;
  if (cfg.plots) {
    std::string p = WritePlots(rows, m, cfg, &plots);
    if (!p.empty()) notes += (notes.empty() ? "" : "\n") + p;
  }
  auto has_plot = [&](const char* name) {
    return std::find(plots.begin(), plots.end(), name) != plots.end();
  };

  std::ofstream f(dir + "/report.md");
  f << "# shoal IPC shoot-out\n\n"
    << "- Date: " << m.date << "\n"
    << "- Machine: " << m.Line() << ", Linux " << m.kernel << "\n"
    << "- Load average at start / end: " << m.load_start << " / " << m.load_end << "\n"
    << "- Command: `" << Sanitize(cfg.command, cfg) << "`\n"
    << "- Mode: " << cfg.mode << " (" << cfg.repeats << " repeats of " << cfg.duration
    << " s after a " << cfg.warmup << " s warm-up; CPU pinning "
    << (cfg.pin ? "on: driver on CPU 0, peer on CPU 1; scaling processes round-robin"
                : "off: the scheduler placed the processes")
    << ")\n\n";
  if (m.Busy()) {
    f << "**Measured under load**: the load average at the start (" << m.load_start
      << ") was above the number of CPUs (" << m.nproc
      << "). Spinning methods and the floors need both processes on a CPU at the same "
         "time; when other work holds the CPUs they wait for a time slice instead, so "
         "their figures and every ratio to a floor mean little in this run. Run again "
         "on a quiet machine for figures to quote.\n\n";
  }
  f << "## How to read this\n\n"
       "Every row is measured in this one run on this machine. *median* and *min .. "
       "max* are over the repeats. *waits* is how the method waits for its peer: "
       "*spin, then sleep* (shoal: spins while spinning pays, up to 20 us, yielding "
       "the CPU past 1 us, then sleeps on a futex), *sleep* (blocks in the kernel or "
       "the library), *busy-poll* (the peer's non-blocking calls in a loop: its "
       "fastest mode, a CPU kept busy), *spin* (the floors).\n\n"
       "*vs best peer* is the speed-up over the fastest peer of the same workload in "
       "any of its modes (the operating system, a library or Python; > 1 means faster "
       "than all of them). *vs floor* is the cost relative to the floor: 1.0 is the "
       "floor, 2.0 twice its cost. A floor is a real limit, so nothing should be "
       "below 1.0; a row that is gets a (!) and is listed under \"Floor check\".\n\n"
       "Floors: `floor.spin` (round trips: a one-slot ring per direction in shared "
       "memory, both sides spinning, the message copied in and out), `floor.spsc` "
       "(streams: a single-producer single-consumer ring with cached indices, "
       "publishing every item, copied in and out: at large sizes the cross-process "
       "copy floor), `floor.spsc.batch` (the same ring publishing every 64 items: the "
       "floor for batching), `floor.loan` (the zero-copy floor: blocks written and "
       "checked in place; what `shoal.channel.loan` and `iceoryx` are measured "
       "against), `floor.pthread` (locks), `floor.atomic` (counters). References, "
       "not floors: `ref.futex` (a hand-over through FUTEX_WAKE every time) and "
       "`ref.memcpy` (a copy inside one process).\n\n"
       "Every method moves the same bytes: each message carries its sequence number "
       "in its first word, once per 4 KiB and in its last word, and the receiver "
       "checks them all and that messages arrive in order (*check*). Copying methods "
       "copy the whole message in and out; the zero-copy ones write and read it in "
       "shared memory. Round trips are latency; streams are one-way throughput "
       "counted at the receiver.\n\n";
  auto table = [&](const std::string& title, auto pred) {
    std::string last;
    bool any = false;
    for (const Row& r : rows) {
      if (!pred(r)) continue;
      if (!any) {
        f << "## " << title << "\n";
        any = true;
      }
      const std::string t = WorkloadTitle(r);
      if (t != last) {
        f << "\n### " << t
          << "\n\n| method | waits | median | min .. max | vs best peer | vs floor | "
             "check |\n| --- | --- | ---: | ---: | ---: | ---: | --- |\n";
        last = t;
      }
      f << Md(r, cfg) << "\n";
    }
    if (any) f << "\n";
  };
  table("Round-trip latency", [](const Row& r) { return r.workload == "rtt"; });
  if (has_plot("latency.svg")) f << "![round-trip latency vs size](latency.svg)\n\n";
  table("One-way streaming throughput", [](const Row& r) { return r.workload == "stream"; });
  if (has_plot("throughput.svg")) f << "![throughput vs size](throughput.svg)\n\n";
  table("Fan-out: 1 writer to subscriber processes", [](const Row& r) {
    return r.workload == "fanout";
  });
  if (std::any_of(rows.begin(), rows.end(),
                  [](const Row& r) { return r.workload == "fanout"; })) {
    f << "Each subscriber is a process of its own and receives every block; the "
         "figure is the rate at which EACH of them receives (all receive all). The "
         "writer loans a block in shared memory and stamps it in place (its sequence "
         "number in word 0, once per 4 KiB and in the last word); every subscriber "
         "checks all those words in place, in order, before it releases the block, "
         "the same in every row. Rings are 8 blocks deep (Broadcast and Channel "
         "slots, iceoryx subscriber queues) and nothing may be dropped "
         "(WhenBehind::kBlockWriter; iceoryx WAIT_FOR_CONSUMER + BLOCK_PRODUCER). "
         "`shoal.channel.loan` 1 -> 1 reader is the reference for the Broadcast's "
         "1 MiB rate";
    for (const Row& r : rows) {
      if (r.workload == "fanout" && r.vs_single_reader > 0 &&
          r.method != "shoal.channel.loan") {
        f << "; `" << r.method << "` " << FormatSize(r.size) << " to " << r.consumers
          << ": " << Ratio(r.vs_single_reader) << " of it";
      }
    }
    f << ". CPUs kept busy by each case's processes (CPU time per wall second; the "
         "machine has " << m.nproc << "):";
    for (const Row& r : rows) {
      if (r.workload == "fanout" && r.out.cpus_busy > 0) {
        f << " `" << r.method << "` " << FormatSize(r.size) << " to " << r.consumers << ": "
          << Num(r.out.cpus_busy) << ";";
      }
    }
    f << " a row whose processes outnumber the CPUs and keep them all busy is limited "
         "by the CPUs.\n\n";
  }
  table("Pools (2 workers, f(x) = x + 1)", [](const Row& r) {
    return r.workload.rfind("pool-", 0) == 0 || r.workload == "executor-submit";
  });
  table("Synchronization", [](const Row& r) {
    return r.workload == "lock-uncontended" || r.workload == "lock-contended" ||
           r.workload == "value-increment";
  });
  // Scaling: one matrix per method.
  {
    std::map<std::string, std::map<std::pair<int, int>, const Row*>> by;
    std::set<int> ps, cs;
    for (const Row& r : rows) {
      if (r.workload != "scaling") continue;
      by[r.method][{r.producers, r.consumers}] = &r;
      ps.insert(r.producers);
      cs.insert(r.consumers);
    }
    if (!by.empty()) {
      f << "## Scaling: queue throughput, 64 B items (M items/s, median)\n\n"
        << "Producers and consumers are separate processes on " << m.nproc
        << " CPUs; rows are producers, columns consumers.\n\n";
      for (auto& [method, cells] : by) {
        f << "### " << method << "\n\n| producers \\ consumers |";
        for (int c : cs) f << " " << c << " |";
        f << "\n| --- |";
        for (std::size_t i = 0; i < cs.size(); ++i) f << " ---: |";
        f << "\n";
        for (int p : ps) {
          f << "| " << p << " |";
          for (int c : cs) {
            auto it = cells.find({p, c});
            if (it == cells.end() || !Usable(*it->second)) {
              f << " " << (it == cells.end() ? "" : it->second->out.status) << " |";
            } else {
              f << " " << Num(it->second->median / 1e6);
              if (it->second->vs_peer > 0 && it->second->family == Family::kShoal) {
                f << " (" << Ratio(it->second->vs_peer) << ")";
              }
              f << " |";
            }
          }
          f << "\n";
        }
        f << "\n";
      }
      f << "(x) = shoal's speed-up over the best other method at the same producers x "
           "consumers.\n\n";
      if (has_plot("scaling.svg")) f << "![scaling](scaling.svg)\n\n";
    }
  }
  // Pool throughput against workers.
  table("Pool throughput against workers (tasks/s)",
        [](const Row& r) { return r.workload == "pool-scaling"; });

  // Checks of this run: floors, goals, the README.
  {
    bool any = false;
    for (const Row& r : rows) {
      if (r.floor_warning.empty()) continue;
      if (!any) {
        f << "## Floor check\n\nA floor is a limit no method can pass; these rows pass "
             "theirs, so in this run the floor is wrong or the figures are noise"
          << (m.Busy() ? " (the machine was busy: see the top)" : "") << ".\n\n";
        any = true;
      }
      f << "- " << WorkloadTitle(r) << ": " << r.floor_warning << "\n";
    }
    if (any) f << "\n";
  }
  const std::vector<std::string> goals = GoalLines(rows);
  if (!goals.empty()) {
    f << "## Goals, from this run\n\n";
    for (const auto& g : goals) f << "- " << g << "\n";
    f << "\nThe micro-benchmarks in bench/ (Google Benchmark) measure the same goals "
         "more precisely; see bench/RESULTS.md.\n\n";
  }
  {
    std::string source;
    const std::vector<std::string> contra = ReadmeContradictions(rows, cfg, &source);
    f << "## Against the README's table\n\n";
    if (cfg.readme_table.empty()) {
      f << "The README's figures (bench/results/readme-table.json) were not found; "
           "nothing was compared.\n\n";
    } else if (contra.empty()) {
      f << "No row of this run contradicts the README's comparison table (" << source
        << "): the same order between methods, ratios within 3x.\n\n";
    } else {
      f << "Rows of this run that contradict the README's comparison table (" << source
        << "):\n\n";
      for (const auto& c : contra) f << "- " << c << "\n";
      f << "\n"
        << (m.Busy() ? "This run was measured under load; re-run on a quiet machine "
                       "before changing the README. "
                     : "")
        << "`readme-table.md` in this folder is the README's table made from this run "
           "(`tools/shootout.sh --full --publish` puts it in the README).\n\n";
    }
  }
  if (!cfg.legend.empty()) {
    f << "## Methods\n\n| method | what exactly |\n| --- | --- |\n";
    for (const auto& [name, what] : cfg.legend) f << "| " << name << " | " << what << " |\n";
    f << "\n";
  }
  bool header = false;
  for (const Row& r : rows) {
    if (r.out.status == "ok") continue;
    if (!header) {
      f << "## Skipped and failed\n\n";
      header = true;
    }
    f << "- " << r.method << " (" << WorkloadTitle(r) << "): " << r.out.status << ": "
      << Sanitize(r.out.note, cfg) << "\n";
  }
  if (header) f << "\n";
  if (!notes.empty()) f << "## Notes\n\n" << Sanitize(notes, cfg) << "\n\n";
  const std::vector<std::string> which = WhichMethodWhen(rows);
  if (!which.empty()) {
    f << "## Which method to use when (from this run)\n\n";
    for (const auto& w : which) f << "- " << w << "\n";
    if (m.Busy()) {
      f << "\n(Measured under load: the order of spinning and sleeping methods may "
           "differ on a quiet machine.)\n";
    }
  }
  return notes;
}

}  // namespace shoal::shootout
