#include "shoal/mpi/init.h"

#include <unistd.h>

#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "shoal/base/errors.h"
#include "shoal/mpi/internal/mpi_comm.h"
#include "shoal/mpi/internal/server.h"
#include "shoal/mpi/internal/wire.h"
#include "shoal/mpi/internal/world.h"
#include "shoal/pool/context.h"

namespace shoal::mpi {
namespace {

using internal::Identity;
using internal::kIdentityBytes;

// What the MPI thread tells init() once the handshake is over.
struct Boot {
  std::mutex mu;
  std::condition_variable cv;
  bool ready = false;
  int rank = -1;
  int size = 0;
  std::exception_ptr error;  // rank 0: HandshakeError or an MPI failure
  internal::ServeResult serve;  // workers, when the MPI thread ends
};

std::mutex g_mu;
bool g_called = false;
bool g_finalized = false;
int g_rank = -1;
int g_size = 0;
std::thread g_thread;  // rank 0's MPI thread
std::vector<RankInfo> g_ranks;

// The verdict rank 0 broadcasts: text, so that any rank can read it.
constexpr std::size_t kVerdictBytes = 4096;

std::string MpiError(const char* call, int code) {
  char buf[MPI_MAX_ERROR_STRING];
  int len = 0;
  std::string s = std::string("shoal::mpi: ") + call + " failed";
  if (MPI_Error_string(code, buf, &len) == MPI_SUCCESS) {
    s += ": " + std::string(buf, static_cast<std::size_t>(len));
  }
  return s;
}

void Signal(Boot* boot) {
  std::lock_guard<std::mutex> lock(boot->mu);
  boot->ready = true;
  boot->cv.notify_all();
}

std::string Field(const std::string& text, const std::string& key) {
  const std::string k = "\n" + key + "=";
  std::size_t at = ("\n" + text).find(k);
  if (at == std::string::npos) return {};
  at += k.size() - 1;
  const std::size_t eol = text.find('\n', at);
  return text.substr(at, eol == std::string::npos ? std::string::npos
                                                  : eol - at);
}

// The MPI thread: MPI_Init_thread, the handshake, then rank 0's World loop
// or a worker's Serve loop, then MPI_Finalize.
void MpiThread(InitOptions options, const void* caller, Boot* boot) {
  int provided = 0;
  int rc = MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
  if (rc != MPI_SUCCESS) {
    boot->error = std::make_exception_ptr(
        SystemError(MpiError("MPI_Init_thread", rc), 0));
    Signal(boot);
    return;
  }
  internal::MpiComm comm;
  MPI_Comm_dup(MPI_COMM_WORLD, &comm.comm);
  MPI_Comm_set_errhandler(comm.comm, MPI_ERRORS_RETURN);
  int rank = 0, size = 1;
  MPI_Comm_rank(comm.comm, &rank);
  MPI_Comm_size(comm.comm, &size);
  boot->rank = rank;
  boot->size = size;
  if (provided < MPI_THREAD_FUNNELED) {
    // Every rank sees the same level: all leave together.
    if (rank == 0) {
      boot->error = std::make_exception_ptr(ValueError(
          "shoal::mpi: this MPI library does not provide "
          "MPI_THREAD_FUNNELED"));
    }
    MPI_Finalize();
    Signal(boot);
    return;
  }

  // Handshake: every identity to rank 0, its verdict to everybody.
  const Identity here = Identity::Here(caller);
  std::vector<char> mine(kIdentityBytes, '\0');
  const std::string text = here.Serialize();
  std::memcpy(mine.data(), text.data(),
              std::min(text.size(), kIdentityBytes - 1));
  std::vector<char> all(rank == 0 ? kIdentityBytes * size : 1);
  MPI_Gather(mine.data(), static_cast<int>(kIdentityBytes), MPI_CHAR,
             all.data(), static_cast<int>(kIdentityBytes), MPI_CHAR, 0,
             comm.comm);
  std::vector<char> verdict(kVerdictBytes, '\0');
  std::vector<internal::PeerInfo> peers(static_cast<std::size_t>(size));
  if (rank == 0) {
    std::string v = "ok\n";
    std::string refusal;
    for (int r = 0; r < size; ++r) {
      const char* p = all.data() + static_cast<std::size_t>(r) * kIdentityBytes;
      const Identity theirs =
          Identity::Parse(std::string_view(p, strnlen(p, kIdentityBytes)));
      peers[static_cast<std::size_t>(r)] = {theirs.host,
                                            static_cast<pid_t>(theirs.pid)};
      if (r == 0 || !refusal.empty()) continue;
      if (auto why = internal::CompareIdentity(here, 0, theirs, r)) {
        refusal = *why;
      }
    }
    if (!refusal.empty()) v = "refused\n";
    v += "timeout_ms=" + std::to_string(options.rank_timeout.count()) + "\n";
    v += "spin_us=" + std::to_string(options.spin.count()) + "\n";
    v += "busy_us=" + std::to_string(options.spin_while_working.count()) + "\n";
    v += "poll_us=" + std::to_string(options.max_poll_interval.count()) + "\n";
    // Rank 0's identity last (each worker checks itself against it).
    v += "identity\n" + text;
    std::memcpy(verdict.data(), v.data(), std::min(v.size(), kVerdictBytes - 1));
    if (!refusal.empty()) {
      boot->error = std::make_exception_ptr(HandshakeError(refusal));
    }
  }
  MPI_Bcast(verdict.data(), static_cast<int>(kVerdictBytes), MPI_CHAR, 0,
            comm.comm);
  const std::string vt(verdict.data(), strnlen(verdict.data(), kVerdictBytes));
  internal::Tuning tuning;
  tuning.rank_timeout_ns = std::atoll(Field(vt, "timeout_ms").c_str()) * 1'000'000;
  tuning.spin_ns = std::atoll(Field(vt, "spin_us").c_str()) * 1'000;
  tuning.busy_ns = std::atoll(Field(vt, "busy_us").c_str()) * 1'000;
  tuning.max_sleep_ns = std::atoll(Field(vt, "poll_us").c_str()) * 1'000;
  if (vt.rfind("refused\n", 0) == 0) {
    if (rank != 0) {
      const std::size_t at = vt.find("identity\n");
      const Identity rank0 = Identity::Parse(
          at == std::string::npos ? std::string_view{}
                                  : std::string_view(vt).substr(at + 9));
      if (auto why = internal::CompareIdentity(rank0, 0, here, rank)) {
        std::fprintf(stderr, "%s\n", why->c_str());
      }
    }
    MPI_Comm_free(&comm.comm);
    MPI_Finalize();
    Signal(boot);
    return;
  }

  if (rank == 0) {
    // The World lives until the process ends (executors may outlive
    // finalize(); they then get ValueError).
    auto* world = new internal::World(comm, size, std::move(peers), tuning);
    internal::World::Install(world);
    Signal(boot);
    const bool finalize = world->Loop();
    if (finalize) MPI_Finalize();
    return;
  }
  Signal(boot);
  boot->serve = internal::Serve(comm, rank, tuning);
  if (boot->serve.finalize) {
    MPI_Comm_free(&comm.comm);
    MPI_Finalize();
  }
}

void FinalizeAtExit() { finalize(); }

}  // namespace

void init(int argc, char** argv, const InitOptions& options) {
  // A local pool's spawned worker (hierarchical mode, spawn method) runs
  // here and never returns.
  shoal::init(argc, argv);
  const void* caller = __builtin_return_address(0);
  {
    std::lock_guard<std::mutex> lock(g_mu);
    if (g_called) throw ValueError("shoal::mpi::init was already called");
    g_called = true;
  }
  auto* boot = new Boot;  // the MPI thread may outlive this frame
  std::thread t(MpiThread, options, caller, boot);
  {
    std::unique_lock<std::mutex> lock(boot->mu);
    boot->cv.wait(lock, [&] { return boot->ready; });
  }
  if (boot->rank != 0) {
    // A worker rank: the MPI thread serves until rank 0 is done.
    t.join();
    std::fflush(stdout);
    std::fflush(stderr);
    if (!boot->serve.clean) _exit(boot->serve.status);
    std::exit(boot->serve.status);
  }
  if (boot->error) {
    t.join();
    std::lock_guard<std::mutex> lock(g_mu);
    g_finalized = true;
    std::rethrow_exception(boot->error);
  }
  {
    std::lock_guard<std::mutex> lock(g_mu);
    g_rank = boot->rank;
    g_size = boot->size;
    g_thread = std::move(t);
    const auto peers = internal::World::Get().peers();
    for (int r = 0; r < boot->size; ++r) {
      g_ranks.push_back(RankInfo{r, peers[static_cast<std::size_t>(r)].host,
                                 peers[static_cast<std::size_t>(r)].pid, true});
    }
  }
  std::atexit(&FinalizeAtExit);
}

void finalize() {
  std::thread t;
  {
    std::lock_guard<std::mutex> lock(g_mu);
    if (g_finalized || !g_thread.joinable()) return;
    g_finalized = true;
    t = std::move(g_thread);
  }
  internal::World::Get().Stop();
  t.join();
}

bool initialized() {
  std::lock_guard<std::mutex> lock(g_mu);
  return g_rank == 0 && !g_finalized;
}

int rank() {
  std::lock_guard<std::mutex> lock(g_mu);
  return g_rank;
}

int size() {
  std::lock_guard<std::mutex> lock(g_mu);
  return g_size;
}

std::vector<RankInfo> ranks() {
  std::vector<RankInfo> out;
  {
    std::lock_guard<std::mutex> lock(g_mu);
    out = g_ranks;
  }
  if (!out.empty()) {
    const std::vector<bool> live = internal::World::Get().live_ranks();
    for (std::size_t r = 1; r < out.size() && r < live.size(); ++r) {
      out[r].live = live[r];
    }
  }
  return out;
}

}  // namespace shoal::mpi
