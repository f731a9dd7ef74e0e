// Copyright 2026 The shoal Authors.
//
// The shoal IPC shoot-out: shoal against every peer and the physical floor,
// in one run on this machine. See `shootout --help`, and bench/RESULTS.md for
// the latest table.
//
// Architecture: this process (the coordinator) only plans, forks and
// reports. Every case runs in fresh child processes (a driver and a peer,
// or P producers and C consumers) that report through shared memory, so a
// method that crashes or hangs costs its row, never the run. Python peers
// run as python3 scripts (bench/python/mp_peers.py); iceoryx needs its RouDi
// daemon, which the coordinator starts before the first iceoryx case and
// stops after the last.
#include <signal.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <functional>
#include <filesystem>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "bench/shootout/fanout.h"
#include "bench/shootout/floor_links.h"
#include "bench/shootout/links.h"
#include "bench/shootout/peer_links.h"
#include "bench/shootout/runner.h"
#include "bench/shootout/shootout.h"
#include "shoal/ipc/queue.h"

namespace shoal::shootout {
namespace {

constexpr char kUsage[] = R"(shoal's IPC methods against every peer and the physical floor,
measured in one run on this machine.

Usage: shootout [flags]   (or tools/shootout.sh [flags])

Modes: --quick (the default: 3 repeats x 0.1 s per case, < 2 minutes on 2
cores), --full (7 x 0.5 s), --tiny (2 x 3 ms: a smoke test, does every
method work?). --methods, --workloads, --sizes and --scaling select cases;
--list lists the methods. Progress goes to stderr, the table to stdout,
everything else to the results folder (--out). Exit status 1 when a method
failed or a check did not match (skipped methods are not failures).)";

}  // namespace

// --sizes: message sizes with an optional unit, "64,4K,1M".
struct SizeList {
  std::vector<std::size_t> sizes;
};
// --scaling: process counts, "1,2,4".
struct CountList {
  std::vector<int> counts;
};

namespace {

bool ParseSize(const std::string& s, std::size_t* out) {
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (end == s.c_str() || v <= 0) return false;
  std::string suf(end);
  for (char& c : suf) c = static_cast<char>(std::tolower(c));
  double mul = 1;
  if (suf == "k" || suf == "kib" || suf == "kb") {
    mul = 1024;
  } else if (suf == "m" || suf == "mib" || suf == "mb") {
    mul = 1024 * 1024;
  } else if (!(suf.empty() || suf == "b")) {
    return false;
  }
  auto n = static_cast<std::size_t>(v * mul);
  n = (n + 7) / 8 * 8;  // whole 64-bit words: the stamps need them
  if (n > (std::size_t{64} << 20)) return false;
  *out = n;
  return true;
}

}  // namespace

bool AbslParseFlag(absl::string_view text, SizeList* out, std::string* error) {
  out->sizes.clear();
  for (absl::string_view s : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    std::size_t n;
    if (!ParseSize(std::string(s), &n)) {
      *error = "bad size " + std::string(s) + " (8 B .. 64 MiB, e.g. 64, 4K, 1M)";
      return false;
    }
    out->sizes.push_back(n);
  }
  return true;
}
std::string AbslUnparseFlag(const SizeList& l) {
  std::vector<std::string> v;
  for (std::size_t s : l.sizes) v.push_back(std::to_string(s));
  return absl::StrJoin(v, ",");
}
bool AbslParseFlag(absl::string_view text, CountList* out, std::string* error) {
  out->counts.clear();
  for (absl::string_view s : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    int n = 0;
    if (!absl::SimpleAtoi(s, &n) || n < 1 || n > 64) {
      *error = "bad count " + std::string(s) + " (1 .. 64)";
      return false;
    }
    out->counts.push_back(n);
  }
  return true;
}
std::string AbslUnparseFlag(const CountList& l) { return absl::StrJoin(l.counts, ","); }

}  // namespace shoal::shootout

ABSL_FLAG(bool, quick, false, "quick mode (the default): 3 repeats x 0.1 s per case");
ABSL_FLAG(bool, full, false, "full mode: 7 repeats x 0.5 s after a 0.1 s warm-up");
ABSL_FLAG(bool, tiny, false,
          "tiny mode: 2 repeats x 3 ms (a smoke test: does every method work?)");
ABSL_FLAG(std::vector<std::string>, methods, {},
          "comma-separated method names or prefixes (shoal, os, boost, zmq, iceoryx, "
          "python, floor, ref, shoal.queue, boost.mq.poll, ...; see --list); "
          "empty = all");
ABSL_FLAG(std::vector<std::string>, workloads, {},
          "comma-separated: rtt, stream, fanout, sync, scaling, pool; empty = all");
ABSL_FLAG(shoal::shootout::SizeList, sizes, {},
          "message sizes for rtt and stream, e.g. 64,4K,1M (default: rtt 64,4K,1M; "
          "stream 8,64,4K,1M)");
ABSL_FLAG(shoal::shootout::CountList, scaling, (shoal::shootout::CountList{{1, 2, 4}}),
          "producer and consumer counts of the scaling cases");
ABSL_FLAG(std::optional<int>, repeats, std::nullopt,
          "repeats per case (median and min..max over them); default: the mode's");
ABSL_FLAG(std::optional<double>, duration, std::nullopt,
          "seconds per repeat; default: the mode's");
