// Copyright 2026 The shoal Authors.
//
// Attacks on named regions from the file system and the process table, each
// across real processes and bounded in time (children run under alarm()):
//
//   * special files planted where a region is expected (a FIFO, a device, a
//     directory, a socket, a symbolic link): creating, opening, sweeping and
//     destroying never block and give a clear error;
//   * a full /dev/shm (a small tmpfs mounted over it in a private mount
//     namespace) and a small RLIMIT_FSIZE: creating a region that does not
//     fit is an error saying how much was needed and how much is free, never
//     SIGBUS on first touch or SIGXFSZ, and leaves no file behind;
//   * creators SIGKILLed in the middle of creating a named region: the name
//     is never blocked, and the sweep (`shoal gc`) removes what they left
//     half-made and nothing foreign;
//   * creators in another pid namespace (a container sharing /dev/shm) and
//     creators whose pid was reused: the sweep never removes a live
//     creator's region, and removes a dead one's once that is proven;
//
// Prints its figures with a "[figures]" prefix for RELIABILITY.md.
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <dirent.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "shoal/base/errors.h"
#include "shoal/ipc/array.h"
#include "shoal/ipc/channel.h"
#include "shoal/ipc/managed_region.h"
#include "shoal/ipc/queue.h"
#include "shoal/ipc/region.h"
#include "tests/ipc/fork_helper.h"

