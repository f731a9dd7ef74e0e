// Copyright 2026 The shoal Authors.
//
// plots.cc: the shoot-out's SVG plots, drawn by gnuplot (gnuplot-nox).
//
// Every series can be told apart without colour vision and in print: each
// method has its own colour (one per method family member, never reused in
// a plot), busy-polling modes are dashed with open points, floors and
// references are black or grey with their own dash patterns, and every
// series has its own point type. Each plot names the machine, the date and
// the load. Producer x consumer configurations are categories: bars.
#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
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

extern char** environ;

namespace shoal::shootout {

namespace {

// The method without its mode suffix: "boost.mq.poll" -> "boost.mq".
std::string Base(const std::string& method) {
  const std::string poll = ".poll";
  if (method.size() > poll.size() &&
      method.compare(method.size() - poll.size(), poll.size(), poll) == 0) {
    return method.substr(0, method.size() - poll.size());
  }
  return method;
}

bool IsPoll(const std::string& method) { return Base(method) != method; }

// One colour per method (modes share it; the dash tells them apart).
// Distinct hues, chosen to stay apart for the common colour-vision
// deficiencies where possible; floors black, references grey.
std::string ColourOf(const std::string& method) {
  static const std::map<std::string, std::string> kColours = {
      {"shoal.queue", "#0072b2"},         {"shoal.simplequeue", "#56b4e9"},
      {"shoal.queue.spsc", "#2ca6a4"},    {"shoal.queue.batch", "#0b3d91"},
      {"shoal.pipe", "#6a3d9a"},          {"shoal.channel", "#009e73"},
      {"shoal.channel.loan", "#00c853"},  {"shoal.lock", "#0072b2"},
      {"shoal.value", "#009e73"},         {"shoal.pool", "#0072b2"},
      {"os.pipe", "#a6761d"},             {"os.socketpair", "#cc79a7"},
      {"os.mq", "#8c564b"},               {"boost.mq", "#d55e00"},
      {"boost.mutex", "#d55e00"},         {"zmq", "#e69f00"},
      {"iceoryx", "#b2182b"},             {"python.queue", "#1b1b7a"},
      {"python.pipe", "#7f7f00"},         {"python.floatchannel", "#e7298a"},
      {"python.lock", "#1b1b7a"},         {"python.value", "#7f7f00"},
      {"python.pool", "#1b1b7a"},         {"floor.spin", "#000000"},
      {"floor.spsc", "#000000"},          {"floor.spsc.batch", "#000000"},
      {"floor.loan", "#444444"},          {"floor.pthread", "#000000"},
      {"floor.atomic", "#444444"},        {"ref.futex", "#8a8a8a"},
      {"ref.memcpy", "#8a8a8a"},
  };
  auto it = kColours.find(Base(method));
  return it != kColours.end() ? it->second : "#333333";
}

// Line style of a series: colour, width, dash type, point type. `i` is the
// series' index in its plot (point types never repeat within a plot).
std::string Style(const Row& r, std::size_t i) {
  // Filled point types for blocking modes, open ones for busy-polling.
  static const int kFilled[] = {7, 5, 9, 11, 13, 15};
  static const int kOpen[] = {6, 4, 8, 10, 12, 14};
  const int pt = IsPoll(r.method) ? kOpen[i % 6] : kFilled[i % 6];
  int dt = 1;
  double lw = 1.5;
  if (r.family == Family::kShoal) {
    lw = 3;
  } else if (r.family == Family::kFloor) {
    dt = r.method == "floor.spsc.batch" ? 4 : (r.method == "floor.loan" ? 5 : 3);
    lw = 2;
  } else if (r.family == Family::kRef) {
    dt = r.method == "ref.memcpy" ? 4 : 3;
  } else if (IsPoll(r.method)) {
    dt = 2;
  }
  char b[160];
  std::snprintf(b, sizeof b, "lc rgb '%s' lw %.1f dt %d pt %d ps 0.9",
                ColourOf(r.method).c_str(), lw, dt, pt);
  return b;
}

// gnuplot single-quoted string.
std::string Quote(const std::string& s) {
  std::string o = "'";
  for (char c : s) {
    if (c == '\'') {
      o += "''";
    } else {
      o += c;
    }
  }
  return o + "'";
}

// gnuplot double-quoted string ("\n" is a line break in it).
std::string DoubleQuote(const std::string& s) {
  std::string o = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      o += '\\';
      o += c;
    } else if (c == '\n') {
      o += "\\n";
    } else {
      o += c;
    }
  }
  return o + "\"";
}

}  // namespace