ABSL_FLAG(std::optional<double>, warmup, std::nullopt,
          "seconds of discarded warm-up before the repeats; default: the mode's");
ABSL_FLAG(double, timeout, 0, "kill a case after this many seconds (0: derived)");
ABSL_FLAG(bool, pin, true,
          "pin the driver to CPU 0 and the peer to CPU 1 (scaling processes "
          "round-robin). --nopin (or --no-pin) lets the scheduler place them: on a "
          "2-CPU machine it sometimes puts both on one CPU, which makes kernel "
          "wake-ups cheap and spinning methods collapse, so unpinned results are "
          "bimodal from run to run");
ABSL_FLAG(std::string, out, "shootout-results",
          "results folder: report.md, results.json (every sample), latency.svg, "
          "throughput.svg, scaling.svg, readme-table.md/.json; nothing else");
ABSL_FLAG(bool, plots, true, "draw the plots with gnuplot (--noplots or --no-plots: skip)");
ABSL_FLAG(std::string, python, "/usr/bin/python3",
          "the Python 3 interpreter of the Python rows (Debian's: the one python3-numpy "
          "and the built `shoal` package are for)");
ABSL_FLAG(std::string, readme_table, "",
          "the README table's figures to check this run against (default: "
          "bench/results/readme-table.json of the build)");
ABSL_FLAG(bool, list, false, "list the methods and exit");

