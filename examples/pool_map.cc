// pool_map: shoal::Pool.map, an initializer, maxtasksperchild, and when a
// pool is worth it.
//
// 1. Pool.map with an initializer that prints each worker's name, as in the
//    Python tutorial:
//
//      def start_process():
//          print('Starting', multiprocessing.current_process().name)
//      pool = multiprocessing.Pool(processes=pool_size,
//                                  initializer=start_process)
//      pool_outputs = pool.map(do_calculation, inputs)
//      pool.close(); pool.join()
//
//    The initializer also counts the workers in a shared Value (its
//    arguments travel like a task's).
// 2. The same with maxtasksperchild=3: a worker leaves after 3 tasks and the
//    pool starts a new one, so many more workers start (a cure for tasks that
//    leak). Each map chunk is one task; chunksize 1 makes it one per item.
// 3. A plain loop against Pool.map, for trivial work (x * 2) and for heavy
//    work (a long chain of sin() per item), printing both times: the pool
//    loses on trivial work (moving the items costs more than computing them)
//    and wins on heavy work when there are several cores.
//
//   bazel run //examples:pool_map
//   bazel run //examples:pool_map -- --items=20 --processes=2 --heavy_items=8
#include <chrono>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "shoal/ipc/value.h"
#include "shoal/pool/context.h"
#include "shoal/pool/pool.h"
#include "shoal/pool/process.h"

ABSL_FLAG(int, items, 100, "inputs of parts 1 and 2");
ABSL_FLAG(int, processes, 0, "workers of parts 1 and 2 (0: 2 x cpu_count())");
ABSL_FLAG(int, trivial_items, 1000000, "inputs of the trivial workload");
ABSL_FLAG(int, heavy_items, 32, "inputs of the heavy workload");
ABSL_FLAG(int, heavy_iterations, 2000000, "sin() calls per heavy input");
ABSL_FLAG(std::string, start_method, "fork",
          "fork or spawn (Python's set_start_method)");

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

int do_calculation(int data) { return data * 2; }

// The initializer: runs once in every worker, before its first task.
void start_process(shoal::Value<int> started) {
  std::printf("Starting %s\n", shoal::current_process().name.c_str());
  std::fflush(stdout);
  started.add(1);
}

// Heavy work: a function object whose state (the iteration count) travels
// with each task.
struct Heavy {
  int iterations = 0;
  double operator()(int seed) const {
    double x = seed;
    for (int i = 0; i < iterations; ++i) x = std::sin(x) + 1.0;
    return x;
  }
};

std::string list(const std::vector<int>& v) {
  std::string s = "[";
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(v[i]);
  }
  return s + "]";
}

// "the pool is 3.1x slower" / "2.0x faster".
std::string verdict(double loop_ms, double pool_ms) {
  char buf[64];
  if (pool_ms > loop_ms) {
    std::snprintf(buf, sizeof buf, "the pool is %.1fx slower", pool_ms / loop_ms);
  } else {
    std::snprintf(buf, sizeof buf, "the pool is %.1fx faster", loop_ms / pool_ms);
  }
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  shoal::init(argc, argv);
  absl::ParseCommandLine(argc, argv);
  shoal::set_start_method(absl::GetFlag(FLAGS_start_method));
  std::vector<int> inputs(absl::GetFlag(FLAGS_items));
  std::iota(inputs.begin(), inputs.end(), 0);
  const std::size_t pool_size = absl::GetFlag(FLAGS_processes) > 0
                                    ? absl::GetFlag(FLAGS_processes)
                                    : 2 * shoal::cpu_count();
  bool ok = true;

  // --- Built-in map ----------------------------------------------------------
  auto t1 = Clock::now();
  std::vector<int> builtin_outputs;
  for (int x : inputs) builtin_outputs.push_back(do_calculation(x));
  std::printf("Built-in: %s\n", list(builtin_outputs).c_str());
  std::printf("%.3f ms\n", ms_since(t1));
  std::fflush(stdout);

  // --- 1. Pool.map with an initializer ---------------------------------------
  {
    shoal::Value<int> started(0);
    auto t2 = Clock::now();
    shoal::Pool pool(shoal::PoolOptions{
        .processes = pool_size,
        .initializer = shoal::Initializer(start_process, started)});
    std::vector<int> pool_outputs = pool.map(do_calculation, inputs);
    pool.close();  // no more tasks
    pool.join();   // wrap up current tasks
    std::printf("Pool    : %s\n", list(pool_outputs).c_str());
    std::printf("%.3f ms\n", ms_since(t2));
    std::printf("pool of %zu: %d workers started\n", pool_size, started.load());
    std::fflush(stdout);
    ok &= pool_outputs == builtin_outputs;
  }

  // --- 2. The same with maxtasksperchild=3 -----------------------------------
  {
    shoal::Value<int> started(0);
    shoal::Pool pool(shoal::PoolOptions{
        .processes = pool_size,
        .initializer = shoal::Initializer(start_process, started),
        .maxtasksperchild = 3});
    std::vector<int> pool_outputs =
        pool.map(do_calculation, inputs, /*chunksize=*/1);
    pool.close();
    pool.join();
    std::printf("Pool    : %s\n", list(pool_outputs).c_str());
    std::printf("pool of %zu, maxtasksperchild=3, %zu tasks: %d workers started\n",
                pool_size, inputs.size(), started.load());
    std::fflush(stdout);
    ok &= pool_outputs == builtin_outputs;
  }

  // --- 3. Loop vs Pool.map: trivial work, heavy work -------------------------
  {
    auto t = Clock::now();
    shoal::Pool pool;  // process_cpu_count() workers
    std::printf("pool of %zu workers started in %.1f ms (not counted below)\n",
                pool.processes(), ms_since(t));

    std::vector<int> many(absl::GetFlag(FLAGS_trivial_items));
    std::iota(many.begin(), many.end(), 0);
    t = Clock::now();
    std::vector<int> by_loop;
    by_loop.reserve(many.size());
    for (int x : many) by_loop.push_back(do_calculation(x));
    const double loop_ms = ms_since(t);
    t = Clock::now();
    std::vector<int> by_pool = pool.map(do_calculation, many);
    const double pool_ms = ms_since(t);
    std::printf("trivial work (x * 2) on %zu items: loop %.2f ms, Pool.map %.2f ms: %s; results equal: %s\n",
                many.size(), loop_ms, pool_ms, verdict(loop_ms, pool_ms).c_str(),
                by_loop == by_pool ? "yes" : "NO");
    ok &= by_loop == by_pool;

    const Heavy heavy{absl::GetFlag(FLAGS_heavy_iterations)};
    std::vector<int> seeds(absl::GetFlag(FLAGS_heavy_items));
    std::iota(seeds.begin(), seeds.end(), 1);
    t = Clock::now();
    std::vector<double> heavy_loop;
    for (int s : seeds) heavy_loop.push_back(heavy(s));
    const double heavy_loop_ms = ms_since(t);
    t = Clock::now();
    std::vector<double> heavy_pool = pool.map(heavy, seeds, /*chunksize=*/1);
    const double heavy_pool_ms = ms_since(t);
    std::printf("heavy work (%d sin() per item) on %zu items: loop %.2f ms, Pool.map %.2f ms: %s; results equal: %s\n",
                heavy.iterations, seeds.size(), heavy_loop_ms, heavy_pool_ms,
                verdict(heavy_loop_ms, heavy_pool_ms).c_str(),
                heavy_loop == heavy_pool ? "yes" : "NO");
    ok &= heavy_loop == heavy_pool;
  }
  return ok ? 0 : 1;
}
