// Copyright 2026 The shoal Authors.
#include "shoal/ipc/region.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <random>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/ipc/fork_helper.h"

namespace shoal {
namespace {

using ::shoal::testing::RunInChild;
using ::shoal::testing::StartChild;
using ::shoal::testing::WaitChild;
using ::testing::HasSubstr;

template <class T>
struct Box {
  std::atomic<uint64_t> value;
};

const RegionLayout kIntLayout = LayoutOf<Box<int>>("test");
const RegionLayout kStringLayout = LayoutOf<Box<std::string>>("test");

bool ShmExists(const std::string& name) {
  struct stat st;
  return stat(("/dev/shm/" + name).c_str(), &st) == 0;
}

std::string UniqueName(const char* what) {
  return std::string("test.") + what + "." + std::to_string(getpid()) + "." +
         internal::RandomHex128().substr(0, 8);
}

Region MakeReady(RegionKind kind, const std::string& name = "") {
  RegionOptions o;
  o.kind = kind;
  o.name = name;
  Region r = Region::Create(4096, kIntLayout, o);
  r.PublishReady();
  return r;
}

// Expects `fn` to throw InvalidRegion whose message contains `substr`.
template <class Fn>
void ExpectInvalid(Fn fn, const std::string& substr) {
  try {
    fn();
    ADD_FAILURE() << "no InvalidRegion; expected one mentioning '" << substr
                  << "'";
  } catch (const InvalidRegion& e) {
    EXPECT_THAT(e.what(), HasSubstr(substr));
  }
}

OpenOptions Short() {
  OpenOptions o;
  o.init_timeout = std::chrono::milliseconds(50);
  return o;
}

class RegionKindTest : public ::testing::TestWithParam<RegionKind> {};

TEST_P(RegionKindTest, CreateWritesAValidHeader) {
  RegionOptions o;
  o.kind = GetParam();
  Region r = Region::Create(1000, kIntLayout, o);
  ASSERT_TRUE(r);
  EXPECT_FALSE(r.ready());
  const internal::RegionHeader& h = r.header();
  EXPECT_EQ(std::memcmp(h.magic, "SHOALRGN", 8), 0);
  EXPECT_EQ(h.version, internal::kRegionLayoutVersion);
  EXPECT_EQ(h.header_size, 256u);
  EXPECT_EQ(h.total_size, 256u + 1000u);
  EXPECT_EQ(h.layout_hash, kIntLayout.hash);
  EXPECT_EQ(h.creator_pid, getpid());
  EXPECT_NE(h.creator_start_time, 0u);
  EXPECT_EQ(h.checksum, internal::RegionHeaderChecksum(h));
  EXPECT_EQ(r.type_name(), "shoal::{anonymous}::Box<int>");
  EXPECT_EQ(r.payload_size(), 1000u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(r.payload()) % 64, 0u);
  EXPECT_TRUE(r.is_creator());
  EXPECT_EQ(r.kind(), GetParam());
  EXPECT_EQ(r.fd() >= 0, GetParam() != RegionKind::kAnonymous);
  // The payload starts zeroed.
  EXPECT_TRUE(std::all_of(r.payload(), r.payload() + 1000,
                          [](std::byte b) { return b == std::byte{0}; }));
  r.PublishReady();
  EXPECT_TRUE(r.ready());
}

TEST_P(RegionKindTest, ForkedChildSeesParentWritesAndParentSeesChilds) {
  Region r = MakeReady(GetParam());
  auto* box = r.at<Box<int>>(0);
  box->value.store(41);
  int rc = RunInChild([&] {
    if (box->value.load() != 41) return 1;
    box->value.store(42);
    return 0;
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(box->value.load(), 42u);
}

TEST_P(RegionKindTest, OpenByRefFromForkedChild) {
  Region r = MakeReady(GetParam());
  r.at<Box<int>>(0)->value.store(7);
  RegionRef ref = r.ref();
  EXPECT_EQ(ref.kind, GetParam());
  int rc = RunInChild([&] {
    Region c = Region::Open(ref, kIntLayout);
    if (c.at<Box<int>>(0)->value.load() != 7) return 1;
    c.at<Box<int>>(0)->value.store(8);
    return 0;
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(r.at<Box<int>>(0)->value.load(), 8u);
  // In the same process, Open(ref) reuses the mapping.
  Region again = Region::Open(ref, kIntLayout);
  EXPECT_EQ(again.payload(), r.payload());
}

TEST_P(RegionKindTest, OpenByRefWithWrongTypeNamesBothTypes) {
  Region r = MakeReady(GetParam());
  ExpectInvalid([&] { Region::Open(r.ref(), kStringLayout); },
                "opened as shoal::{anonymous}::Box<std::string>");
}

INSTANTIATE_TEST_SUITE_P(AllKinds, RegionKindTest,
                         ::testing::Values(RegionKind::kAnonymous,
                                           RegionKind::kMemfd,
                                           RegionKind::kNamed),
                         [](const auto& info) {
                           return std::string(RegionKindName(info.param));
                         });

TEST(RegionTest, MemfdOpenedThroughProcByChildThatClosedItsFd) {
  Region r = MakeReady(RegionKind::kMemfd);
  r.at<Box<int>>(0)->value.store(5);
  const int fd = r.fd();
  const pid_t parent = getpid();
  int rc = RunInChild([&] {
    close(fd);  // the inherited copy: the child must go through /proc
    Region c = Region::OpenProcFd(parent, fd, kIntLayout);
    if (c.payload() == r.payload()) return 2;  // a new mapping
    if (c.at<Box<int>>(0)->value.load() != 5) return 1;
    c.at<Box<int>>(0)->value.store(6);
    return 0;
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(r.at<Box<int>>(0)->value.load(), 6u);
}

TEST(RegionTest, MemfdFromFdMapsTheSameMemory) {
  Region r = MakeReady(RegionKind::kMemfd);
  Region c = Region::FromFd(r.fd(), kIntLayout);
  EXPECT_NE(c.payload(), r.payload());
  EXPECT_NE(c.fd(), r.fd());  // dup()ed
  c.at<Box<int>>(0)->value.store(99);
  EXPECT_EQ(r.at<Box<int>>(0)->value.load(), 99u);
  EXPECT_FALSE(c.is_creator());
  ExpectInvalid([&] { Region::FromFd(r.fd(), kStringLayout); }, "Box<int>");
}

TEST(RegionTest, MemfdIsSealedAgainstShrinking) {
  Region r = MakeReady(RegionKind::kMemfd);
  EXPECT_NE(ftruncate(r.fd(), 10), 0);
  EXPECT_EQ(errno, EPERM);
}

TEST(RegionTest, NamedOpenedByNameFromForkedChild) {
  Region r = MakeReady(RegionKind::kNamed, UniqueName("byname"));
  r.at<Box<int>>(0)->value.store(11);
  std::string name = r.name();
  EXPECT_EQ(name.rfind("shoal.test.byname.", 0), 0u);
  int rc = RunInChild([&] {
    Region c = Region::OpenNamed(name, kIntLayout);
    if (c.is_creator()) return 3;
    if (c.at<Box<int>>(0)->value.load() != 11) return 1;
    c.at<Box<int>>(0)->value.store(12);
    return 0;
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(r.at<Box<int>>(0)->value.load(), 12u);
  // Without the prefix too.
  Region c = Region::OpenNamed(name.substr(6), kIntLayout);
  EXPECT_EQ(c.at<Box<int>>(0)->value.load(), 12u);
}

TEST(RegionTest, AnonymousRefIsRefusedWhereItIsNotMapped) {
  Region r = MakeReady(RegionKind::kAnonymous);
  RegionRef ref = r.ref();
  r = Region();  // unmapped: nothing in this process has it any more
  ExpectInvalid([&] { Region::Open(ref, kIntLayout); }, "only through fork");
}

// ---------------------------------------------------------------------------
// Validation of corrupted headers. Each case breaks one field of a ready
// named region through the creator's mapping, then opens it by name.

class CorruptHeaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    region_ = MakeReady(RegionKind::kNamed, UniqueName("corrupt"));
    h_ = const_cast<internal::RegionHeader*>(&region_.header());
  }
  void Reseal() { h_->checksum = internal::RegionHeaderChecksum(*h_); }
  void ExpectOpenFails(const std::string& substr,
                       const RegionLayout& layout = kIntLayout) {
    ExpectInvalid([&] { Region::OpenNamed(region_.name(), layout, Short()); },
                  substr);
  }
  Region region_;
  internal::RegionHeader* h_ = nullptr;
};

TEST_F(CorruptHeaderTest, Intact) {
  EXPECT_NO_THROW(Region::OpenNamed(region_.name(), kIntLayout));
}

TEST_F(CorruptHeaderTest, Magic) {
  h_->magic[0] = 'X';
  ExpectOpenFails("bad magic");
  ExpectOpenFails("not a shoal region");
}

TEST_F(CorruptHeaderTest, Version) {
  h_->version = 2;
  ExpectOpenFails("layout version 2, expected 1");
}

TEST_F(CorruptHeaderTest, HeaderSize) {
  h_->header_size = 512;
  ExpectOpenFails("header size 512");
}

TEST_F(CorruptHeaderTest, ChecksumOfAChangedField) {
  h_->type_name[0] ^= 1;  // any covered byte, checksum not recomputed
  ExpectOpenFails("bad header checksum");
}

TEST_F(CorruptHeaderTest, Checksum) {
  h_->checksum ^= 1;
  ExpectOpenFails("bad header checksum");
}

TEST_F(CorruptHeaderTest, AbsurdTotalSize) {
  h_->total_size = uint64_t{1} << 62;
  Reseal();
  ExpectOpenFails("absurd total size");
  h_->total_size = 100;  // smaller than the header
  Reseal();
  ExpectOpenFails("absurd total size");
}

TEST_F(CorruptHeaderTest, TotalSizeLargerThanFile) {
  h_->total_size += 4096;
  Reseal();
  ExpectOpenFails("truncated: its header says total size 8448");
}

TEST_F(CorruptHeaderTest, LayoutHash) {
  ExpectOpenFails(
      "holds shoal::{anonymous}::Box<int> but was opened as "
      "shoal::{anonymous}::Box<std::string>",
      kStringLayout);
  h_->layout_hash ^= 1;
  Reseal();
  ExpectOpenFails(
      "holds shoal::{anonymous}::Box<int> in a different shared layout than "
      "this program's shoal::{anonymous}::Box<int> (made by another version "
      "of shoal");
}

TEST_F(CorruptHeaderTest, LayoutVersionOfTheSameType) {
  // What a build with another layout version of the same structure sees.
  ExpectOpenFails(
      "holds shoal::{anonymous}::Box<int> in a different shared layout than "
      "this program's shoal::{anonymous}::Box<int>",
      LayoutOf<Box<int>>("test", 2));
}

TEST_F(CorruptHeaderTest, InitStateFailed) {
  h_->init_state.store(internal::kInitFailed);
  ExpectOpenFails("failed while constructing");
}

TEST_F(CorruptHeaderTest, InitStateGarbage) {
  h_->init_state.store(77);
  ExpectOpenFails("invalid init state 77");
}

TEST_F(CorruptHeaderTest, NotReadyWhileCreatorIsAlive) {
  h_->init_state.store(internal::kInitConstructing);
  ExpectOpenFails("is not ready");
  h_->init_state.store(internal::kInitReady);
}

TEST_F(CorruptHeaderTest, OwnedByAnotherUid) {
  if (geteuid() != 0) GTEST_SKIP() << "needs CAP_CHOWN to fake another owner";
  ASSERT_EQ(fchown(region_.fd(), 12345, 12345), 0);
  ExpectOpenFails("owned by uid 12345");
}

TEST_F(CorruptHeaderTest, WorldWritable) {
  ASSERT_EQ(fchmod(region_.fd(), 0666), 0);
  ExpectOpenFails("world-writable");
}

TEST_F(CorruptHeaderTest, ShortFile) {
  ASSERT_EQ(ftruncate(region_.fd(), 300), 0);
  ExpectOpenFails(
      "truncated: its header says total size 4352 but the file "
      "has only 300 bytes");
  ASSERT_EQ(ftruncate(region_.fd(), 100), 0);
  ExpectOpenFails("is 100 bytes, shorter than the 256-byte header");
}

// ---------------------------------------------------------------------------

class ForeignFileTest : public ::testing::Test {
 protected:
  void TearDown() override {
    if (!name_.empty()) shm_unlink(("/" + name_).c_str());
  }
  int Make() {
    name_ = "shoal." + UniqueName("foreign");
    int fd = shm_open(("/" + name_).c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
    EXPECT_GE(fd, 0);
    return fd;
  }
  std::string name_;
};

TEST_F(ForeignFileTest, RandomBytes) {
  int fd = Make();
  std::mt19937_64 rng(1);
  std::string junk(8192, '\0');
  for (char& c : junk) c = static_cast<char>(rng());
  ASSERT_EQ(write(fd, junk.data(), junk.size()),
            static_cast<ssize_t>(junk.size()));
  close(fd);
  ExpectInvalid([&] { Region::OpenNamed(name_, kIntLayout, Short()); },
                "not a shoal region");
  bool listed = false;
  for (const RegionInfo& info : ListRegions()) {
    if (info.name != name_) continue;
    listed = true;
    EXPECT_FALSE(info.valid);
    EXPECT_THAT(info.problem, HasSubstr("bad magic"));
  }
  EXPECT_TRUE(listed);
  // The sweep leaves files it cannot judge alone.
  SweepStale();
  EXPECT_TRUE(ShmExists(name_));
}

TEST_F(ForeignFileTest, ZeroLength) {
  close(Make());
  ExpectInvalid([&] { Region::OpenNamed(name_, kIntLayout, Short()); },
                "is 0 bytes, shorter than the 256-byte header (empty");
}

TEST_F(ForeignFileTest, ZeroFilled) {
  int fd = Make();
  ASSERT_EQ(ftruncate(fd, 4096), 0);
  close(fd);
  ExpectInvalid([&] { Region::OpenNamed(name_, kIntLayout, Short()); },
                "has no header (zero magic)");
}

// ---------------------------------------------------------------------------

TEST(RegionNamedTest, ExclusiveCreateRefusesAnExistingName) {
  std::string name = UniqueName("excl");
  Region r = MakeReady(RegionKind::kNamed, name);
  try {
    MakeReady(RegionKind::kNamed, name);
    ADD_FAILURE() << "second create succeeded";
  } catch (const SystemError& e) {
    EXPECT_EQ(e.error_code(), EEXIST);
    EXPECT_THAT(e.what(), HasSubstr("already exists"));
  }
  // The refusal did not unlink the first region.
  EXPECT_TRUE(ShmExists(r.name()));
}

TEST(RegionNamedTest, ModeIs0600ByDefaultAndNeverWorldWritable) {
  Region r = MakeReady(RegionKind::kNamed);
  struct stat st;
  ASSERT_EQ(stat(("/dev/shm/" + r.name()).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(st.st_uid, geteuid());

  RegionOptions o;
  o.kind = RegionKind::kNamed;
  o.mode = 0640;
  Region g = Region::Create(64, kIntLayout, o);
  ASSERT_EQ(stat(("/dev/shm/" + g.name()).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);

  o.mode = 0666;
  EXPECT_THROW(Region::Create(64, kIntLayout, o), ValueError);
  o.mode = 0602;
  EXPECT_THROW(Region::Create(64, kIntLayout, o), ValueError);
}

TEST(RegionNamedTest, RandomNamesAreUnguessable) {
  Region a = MakeReady(RegionKind::kNamed);
  Region b = MakeReady(RegionKind::kNamed);
  EXPECT_THAT(a.name(), ::testing::MatchesRegex("shoal\\.[0-9a-f]{32}"));
  EXPECT_NE(a.name(), b.name());
}

TEST(RegionNamedTest, BadNamesAreRefused) {
  for (std::string bad :
       {std::string(""), std::string("shoal."), std::string("a/b"),
        std::string("/x"), std::string("x y"), std::string("tab\t"),
        std::string("nul\0x", 5), std::string("ü"), std::string(101, 'a')}) {
    RegionOptions o;
    o.kind = RegionKind::kNamed;
    o.name = bad;
    if (bad.empty()) continue;  // empty means "random"
    EXPECT_THROW(Region::Create(64, kIntLayout, o), ValueError) << bad;
    EXPECT_THROW(Region::OpenNamed(bad, kIntLayout), ValueError) << bad;
  }
  EXPECT_EQ(internal::NormalizeRegionName("a.B-9_"), "shoal.a.B-9_");
  EXPECT_EQ(internal::NormalizeRegionName("shoal.x"), "shoal.x");
  EXPECT_EQ(internal::NormalizeRegionName(std::string(100, 'a')).size(), 106u);
}

TEST(RegionNamedTest, OpeningAMissingNameIsASystemError) {
  try {
    Region::OpenNamed(UniqueName("missing"), kIntLayout);
    ADD_FAILURE();
  } catch (const SystemError& e) {
    EXPECT_EQ(e.error_code(), ENOENT);
  }
}

TEST(RegionNamedTest, UnlinkedWhenTheCreatorsLastHandleGoes) {
  Region r = MakeReady(RegionKind::kNamed);
  const std::string name = r.name();
  Region copy = r;
  EXPECT_EQ(r.use_count(), 2);
  r = Region();
  EXPECT_TRUE(ShmExists(name));
  copy = Region();
  EXPECT_FALSE(ShmExists(name));
}

TEST(RegionNamedTest, AnOpenersHandleDoesNotUnlink) {
  Region r = MakeReady(RegionKind::kNamed);
  {
    Region other = Region::OpenNamed(r.name(), kIntLayout);
    EXPECT_FALSE(other.is_creator());
  }
  EXPECT_TRUE(ShmExists(r.name()));
}

TEST(RegionNamedTest, ExplicitUnlinkKeepsTheMapping) {
  Region r = MakeReady(RegionKind::kNamed);
  r.at<Box<int>>(0)->value.store(3);
  r.Unlink();
  EXPECT_FALSE(ShmExists(r.name()));
  EXPECT_EQ(r.at<Box<int>>(0)->value.load(), 3u);
  r.Unlink();  // idempotent
}

TEST(RegionNamedTest, ForkedChildDestroyingItsCopyDoesNotUnlink) {
  auto r = std::make_unique<Region>(MakeReady(RegionKind::kNamed));
  const std::string name = r->name();
  int rc = RunInChild([&] {
    r.reset();  // the child's (inherited) last handle
    return ShmExists(name) ? 0 : 1;
  });
  EXPECT_EQ(rc, 0);
  EXPECT_TRUE(ShmExists(name));
  r.reset();
  EXPECT_FALSE(ShmExists(name));
}

TEST(RegionNamedTest, RefToARecreatedRegionIsRefused) {
  std::string name = UniqueName("recreated");
  RegionRef ref = MakeReady(RegionKind::kNamed, name).ref();  // gone at once
  Region second = MakeReady(RegionKind::kNamed, name);
  ExpectInvalid([&] { Region::Open(ref, kIntLayout); },
                "another took its place");
}

TEST(RegionNamedTest, OpenerWaitsForTheCreatorToPublish) {
  RegionOptions o;
  o.kind = RegionKind::kNamed;
  Region r = Region::Create(64, kIntLayout, o);
  const std::string name = r.name();
  pid_t child = StartChild([&] {
    r = Region();  // drop the inherited creator handle (no effect in a child)
    Region c = Region::OpenNamed(name, kIntLayout);  // waits, <= 2 s
    return c.at<Box<int>>(0)->value.load() == 5 ? 0 : 1;
  });
  timespec ts{0, 100 * 1000 * 1000};
  nanosleep(&ts, nullptr);
  r.at<Box<int>>(0)->value.store(5);
  r.PublishReady();
  EXPECT_EQ(WaitChild(child), 0);
}

TEST(RegionNamedTest, CreatorDyingBeforeReadyFailsOpenersFast) {
  // Another suite running at the same time may sweep the dead creator's
  // region (a machine-wide SweepStale(), `shoal gc`) before this test opens
  // it; the test then starts again with a new one. Only the last attempt
  // may fail on that.
  constexpr int kAttempts = 50;
  for (int attempt = 1;; ++attempt) {
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    pid_t child = StartChild([&] {
      RegionOptions o;
      o.kind = RegionKind::kNamed;
      Region r = Region::Create(64, kIntLayout, o);
      char name[128] = {};
      std::memcpy(name, r.name().data(), r.name().size());
      if (write(fds[1], name, sizeof(name)) != sizeof(name)) return 1;
      _exit(0);  // dies "constructing": no destructor, no unlink
    });
    char name[128] = {};
    ASSERT_EQ(read(fds[0], name, sizeof(name)),
              static_cast<ssize_t>(sizeof(name)));
    close(fds[0]);
    close(fds[1]);
    EXPECT_EQ(WaitChild(child), 0);
    try {
      Region::OpenNamed(name, kIntLayout);
      ADD_FAILURE() << "opened a region whose creator died before it was ready";
    } catch (const InvalidRegion& e) {
      EXPECT_THAT(e.what(), HasSubstr("died before the region was ready"));
    } catch (const SystemError& e) {
      if (attempt < kAttempts && !ShmExists(name)) continue;  // swept first
      ADD_FAILURE() << e.what();
    }
    // And the sweep cleans it up (this one, or one in a concurrently running
    // test: SweepStale is machine-wide).
    SweepStale();
    EXPECT_FALSE(ShmExists(name));
    break;
  }
}

TEST(RegionNamedTest, AStaleRegionDoesNotBlockItsName) {
  const std::string name = UniqueName("stale");
  int rc = RunInChild([&]() -> int {
    Region r = MakeReady(RegionKind::kNamed, name);
    _exit(0);  // killed-like: no destructor, the name stays
  });
  EXPECT_EQ(rc, 0);
  // (Not asserted that the stale file is still there: a SweepStale() in a
  // concurrently running test may already have removed it.)
  Region again = MakeReady(RegionKind::kNamed, name);  // swept, then created
  EXPECT_EQ(again.creator_pid(), getpid());
  // A live creator's name still refuses.
  EXPECT_THROW(MakeReady(RegionKind::kNamed, name), SystemError);
}

TEST(RegionTest, CreatorThatGivesUpMarksTheRegionFailed) {
  Region r = Region::Create(64, kIntLayout);  // memfd, never published
  int keep = dup(r.fd());
  r = Region();
  ExpectInvalid([&] { Region::FromFd(keep, kIntLayout, Short()); },
                "failed while constructing");
  close(keep);
}

TEST(RegionSweepTest, RemovesRegionsOfKilledCreatorsAndKeepsLiveOnes) {
  Region live = MakeReady(RegionKind::kNamed);
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  pid_t child = StartChild([&] {
    Region r = MakeReady(RegionKind::kNamed);
    char name[128] = {};
    std::memcpy(name, r.name().data(), r.name().size());
    if (write(fds[1], name, sizeof(name)) != sizeof(name)) return 1;
    pause();  // until SIGKILL (or alarm)
    return 2;
  });
  char name[128] = {};
  ASSERT_EQ(read(fds[0], name, sizeof(name)),
            static_cast<ssize_t>(sizeof(name)));
  close(fds[0]);
  close(fds[1]);
  const std::string dead(name);

  bool seen_alive = false;
  for (const RegionInfo& info : ListRegions()) {
    if (info.name == dead) {
      EXPECT_TRUE(info.valid) << info.problem;
      EXPECT_TRUE(info.alive);
      EXPECT_TRUE(info.ready);
      EXPECT_EQ(info.creator_pid, child);
      EXPECT_EQ(info.type_name, "shoal::{anonymous}::Box<int>");
      EXPECT_EQ(info.size, 4096u + 256u);
      seen_alive = true;
    }
  }
  EXPECT_TRUE(seen_alive);

  ASSERT_EQ(kill(child, SIGKILL), 0);
  EXPECT_EQ(WaitChild(child), -SIGKILL);
  for (const RegionInfo& info : ListRegions()) {
    if (info.name == dead) {
      EXPECT_FALSE(info.alive);
    }
    if (info.name == live.name()) {
      EXPECT_TRUE(info.alive);
    }
  }
  std::vector<std::string> removed = SweepStale();
  EXPECT_THAT(removed, ::testing::Not(::testing::Contains(live.name())));
  // Removed by this sweep, or by one in a concurrently running test.
  EXPECT_FALSE(ShmExists(dead));
  EXPECT_TRUE(ShmExists(live.name()));
}

// ---------------------------------------------------------------------------

TEST(RegionAtTest, ChecksBoundsAndAlignment) {
  Region r = Region::Create(4096, kIntLayout);
  r.PublishReady();
  EXPECT_NO_THROW(r.at<uint64_t>(4088));
  EXPECT_NO_THROW(r.at<uint64_t>(0, 512));
  EXPECT_NO_THROW(r.at<char>(4096, 0));
  ExpectInvalid([&] { r.at<uint64_t>(4092); }, "outside its payload");
  ExpectInvalid([&] { r.at<uint64_t>(8, 512); }, "outside its payload");
  ExpectInvalid([&] { r.at<uint64_t>(0, uint64_t{1} << 62); },
                "outside its payload");
  ExpectInvalid([&] { r.at<char>(~uint64_t{0}); }, "outside its payload");
  ExpectInvalid([&] { r.at<uint64_t>(4); }, "not aligned to 8");
}

TEST(RegionRefTest, IsSmallAndDescribesItself) {
  Region r = MakeReady(RegionKind::kNamed);
  RegionRef ref = r.ref();
  EXPECT_EQ(ref.name_view(), r.name());
  EXPECT_THAT(ref.DebugString(), HasSubstr(r.name()));
  EXPECT_EQ(ref.total_size, r.total_size());
  EXPECT_EQ(ref.layout_hash, kIntLayout.hash);
  RegionRef m = MakeReady(RegionKind::kMemfd).ref();
  EXPECT_EQ(m.pid, getpid());
  EXPECT_GE(m.fd, 0);
}

TEST(LayoutTest, TypeNamesAndHashes) {
  EXPECT_EQ(internal::TypeName<int>(), "int");
  EXPECT_EQ(internal::TypeName<std::string>(), "std::string");
  EXPECT_EQ(internal::TypeName<Box<std::string_view>>(),
            "shoal::{anonymous}::Box<std::string_view>");
  static_assert(internal::LayoutHash<Box<int>>() !=
                internal::LayoutHash<Box<std::string>>());
  static_assert(internal::LayoutHash<Box<int>>("a") !=
                internal::LayoutHash<Box<int>>("b"));
  static_assert(internal::LayoutHash<Box<int>>("a", 1) !=
                internal::LayoutHash<Box<int>>("a", 2));
  static_assert(internal::LayoutHash<int>() == internal::LayoutHash<int>());
}

}  // namespace
}  // namespace shoal
