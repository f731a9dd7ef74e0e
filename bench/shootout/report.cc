// Copyright 2026 The shoal Authors.
//
// report.cc: what the shoot-out prints and writes: the stdout table, and the
// results folder (results.json with every sample, report.md, gnuplot plots).
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "bench/shootout/shootout.h"

extern char** environ;

namespace shoal::shootout {

namespace {

double Cost(const Row& r) {
  return r.lower_is_better ? r.median : (r.median > 0 ? 1.0 / r.median : 0);
}

bool Usable(const Row& r) { return r.out.status == "ok" && !r.out.samples.empty(); }

bool IsPeer(Family f) {
  return f == Family::kOs || f == Family::kLib || f == Family::kPython;
}

using Key = std::tuple<std::string, std::size_t, int, int>;
Key KeyOf(const Row& r) { return {r.workload, r.size, r.producers, r.consumers}; }

// The floor a row is measured against: copying methods against the copy
// floor of the workload, loan-style ones against the zero-copy floor.
std::string FloorMethodFor(const std::string& workload, bool zero_copy) {
  if (workload == "rtt") return zero_copy ? "floor.loan" : "floor.spin";
  if (workload == "stream") return zero_copy ? "floor.loan" : "floor.spsc";
  if (workload == "lock-uncontended" || workload == "lock-contended") {
    return "floor.pthread";
  }
  if (workload == "value-increment") return "floor.atomic";
  return "";
}

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

std::string Bandwidth(double msgs, std::size_t size) {
  const double bps = msgs * static_cast<double>(size);
  if (bps >= 1e9) return Num(bps / 1e9) + " GB/s";
  return Num(bps / 1e6) + " MB/s";
}

std::string Ratio(double r) { return r > 0 ? Num(r) + "x" : "-"; }

std::string WorkloadTitle(const Row& r) {
  if (r.workload == "rtt") return "round trip " + FormatSize(r.size);
  if (r.workload == "stream") return "stream " + FormatSize(r.size);
  if (r.workload == "scaling") {
    return "scaling " + std::to_string(r.producers) + "P x " +
           std::to_string(r.consumers) + "C (64 B)";
  }
  if (r.workload == "pool-scaling") {
    return "pool map throughput, " + std::to_string(r.producers) +
           " worker(s), ~0.15 ms CPU tasks";
  }
  return r.workload;
}

std::string JsonEscape(const std::string& s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '"':
        o += "\\\"";
        break;
      case '\\':
        o += "\\\\";
        break;
      case '\n':
        o += "\\n";
        break;
      case '\t':
        o += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char b[8];
          std::snprintf(b, sizeof b, "\\u%04x", c);
          o += b;
        } else {
          o += c;
        }
    }
  }
  return o;
}

std::string JsonNum(double v) {
  if (!std::isfinite(v)) return "null";
  char b[64];
  std::snprintf(b, sizeof b, "%.9g", v);
  return b;
}

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
  goal("Queue 8 B stream, speed-up over Boost message_queue (best mode)", "stream", 8,
       "shoal.queue", boost, 10, true);
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
  goal("Lock contended, speed relative to the robust pthread mutex", "lock-contended", 0,
       "shoal.lock", {"floor.pthread"}, 0.95, true);
  goal("Value increments, speed relative to the robust pthread mutex", "value-increment",
       0, "shoal.value", {"floor.pthread"}, 0.95, true);
  return out;
}