namespace shoal::shootout {
namespace {

// ------------------------------------------------------------ methods

struct Method {
  std::string name;
  Family family;
  std::string what;  // one line for --list and the report
  bool rtt = true, stream = true;
  LinkRunner run;          // C++ methods
  std::string py_method;   // Python methods (mp_peers.py --method)
  // "" when the method can run at this size; else why not (and its kind).
  std::function<std::string(std::size_t, std::string*)> skip;
  bool zero_copy = false;
  std::string waits;  // kWaits*
};

template <template <class> class Q, bool kSpsc = false>
Outcome RunQueue(bool rt, const Spec& s, const Config& c) {
  if (s.size == 8) return RunLink<QueueLink<Q, uint64_t, kSpsc>>(rt, s, c);
  if (s.size == 64) return RunLink<QueueLink<Q, std::array<uint64_t, 8>, kSpsc>>(rt, s, c);
  return RunLink<QueueLink<Q, std::vector<uint64_t>, kSpsc>>(rt, s, c);
}

std::string MqSkip(std::size_t size, std::string* kind) {
  if (static_cast<long>(size) > MqMsgSizeMax()) {
    *kind = "unsupported";
    return "message larger than /proc/sys/fs/mqueue/msgsize_max (" +
           std::to_string(MqMsgSizeMax()) + " B)";
  }
  return "";
}

// Every method of the rtt and stream workloads. Peers come in their
// blocking mode and, as "<name>.poll", in their busy-polling mode.
std::vector<Method> AllMethods() {
  std::vector<Method> m;
  auto add = [&](std::string name, Family f, const char* waits, std::string what,
                 LinkRunner run) -> Method& {
    Method x;
    x.name = std::move(name);
    x.family = f;
    x.waits = waits;
    x.what = std::move(what);
    x.run = std::move(run);
    m.push_back(std::move(x));
    return m.back();
  };
  auto python = [&](std::string name, std::string py, std::string what,
                    Family f = Family::kPython,
                    const char* waits = kWaitsSleep) -> Method& {
    Method x;
    x.name = std::move(name);
    x.family = f;
    x.waits = waits;
    x.what = std::move(what);
    x.py_method = std::move(py);
    m.push_back(std::move(x));
    return m.back();
  };
  const std::string adaptive =
      " (waits: spins up to 20 us, yielding past 1 us, then sleeps on a futex)";
  add("shoal.queue", Family::kShoal, kWaitsAdaptive,
      "shoal::Queue<T>: uint64_t (8 B), std::array<uint64_t, 8> (64 B), "
      "std::vector<uint64_t> (larger)" + adaptive,
      RunQueue<Queue>);
  add("shoal.queue.spsc", Family::kShoal, kWaitsAdaptive,
      "shoal::Queue<T> declared single-producer / single-consumer "
      "(QueueOptions), put / get, same item types" + adaptive,
      RunQueue<Queue, true>)
      .rtt = false;
  add("shoal.queue.batch", Family::kShoal, kWaitsAdaptive,
      "shoal::Queue<uint64_t> declared single-producer / single-consumer, "
      "put_many / get_many of up to 64 items (8 B streams)" + adaptive,
      RunLink<QueueBatchLink>)
      .rtt = false;
  m.back().skip = [](std::size_t size, std::string* kind) -> std::string {
    if (size == 8) return "";
    *kind = "unsupported";
    return "batches are measured with 8 B items";
  };
  add("shoal.simplequeue", Family::kShoal, kWaitsAdaptive,
      "shoal::SimpleQueue<T>, same item types" + adaptive, RunQueue<SimpleQueue>);
  add("shoal.pipe", Family::kShoal, kWaitsSleep,
      "shoal::Pipe() duplex, send_bytes / recv_bytes_into (sleeps in poll/read)",
      RunLink<ShoalPipeLink>);
  add("shoal.channel", Family::kShoal, kWaitsAdaptive,
      "shoal::Channel<uint64_t> copy mode: send(span) / recv(span)" + adaptive,
      RunLink<ChannelLink<false>>);
  add("shoal.channel.loan", Family::kShoal, kWaitsAdaptive,
      "shoal::Channel<uint64_t> zero-copy: loan / publish, receive / release" +
          adaptive,
      RunLink<ChannelLink<true>>)
      .zero_copy = true;
  add("os.pipe", Family::kOs, kWaitsSleep,
      "pipe(2), one per direction, blocking write / read", RunLink<OsPipeLink<false>>);
  add("os.pipe.poll", Family::kOs, kWaitsPoll,
      "pipe(2), O_NONBLOCK, busy-polling write / read", RunLink<OsPipeLink<true>>);
  add("os.socketpair", Family::kOs, kWaitsSleep,
      "socketpair(AF_UNIX, SOCK_STREAM), blocking write / read",
      RunLink<SocketpairLink<false>>);
  add("os.socketpair.poll", Family::kOs, kWaitsPoll,
      "socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK), busy-polling write / read",
      RunLink<SocketpairLink<true>>);
  add("os.mq", Family::kOs, kWaitsSleep,
      "POSIX message queues, blocking mq_send / mq_receive, depth capped by "
      "/proc/sys/fs/mqueue/msg_max",
      RunLink<PosixMqLink<false>>)
      .skip = MqSkip;
  add("os.mq.poll", Family::kOs, kWaitsPoll,
      "POSIX message queues, O_NONBLOCK, busy-polling mq_send / mq_receive",
      RunLink<PosixMqLink<true>>)
      .skip = MqSkip;
  add("boost.mq", Family::kLib, kWaitsSleep,
      "Boost.Interprocess message_queue, blocking send / receive",
      RunLink<BoostMqLink<false>>);
  add("boost.mq.poll", Family::kLib, kWaitsPoll,
      "Boost.Interprocess message_queue, busy-polling try_send / try_receive",
      RunLink<BoostMqLink<true>>);
  add("zmq", Family::kLib, kWaitsSleep, "ZeroMQ PAIR sockets over ipc://, blocking",
      RunLink<ZmqLink>);
  add("zmq.poll", Family::kLib, kWaitsPoll,
      "ZeroMQ PAIR sockets over ipc://, busy-polling send / recv with ZMQ_DONTWAIT",
      RunLink<ZmqPollLink>);
  add("iceoryx", Family::kLib, kWaitsSleep,
      "iceoryx 2.0 untyped publish/subscribe (zero-copy loan / take), "
      "subscriber waits in a WaitSet",
      RunLink<IceoryxLink>)
      .zero_copy = true;
  add("iceoryx.poll", Family::kLib, kWaitsPoll,
      "iceoryx 2.0 untyped publish/subscribe (zero-copy), subscriber "
      "busy-polls take() (no WaitSet)",
      RunLink<IceoryxPollLink>)
      .zero_copy = true;
  python("python.queue", "queue", "Python multiprocessing.Queue of bytes");
  python("python.pipe", "pipe", "Python multiprocessing.Pipe, send_bytes / recv_bytes_into");
  python("python.floatchannel", "floatchannel",
         "the FloatChannel pattern of Python's multiprocessing tour (RawArray + "
         "2 Semaphores), size/8 doubles");
  // shoal from Python, measured by the same script as the Python peers.
  python("python.shoal.queue", "shoal.queue",
         "Python shoal.Queue of bytes (pickled, as multiprocessing.Queue)" + adaptive,
         Family::kShoalPython, kWaitsAdaptive);
  python("python.shoal.channel.loan", "shoal.floatchannel",
         "Python shoal.FloatChannel, size/8 doubles: loan / publish, receive "
         "(numpy arrays in shared memory, zero copy)" + adaptive,
         Family::kShoalPython, kWaitsAdaptive)
      .zero_copy = true;
  add("floor.spin", Family::kFloor, kWaitsSpin,
      "round trips: a one-slot ring per direction in shared memory, copy in / "
      "copy out, both sides spin (the round-trip and copy floor)",
      RunLink<FloorSpinLink>)
      .stream = false;
  add("floor.spsc", Family::kFloor, kWaitsSpin,
      "streams: single-producer single-consumer ring in shared memory with "
      "cached indices, publishing every item, copy in / copy out, at most "
      "2 MiB of slots (the streaming and copy floor)",
      RunLink<FloorSpscLink>)
      .rtt = false;
  add("floor.spsc.batch", Family::kFloor, kWaitsSpin,
      "the same ring publishing its indices every 64 items (the floor for "
      "batching)",
      RunLink<FloorSpscBatchLink>)
      .rtt = false;
  add("floor.loan", Family::kFloor, kWaitsSpin,
      "zero-copy floor: the same ring of blocks, written and checked in place, "
      "spin hand-off",
      RunLink<FloorLoanLink>)
      .zero_copy = true;
  add("ref.futex", Family::kRef, kWaitsSleep,
      "reference: a one-slot (rtt) or deep (stream) ring, FUTEX_WAIT / "
      "FUTEX_WAKE on every hand-over",
      RunLink<FutexRingLink>);
  add("ref.memcpy", Family::kRef, "-",
      "reference: one memcpy of the message inside one process (stamp, copy, "
      "check); no process boundary",
      [](bool, const Spec& s, const Config& c) { return RunMemcpy(s, c); })
      .rtt = false;
  return m;
}

// The fan-out workload's own method (the others are the rtt/stream ones).
constexpr char kBroadcastMethod[] = "shoal.broadcast.loan";
constexpr char kBroadcastWhat[] =
    "shoal::Broadcast<uint64_t> zero-copy: loan / publish, each subscriber "
    "receive / release (WhenBehind::kBlockWriter: nothing missed); fan-out only "
    "(waits: spins up to 20 us, yielding past 1 us, then sleeps on a futex)";

struct SyncMethod {
  std::string name;
  Family family;
  std::string what;
  std::vector<std::string> workloads;
  std::string py_method;
  std::string waits = kWaitsSleep;
};

std::vector<SyncMethod> AllSyncMethods() {
  return {
      {"shoal.lock", Family::kShoal,
       "shoal::Lock acquire + release (a robust pthread mutex; contended: spins "
       "adaptively, then sleeps)",
       {"lock-uncontended", "lock-contended"}, "", kWaitsAdaptive},
      {"shoal.value", Family::kShoal, "shoal::Value<long>::add(1) (under its Lock)",
       {"value-increment"}, "", kWaitsAdaptive},
      {"boost.mutex", Family::kLib,
       "Boost.Interprocess interprocess_mutex (+ a long under it for increments); "
       "on Linux a process-shared pthread mutex, not robust",
       {"lock-uncontended", "lock-contended", "value-increment"}, ""},
      {"python.lock", Family::kPython, "Python multiprocessing.Lock",
       {"lock-uncontended", "lock-contended"}, "lock"},
      {"python.value", Family::kPython,
       "Python multiprocessing.Value('q') += 1 under get_lock()",
       {"value-increment"}, "value"},
      {"floor.pthread", Family::kFloor, "robust process-shared pthread mutex",
       {"lock-uncontended", "lock-contended", "value-increment"}, "", kWaitsSleep},
      {"floor.atomic", Family::kFloor, "std::atomic<long>::fetch_add in shared memory",
       {"value-increment"}, "", "-"},
      {"shoal.pool", Family::kShoal,
       "shoal::Pool(2) apply / map / imap_unordered(chunksize 1), "
       "shoal::ProcessPoolExecutor(2) submit().result(); f(x) = x + 1",
       {}, "", kWaitsAdaptive},
      {"python.pool", Family::kPython,
       "Python multiprocessing.Pool(2) / concurrent.futures.ProcessPoolExecutor(2), "
       "same calls",
       {}, "pool"},
  };
}

bool Selected(const Config& cfg, const std::string& name) {
  if (cfg.methods.empty()) return true;
  for (const std::string& f : cfg.methods) {
    if (name == f || name.rfind(f + ".", 0) == 0) return true;
  }
  return false;
}

bool WorkloadOn(const Config& cfg, const std::string& w) {
  return cfg.workloads.empty() ||
         std::find(cfg.workloads.begin(), cfg.workloads.end(), w) != cfg.workloads.end();
}

// ------------------------------------------------------------ machine

std::string ReadFirstLine(const char* path) {
  std::ifstream f(path);
  std::string s;
  std::getline(f, s);
  return s;
}

std::string LoadAvg() {
  std::istringstream ss(ReadFirstLine("/proc/loadavg"));
  std::string a, b, c;
  ss >> a >> b >> c;
  return a + " " + b + " " + c;
}

Machine Describe() {
  Machine m;
  m.nproc = static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN));
  // The model name (what lscpu prints) and the physical cores: distinct
  // (physical id, core id) pairs.
  std::ifstream f("/proc/cpuinfo");
  std::string line, package = "0";
  std::set<std::string> cores;
  while (std::getline(f, line)) {
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string value = line.substr(colon + 1);
    value.erase(0, value.find_first_not_of(" \t"));
    if (line.rfind("model name", 0) == 0 && m.cpu.empty()) m.cpu = value;
    if (line.rfind("physical id", 0) == 0) package = value;
    if (line.rfind("core id", 0) == 0) cores.insert(package + "/" + value);
  }
  m.cores = static_cast<int>(cores.size());
  utsname u;
  if (uname(&u) == 0) m.kernel = u.release;
  std::time_t t = std::time(nullptr);
  char b[64];
  std::strftime(b, sizeof b, "%Y-%m-%d %H:%M:%S UTC", std::gmtime(&t));
  m.date = b;
  m.load_start = LoadAvg();
  return m;
}

