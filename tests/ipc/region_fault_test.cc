// Copyright 2026 The shoal Authors.
//
// Attacks on named regions from the file system and the process table, each
// across real processes and bounded in time (children run under alarm()):
//
//   * special files planted where a region is expected (a FIFO, a device, a
//     directory, a socket, a symbolic link): creating, opening, sweeping and
//     destroying never block and give a clear error;
//
// Prints its figures with a "[figures]" prefix for RELIABILITY.md.
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "shoal/base/errors.h"
#include "shoal/ipc/region.h"
#include "tests/ipc/fork_helper.h"

namespace shoal {
namespace {

using ::shoal::testing::RunInChild;
using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;

struct Box {
  uint64_t value;
};
const RegionLayout kLayout = LayoutOf<Box>("region_fault_test");

std::string UniqueName(const char* what) {
  return std::string("fault.") + what + "." + std::to_string(getpid()) + "." +
         internal::RandomHex128().substr(0, 8);
}

std::string ShmPath(const std::string& full_name) {
  return "/dev/shm/" + full_name;
}

bool ShmExists(const std::string& full_name) {
  struct stat st;
  return lstat(ShmPath(full_name).c_str(), &st) == 0;
}

// Figures, printed once at the end by FiguresPrinter.
struct Figures {
  int planted_cases = 0;
  double planted_worst_ms = 0;
};
Figures g_fig;

class FiguresPrinter : public ::testing::Environment {
 public:
  void TearDown() override {
    if (g_fig.planted_cases > 0) {
      std::printf(
          "[figures] planted files: %d cases (FIFO, character device, "
          "directory, socket, symbolic link x open, create, list+sweep, "
          "creator's last handle): each a clear error or left alone, none "
          "blocked; longest %.1f ms\n",
          g_fig.planted_cases, g_fig.planted_worst_ms);
    }
  }
};
const auto* const g_printer =
    ::testing::AddGlobalTestEnvironment(new FiguresPrinter);

void CountPlanted(Clock::time_point t0) {
  ++g_fig.planted_cases;
  g_fig.planted_worst_ms = std::max(
      g_fig.planted_worst_ms,
      std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
}

// Runs `fn` in a child bounded by a 5 s alarm; returns "" when it threw an
// exception of type E whose message contains every one of `needles`, else
// what happened instead ("hung", "no exception", the other message).
template <class E>
std::string ChildThrows(const std::function<void()>& fn,
                        std::vector<std::string> needles) {
  int fds[2];
  if (pipe(fds) != 0) return "pipe failed";
  const auto t0 = Clock::now();
  const int rc = RunInChild(
      [&]() -> int {
        close(fds[0]);
        std::string what;
        int code = 0;
        try {
          fn();
          what = "no exception";
          code = 1;
        } catch (const E& e) {
          what = e.what();
          for (const auto& n : needles) {
            if (what.find(n) == std::string::npos) code = 2;
          }
        } catch (const std::exception& e) {
          what = std::string("other exception: ") + e.what();
          code = 3;
        }
        if (write(fds[1], what.data(), what.size()) < 0) return 4;
        return code;
      },
      /*timeout_s=*/5);
  close(fds[1]);
  CountPlanted(t0);
  std::string what(4096, '\0');
  ssize_t n = read(fds[0], what.data(), what.size());
  close(fds[0]);
  what.resize(n > 0 ? static_cast<size_t>(n) : 0);
  if (rc == 0) return "";
  if (rc == -SIGALRM) return "hung (killed by its 5 s alarm)";
  return "rc " + std::to_string(rc) + ": " + what;
}

// ---------------------------------------------------------------------------
// Special files planted under a region's name.

enum class Planted { kFifo, kCharDevice, kDirectory, kSocket, kSymlink };

const char* PlantedName(Planted p) {
  switch (p) {
    case Planted::kFifo:
      return "fifo";
    case Planted::kCharDevice:
      return "chardev";
    case Planted::kDirectory:
      return "directory";
    case Planted::kSocket:
      return "socket";
    case Planted::kSymlink:
      return "symlink";
  }
  return "?";
}

// What the error message calls it.
const char* PlantedWhat(Planted p) {
  switch (p) {
    case Planted::kFifo:
      return "a FIFO";
    case Planted::kCharDevice:
      return "a character device";
    case Planted::kDirectory:
      return "a directory";
    case Planted::kSocket:
      return "a socket";
    case Planted::kSymlink:
      return "a symbolic link";
  }
  return "?";
}

class PlantedFileTest : public ::testing::TestWithParam<Planted> {
 protected:
  void SetUp() override {
    name_ = "shoal." + UniqueName(PlantedName(GetParam()));
    Plant(ShmPath(name_));
  }
  void TearDown() override {
    const std::string path = ShmPath(name_);
    if (unlink(path.c_str()) != 0) rmdir(path.c_str());
    if (!target_.empty()) unlink(target_.c_str());
  }
  void Plant(const std::string& path) {
    switch (GetParam()) {
      case Planted::kFifo:
        ASSERT_EQ(mkfifo(path.c_str(), 0600), 0) << std::strerror(errno);
        break;
      case Planted::kCharDevice:
        if (mknod(path.c_str(), S_IFCHR | 0600, makedev(1, 3)) != 0) {
          GTEST_SKIP() << "mknod needs CAP_MKNOD: " << std::strerror(errno);
        }
        break;
      case Planted::kDirectory:
        ASSERT_EQ(mkdir(path.c_str(), 0700), 0) << std::strerror(errno);
        break;
      case Planted::kSocket: {
        int s = socket(AF_UNIX, SOCK_STREAM, 0);
        ASSERT_GE(s, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        ASSERT_LT(path.size(), sizeof(addr.sun_path));
        std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
        ASSERT_EQ(bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0)
            << std::strerror(errno);
        close(s);
        break;
      }
      case Planted::kSymlink: {
        // Pointing at a real, valid region: following it would let whoever
        // can write /dev/shm redirect an open to any file we can open.
        RegionOptions o;
        o.kind = RegionKind::kNamed;
        target_region_ = Region::Create(64, kLayout, o);
        target_region_.PublishReady();
        ASSERT_EQ(symlink(ShmPath(target_region_.name()).c_str(), path.c_str()),
                  0);
        break;
      }
    }
  }
  std::string name_;
  std::string target_;
  Region target_region_;
};

TEST_P(PlantedFileTest, OpenNeverBlocksAndSaysWhatIsThere) {
  const std::string err = ChildThrows<InvalidRegion>(
      [&] { Region::OpenNamed(name_, kLayout); },
      {name_, PlantedWhat(GetParam())});
  EXPECT_EQ(err, "");
}

TEST_P(PlantedFileTest, CreateNeverBlocksAndSaysWhatIsThere) {
  const std::string err = ChildThrows<SystemError>(
      [&] {
        RegionOptions o;
        o.kind = RegionKind::kNamed;
        o.name = name_;
        Region::Create(64, kLayout, o);
      },
      {name_, "already exists", PlantedWhat(GetParam())});
  EXPECT_EQ(err, "");
  EXPECT_TRUE(ShmExists(name_)) << "create removed a file that is not ours";
}

TEST_P(PlantedFileTest, ListAndSweepNeverBlockAndLeaveItAlone) {
  const auto t0 = Clock::now();
  const int rc = RunInChild(
      [&]() -> int {
        bool listed = false;
        for (const RegionInfo& info : ListRegions()) {
          if (info.name == name_) listed = !info.valid;
        }
        SweepStale();
        return listed ? 0 : 1;
      },
      5);
  CountPlanted(t0);
  EXPECT_EQ(rc, 0);
  EXPECT_TRUE(ShmExists(name_));
}

// A region whose file is replaced by a special file while it is mapped: the
// creator's last handle, which unlinks the name if it is still its own file,
// neither blocks nor removes the stranger.
TEST_P(PlantedFileTest, DestroyingTheCreatorsHandleNeverBlocks) {
  const std::string name = "shoal." + UniqueName("replaced");
  const auto t0 = Clock::now();
  const int rc = RunInChild(
      [&]() -> int {
        RegionOptions o;
        o.kind = RegionKind::kNamed;
        o.name = name;
        Region r = Region::Create(64, kLayout, o);
        r.PublishReady();
        unlink(ShmPath(name).c_str());
        Plant(ShmPath(name));
        r = Region();  // would open the name to compare inodes
        target_region_ = Region();  // (the symlink case made one)
        return ShmExists(name) ? 0 : 1;
      },
      5);
  CountPlanted(t0);
  EXPECT_EQ(rc, 0);
  const std::string path = ShmPath(name);
  if (unlink(path.c_str()) != 0) rmdir(path.c_str());
}

INSTANTIATE_TEST_SUITE_P(
    Files, PlantedFileTest,
    ::testing::Values(Planted::kFifo, Planted::kCharDevice,
                      Planted::kDirectory, Planted::kSocket,
                      Planted::kSymlink),
    [](const ::testing::TestParamInfo<Planted>& i) {
      return std::string(PlantedName(i.param));
    });

}  // namespace
}  // namespace shoal