void Summarize(std::vector<Row>& rows) {
  for (Row& r : rows) {
    if (!Usable(r)) continue;
    std::vector<double> s = r.out.samples;
    std::sort(s.begin(), s.end());
    const std::size_t n = s.size();
    r.median = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
    r.lo = s.front();
    r.hi = s.back();
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
      const Row* floor = find(FloorMethodFor(std::get<0>(key), r->zero_copy));
      if (floor == nullptr) continue;
      r->floor = floor->method;
      r->vs_floor = Cost(*r) / Cost(*floor);
      // A real method (not a floor or a reference) below its floor: the
      // floor is not the limit it claims to be, or the run is too noisy.
      if (r->family != Family::kFloor && r->family != Family::kRef && r->vs_floor < 1.0) {
        const bool overlap = r->lower_is_better ? r->hi >= floor->lo : r->lo <= floor->hi;
        r->floor_warning = r->method + " beats its floor " + floor->method + " (" +
                           Num(r->vs_floor) + "x its cost): the floor is wrong" +
                           (overlap ? " or within noise (the spreads overlap)" : "");
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

void PrintTable(const std::vector<Row>& rows, const Machine& m, FILE* out) {
  std::fprintf(out,
               "\nshoal shoot-out  %s  %d CPUs  %s  load %s\n"
               "median and min..max over repeats; vs peer = speed-up over the "
               "best peer (os/library/python) of the same workload (>1: "
               "faster);\nvs floor = cost relative to the floor (floor.spin "
               "for messages, floor.pthread for locks, floor.atomic for "
               "counters).\n",
               m.date.c_str(), m.nproc, m.cpu.c_str(), m.load_start.c_str());
  std::string last;
  for (const Row& r : rows) {
    const std::string title = WorkloadTitle(r);
    if (title != last) {
      std::fprintf(out, "\n%-34s %-22s %-24s %-9s %-9s %s\n", title.c_str(),
                   "median", "min..max", "vs peer", "vs floor", "check");
      last = title;
    }
    if (!Usable(r)) {
      std::fprintf(out, "  %-32s %s: %s\n", r.method.c_str(), r.out.status.c_str(),
                   r.out.note.c_str());
      continue;
    }
    std::string med = Scaled(r.median, r.unit);
    if (r.workload == "stream") med += " " + Bandwidth(r.median, r.size);
    const std::string spread = Scaled(r.lo, r.unit) + ".." + Scaled(r.hi, r.unit);
    std::fprintf(out, "  %-32s %-22s %-24s %-9s %-9s %s\n", r.method.c_str(),
                 med.c_str(), spread.c_str(), Ratio(r.vs_peer).c_str(),
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

namespace {

void WriteJson(const std::vector<Row>& rows, const Machine& m, const Config& cfg,
               const std::string& path) {
  std::ofstream f(path);
  f << "{\n  \"meta\": {\n"
    << "    \"date\": \"" << JsonEscape(m.date) << "\",\n"
    << "    \"nproc\": " << m.nproc << ",\n"
    << "    \"cpu\": \"" << JsonEscape(m.cpu) << "\",\n"
    << "    \"kernel\": \"" << JsonEscape(m.kernel) << "\",\n"
    << "    \"load_start\": \"" << JsonEscape(m.load_start) << "\",\n"
    << "    \"load_end\": \"" << JsonEscape(m.load_end) << "\",\n"
    << "    \"command\": \"" << JsonEscape(cfg.command) << "\",\n"
    << "    \"mode\": \"" << cfg.mode << "\",\n"
    << "    \"repeats\": " << cfg.repeats << ",\n"
    << "    \"duration_s\": " << JsonNum(cfg.duration) << ",\n"
    << "    \"warmup_s\": " << JsonNum(cfg.warmup) << ",\n"
    << "    \"pin\": " << (cfg.pin ? "true" : "false") << "\n  },\n  \"rows\": [\n";
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const Row& r = rows[i];
    f << "    {\"workload\": \"" << r.workload << "\", \"size\": " << r.size
      << ", \"producers\": " << r.producers << ", \"consumers\": " << r.consumers
      << ", \"method\": \"" << r.method << "\", \"family\": \""
      << FamilyName(r.family) << "\", \"unit\": \"" << r.unit
      << "\", \"lower_is_better\": " << (r.lower_is_better ? "true" : "false")
      << ", \"status\": \"" << r.out.status << "\", \"skip_kind\": \""
      << r.out.skip_kind << "\", \"note\": \"" << JsonEscape(r.out.note)
      << "\", \"checksum_ok\": "
      << (r.out.status == "ok" || r.out.status == "skipped" ? "true" : "false")
      << ", \"messages\": " << r.out.messages << ", \"bad\": " << r.out.bad
      << ", \"median\": " << JsonNum(r.median) << ", \"min\": " << JsonNum(r.lo)
      << ", \"max\": " << JsonNum(r.hi) << ", \"vs_best_peer\": "
      << (r.vs_peer > 0 ? JsonNum(r.vs_peer) : "null") << ", \"best_peer\": \""
      << r.best_peer << "\", \"vs_floor\": "
      << (r.vs_floor > 0 ? JsonNum(r.vs_floor) : "null") << ", \"samples\": [";
    for (std::size_t k = 0; k < r.out.samples.size(); ++k) {
      f << (k ? ", " : "") << JsonNum(r.out.samples[k]);
    }
    f << "]}" << (i + 1 < rows.size() ? "," : "") << "\n";
  }
  f << "  ]\n}\n";
}

std::string Md(const Row& r) {
  if (!Usable(r)) {
    return "| " + r.method + " | " + r.out.status + ": " + r.out.note + " | | | | " +
           Check(r) + " |";
  }
  std::string med = Scaled(r.median, r.unit);
  if (r.workload == "stream") med += " (" + Bandwidth(r.median, r.size) + ")";
  return "| " + r.method + " | " + med + " | " + Scaled(r.lo, r.unit) + " .. " +
         Scaled(r.hi, r.unit) + " | " + Ratio(r.vs_peer) + " | " +
         Ratio(r.vs_floor) + " | " + Check(r) + " |";
}

std::string FindOnPath(const std::string& exe) {
  const char* path = std::getenv("PATH");
  std::string p = path != nullptr ? path : "";
  p += ":/usr/bin:/bin";
  std::stringstream ss(p);
  std::string dir;
  while (std::getline(ss, dir, ':')) {
    if (!dir.empty() && access((dir + "/" + exe).c_str(), X_OK) == 0) {
      return dir + "/" + exe;
    }
  }
  return "";
}

// shoal's methods thick, the floor dashed, peers thin; distinct points.
std::string Style(const std::string& method, std::size_t i) {
  std::string st = "lc " + std::to_string(i + 1) + " pt " + std::to_string(i % 13 + 1);
  if (method.rfind("shoal", 0) == 0) return st + " lw 3";
  if (method.rfind("floor", 0) == 0) return st + " lw 1.5 dt 2";
  return st + " lw 1.2";
}

// One data file per method: "x y lo hi" lines.
struct Series {
  std::string method;
  std::vector<std::tuple<double, double, double, double>> pts;
};

std::vector<Series> SeriesOf(const std::vector<Row>& rows, const std::string& workload,
                             bool bandwidth) {
  std::map<std::string, Series> by;
  std::vector<std::string> order;
  for (const Row& r : rows) {
    if (r.workload != workload || !Usable(r)) continue;
    if (!by.count(r.method)) order.push_back(r.method);
    Series& s = by[r.method];
    s.method = r.method;
    const double k = bandwidth ? static_cast<double>(r.size) / 1e6 : 1.0;
    s.pts.emplace_back(static_cast<double>(r.size), r.median * k, r.lo * k, r.hi * k);
  }
  std::vector<Series> out;
  for (const auto& m : order) out.push_back(by[m]);
  return out;
}

std::string WritePlots(const std::vector<Row>& rows, const std::string& dir,
                       std::vector<std::string>* made) {
  const std::string gnuplot = FindOnPath("gnuplot");
  if (gnuplot.empty()) {
    return "plots skipped: gnuplot not found (install the Debian package "
           "gnuplot-nox)";
  }
  const std::string data = dir + "/plot-data";
  mkdir(data.c_str(), 0755);
  std::ostringstream gp;
  gp << "set terminal svg size 1000,620 dynamic enhanced font 'Helvetica,12' "
        "background rgb 'white'\nset grid\nset key outside right top\n";
  auto xtics = [&](const std::vector<Row>& rs, const std::string& w) {
    std::set<std::size_t> sizes;
    for (const Row& r : rs) {
      if (r.workload == w) sizes.insert(r.size);
    }
    std::string t = "set xtics (";
    bool first = true;
    for (std::size_t s : sizes) {
      t += std::string(first ? "" : ", ") + "\"" + FormatSize(s) + "\" " +
           std::to_string(s);
      first = false;
    }
    return t + ")\n";
  };
  auto plot = [&](const std::string& name, const std::string& workload, bool bw,
                  const std::string& title, const std::string& ylabel) {
    std::vector<Series> ss = SeriesOf(rows, workload, bw);
    if (ss.empty()) return;
    gp << "set output '" << dir << "/" << name << ".svg'\n"
       << "set title '" << title << "'\nset logscale xy\n"
       << "set xlabel 'message size'\nset ylabel '" << ylabel << "'\n"
       << xtics(rows, workload) << "plot ";
    for (std::size_t i = 0; i < ss.size(); ++i) {
      const std::string file = data + "/" + name + "-" + ss[i].method + ".dat";
      std::ofstream f(file);
      for (auto& [x, y, lo, hi] : ss[i].pts) {
        f << x << " " << y << " " << lo << " " << hi << "\n";
      }
      gp << (i ? ", \\\n     " : "") << "'" << file
         << "' using 1:2:3:4 with yerrorlines " << Style(ss[i].method, i)
         << " title '" << ss[i].method << "'";
    }
    gp << "\nunset logscale\nunset xtics\nset xtics\n";
    made->push_back(name + ".svg");
  };
  plot("latency", "rtt", false, "Round-trip latency (lower is better)",
       "round trip (us)");
  plot("throughput", "stream", true,
       "One-way streaming throughput (higher is better)", "MB/s");
  // Scaling: x = configuration index, one line per method.
  {
    std::map<std::string, std::vector<const Row*>> by;
    std::vector<std::string> order;
    std::vector<std::pair<int, int>> configs;
    for (const Row& r : rows) {
      if (r.workload != "scaling") continue;
      if (!by.count(r.method)) order.push_back(r.method);
      by[r.method].push_back(&r);
      std::pair<int, int> c{r.producers, r.consumers};
      if (std::find(configs.begin(), configs.end(), c) == configs.end()) {
        configs.push_back(c);
      }
    }
    if (!order.empty()) {
      gp << "set output '" << dir << "/scaling.svg'\n"
         << "set title 'Queue throughput, P producers x C consumers, 64 B items "
            "(higher is better)'\nset xlabel 'producers x consumers'\n"
         << "set ylabel 'M items/s'\nset yrange [0:*]\nset xrange [-0.5:" << configs.size() - 0.5
         << "]\nset xtics (";
      for (std::size_t i = 0; i < configs.size(); ++i) {
        gp << (i ? ", " : "") << "\"" << configs[i].first << "x" << configs[i].second
           << "\" " << i;
      }
      gp << ")\nplot ";
      bool any = false;
      for (std::size_t i = 0; i < order.size(); ++i) {
        const std::string file = data + "/scaling-" + order[i] + ".dat";
        std::ofstream f(file);
        for (const Row* r : by[order[i]]) {
          if (!Usable(*r)) continue;
          const auto c = std::make_pair(r->producers, r->consumers);
          const auto idx = std::find(configs.begin(), configs.end(), c) - configs.begin();
          f << idx << " " << r->median / 1e6 << " " << r->lo / 1e6 << " "
            << r->hi / 1e6 << "\n";
          any = true;
        }
        gp << (i ? ", \\\n     " : "") << "'" << file
           << "' using 1:2:3:4 with yerrorlines " << Style(order[i], i)
           << " title '" << order[i] << "'";
      }
      gp << "\n";
      if (any) made->push_back("scaling.svg");
    }
  }
  const std::string script = data + "/plots.gp";
  {
    std::ofstream f(script);
    f << gp.str();
  }
  std::vector<std::string> args = {gnuplot, script};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  const std::string log = data + "/gnuplot.log";
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  pid_t pid;
  int rc = posix_spawn(&pid, gnuplot.c_str(), &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) {
    made->clear();
    return "plots skipped: cannot run gnuplot";
  }
  int st = 0;
  waitpid(pid, &st, 0);
  if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
    made->clear();
    return "plots failed: see " + log;
  }
  return "";
}

}  // namespace

std::string WriteResults(const std::vector<Row>& rows, const Machine& m,
                         const Config& cfg, const std::string& extra_notes) {
  const std::string& dir = cfg.out;
  WriteJson(rows, m, cfg, dir + "/results.json");
  std::vector<std::string> plots;
  std::string notes = extra_notes;
  if (cfg.plots) {
    std::string p = WritePlots(rows, dir, &plots);
    if (!p.empty()) notes += (notes.empty() ? "" : "\n") + p;
  }

  std::ofstream f(dir + "/report.md");
  f << "# shoal IPC shoot-out\n\n"
    << "- Date: " << m.date << "\n"
    << "- Machine: " << m.nproc << " CPUs, " << m.cpu << ", Linux " << m.kernel << "\n"
    << "- Load average at start / end: " << m.load_start << " / " << m.load_end << "\n"
    << "- Command: `" << cfg.command << "`\n"
    << "- Mode: " << cfg.mode << " (" << cfg.repeats << " repeats of "
    << cfg.duration << " s after a " << cfg.warmup << " s warm-up; CPU pinning "
    << (cfg.pin ? "on: driver on CPU 0, peer on CPU 1; scaling processes round-robin"
               : "off: the scheduler placed the processes") << ")\n\n"
    << "## How to read this\n\n"
    << "Every row is measured in this one run on this machine. *median* and "
       "*min .. max* are over the repeats. *vs best peer* is the speed-up over "
       "the fastest peer of the same workload (the operating system, a "
       "library or Python; > 1 means faster than all of them). *vs floor* is "
       "the cost relative to the physical floor of the workload "
       "(`floor.spin`: the same bytes copied through shared memory with both "
       "sides spinning; `floor.pthread` for locks; `floor.atomic` for "
       "counters): 1.0 is the floor, 2.0 twice its cost.\n\n"
       "Every method moves the same bytes: each message carries its sequence "
       "number in its first word, once per 4 KiB and in its last word, and "
       "the receiver checks them all and that messages arrive in order "
       "(*check*). Copying methods copy the whole message in and out; the "
       "zero-copy ones (`shoal.channel.loan`, `iceoryx`) write and read it "
       "in shared memory. Round trips are latency (one-way latency is not "
       "reported); streams are one-way throughput counted at the receiver.\n\n";
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
        f << "\n### " << t << "\n\n| method | median | min .. max | vs best peer | "
                                 "vs floor | check |\n| --- | ---: | ---: | ---: | ---: | --- |\n";
        last = t;
      }
      f << Md(r) << "\n";
    }
    if (any) f << "\n";
  };
  table("Round-trip latency", [](const Row& r) { return r.workload == "rtt"; });
  if (std::count(plots.begin(), plots.end(), "latency.svg")) {
    f << "![round-trip latency vs size](latency.svg)\n\n";
  }
  table("One-way streaming throughput",
        [](const Row& r) { return r.workload == "stream"; });
  if (std::count(plots.begin(), plots.end(), "throughput.svg")) {
    f << "![throughput vs size](throughput.svg)\n\n";
  }
  table("Pools (2 workers, f(x) = x + 1)", [](const Row& r) {
    return r.workload.rfind("pool-", 0) == 0 || r.workload == "executor-submit";
  });
  table("Synchronization", [](const Row& r) {
    return r.workload == "lock-uncontended" || r.workload == "lock-contended" ||
           r.workload == "value-increment";
  });
  // Scaling as a matrix per method.
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
        << " CPUs.\n\n";
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
      f << "(x) = shoal's speed-up over the best other method at the same "
           "producers x consumers.\n\n";
      if (std::count(plots.begin(), plots.end(), "scaling.svg")) {
        f << "![scaling](scaling.svg)\n\n";
      }
    }
  }
  const std::vector<std::string> goals = GoalLines(rows);
  if (!goals.empty()) {
    f << "## Goals, from this run\n\n";
    for (const auto& g : goals) f << "- " << g << "\n";
    f << "\nThe micro-benchmarks in bench/ (Google Benchmark) measure the "
         "same goals more precisely; see bench/RESULTS.md.\n\n";
  }
  if (!cfg.legend.empty()) {
    f << "## Methods\n\n| method | what exactly |\n| --- | --- |\n";
    for (const auto& [name, what] : cfg.legend) f << "| " << name << " | " << what << " |\n";
    f << "\n";
  }
  // Skipped and failed.
  bool header = false;
  std::set<std::string> seen;
  for (const Row& r : rows) {
    if (r.out.status == "ok") continue;
    const std::string line = r.method + " (" + WorkloadTitle(r) + "): " +
                             r.out.status + ": " + r.out.note;
    if (!header) {
      f << "## Skipped and failed\n\n";
      header = true;
    }
    f << "- " << line << "\n";
  }
  if (header) f << "\n";
  if (!notes.empty()) f << "## Notes\n\n" << notes << "\n";
  return notes;
}

}  // namespace shoal::shootout