// ------------------------------------------------------------ python

bool IsFile(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

// A file of the repository, from Bazel's runfiles or the checkout.
std::string FindRunfile(const char* argv0, const std::string& rel) {
  std::vector<std::string> cands;
  for (const char* env : {"RUNFILES_DIR", "TEST_SRCDIR"}) {
    if (const char* d = std::getenv(env)) cands.push_back(std::string(d) + "/shoal/" + rel);
  }
  char exe[4096];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0) {
    exe[n] = '\0';
    cands.push_back(std::string(exe) + ".runfiles/shoal/" + rel);
  }
  cands.push_back(std::string(argv0) + ".runfiles/shoal/" + rel);
  if (const char* d = std::getenv("BUILD_WORKSPACE_DIRECTORY")) {
    cands.push_back(std::string(d) + "/" + rel);
  }
  cands.push_back(rel);
  for (const auto& c : cands) {
    if (IsFile(c)) return c;
  }
  return "";
}

// ------------------------------------------------------------ signals

std::atomic<pid_t> g_roudi{0};

void OnSignal(int sig) {
  KillChildren();
  pid_t r = g_roudi.load();
  if (r > 0) kill(r, SIGTERM);  // it removes its shared memory itself
  signal(sig, SIG_DFL);
  raise(sig);
}

