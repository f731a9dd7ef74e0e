// clock: the first multiprocessing example, in C++.
//
// Shows a shoal::Process running a function with an argument, and the
// "Process subclass" style: a function object that carries its own state
// (here the interval), like Python's
//
//   class ClockProcess(multiprocessing.Process):
//       def __init__(self, interval): ...
//       def run(self): ...
//
// Each child prints the time three times, `interval` seconds apart; the
// parent join()s it and prints its exit code.
//
//   bazel run //examples:clock                      # interval 2 s, as in Python
//   bazel run //examples:clock -- --interval=0.1
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "shoal/pool/context.h"
#include "shoal/pool/process.h"

ABSL_FLAG(double, interval, 2.0, "seconds between two lines of a clock");
ABSL_FLAG(std::string, start_method, "fork",
          "fork or spawn (Python's set_start_method)");

namespace {

// Python's time.ctime(), with milliseconds so that short intervals show.
std::string Now() {
  const auto now = std::chrono::system_clock::now();
  const time_t t = std::chrono::system_clock::to_time_t(now);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      now.time_since_epoch()).count() % 1000;
  tm local;
  localtime_r(&t, &local);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a %b %e %H:%M:%S", &local);
  char out[96];
  std::snprintf(out, sizeof out, "%s.%03lld %d", buf,
                static_cast<long long>(ms), local.tm_year + 1900);
  return out;
}

// def clock(interval): ...  (named run_clock: ::clock is taken by <time.h>)
void run_clock(double interval) {
  for (int i = 0; i < 3; ++i) {
    std::printf("[%s] The time is %s\n",
                shoal::current_process().name.c_str(), Now().c_str());
    std::fflush(stdout);
    std::this_thread::sleep_for(std::chrono::duration<double>(interval));
  }
}

// class ClockProcess(multiprocessing.Process): the state lives in the
// object, run() is operator(). A trivially copyable struct travels to the
// child as it is; a class with std::string or std::vector members would add
//   template <class Archive> void serialize(Archive& a) { a(member, ...); }
struct ClockProcess {
  double interval = 1.0;

  void operator()() const {
    for (int i = 0; i < 3; ++i) {
      std::printf("[%s] ClockProcess: the time is %s\n",
                  shoal::current_process().name.c_str(), Now().c_str());
      std::fflush(stdout);
      std::this_thread::sleep_for(std::chrono::duration<double>(interval));
    }
  }
};

}  // namespace

int main(int argc, char** argv) {
  shoal::init(argc, argv);  // if __name__ == '__main__':
  absl::ParseCommandLine(argc, argv);
  shoal::set_start_method(absl::GetFlag(FLAGS_start_method));
  const double interval = absl::GetFlag(FLAGS_interval);

  // p = multiprocessing.Process(target=clock, args=(interval,))
  shoal::Process p(run_clock, interval);
  p.start();
  p.join();
  std::printf("%s (pid %d) exited with %d\n", p.name().c_str(),
              static_cast<int>(p.pid()), *p.exitcode());
  std::fflush(stdout);  // before the next child writes to the same stdout

  // p = ClockProcess(interval)
  shoal::Process c(shoal::ProcessOptions{.name = "ClockProcess-1"},
                   ClockProcess{interval});
  c.start();
  c.join();
  std::printf("%s (pid %d) exited with %d\n", c.name().c_str(),
              static_cast<int>(c.pid()), *c.exitcode());
  return *p.exitcode() == 0 && *c.exitcode() == 0 ? 0 : 1;
}
