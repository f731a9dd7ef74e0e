// job_server: a server that unrelated processes join through a Listener,
// and that hands each of them its work queues over the connection.
//
// The server listens on a random abstract address with an authkey, starts
// --workers programs (itself, exec'd: nothing inherited, no queue names
// agreed) plus one impostor that has the wrong key. Each worker connects
// with Client(), receives the `jobs` and `results` queues by descriptor
// (send_handle / recv_handle: they now share the server's memory), squares
// jobs until a sentinel, and leaves. The impostor is refused
// (AuthenticationError on both sides) without disturbing the others.
//
//   # Python                                    # here
//   listener = Listener(address, authkey=key)   shoal::Listener listener(address, key);
//   conn = listener.accept()                    shoal::Connection conn = listener.accept();
//   conn.send(...)                              conn.send_handle(jobs);   // a shared queue
//   conn = Client(address, authkey=key)         shoal::Connection conn = shoal::Client(address, key);
//
// The key reaches the workers through the environment (SHOAL_JOB_KEY), not
// the command line, which other users can read in /proc.
//
//   bazel run //examples:job_server -- --workers=3 --jobs=1000
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "shoal/base/errors.h"
#include "shoal/ipc/connection.h"
#include "shoal/ipc/listener.h"
#include "shoal/ipc/queue.h"

ABSL_FLAG(int, workers, 3, "worker processes");
ABSL_FLAG(int, jobs, 1000, "jobs (the numbers 1..jobs, squared)");
ABSL_FLAG(std::string, connect, "", "worker mode: the server's address "
                                    "(@name for an abstract one)");
ABSL_FLAG(bool, impostor, false, "worker mode, with a wrong key");

extern char** environ;

namespace {

using std::chrono::seconds;

constexpr long kSentinel = -1;

std::string FromArg(const std::string& a) {
  return !a.empty() && a[0] == '@' ? shoal::AbstractAddress(a.substr(1)) : a;
}
std::string ToArg(const std::string& a) {
  return !a.empty() && a[0] == '\0' ? "@" + a.substr(1) : a;
}

int Worker(const std::string& address, bool impostor) {
  const char* key = std::getenv("SHOAL_JOB_KEY");
  std::string authkey = key != nullptr ? key : "";
  if (impostor) authkey = "not the key";
  try {
    shoal::Connection conn = shoal::Client(address, authkey, seconds(20));
    if (impostor) return 1;  // should have been refused
    auto jobs = conn.recv_handle<shoal::Queue<long>>(seconds(20));
    auto results = conn.recv_handle<shoal::Queue<long>>(seconds(20));
    for (;;) {
      long n = jobs.get(seconds(60));
      if (n == kSentinel) break;
      results.put(n * n);
    }
    return 0;
  } catch (const shoal::AuthenticationError& e) {
    if (impostor) {
      std::printf("impostor (pid %d) was refused: %s\n", getpid(), e.what());
      return 0;
    }
    std::fprintf(stderr, "worker: %s\n", e.what());
    return 2;
  }
}

pid_t Spawn(const std::string& address, bool impostor) {
  std::string connect = "--connect=" + ToArg(address);
  std::vector<char*> argv = {const_cast<char*>("job_server"), connect.data()};
  std::string flag = "--impostor";
  if (impostor) argv.push_back(flag.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  if (posix_spawn(&pid, "/proc/self/exe", nullptr, nullptr, argv.data(),
                  environ) != 0) {
    return -1;
  }
  return pid;
}

int Server(int workers, long njobs) {
  // A fresh random key for this run, handed to the workers we start.
  std::string key = "job-" + std::to_string(getpid()) + "-" +
                    std::to_string(std::chrono::steady_clock::now()
                                       .time_since_epoch()
                                       .count());
  setenv("SHOAL_JOB_KEY", key.c_str(), 1);
  shoal::Listener listener({}, key);  // a random abstract address
  std::printf("listening on %s\n",
              shoal::AddressToString(listener.address()).c_str());

  shoal::Queue<long> jobs(1024);
  shoal::Queue<long> results(1024);
  std::vector<pid_t> pids;
  for (int i = 0; i < workers; ++i) pids.push_back(Spawn(listener.address(), false));
  pid_t impostor = Spawn(listener.address(), true);

  // Accept every worker; the impostor shows up as one AuthenticationError.
  int joined = 0;
  int refused = 0;
  while (joined < workers || refused < 1) {
    try {
      shoal::Connection conn = listener.accept(seconds(30));
      conn.send_handle(jobs);
      conn.send_handle(results);
      ++joined;
    } catch (const shoal::AuthenticationError& e) {
      std::printf("refused a client: %s\n", e.what());
      ++refused;
    }
  }
  std::printf("%d workers joined\n", joined);

  long expected = 0;
  long sum = 0;
  long next = 1;
  long received = 0;
  // Feed and drain at once (both queues are bounded).
  const auto give_up = std::chrono::steady_clock::now() + seconds(120);
  while (received < njobs && std::chrono::steady_clock::now() < give_up) {
    while (next <= njobs && jobs.try_put(next)) {
      expected += next * next;
      ++next;
    }
    if (auto r = results.try_get(std::chrono::milliseconds(1))) {
      sum += *r;
      ++received;
    }
  }
  for (int i = 0; i < workers; ++i) jobs.put(kSentinel);
  std::printf("%ld jobs done by %d workers: sum of squares %ld (%s)\n",
              received, joined, sum, sum == expected ? "correct" : "WRONG");

  int bad = 0;
  pids.push_back(impostor);
  for (pid_t pid : pids) {
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) ++bad;
  }
  std::printf("all %zu client processes exited cleanly: %s\n", pids.size(),
              bad == 0 ? "yes" : "no");
  return sum == expected && bad == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  const std::string connect = absl::GetFlag(FLAGS_connect);
  if (!connect.empty()) {
    return Worker(FromArg(connect), absl::GetFlag(FLAGS_impostor));
  }
  return Server(absl::GetFlag(FLAGS_workers), absl::GetFlag(FLAGS_jobs));
}
