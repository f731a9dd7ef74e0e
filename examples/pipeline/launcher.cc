// pipeline/launcher: a three-stage pipeline of three separate programs,
// connected by named shoal queues.
//
//   source --(queue "<name>-raw")--> square x K --(queue "<name>-squared")--> sink
//
// The launcher creates the two named queues (so it owns them: they are
// unlinked from /dev/shm when it lets go of them, whatever happened to the
// stages), starts the stage programs with fork()+exec() passing the queue
// names on their command lines, and waits for them. Unrelated programs find
// a named queue by its name (Queue<T>::Open(name)), as long as they agree on
// T.
//
// Shutdown: sentinels. The source puts one std::nullopt per squarer; each
// squarer passes one on and stops; the sink stops after one per squarer.
// If a stage fails (exits non-zero, or is killed), the launcher close()s both
// queues: every blocked put()/get() in the other stages throws shoal::Closed
// and they stop too; nobody waits forever for a peer that is gone. A stage
// that is still running after --timeout_s is killed.
//
// The stage programs are looked for next to the launcher's own executable,
// then in its Bazel runfiles, or in --stage_dir.
//
//   bazel build //examples/pipeline:all
//   bazel-bin/examples/pipeline/launcher --count=100000 --squarers=2
//   bazel-bin/examples/pipeline/launcher --crash_square_after=100   # a failing stage
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "shoal/ipc/queue.h"
#include "shoal/ipc/region.h"

ABSL_FLAG(long, count, 10000, "numbers the source produces");
ABSL_FLAG(int, squarers, 2, "stage-2 processes");
ABSL_FLAG(std::string, name, "", "queue name prefix (default pipeline-<pid>)");
ABSL_FLAG(int, timeout_s, 60, "kill the stages still running after this");
ABSL_FLAG(long, crash_square_after, 0,
          "demo: the first squarer kills itself after this many items");
ABSL_FLAG(std::string, stage_dir, "", "where the stage programs are");

namespace {

using Item = std::optional<long>;  // the stages' item type

std::string dirname(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

bool executable(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
         access(path.c_str(), X_OK) == 0;
}

// The stage program `name`: in --stage_dir, next to this executable, or in
// its runfiles.
std::string find_stage(const std::string& name, const char* argv0) {
  std::vector<std::string> candidates;
  if (!absl::GetFlag(FLAGS_stage_dir).empty()) {
    candidates.push_back(absl::GetFlag(FLAGS_stage_dir) + "/" + name);
  }
  char self[4096];
  const ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n > 0) candidates.push_back(dirname(std::string(self, n)) + "/" + name);
  candidates.push_back(dirname(argv0) + "/" + name);
  const std::string in_runfiles = "/shoal/examples/pipeline/" + name;
  if (const char* r = std::getenv("RUNFILES_DIR")) {
    candidates.push_back(r + in_runfiles);
  }
  candidates.push_back(std::string(argv0) + ".runfiles" + in_runfiles);
  for (const std::string& c : candidates) {
    if (executable(c)) return c;
  }
  std::fprintf(stderr, "launcher: cannot find the stage program '%s'\n",
               name.c_str());
  std::exit(2);
}

struct Stage {
  std::string label;
  pid_t pid = 0;
  std::optional<int> status;  // waitpid status once ended
};

// fork() + execv(program, args): the stage's pid.
pid_t spawn(const std::string& program, const std::vector<std::string>& args) {
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(program.c_str()));
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::fflush(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    execv(program.c_str(), argv.data());
    std::perror("launcher: execv");
    _exit(127);
  }
  return pid;
}

std::string describe(int status) {
  if (WIFEXITED(status)) return "exited with " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    return "was killed by signal " + std::to_string(WTERMSIG(status));
  }
  return "ended (status " + std::to_string(status) + ")";
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const long count = absl::GetFlag(FLAGS_count);
  const int squarers = absl::GetFlag(FLAGS_squarers);
  std::string prefix = absl::GetFlag(FLAGS_name);
  if (prefix.empty()) prefix = "pipeline-" + std::to_string(getpid());

  const std::string source = find_stage("source", argv[0]);
  const std::string square = find_stage("square", argv[0]);
  const std::string sink = find_stage("sink", argv[0]);

  bool ok = true;
  {
    // The queues: named, so that the stage programs can open them.
    auto named = [](const std::string& name) {
      shoal::QueueOptions o;
      o.maxsize = 1024;
      o.region.kind = shoal::RegionKind::kNamed;
      o.region.name = name;
      return o;
    };
    shoal::Queue<Item> raw(named(prefix + "-raw"));
    shoal::Queue<Item> squared(named(prefix + "-squared"));
    std::printf("launcher: queues %s and %s\n", raw.region().name().c_str(),
                squared.region().name().c_str());

    std::vector<Stage> stages;
    auto start = [&](std::string label, const std::string& program,
                     const std::vector<std::string>& args) {
      Stage s;
      s.label = std::move(label);
      s.pid = spawn(program, args);
      stages.push_back(std::move(s));
    };
    start("source", source,
          {"--out=" + prefix + "-raw", "--count=" + std::to_string(count),
           "--sentinels=" + std::to_string(squarers)});
    for (int k = 0; k < squarers; ++k) {
      std::vector<std::string> args = {"--in=" + prefix + "-raw",
                                       "--out=" + prefix + "-squared"};
      if (k == 0 && absl::GetFlag(FLAGS_crash_square_after) > 0) {
        args.push_back("--crash_after=" +
                       std::to_string(absl::GetFlag(FLAGS_crash_square_after)));
      }
      start("square[" + std::to_string(k) + "]", square, args);
    }
    start("sink", sink,
          {"--in=" + prefix + "-squared",
           "--producers=" + std::to_string(squarers),
           "--count=" + std::to_string(count)});

    // Wait for every stage; on the first failure close the queues, so that
    // the others stop; past the deadline kill what is left.
    const auto deadline = std::chrono::steady_clock::now() +
                          std::chrono::seconds(absl::GetFlag(FLAGS_timeout_s));
    bool closed = false, killed = false;
    for (std::size_t running = stages.size(); running > 0;) {
      bool reaped = false;
      for (Stage& s : stages) {
        int status;
        if (s.status || waitpid(s.pid, &status, WNOHANG) != s.pid) continue;
        s.status = status;
        --running;
        reaped = true;
        std::printf("launcher: %s (pid %d) %s\n", s.label.c_str(),
                    static_cast<int>(s.pid), describe(status).c_str());
        const bool failed = !WIFEXITED(status) || WEXITSTATUS(status) != 0;
        if (failed && !closed) {
          std::printf("launcher: %s failed: closing the queues\n", s.label.c_str());
          raw.close();
          squared.close();
          closed = true;
        }
        ok &= !failed;
      }
      if (!reaped && running > 0) {
        if (!killed && std::chrono::steady_clock::now() > deadline) {
          std::printf("launcher: timeout: killing the stages still running\n");
          for (Stage& s : stages) {
            if (!s.status) kill(s.pid, SIGKILL);
          }
          killed = true;
          ok = false;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    }
  }  // the queues go: their names leave /dev/shm
  std::printf("launcher: %s\n", ok ? "all stages exited 0" : "the pipeline failed");
  return ok ? 0 : 1;
}
