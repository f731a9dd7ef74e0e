// Copyright 2026 The shoal Authors.
//
// shootout.h: the shoot-out's shared types: configuration, one measured
// row, and the runners that produce rows (runner.cc) and the reports that
// consume them (report.cc). See main.cc for what the program does.
#ifndef SHOAL_BENCH_SHOOTOUT_SHOOTOUT_H_
#define SHOAL_BENCH_SHOOTOUT_SHOOTOUT_H_

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "bench/shootout/links.h"

namespace shoal::shootout {

struct Config {
  std::string mode = "quick";  // quick | full | tiny
  int repeats = 3;
  double duration = 0.1;  // seconds per repeat
  double warmup = 0.02;   // seconds, discarded, before the repeats
  // Driver on CPU 0, peer on CPU 1 (scaling: round-robin). On by default:
  // unpinned, a 2-CPU scheduler sometimes places both on one CPU and the
  // results become bimodal (see --help).
  bool pin = true;
  bool plots = true;
  std::string out = "shootout-results";
  std::vector<std::string> methods;    // filters; empty = all
  std::vector<std::string> workloads;  // rtt stream fanout sync scaling pool; empty = all
  std::vector<std::size_t> rtt_sizes = {64, 4096, 1 << 20};
  std::vector<std::size_t> stream_sizes = {8, 64, 4096, 1 << 20};
  std::vector<int> scaling_counts = {1, 2, 4};
  std::string python = "python3";
  std::string python_script;  // found at start; empty = not found
  std::string python_site;    // the `shoal` package's folder; empty = not found
  std::string command;        // how we were run, for the report
  // Where the run keeps its working files (RouDi's configuration and log,
  // the plots' data and script): a private temporary folder, removed at the
  // end, so the results folder holds only what the report needs.
  std::string work_dir;
  // The figures of the README's comparison table (readme-table.json), to
  // flag rows of this run that contradict it; empty = not found.
  std::string readme_table;
  double case_timeout = 0;    // seconds; 0 = derived from the above
  // (method, what it is exactly), for the report.
  std::vector<std::pair<std::string, std::string>> legend;
};

// Which kind of method a row is: shoal's own, a peer (the OS, a library,
// Python), a floor (a real limit: nothing may beat it) or a reference
// (shown for scale: ref.futex, what a sleeping hand-over costs; ref.memcpy,
// a copy inside one process).
// kShoalPython: shoal used from Python (`import shoal`), next to the Python
// peers; neither a peer nor one of the C++ rows that "best shoal" picks.
enum class Family { kShoal, kOs, kLib, kPython, kFloor, kRef, kShoalPython };
const char* FamilyName(Family f);

// How one (workload, method) went.
struct Outcome {
  std::string status = "ok";  // ok | skipped | failed | mismatch
  std::string skip_kind;      // not-installed | unsupported | isolation
  std::string note;
  std::vector<double> samples;  // one per repeat, in the row's unit
  uint64_t messages = 0;        // messages / operations checked
  uint64_t bad = 0;             // stamps or totals that did not match
  // Fan-out rows: on-CPU time of all the case's processes per second of its
  // measured repeats (2.0 = two CPUs kept busy), 0 = not measured. Tells a
  // rate limited by the CPUs from one limited by waiting.
  double cpus_busy = 0;
};

struct Row {
  std::string workload;  // rtt stream lock-uncontended lock-contended
                         // value-increment scaling
  std::size_t size = 0;  // bytes per message (rtt, stream)
  int producers = 0, consumers = 0;  // scaling
  std::string method;
  Family family = Family::kShoal;
  bool zero_copy = false;  // loan-style: measured against floor.loan
  std::string waits;       // how it waits: spin-sleep | sleep | poll | spin
  std::string unit;  // us | msg/s | ns/op | op/s
  bool lower_is_better = true;
  Outcome out;
  // Derived by Summarize():
  double median = 0, lo = 0, hi = 0;
  double vs_peer = 0;   // speed-up over the best peer (>1: faster); 0 = n/a
  double vs_floor = 0;  // cost relative to the floor (>= 1); 0 = n/a
  // Fan-out rows: the rate of each subscriber relative to the single-reader
  // Channel of the same block size (shoal.channel.loan 1 -> 1); 0 = n/a.
  double vs_single_reader = 0;
  std::string best_peer, floor;
  // Set when this row beats its floor (vs_floor < 1): the floor is wrong
  // (or the run too noisy to tell); the report says which.
  std::string floor_warning;
};

// How a method waits for its peer, as the tables show it.
inline constexpr char kWaitsAdaptive[] = "spin, then sleep";
inline constexpr char kWaitsSleep[] = "sleep";
inline constexpr char kWaitsPoll[] = "busy-poll";
inline constexpr char kWaitsSpin[] = "spin";

// ----------------------------------------------------------- runners

using bench::kStopSeq;
inline constexpr uint64_t kEndRepeat = kStopSeq;
inline constexpr uint64_t kExit = ~uint64_t{0} - 2;

// Messages a queue-like link holds in a stream: 16 MiB worth, 16..1024.
std::size_t DepthFor(std::size_t size);

// Runs one link-based case (driver and peer are fresh forked children).
using LinkRunner = std::function<Outcome(bool round_trip, const Spec&,
                                         const Config&)>;
template <class L>
Outcome RunLink(bool round_trip, const Spec& spec, const Config& cfg);
Outcome RunMemcpy(const Spec& spec, const Config& cfg);

// Python peers (bench/python/mp_peers.py).
Outcome RunPython(const Config& cfg, const std::string& method,
                  const std::string& workload, std::size_t size);

// Sync rows: kind is one of shoal.lock shoal.value boost.mutex floor.pthread
// floor.atomic.
Outcome RunSync(const Config& cfg, const std::string& workload,
                const std::string& method);

// Pools: workload pool-apply | pool-map | pool-imap-unordered |
// executor-submit; shoal::Pool / ProcessPoolExecutor with 2 workers, f(x) =
// x + 1. Samples: us per call (ns per item for pool-map).
Outcome RunPool(const Config& cfg, const std::string& workload);
// Pool(workers).map of ~150 us CPU tasks: tasks per second.
Outcome RunPoolScaling(const Config& cfg, int workers);

// Scaling: P producers x C consumers, 64 B items, method shoal.queue,
// boost.mq or boost.mq.poll (busy-polling try_send / try_receive).
Outcome RunScaling(const Config& cfg, const std::string& method, int producers,
                   int consumers);

// The full path of program `exe` on $PATH (or /usr/bin, /usr/local/bin,
// /bin), or "" when there is none.
std::string FindOnPath(const std::string& exe);

// Kills every child the runners have started (signal handlers use it).
void KillChildren();

// ----------------------------------------------------------- reports

struct Machine {
  int nproc = 0;  // CPUs online
  int cores = 0;  // physical cores (0: unknown)
  std::string cpu, kernel, date, load_start, load_end;
  // "AMD EPYC, 2 CPUs (2 cores)", for plots and tables.
  std::string Line() const;
  // The 1-minute load average at the start, and whether the machine was
  // busy (more runnable work than CPUs): ratios to spinning floors and
  // between spinning and sleeping methods mean little then.
  double Load() const;
  bool Busy() const { return Load() > nproc; }
};

// Helpers shared by the reports (report.cc).
bool Usable(const Row& r);                   // ok and sampled
double Cost(const Row& r);                   // lower is better, whatever the unit
bool IsPeer(Family f);                       // os, library, python
std::string Num(double v);                   // 3 significant digits
std::string Scaled(double v, const std::string& unit);  // "14.2 M msg/s"
std::string Figure(const Row& r);            // the median, with bandwidth for streams
std::string WorkloadTitle(const Row& r);     // "round trip 64 B", ...
// Replaces this machine's paths (home, temporary and results folders,
// runfiles) in text that goes into a report.
std::string Sanitize(const std::string& text, const Config& cfg);

void Summarize(std::vector<Row>& rows);
void PrintTable(const std::vector<Row>& rows, const Machine& m, FILE* out);
// The project's performance goals that the shoot-out's rows answer, one
// line each.
std::vector<std::string> GoalLines(const std::vector<Row>& rows);
// Writes results.json, report.md, the plots and the README table; returns
// notes for the console (e.g. "plots skipped: ...").
std::string WriteResults(const std::vector<Row>& rows, const Machine& m,
                         const Config& cfg, const std::string& extra_notes);

// plots.cc: latency.svg, throughput.svg, scaling.svg in cfg.out (gnuplot,
// working files in cfg.work_dir). Appends the files made to `made`; returns
// "" or why there are no plots.
std::string WritePlots(const std::vector<Row>& rows, const Machine& m,
                       const Config& cfg, std::vector<std::string>* made);

// readme_table.cc: the README's comparison table from this run
// (readme-table.md, and its figures as readme-table.json), and the rows of
// this run that contradict the table the README has now (cfg.readme_table).
void WriteReadmeTable(const std::vector<Row>& rows, const Machine& m,
                      const Config& cfg);
std::vector<std::string> ReadmeContradictions(const std::vector<Row>& rows,
                                              const Config& cfg, std::string* source);

// "Which method to use when", from this run's rows.
std::vector<std::string> WhichMethodWhen(const std::vector<Row>& rows);
std::string FormatSize(std::size_t bytes);

}  // namespace shoal::shootout

#endif  // SHOAL_BENCH_SHOOTOUT_SHOOTOUT_H_