namespace shoal {
namespace {

using ::shoal::testing::RunInChild;
using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

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
  int full_refused = 0;     // creations refused on a full /dev/shm
  std::string full_example;  // one of their messages
  int fsize_refused = 0;    // creations refused by RLIMIT_FSIZE
  int storm_kills = 0;       // creators killed mid-create
  int storm_inside = 0;      // of which inside Region::Create
  int storm_recreated = 0;   // the name created again right after a kill
  int storm_half_made = 0;   // half-made files the sweep found and removed
  double storm_seconds = 0;
  std::string pidns;  // the pid namespace case, as it went
  std::string heap;   // "<puts that fitted>|<the refusal>"
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
    if (g_fig.full_refused > 0) {
      std::printf(
          "[figures] full /dev/shm (a 1 MiB tmpfs): %d creations that do not "
          "fit refused with ENOSPC before anything was touched, 0 SIGBUS, 0 "
          "files left; e.g. \"%s\"\n",
          g_fig.full_refused, g_fig.full_example.c_str());
    }
    if (g_fig.storm_kills > 0) {
      std::printf(
          "[figures] creators killed mid-create: %d SIGKILLs (each after a "
          "random 1-8 creations; %d inside Region::Create), the name created "
          "again after each: %d of %d, never blocked; the sweep removed %d "
          "half-made files and no foreign one; %.1f s\n",
          g_fig.storm_kills, g_fig.storm_inside, g_fig.storm_recreated,
          g_fig.storm_kills, g_fig.storm_half_made, g_fig.storm_seconds);
    }
    if (!g_fig.heap.empty()) {
      const size_t bar = g_fig.heap.find('|');
      std::printf(
          "[figures] full /dev/shm, a named Queue<std::string> with a 64 MiB "
          "heap: created; %s puts of 128 KiB fitted, the next was refused "
          "(the item stays with the caller): \"%s\"; every item came back "
          "intact, and after the gets there was room again\n",
          g_fig.heap.substr(0, bar).c_str(), g_fig.heap.substr(bar + 1).c_str());
    }
    if (!g_fig.pidns.empty()) {
      std::printf("[figures] pid namespaces: %s\n", g_fig.pidns.c_str());
    }
    if (g_fig.fsize_refused > 0) {
      std::printf(
          "[figures] RLIMIT_FSIZE of 1 MiB: %d creations of larger regions "
          "(memfd and named) refused with EFBIG, 0 SIGXFSZ\n",
          g_fig.fsize_refused);
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

// Runs `fn` in a child bounded by a 30 s alarm (a hang is forever; a busy
// machine may keep the child off the CPU for seconds); returns "" when it
// threw an exception of type E whose message contains every one of
// `needles`, else what happened instead ("hung", "no exception", the other
// message).
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
      /*timeout_s=*/30);
  close(fds[1]);
  CountPlanted(t0);
  std::string what(4096, '\0');
  ssize_t n = read(fds[0], what.data(), what.size());
  close(fds[0]);
  what.resize(n > 0 ? static_cast<size_t>(n) : 0);
  if (rc == 0) return "";
  if (rc == -SIGALRM) return "hung (killed by its 30 s alarm)";
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


// ---------------------------------------------------------------------------
// A full /dev/shm. Each case runs in a child that mounts a 1 MiB tmpfs over
// /dev/shm in a private mount namespace (root, or CAP_SYS_ADMIN); where that
// is not allowed the tests skip and say why.

constexpr uint64_t kSmallShm = uint64_t{1} << 20;
constexpr int kCannotMount = 77;

// Runs `fn` in a child whose /dev/shm is a fresh tmpfs of `bytes`. Returns
// the child's exit code (kCannotMount, with the reason in *why, when the
// mount is not possible here).
int InSmallShm(uint64_t bytes, const std::function<int()>& fn,
               std::string* why) {
  int fds[2];
  if (pipe(fds) != 0) return -1;
  const int rc = RunInChild(
      [&]() -> int {
        close(fds[0]);
        auto fail = [&](const char* what) {
          std::string m = std::string(what) + ": " + std::strerror(errno);
          (void)!write(fds[1], m.data(), m.size());
          return kCannotMount;
        };
        if (unshare(CLONE_NEWNS) != 0) return fail("unshare(CLONE_NEWNS)");
        if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
          return fail("mount --make-rprivate /");
        }
        const std::string opts = "size=" + std::to_string(bytes) + ",mode=1777";
        if (mount("shoal-test", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV,
                  opts.c_str()) != 0) {
          return fail("mount -t tmpfs /dev/shm");
        }
        close(fds[1]);
        return fn();
      },
      20);
  close(fds[1]);
  std::string msg(512, '\0');
  ssize_t n = read(fds[0], msg.data(), msg.size());
  close(fds[0]);
  msg.resize(n > 0 ? static_cast<size_t>(n) : 0);
  if (why != nullptr) *why = msg;
  return rc;
}

// Files in /dev/shm (inside the child's private one).
int ShmFileCount() {
  int n = 0;
  if (DIR* d = opendir("/dev/shm")) {
    while (dirent* e = readdir(d)) n += e->d_name[0] != '.';
    closedir(d);
  }
  return n;
}

// In the child: `make` must throw SystemError(ENOSPC) whose message names
// what was needed and what is free, before touching anything, and leave no
// file behind. Codes: 0 ok; 10 no error (and the touch survived); 11 wrong
// errno; 12 message; 13 file left; 14 other exception.
int ExpectNoSpace(const std::function<void()>& make, int report_fd) {
  const int before = ShmFileCount();
  try {
    make();
    return 10;
  } catch (const SystemError& e) {
    const std::string what = e.what();
    (void)!write(report_fd, what.data(), what.size());
    if (e.error_code() != ENOSPC) return 11;
    if (what.find("needs") == std::string::npos ||
        what.find("free") == std::string::npos ||
        what.find("/dev/shm") == std::string::npos) {
      return 12;
    }
    return ShmFileCount() == before ? 0 : 13;
  } catch (const std::exception& e) {
    (void)!write(report_fd, e.what(), std::strlen(e.what()));
    return 14;
  }
}

// Runs ExpectNoSpace(make) in a small /dev/shm; fails the test with what
// happened instead (SIGBUS, another error), or skips where mounting is not
// allowed.
void ExpectRefusedInSmallShm(const char* what,
                             const std::function<void()>& make,
                             uint64_t prefill = 0) {
  SCOPED_TRACE(what);
  int rep[2];
  ASSERT_EQ(pipe(rep), 0);
  std::string why;
  const int rc = InSmallShm(
      kSmallShm,
      [&] {
        close(rep[0]);
        if (prefill > 0) {  // someone else's file takes part of the space
          int fd = open("/dev/shm/someone-else", O_RDWR | O_CREAT, 0600);
          if (fd < 0 || posix_fallocate(fd, 0, static_cast<off_t>(prefill))) {
            return 20;
          }
          close(fd);
        }
        return ExpectNoSpace(make, rep[1]);
      },
      &why);
  close(rep[1]);
  std::string msg(1024, '\0');
  ssize_t n = read(rep[0], msg.data(), msg.size());
  close(rep[0]);
  msg.resize(n > 0 ? static_cast<size_t>(n) : 0);
  if (rc == kCannotMount) {
    GTEST_SKIP() << "cannot mount a small tmpfs over /dev/shm here: " << why;
  }
  EXPECT_EQ(rc, 0) << (rc == -SIGBUS ? "died of SIGBUS on first touch"
                                     : "exit " + std::to_string(rc))
                   << "; message: " << msg;
  if (rc == 0) {
    ++g_fig.full_refused;
    if (g_fig.full_example.empty()) g_fig.full_example = msg;
  }
}

RegionOptions NamedOpts(const char* name) {
  RegionOptions o;
  o.kind = RegionKind::kNamed;
  o.name = UniqueName(name);
  return o;
}

// Touches every page: with the memory reserved this is harmless; without, it
// is where a full /dev/shm used to kill the process (SIGBUS).
void TouchAll(std::byte* p, uint64_t n) {
  for (uint64_t i = 0; i < n; i += 4096) p[i] = std::byte{1};
}

TEST(FullShm, NamedRegionLargerThanShm) {
  ExpectRefusedInSmallShm("region of 4 MiB", [] {
    Region r = Region::Create(4 << 20, kLayout, NamedOpts("big"));
    TouchAll(r.payload(), r.payload_size());
  });
}

TEST(FullShm, NamedRegionLargerThanWhatIsLeft) {
  ExpectRefusedInSmallShm(
      "region of 512 KiB with 700 KiB taken",
      [] {
        Region r = Region::Create(512 << 10, kLayout, NamedOpts("rest"));
        TouchAll(r.payload(), r.payload_size());
      },
      700 << 10);
}

TEST(FullShm, NamedArrayOfAMillionDoubles) {
  ExpectRefusedInSmallShm("Array<double>(1 Mi)", [] {
    Array<double> a(1 << 20, NamedOpts("array"));
    for (std::size_t i = 0; i < a.size(); i += 512) a[i] = 1.0;
  });
}

TEST(FullShm, NamedFloatChannel) {
  ExpectRefusedInSmallShm("FloatChannel of 2 x 2 MiB blocks", [] {
    ChannelOptions o;
    o.region = NamedOpts("channel");
    Channel<double> ch(std::size_t{1} << 18, o);
    auto w = ch.loan(std::size_t{1} << 18);
    for (std::size_t i = 0; i < w.size(); i += 512) w[i] = 1.0;
    w.publish();
  });
}

TEST(FullShm, NamedQueueWithALargeRing) {
  ExpectRefusedInSmallShm("Queue<int> of 65536 slots", [] {
    QueueOptions o;
    o.region = NamedOpts("queue");
    Queue<int> q(o);
    for (int i = 0; i < 65536; ++i) q.put(i);
  });
}

// A queue's heap reserves its memory as it grows: creating the queue fits,
// and a put of a large item that no longer fits is SystemError(ENOSPC) (the
// caller keeps the item), never SIGBUS; what was put comes back intact, and
// once it is taken out there is room again.
TEST(FullShm, NamedQueueWithLargeItemsThroughItsHeap) {
  std::string why;
  int rep[2];
  ASSERT_EQ(pipe(rep), 0);
  const int rc = InSmallShm(
      kSmallShm,
      [&]() -> int {
        close(rep[0]);
        QueueOptions o;
        o.maxsize = 16;
        o.region = NamedOpts("bigitems");  // 64 MiB heap by default
        Queue<std::string> q(o);
        auto item = [](int i) { return std::string(128 << 10, char('a' + i)); };
        int put = 0;
        std::string refused;
        for (int i = 0; i < 16; ++i) {
          try {
            q.put(item(i), 1s);
            ++put;
          } catch (const SystemError& e) {
            if (e.error_code() != ENOSPC) return 11;
            refused = e.what();
            break;
          }
        }
        const std::string report = std::to_string(put) + "|" + refused;
        (void)!write(rep[1], report.data(), report.size());
        if (put == 0) return 12;      // the first must fit
        if (refused.empty()) return 13;  // 16 x 128 KiB cannot
        for (int i = 0; i < put; ++i) {
          if (q.get(1s) != item(i)) return 14;
        }
        q.put(item(20), 1s);  // room again
        return q.get(1s) == item(20) ? 0 : 15;
      },
      &why);
  close(rep[1]);
  std::string msg(1024, '\0');
  ssize_t n = read(rep[0], msg.data(), msg.size());
  close(rep[0]);
  msg.resize(n > 0 ? static_cast<size_t>(n) : 0);
  if (rc == kCannotMount) GTEST_SKIP() << why;
  EXPECT_EQ(rc, 0) << (rc == -SIGBUS ? "died of SIGBUS in put"
                                     : "exit " + std::to_string(rc))
                   << "; message: " << msg;
  if (rc == 0) g_fig.heap = msg;
}

TEST(FullShm, NamedManagedRegion) {
  ExpectRefusedInSmallShm("ManagedRegion of 4 MiB", [] {
    ManagedRegion mr = ManagedRegion::Create(4 << 20, NamedOpts("managed"));
    char* big = mr.construct<std::array<char, (3 << 20)>>("big")()->data();
    TouchAll(reinterpret_cast<std::byte*>(big), 3 << 20);
  });
}

TEST(FullShm, WhatFitsStillWorks) {
  std::string why;
  const int rc = InSmallShm(
      kSmallShm,
      [] {
        Region r = Region::Create(256 << 10, kLayout, NamedOpts("fits"));
        TouchAll(r.payload(), r.payload_size());
        r.PublishReady();
        Region again = Region::OpenNamed(r.name(), kLayout);
        return again.payload_size() == (256u << 10) ? 0 : 1;
      },
      &why);
  if (rc == kCannotMount) GTEST_SKIP() << why;
  EXPECT_EQ(rc, 0);
}

// ---------------------------------------------------------------------------
// RLIMIT_FSIZE: the kernel answers a larger ftruncate with SIGXFSZ, which
// kills the process by default. Creating a region over the limit is an
// error instead.

TEST(FileSizeLimit, RegionOverTheLimitIsAnErrorNotSigxfsz) {
  for (RegionKind kind : {RegionKind::kMemfd, RegionKind::kNamed}) {
    SCOPED_TRACE(std::string(RegionKindName(kind)));
    int rep[2];
    ASSERT_EQ(pipe(rep), 0);
    const int rc = RunInChild(
        [&]() -> int {
          close(rep[0]);
          rlimit lim{kSmallShm, kSmallShm};
          if (setrlimit(RLIMIT_FSIZE, &lim) != 0) return 30;
          RegionOptions o;
          o.kind = kind;
          if (kind == RegionKind::kNamed) o.name = UniqueName("fsize");
          // Under the limit: fine.
          Region small = Region::Create(512 << 10, kLayout, o);
          TouchAll(small.payload(), small.payload_size());
          small = Region();
          try {
            Region r = Region::Create(4 << 20, kLayout, o);
            TouchAll(r.payload(), r.payload_size());
            return 10;
          } catch (const SystemError& e) {
            (void)!write(rep[1], e.what(), std::strlen(e.what()));
            if (e.error_code() != EFBIG) return 11;
            if (std::string(e.what()).find("RLIMIT_FSIZE") ==
                std::string::npos) {
              return 12;
            }
            if (kind == RegionKind::kNamed && ShmExists("shoal." + o.name)) {
              return 13;
            }
            return 0;
          }
        },
        20);
    close(rep[1]);
    std::string msg(1024, '\0');
    ssize_t n = read(rep[0], msg.data(), msg.size());
    close(rep[0]);
    msg.resize(n > 0 ? static_cast<size_t>(n) : 0);
    EXPECT_EQ(rc, 0) << (rc == -SIGXFSZ ? "killed by SIGXFSZ"
                                        : "exit " + std::to_string(rc))
                     << "; message: " << msg;
    if (rc == 0) ++g_fig.fsize_refused;
  }
}


// ---------------------------------------------------------------------------
// Creators killed in the middle of creating a named region. Driven by
// progress: each victim loops create / publish / destroy on one name and is
// SIGKILLed once it has created the region a random 1-8 times, after a
// random number of our own polls, so kills land all over Region::Create on
// any machine. After every kill the name must be creatable at once. At the
// end one sweep must remove every file the victims left half-made, and none
// of the foreign files planted beside them.

struct Storm {
  std::atomic<int64_t> created;
  std::atomic<int> in_create;
};

std::vector<std::string> ShmNames(const std::string& needle) {
  std::vector<std::string> out;
  if (DIR* d = opendir("/dev/shm")) {
    while (dirent* e = readdir(d)) {
      std::string n = e->d_name;
      if (n.find(needle) != std::string::npos) out.push_back(n);
    }
    closedir(d);
  }
  return out;
}

TEST(CreatorKilled, NameNeverBlockedAndSweepRemovesOnlyHalfMadeFiles) {
  constexpr int kKills = 300;
  const std::string name = "shoal." + UniqueName("storm");
  // Foreign files beside it: the sweep must leave every one alone.
  const std::vector<std::string> foreign = {
      name + ".zero",         // zero-filled, as a creator that has not written
      name + ".junk",         // random bytes
      "shoal.~new.not-ours",  // looks like ours, says nothing we can judge
  };
  for (const std::string& f : foreign) {
    int fd = open(ShmPath(f).c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
    ASSERT_GE(fd, 0) << f << ": " << std::strerror(errno);
    std::string bytes(4096, '\0');
    if (f.find("junk") != std::string::npos) {
      for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = char(i * 131 + 7);
    }
    ASSERT_EQ(write(fd, bytes.data(), bytes.size()), 4096);
    close(fd);
  }
  auto* storm = static_cast<Storm*>(mmap(nullptr, sizeof(Storm),
                                         PROT_READ | PROT_WRITE,
                                         MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  ASSERT_NE(storm, MAP_FAILED);
  RegionOptions o;
  o.kind = RegionKind::kNamed;
  o.name = name;
  std::mt19937 rng(19);
  std::set<pid_t> victims;
  // Files from before the storm (another run's debris that happens to
  // carry a victim's pid in its name) are not the victims'.
  const std::vector<std::string> earlier = ShmNames("shoal.");
  const std::set<std::string> existed(earlier.begin(), earlier.end());
  const auto t0 = Clock::now();
  int blocked = 0;
  for (int t = 0; t < kKills; ++t) {
    new (storm) Storm();
    pid_t victim = fork();
    if (victim == 0) {
      alarm(60);
      for (;;) {
        storm->in_create.store(1);
        Region r = Region::Create(64 << 10, kLayout, o);
        storm->in_create.store(0);
        storm->created.fetch_add(1);
        r.PublishReady();
      }  // r destroyed: unlinked; round again
    }
    ASSERT_GT(victim, 0);
    victims.insert(victim);
    const int64_t k = 1 + static_cast<int64_t>(rng() % 8);
    const auto until = Clock::now() + 30s;
    while (storm->created.load() < k && Clock::now() < until) sched_yield();
    ASSERT_GE(storm->created.load(), k) << "the victim made no progress";
    for (int n = static_cast<int>(rng() % 2000); n > 0; --n) {
      (void)storm->in_create.load();
    }
    kill(victim, SIGKILL);
    ASSERT_EQ(testing::WaitChild(victim, 10), -SIGKILL);
    ++g_fig.storm_kills;
    g_fig.storm_inside += storm->in_create.load();
    // The name is creatable at once, whatever the victim left.
    try {
      Region r = Region::Create(64 << 10, kLayout, o);
      r.PublishReady();
      ++g_fig.storm_recreated;
    } catch (const SystemError& e) {
      ++blocked;
      std::string state;
      for (const RegionInfo& info : ListRegions()) {
        if (info.name == name) {
          state = "valid " + std::to_string(info.valid) + " alive " +
                  std::to_string(info.alive) + " pid " +
                  std::to_string(info.creator_pid) + " problem " + info.problem;
        }
      }
      ADD_FAILURE() << "kill " << t << ": the name is blocked: " << e.what()
                    << " (" << state << ", victim " << victim << ")";
      if (blocked > 3) break;
      // Clear it for the next round (what `rm /dev/shm/...` used to do).
      unlink(ShmPath(name).c_str());
    }
  }
  g_fig.storm_seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  EXPECT_EQ(blocked, 0);
  EXPECT_GT(g_fig.storm_inside, kKills / 10) << "few kills landed inside";

  // Whatever the victims left half-made: files named after a dead victim.
  // Not a live region whose name holds a victim's pid by chance (another
  // test process that got a victim's pid since: /dev/shm is shared).
  auto of_victims = [&] {
    std::vector<std::string> out;
    std::set<std::string> live;
    for (const RegionInfo& info : ListRegions()) {
      if (info.alive) live.insert(info.name);
    }
    for (const std::string& n : ShmNames("shoal.")) {
      if (live.count(n) != 0 || existed.count(n) != 0) continue;
      for (pid_t v : victims) {
        if (n.find("." + std::to_string(v) + ".") != std::string::npos) {
          out.push_back(n);
          break;
        }
      }
    }
    return out;
  };
  const std::vector<std::string> before = of_victims();
  bool listed_all = true;
  for (const std::string& n : before) {
    bool listed = false;
    for (const RegionInfo& info : ListRegions()) listed |= info.name == n;
    // Or gone: every named queue, channel or pool another test process
    // creates meanwhile sweeps the half-made files of dead creators.
    listed_all &= listed || !ShmExists(n);
  }
  EXPECT_TRUE(listed_all) << "ListRegions does not show every half-made file";
  const std::vector<std::string> removed = SweepStale();
  std::vector<std::string> after = of_victims();
  EXPECT_TRUE(after.empty()) << after.size() << " half-made files left, e.g. "
                             << (after.empty() ? "" : after[0]);
  g_fig.storm_half_made = static_cast<int>(before.size() - after.size());
  for (const std::string& f : foreign) {
    EXPECT_TRUE(ShmExists(f)) << "the sweep removed a foreign file " << f;
    unlink(ShmPath(f).c_str());
  }
  EXPECT_FALSE(ShmExists(name));
  munmap(storm, sizeof(Storm));
}


// ---------------------------------------------------------------------------
// Another pid namespace: a "container" (a child in a new pid and mount
// namespace, with its own /proc, sharing /dev/shm) creates a named region
// and a named queue as its pid 1. Seen from the host, "pid 1" is the host's
// init with another start time: identified by pid and start time alone, the
// host's sweep would take the container's regions for dead and remove them.
// And seen from the container, the host's creators do not exist at all.

struct Report {
  char status[256];
};

TEST(PidNamespace, SweepsNeverRemoveALiveContainersRegionsAndRemoveDeadOnes) {
  RegionOptions host_opts = NamedOpts("host");
  Region host_region = Region::Create(4096, kLayout, host_opts);
  host_region.PublishReady();
  const std::string tag = UniqueName("ctr");
  const std::string ctr_region = "shoal." + tag + ".region";
  const std::string ctr_queue = "shoal." + tag + ".queue";
  int up[2], down[2];
  ASSERT_EQ(pipe(up), 0);
  ASSERT_EQ(pipe(down), 0);
  pid_t outer = fork();
  if (outer == 0) {
    alarm(60);
    close(up[0]);
    close(down[1]);
    auto say = [&](const std::string& m) {
      Report r{};
      std::snprintf(r.status, sizeof(r.status), "%s", m.c_str());
      (void)!write(up[1], &r, sizeof(r));
    };
    // The caller stays in its namespace; its next child is pid 1 of a new
    // one.
    if (unshare(CLONE_NEWPID | CLONE_NEWNS) != 0) {
      say(std::string("skip unshare(CLONE_NEWPID|CLONE_NEWNS): ") +
          std::strerror(errno));
      _exit(0);
    }
    pid_t inner = fork();
    if (inner == 0) {
      // The container's pid 1, with its own /proc as a container has.
      if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
          mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                nullptr) != 0) {
        say(std::string("skip mount /proc: ") + std::strerror(errno));
        _exit(0);
      }
      try {
        RegionOptions o;
        o.kind = RegionKind::kNamed;
        o.name = ctr_region;
        Region r = Region::Create(4096, kLayout, o);
        r.PublishReady();
        QueueOptions qo;
        qo.maxsize = 4;
        qo.heap_bytes = 0;
        qo.region.kind = RegionKind::kNamed;
        qo.region.name = ctr_queue;
        Queue<int> q(qo);
        q.put(getpid());
        // The host's live region is out of this container's sight: its
        // sweep must keep it.
        SweepStale();
        if (!ShmExists(host_region.name())) {
          say("fail: the container's sweep removed the host's live region");
          _exit(1);
        }
        say("ok " + std::to_string(getpid()));
        char c;
        (void)!read(down[0], &c, 1);  // until the host has swept
        for (;;) pause();             // until killed
      } catch (const std::exception& e) {
        say(std::string("fail: ") + e.what());
      }
      _exit(1);
    }
    say("inner " + std::to_string(inner));  // its pid as the host sees it
    int st = 0;
    waitpid(inner, &st, 0);
    _exit(0);
  }
  close(up[1]);
  close(down[0]);
  // Two reports, in either order: the inner one's pid on the host, and how
  // the container fared (or why this cannot run here).
  pid_t inner_on_host = 0;
  std::string status;
  for (int i = 0; i < 2 && status.rfind("skip", 0) != 0; ++i) {
    Report r{};
    if (read(up[0], &r, sizeof(r)) != static_cast<ssize_t>(sizeof(r))) break;
    const std::string m = r.status;
    if (m.rfind("inner ", 0) == 0) {
      inner_on_host = static_cast<pid_t>(std::stol(m.substr(6)));
    } else {
      status = m;
    }
  }
  close(up[0]);
  auto finish = [&] {
    close(down[1]);
    if (inner_on_host > 0) kill(inner_on_host, SIGKILL);
    return testing::WaitChild(outer, 10);
  };
  if (status.rfind("skip", 0) == 0) {
    finish();
    GTEST_SKIP() << "no pid namespace here (needs CAP_SYS_ADMIN): " << status;
  }
  if (status != "ok 1" || inner_on_host <= 0) {
    finish();
    FAIL() << "the container did not start right: " << status;
  }
  // The host sees the container's creator as pid 1, not dead.
  bool listed = false;
  for (const RegionInfo& info : ListRegions()) {
    if (info.name != ctr_region) continue;
    listed = true;
    EXPECT_EQ(info.creator_pid, 1);
    EXPECT_TRUE(info.alive) << info.problem;
    EXPECT_FALSE(info.stale);
  }
  EXPECT_TRUE(listed);
  // The host's sweeps (gc; a named queue's start-up sweep) keep them.
  SweepStale();
  {
    QueueOptions qo;
    qo.maxsize = 4;
    qo.heap_bytes = 0;
    qo.region.kind = RegionKind::kNamed;
    qo.region.name = UniqueName("hostq");
    Queue<int> unrelated(qo);  // sweeps dead "shoal::Queue<" regions
  }
  const bool kept_region = ShmExists(ctr_region);
  const bool kept_queue = ShmExists(ctr_queue);
  EXPECT_TRUE(kept_region) << "the host removed a live container's region";
  EXPECT_TRUE(kept_queue) << "the host removed a live container's queue";
  if (kept_queue) {
    Queue<int> q = Queue<int>::Open(ctr_queue);
    EXPECT_EQ(q.get(1s), 1);  // and it works across the namespaces
  }
  // The container ends: its pid 1 is killed, and with it its namespace.
  EXPECT_EQ(finish(), 0);
  struct stat st;
  const bool host_sees_all =
      stat("/proc/self/ns/pid", &st) == 0 && st.st_ino == 0xEFFFFFFCu;
  if (!host_sees_all) {
    unlink(ShmPath(ctr_region).c_str());
    unlink(ShmPath(ctr_queue).c_str());
    g_fig.pidns = "a live container's region and queue kept by the host's "
                  "sweeps (the dead-container half needs the initial pid "
                  "namespace and was not run)";
    GTEST_SKIP() << "this test does not run in the initial pid namespace, "
                    "which alone sees every task: a dead container's "
                    "regions are kept (not provably dead), as they must be";
  }
  // Seen from the initial namespace, which sees every task, the container's
  // namespace has none left: its creator is proven dead.
  const std::vector<std::string> removed = SweepStale();
  EXPECT_FALSE(ShmExists(ctr_region)) << "a dead container's region was kept";
  EXPECT_FALSE(ShmExists(ctr_queue)) << "a dead container's queue was kept";
  EXPECT_TRUE(ShmExists(host_region.name()));
  g_fig.pidns =
      "a live container's region and queue (creator: its pid 1, alive with "
      "another start time than the host's pid 1) kept by the host's sweeps "
      "(gc, a named queue's start-up), and its queue usable from the host; "
      "the container's sweep kept the host's live region; once the "
      "container was gone the host's sweep removed both";
}

// Pid reuse: a region whose creator's pid now belongs to another process
// (simulated by recording a start time that does not match the live process
// with that pid) is the dead creator's, and swept.
TEST(PidReuse, ARegionOfAReusedPidIsSweptAndALiveOneKept) {
  Region live = Region::Create(4096, kLayout, NamedOpts("live"));
  live.PublishReady();
  Region reused = Region::Create(4096, kLayout, NamedOpts("reused"));
  reused.PublishReady();
  auto* h = const_cast<internal::RegionHeader*>(&reused.header());
  h->creator_start_time += 1;  // "another process had this pid"
  h->checksum = internal::RegionHeaderChecksum(*h);
  for (const RegionInfo& info : ListRegions()) {
    if (info.name == reused.name()) {
      EXPECT_FALSE(info.alive);
      EXPECT_TRUE(info.stale);
    }
    if (info.name == live.name()) {
      EXPECT_TRUE(info.alive);
    }
  }
  const std::vector<std::string> removed = SweepStale();
  EXPECT_FALSE(ShmExists(reused.name()));
  EXPECT_TRUE(ShmExists(live.name()));
}

}  // namespace
}  // namespace shoal