// ------------------------------------------------------------ the run

struct Case {
  Row row;  // workload, size, method, family, unit, ...
  std::function<Outcome()> run;
  bool iceoryx = false;
};

// How the run was started, for the report: the flags that shape the
// results, not where this machine keeps the results (--out) or programs
// (a path in a value is cut to its last part).
std::string CommandLine(int argc, char** argv) {
  std::string cmd = "tools/shootout.sh";
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--out") {
      ++i;
      continue;
    }
    if (a.rfind("--out=", 0) == 0) continue;
    const auto eq = a.find("=/");
    if (eq != std::string::npos) {
      a = a.substr(0, eq + 1) + a.substr(a.rfind('/') + 1);
    } else if (!a.empty() && a[0] == '/') {
      a = a.substr(a.rfind('/') + 1);
    }
    cmd += " " + a;
  }
  return cmd;
}

// absl's --help lists the flags of the program's main file; ours is
// bench/shootout/main.cc.
bool OurFlags(absl::string_view file) {
  return absl::StrContains(file, "bench/shootout/");
}

int Main(int argc, char** argv) {
  Config cfg;
  cfg.command = CommandLine(argc, argv);
  // The spellings of the hand-written parser this replaced.
  std::vector<char*> args(argv, argv + argc);
  static char kNoPin[] = "--nopin", kNoPlots[] = "--noplots";
  for (char*& a : args) {
    if (std::strcmp(a, "--no-pin") == 0) a = kNoPin;
    if (std::strcmp(a, "--no-plots") == 0) a = kNoPlots;
  }
  absl::SetProgramUsageMessage(kUsage);
  absl::FlagsUsageConfig usage;
  usage.contains_helpshort_flags = OurFlags;
  usage.contains_help_flags = OurFlags;
  absl::SetFlagsUsageConfig(usage);
  const std::vector<char*> rest = absl::ParseCommandLine(static_cast<int>(args.size()),
                                                         args.data());
  if (rest.size() > 1) {
    std::fprintf(stderr, "shootout: unexpected argument %s (see --help)\n", rest[1]);
    return 2;
  }
  const int modes = absl::GetFlag(FLAGS_quick) + absl::GetFlag(FLAGS_full) +
                    absl::GetFlag(FLAGS_tiny);
  if (modes > 1) {
    std::fprintf(stderr, "shootout: pick one of --quick, --full, --tiny\n");
    return 2;
  }
  cfg.mode = absl::GetFlag(FLAGS_full) ? "full" : absl::GetFlag(FLAGS_tiny) ? "tiny" : "quick";
  if (cfg.mode == "full") {
    cfg.repeats = 7;
    cfg.duration = 0.5;
    cfg.warmup = 0.1;
  } else if (cfg.mode == "tiny") {
    cfg.repeats = 2;
    cfg.duration = 0.003;
    cfg.warmup = 0.001;
  }
  if (auto v = absl::GetFlag(FLAGS_repeats)) cfg.repeats = std::clamp(*v, 1, kMaxSamples);
  if (auto v = absl::GetFlag(FLAGS_duration)) cfg.duration = std::max(0.0005, *v);
  if (auto v = absl::GetFlag(FLAGS_warmup)) cfg.warmup = std::max(0.0, *v);
  cfg.case_timeout = absl::GetFlag(FLAGS_timeout);
  cfg.methods = absl::GetFlag(FLAGS_methods);
  cfg.workloads = absl::GetFlag(FLAGS_workloads);
  for (const std::string& w : cfg.workloads) {
    if (w != "rtt" && w != "stream" && w != "fanout" && w != "sync" && w != "scaling" &&
        w != "pool") {
      std::fprintf(stderr,
                   "shootout: unknown workload %s (rtt, stream, fanout, sync, scaling, "
                   "pool)\n",
                   w.c_str());
      return 2;
    }
  }
  if (const SizeList s = absl::GetFlag(FLAGS_sizes); !s.sizes.empty()) {
    cfg.rtt_sizes = cfg.stream_sizes = s.sizes;
  }
  cfg.scaling_counts = absl::GetFlag(FLAGS_scaling).counts;
  cfg.pin = absl::GetFlag(FLAGS_pin);
  cfg.plots = absl::GetFlag(FLAGS_plots);
  cfg.out = absl::GetFlag(FLAGS_out);
  cfg.python = absl::GetFlag(FLAGS_python);
  cfg.readme_table = absl::GetFlag(FLAGS_readme_table);
  const bool list = absl::GetFlag(FLAGS_list);
  if (sysconf(_SC_NPROCESSORS_ONLN) < 2) cfg.pin = false;  // nothing to spread

  const std::vector<Method> methods = AllMethods();
  const std::vector<SyncMethod> sync_methods = AllSyncMethods();
  if (list) {
    for (const auto& m : methods) {
      std::printf("%-22s %-8s %s\n", m.name.c_str(), FamilyName(m.family), m.what.c_str());
    }
    for (const auto& m : sync_methods) {
      std::printf("%-22s %-8s %s\n", m.name.c_str(), FamilyName(m.family), m.what.c_str());
    }
    std::printf("%-22s %-8s %s\n", kBroadcastMethod, FamilyName(Family::kShoal),
                kBroadcastWhat);
    return 0;
  }

  if (cfg.out.empty()) cfg.out = "shootout-results";
  if (cfg.out[0] != '/') {
    if (const char* d = std::getenv("BUILD_WORKING_DIRECTORY")) {
      cfg.out = std::string(d) + "/" + cfg.out;
    }
  }
  if (mkdir(cfg.out.c_str(), 0755) != 0 && errno != EEXIST) {
    std::fprintf(stderr, "shootout: cannot create %s: %s\n", cfg.out.c_str(),
                 std::strerror(errno));
    return 2;
  }
  cfg.python_script = FindRunfile(argv[0], "bench/python/mp_peers.py");
  // The `shoal` package (//python:site) for the python.shoal.* rows: on
  // PYTHONPATH for every Python row (the multiprocessing peers never import
  // it).
  if (std::string init = FindRunfile(argv[0], "python/site/shoal/__init__.py");
      !init.empty()) {
    cfg.python_site = init.substr(0, init.size() - std::strlen("/shoal/__init__.py"));
    const char* old = std::getenv("PYTHONPATH");
    const std::string path =
        cfg.python_site + (old != nullptr && *old != '\0' ? ":" + std::string(old) : "");
    setenv("PYTHONPATH", path.c_str(), 1);
  }
  if (cfg.readme_table.empty()) {
    cfg.readme_table = FindRunfile(argv[0], "bench/results/readme-table.json");
  }
  // Working files (RouDi's configuration and log, the plots' data) go to a
  // private temporary folder; files an older shoot-out left in the results
  // folder go.
  {
    const char* tmp = std::getenv("TMPDIR");
    std::string base = (tmp != nullptr && *tmp != '\0') ? tmp : "/tmp";
    std::string templ = base + "/shoal-shootout-work.XXXXXX";
    if (mkdtemp(templ.data()) == nullptr) {
      std::fprintf(stderr, "shootout: cannot create a folder in %s: %s\n", base.c_str(),
                   std::strerror(errno));
      return 2;
    }
    cfg.work_dir = templ;
    std::error_code ec;
    for (const char* old : {"roudi.toml", "roudi.log", "plot-data"}) {
      std::filesystem::remove_all(cfg.out + "/" + old, ec);
    }
  }

  signal(SIGINT, OnSignal);
  signal(SIGTERM, OnSignal);
  signal(SIGPIPE, SIG_IGN);

  for (const auto& m : methods) {
    if (Selected(cfg, m.name)) cfg.legend.emplace_back(m.name, m.what);
  }
  for (const auto& m : sync_methods) {
    if (Selected(cfg, m.name)) cfg.legend.emplace_back(m.name, m.what);
  }
  if (Selected(cfg, kBroadcastMethod)) cfg.legend.emplace_back(kBroadcastMethod, kBroadcastWhat);

  // ---- plan
  std::vector<Case> cases;
  const std::string tag_base = std::to_string(getpid());
  int case_no = 0;
  const std::string iceoryx_skip =
      cfg.mode == "tiny"
          ? std::string("tiny mode: iceoryx 2.0 uses fixed names (/dev/shm/"
                        "iceoryx_mgmt, /tmp/roudi), so its RouDi cannot be "
                        "isolated from another one in a test; run without --tiny")
          : RouDi::Unavailable();
  auto python_skip = [&]() -> std::string {
    if (cfg.python_script.empty()) {
      return "bench/python/mp_peers.py not found (run from the repository or "
             "through bazel)";
    }
    return "";
  };
  for (const std::string w : {"rtt", "stream"}) {
    if (!WorkloadOn(cfg, w)) continue;
    const bool rt = w == "rtt";
    for (std::size_t size : rt ? cfg.rtt_sizes : cfg.stream_sizes) {
      for (const Method& m : methods) {
        if (!Selected(cfg, m.name) || !(rt ? m.rtt : m.stream)) continue;
        Case c;
        c.row.workload = w;
        c.row.size = size;
        c.row.method = m.name;
        c.row.family = m.family;
        c.row.zero_copy = m.zero_copy;
        c.row.waits = m.waits;
        c.row.unit = rt ? "us" : "msg/s";
        c.row.lower_is_better = rt;
        c.iceoryx = m.name.rfind("iceoryx", 0) == 0;
        std::string kind = "not-installed";
        std::string skip = m.skip ? m.skip(size, &kind) : "";
        if (c.iceoryx && !iceoryx_skip.empty()) {
          skip = iceoryx_skip;
          kind = cfg.mode == "tiny" ? "isolation" : "not-installed";
        }
        if (!m.py_method.empty() && !python_skip().empty()) skip = python_skip();
        if (m.family == Family::kShoalPython && skip.empty() && cfg.python_site.empty()) {
          skip = "the shoal Python package (//python:site) not found: run through bazel";
        }
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
        // This build's extension is instrumented, and an uninstrumented
        // /usr/bin/python3 cannot load it (the sanitizer runtime must come
        // first); the Python tests preload it, a benchmark has no business to.
        if (m.family == Family::kShoalPython && skip.empty()) {
          kind = "unsupported";
          skip = "this shoot-out is a sanitizer build, whose shoal Python extension "
                 "an uninstrumented interpreter cannot load; run the -c opt build";
        }
#endif
        if (!skip.empty()) {
          c.run = [o = Skipped(kind, skip)] { return o; };
          c.iceoryx = false;
        } else if (!m.py_method.empty()) {
          const std::string pm = m.py_method;
          c.run = [&cfg, pm, w, size] { return RunPython(cfg, pm, w, size); };
        } else {
          Spec spec;
          spec.size = size;
          spec.depth = DepthFor(size);
          spec.round_trip = rt;
          spec.tag = tag_base + "-" + std::to_string(case_no++);
          LinkRunner run = m.run;
          c.run = [&cfg, run, rt, spec] { return run(rt, spec, cfg); };
        }
        cases.push_back(std::move(c));
      }
    }
  }
  // Fan-out: 1 writer -> 4 subscriber processes, each receiving every block
  // (fanout.h: the same stamps and in-place checks in every row), the
  // single-reader Channel the Broadcast's 1 MiB rate is held against, and a
  // Broadcast to 1 subscriber (the Channel's process count).
  if (WorkloadOn(cfg, "fanout")) {
    struct FanOutCase {
      const char* method;
      Family family;
      const char* waits;
      std::size_t size;
      int subs;
    };
    const std::vector<FanOutCase> fan = {
        {kBroadcastMethod, Family::kShoal, kWaitsAdaptive, 64, 4},
        {"iceoryx", Family::kLib, kWaitsSleep, 64, 4},
        {"iceoryx.poll", Family::kLib, kWaitsPoll, 64, 4},
        {kBroadcastMethod, Family::kShoal, kWaitsAdaptive, 1 << 20, 4},
        {"iceoryx", Family::kLib, kWaitsSleep, 1 << 20, 4},
        {"iceoryx.poll", Family::kLib, kWaitsPoll, 1 << 20, 4},
        {"shoal.channel.loan", Family::kShoal, kWaitsAdaptive, 1 << 20, 1},
        // The same process count as the Channel: what fanning out costs a
        // subscriber when the CPUs are not the limit.
        {kBroadcastMethod, Family::kShoal, kWaitsAdaptive, 1 << 20, 1},
    };
    for (const FanOutCase& f : fan) {
      if (!Selected(cfg, f.method)) continue;
      Case c;
      c.row.workload = "fanout";
      c.row.size = f.size;
      c.row.producers = 1;
      c.row.consumers = f.subs;
      c.row.method = f.method;
      c.row.family = f.family;
      c.row.zero_copy = true;
      c.row.waits = f.waits;
      c.row.unit = "msg/s";
      c.row.lower_is_better = false;
      c.iceoryx = f.family == Family::kLib;
      if (c.iceoryx && !iceoryx_skip.empty()) {
        c.run = [o = Skipped(cfg.mode == "tiny" ? "isolation" : "not-installed",
                             iceoryx_skip)] { return o; };
        c.iceoryx = false;
      } else {
        const std::string method = f.method, tag = tag_base + "-" + std::to_string(case_no++);
        const std::size_t size = f.size;
        const int subs = f.subs;
        c.run = [&cfg, method, size, subs, tag] {
          return RunFanOut(cfg, method, size, subs, tag);
        };
      }
      cases.push_back(std::move(c));
    }
  }
  if (WorkloadOn(cfg, "sync")) {
    for (const std::string w : {"lock-uncontended", "lock-contended", "value-increment"}) {
      for (const SyncMethod& m : sync_methods) {
        if (!Selected(cfg, m.name) ||
            std::find(m.workloads.begin(), m.workloads.end(), w) == m.workloads.end()) {
          continue;
        }
        Case c;
        c.row.workload = w;
        c.row.method = m.name;
        c.row.family = m.family;
        c.row.waits = m.waits;
        c.row.unit = w == "lock-uncontended" ? "ns/op" : "op/s";
        c.row.lower_is_better = w == "lock-uncontended";
        if (!m.py_method.empty()) {
          const std::string skip = python_skip();
          const std::string pm = m.py_method;
          if (!skip.empty()) {
            c.run = [o = Skipped("not-installed", skip)] { return o; };
          } else {
            c.run = [&cfg, pm, w] { return RunPython(cfg, pm, w, 0); };
          }
        } else {
          const std::string name = m.name;
          c.run = [&cfg, w, name] { return RunSync(cfg, w, name); };
        }
        cases.push_back(std::move(c));
      }
    }
  }
  if (WorkloadOn(cfg, "scaling")) {
    for (const std::string name : {"shoal.queue", "boost.mq", "boost.mq.poll"}) {
      if (!Selected(cfg, name)) continue;
      for (int p : cfg.scaling_counts) {
        for (int cn : cfg.scaling_counts) {
          Case c;
          c.row.workload = "scaling";
          c.row.size = 64;
          c.row.producers = p;
          c.row.consumers = cn;
          c.row.method = name;
          c.row.family = name == "shoal.queue" ? Family::kShoal : Family::kLib;
          c.row.waits = name == "shoal.queue"     ? kWaitsAdaptive
                        : name == "boost.mq.poll" ? kWaitsPoll
                                                  : kWaitsSleep;
          c.row.unit = "msg/s";
          c.row.lower_is_better = false;
          c.run = [&cfg, name, p, cn] { return RunScaling(cfg, name, p, cn); };
          cases.push_back(std::move(c));
        }
      }
    }
  }
  // Pool throughput vs worker count (tasks/s of ~150 us CPU tasks).
  if (WorkloadOn(cfg, "scaling") && Selected(cfg, "shoal.pool")) {
    for (int workers : cfg.scaling_counts) {
      Case c;
      c.row.workload = "pool-scaling";
      c.row.producers = workers;
      c.row.consumers = 0;
      c.row.method = "shoal.pool";
      c.row.family = Family::kShoal;
      c.row.waits = kWaitsAdaptive;
      c.row.unit = "tasks/s";
      c.row.lower_is_better = false;
      c.run = [&cfg, workers] { return RunPoolScaling(cfg, workers); };
      cases.push_back(std::move(c));
    }
  }
  // Pools: shoal's Pool / ProcessPoolExecutor vs Python's, 2 workers each,
  // f(x) = x + 1, every result checked.
  if (WorkloadOn(cfg, "pool")) {
    for (const std::string w :
         {"pool-apply", "pool-map", "pool-imap-unordered", "executor-submit"}) {
      for (const std::string name : {"shoal.pool", "python.pool"}) {
        if (!Selected(cfg, name)) continue;
        Case c;
        c.row.workload = w;
        c.row.method = name;
        c.row.family = name == "shoal.pool" ? Family::kShoal : Family::kPython;
        c.row.waits = name == "shoal.pool" ? kWaitsAdaptive : kWaitsSleep;
        c.row.unit = w == "pool-map" ? "ns" : "us";
        c.row.lower_is_better = true;
        if (name == "shoal.pool") {
          c.run = [&cfg, w] { return RunPool(cfg, w); };
        } else {
          const std::string skip = python_skip();
          if (!skip.empty()) {
            c.run = [o = Skipped("not-installed", skip)] { return o; };
          } else {
            c.run = [&cfg, w] { return RunPython(cfg, "pool", w, 0); };
          }
        }
        cases.push_back(std::move(c));
      }
    }
  }

  // ---- run
  Machine machine = Describe();
  std::vector<std::size_t> ice_sizes;
  int last_ice = -1;
  for (std::size_t i = 0; i < cases.size(); ++i) {
    if (cases[i].iceoryx) {
      last_ice = static_cast<int>(i);
      ice_sizes.push_back(cases[i].row.size);
    }
  }
  RouDi roudi;
  std::string roudi_error, notes;
  bool roudi_tried = false;
  const bool tty = isatty(2);
  std::vector<Row> rows;
  const uint64_t t_start = bench::NowNs();
  for (std::size_t i = 0; i < cases.size(); ++i) {
    Case& c = cases[i];
    const std::string what =
        c.row.workload +
        (c.row.workload == "scaling"
             ? " " + std::to_string(c.row.producers) + "x" + std::to_string(c.row.consumers)
         : c.row.workload == "pool-scaling"
             ? " " + std::to_string(c.row.producers) + " workers"
             : (c.row.size ? " " + FormatSize(c.row.size) : ""));
    std::fprintf(stderr, "%s[%3zu/%zu] %-22s %-26s%s", tty ? "\r\033[K" : "", i + 1,
                 cases.size(), c.row.method.c_str(), what.c_str(), tty ? "" : "\n");
    std::fflush(stderr);
    Outcome o;
    if (c.iceoryx) {
      if (!roudi_tried) {
        roudi_tried = true;
        roudi_error = roudi.Start(ice_sizes, &DepthFor, cfg.work_dir);
        g_roudi.store(roudi.pid());
      }
      if (!roudi_error.empty()) {
        o = Skipped("not-installed", "iceoryx: " + roudi_error);
      } else {
        o = c.run();
      }
      if (static_cast<int>(i) == last_ice && roudi.running()) {
        g_roudi.store(0);
        const std::string left = roudi.Stop();
        if (!left.empty()) {
          notes += "RouDi left " + left + " behind; removed by the shoot-out.\n";
        }
      }
    } else {
      o = c.run();
    }
    c.row.out = std::move(o);
    rows.push_back(c.row);
  }
  if (roudi.running()) roudi.Stop();
  std::fprintf(stderr, "%sdone: %zu cases in %.1f s\n", tty ? "\r\033[K" : "",
               cases.size(), (bench::NowNs() - t_start) * 1e-9);

  machine.load_end = LoadAvg();
  Summarize(rows);
  PrintTable(rows, machine, stdout);
  const std::string more = WriteResults(rows, machine, cfg, notes);
  if (!more.empty()) std::fprintf(stderr, "%s\n", more.c_str());
  {
    std::string source;
    const std::size_t n = ReadmeContradictions(rows, cfg, &source).size();
    if (n > 0) {
      std::fprintf(stderr, "%zu figure(s) of this run contradict the README's table: see "
                   "\"Against the README's table\" in the report\n", n);
    }
  }
  if (std::getenv("SHOAL_SHOOTOUT_KEEP_WORK") == nullptr) {
    std::error_code ec;
    std::filesystem::remove_all(cfg.work_dir, ec);
  } else {
    std::fprintf(stderr, "working files kept in %s\n", cfg.work_dir.c_str());
  }
  std::fprintf(stderr, "report: %s/report.md (results.json, plots beside it)\n",
               cfg.out.c_str());
  bool bad = false;
  for (const Row& r : rows) {
    if (r.out.status == "failed" || r.out.status == "mismatch") bad = true;
  }
  return bad ? 1 : 0;
}

}  // namespace
}  // namespace shoal::shootout

int main(int argc, char** argv) { return shoal::shootout::Main(argc, argv); }