std::string WritePlots(const std::vector<Row>& rows, const Machine& m,
                       const Config& cfg, std::vector<std::string>* made) {
  const std::string gnuplot = FindOnPath("gnuplot");
  if (gnuplot.empty()) {
    return "plots skipped: gnuplot not found (install the Debian package "
           "gnuplot-nox)";
  }
  const std::string& data = cfg.work_dir;
  const std::string subtitle = m.Line() + ", " + m.date + ", load " + m.load_start;
  std::ostringstream gp;
  gp << "set terminal svg size 1100,680 dynamic noenhanced font 'Helvetica,12' "
        "background rgb 'white'\nset grid\nset key outside right top spacing 1.1\n"
        "set datafile missing '-'\n";
  // The title, and under it the machine, the date and the load.
  auto header = [&](const std::string& name, const std::string& title) {
    gp << "set output " << Quote(cfg.out + "/" + name + ".svg") << "\n"
       << "set title " << DoubleQuote(title + "\n" + subtitle) << "\n";
  };
  std::vector<std::string> candidates;

  // Latency and throughput against message size, one line per method.
  auto by_size = [&](const std::string& name, const std::string& workload,
                     const std::string& title, const std::string& ylabel, bool bandwidth) {
    std::vector<std::string> order;
    std::map<std::string, std::vector<const Row*>> by;
    std::set<std::size_t> sizes;
    for (const Row& r : rows) {
      if (r.workload != workload || !Usable(r)) continue;
      if (!by.count(r.method)) order.push_back(r.method);
      by[r.method].push_back(&r);
      sizes.insert(r.size);
    }
    if (order.empty()) return;
    header(name, title);
    gp << "set logscale xy\nset xlabel 'message size'\nset ylabel " << Quote(ylabel)
       << "\nset xtics (";
    bool first = true;
    for (std::size_t s : sizes) {
      gp << (first ? "" : ", ") << Quote(FormatSize(s)) << " " << s;
      first = false;
    }
    gp << ")\nset xrange [" << *sizes.begin() / 1.5 << ":" << *sizes.rbegin() * 1.5
       << "]\nplot ";
    for (std::size_t i = 0; i < order.size(); ++i) {
      const std::string file = data + "/" + name + "-" + std::to_string(i) + ".dat";
      std::ofstream f(file);
      for (const Row* r : by[order[i]]) {
        const double k = bandwidth ? static_cast<double>(r->size) / 1e6 : 1.0;
        f << r->size << " " << r->median * k << " " << r->lo * k << " " << r->hi * k
          << "\n";
      }
      gp << (i ? ", \\\n     " : "") << Quote(file)
         << " using 1:2:3:4 with yerrorlines " << Style(*by[order[i]].front(), i)
         << " title " << Quote(order[i]);
    }
    gp << "\nunset logscale\nunset xtics\nset xtics\nunset xrange\nset autoscale x\n";
    candidates.push_back(name + ".svg");
  };
  by_size("latency", "rtt", "Round-trip latency (lower is better)", "round trip (us)",
          false);
  by_size("throughput", "stream", "One-way streaming throughput (higher is better)",
          "MB/s", true);

  // Scaling: clustered bars, one cluster per producers x consumers, one bar
  // (with its min..max) per method.
  {
    std::vector<std::pair<int, int>> configs;
    std::vector<std::string> order;
    std::map<std::pair<std::string, std::pair<int, int>>, const Row*> cell;
    for (const Row& r : rows) {
      if (r.workload != "scaling") continue;
      const auto c = std::make_pair(r.producers, r.consumers);
      if (std::find(configs.begin(), configs.end(), c) == configs.end()) {
        configs.push_back(c);
      }
      if (std::find(order.begin(), order.end(), r.method) == order.end()) {
        order.push_back(r.method);
      }
      cell[{r.method, c}] = &r;
    }
    std::sort(configs.begin(), configs.end());
    bool any = false;
    const std::string file = data + "/scaling.dat";
    {
      std::ofstream f(file);
      for (const auto& c : configs) {
        f << "\"" << c.first << "P x " << c.second << "C\"";
        for (const auto& method : order) {
          auto it = cell.find({method, c});
          if (it == cell.end() || !Usable(*it->second)) {
            f << " - - -";
          } else {
            const Row& r = *it->second;
            f << " " << r.median / 1e6 << " " << r.lo / 1e6 << " " << r.hi / 1e6;
            any = true;
          }
        }
        f << "\n";
      }
    }
    if (any) {
      header("scaling",
             "Queue throughput, P producer x C consumer processes, 64 B items "
             "(higher is better)");
      gp << "set xlabel 'producers x consumers (processes)'\nset ylabel 'M items/s'\n"
            "set yrange [0:*]\nset style data histograms\n"
            "set style histogram errorbars gap 2 lw 1\nset boxwidth 0.9 relative\n"
            "set xtics nomirror\nplot ";
      for (std::size_t i = 0; i < order.size(); ++i) {
        const Row* any_row = nullptr;
        for (const auto& c : configs) {
          auto it = cell.find({order[i], c});
          if (it != cell.end()) any_row = it->second;
        }
        const std::size_t col = 2 + 3 * i;
        // Solid fill for shoal, a hatch pattern for the others: apart in
        // grey print too.
        const std::string fill = any_row != nullptr && any_row->family == Family::kShoal
                                     ? "fs solid 0.85 border -1"
                                     : "fs pattern " + std::to_string(4 + i % 3) + " border -1";
        gp << (i ? ", \\\n     " : "") << Quote(file) << " using " << col << ":"
           << col + 1 << ":" << col + 2 << (i == 0 ? ":xtic(1)" : "") << " " << fill
           << " lc rgb '" << ColourOf(order[i]) << "' title " << Quote(order[i]);
      }
      gp << "\nunset style\nset style data lines\nunset yrange\n";
      candidates.push_back("scaling.svg");
    }
  }
  if (candidates.empty()) return "";

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
  if (rc != 0) return "plots skipped: cannot run gnuplot";
  int st = 0;
  waitpid(pid, &st, 0);
  std::ifstream lf(log);
  std::stringstream ls;
  ls << lf.rdbuf();
  std::string text = ls.str();
  if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
    for (const auto& c : candidates) std::remove((cfg.out + "/" + c).c_str());
    if (text.size() > 600) text = text.substr(text.size() - 600);
    return "plots failed (gnuplot): " + Sanitize(text, cfg);
  }
  made->insert(made->end(), candidates.begin(), candidates.end());
  return "";
}

}  // namespace shoal::shootout
