// Copyright 2026 The shoal Authors.
#include "shoal/ipc/managed_region.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/ipc/fork_helper.h"

namespace shoal {
namespace {

using ::shoal::testing::RunInChild;
using ::testing::HasSubstr;

struct Counter {
  explicit Counter(int start = 0) : value(start) {}
  std::atomic<int> value;
};

struct Pair {
  int64_t a = 1;
  int64_t b = 2;
};

struct Throws {
  Throws() { throw std::runtime_error("constructor failed"); }
};

struct Dies {
  Dies() { _exit(0); }  // a process killed inside construct()
};

struct Big {
  char bytes[1 << 16];
};

TEST(ManagedRegionTest, ConstructFindDestroy) {
  ManagedRegion mr = ManagedRegion::Create(1 << 16);
  Counter* c = mr.construct<Counter>("hits")(5);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->value.load(), 5);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(c) % 16, 0u);
  EXPECT_EQ(mr.find<Counter>("hits"), c);
  EXPECT_EQ(mr.find_or_construct<Counter>("hits")(99), c);
  EXPECT_EQ(c->value.load(), 5);  // args unused when it exists
  EXPECT_THROW(mr.construct<Counter>("hits")(1), ValueError);
  EXPECT_EQ(mr.find<Counter>("nope"), nullptr);
  Pair* p = mr.find_or_construct<Pair>("pair")();
  EXPECT_EQ(p->b, 2);
  EXPECT_TRUE(mr.destroy<Counter>("hits"));
  EXPECT_EQ(mr.find<Counter>("hits"), nullptr);
  EXPECT_FALSE(mr.destroy<Counter>("hits"));
  EXPECT_NE(mr.construct<Counter>("hits")(), nullptr);  // the name is free
  EXPECT_THROW(mr.construct<Counter>("")(), ValueError);
}

TEST(ManagedRegionTest, WrongTypeIsReportedNotReinterpreted) {
  ManagedRegion mr = ManagedRegion::Create(1 << 16);
  mr.construct<Counter>("c")(1);
  try {
    mr.find<Pair>("c");
    ADD_FAILURE();
  } catch (const InvalidRegion& e) {
    EXPECT_THAT(e.what(), HasSubstr("is a shoal::{anonymous}::Counter, not a "
                                    "shoal::{anonymous}::Pair"));
  }
  EXPECT_THROW(mr.find_or_construct<Pair>("c")(), InvalidRegion);
  EXPECT_THROW(mr.destroy<Pair>("c"), InvalidRegion);
  EXPECT_NE(mr.find<Counter>("c"), nullptr);  // still there
}

TEST(ManagedRegionTest, ThrowingConstructorLeavesNothingBehind) {
  ManagedRegion mr = ManagedRegion::Create(1 << 16);
  const uint64_t free_before = mr.free_memory();
  EXPECT_THROW(mr.construct<Throws>("t")(), std::runtime_error);
  EXPECT_EQ(mr.free_memory(), free_before);
  EXPECT_NE(mr.construct<Counter>("t")(), nullptr);
}

TEST(ManagedRegionTest, OutOfSpaceIsASystemError) {
  ManagedRegion mr = ManagedRegion::Create(8192);
  try {
    mr.construct<Big>("big")();
    ADD_FAILURE();
  } catch (const SystemError& e) {
    EXPECT_EQ(e.error_code(), ENOMEM);
    EXPECT_THAT(e.what(), HasSubstr("out of space"));
  }
  EXPECT_NE(mr.construct<Counter>("small")(), nullptr);
}

TEST(ManagedRegionTest, ManyObjects) {
  ManagedRegion mr = ManagedRegion::Create(1 << 20);
  for (int i = 0; i < 1000; ++i) {
    mr.construct<Counter>("obj" + std::to_string(i))(i);
  }
  for (int i = 0; i < 1000; ++i) {
    Counter* c = mr.find<Counter>("obj" + std::to_string(i));
    ASSERT_NE(c, nullptr);
    EXPECT_EQ(c->value.load(), i);
  }
}

TEST(ManagedRegionTest, ForkedChildFindsAndConstructs) {
  for (RegionKind kind :
       {RegionKind::kAnonymous, RegionKind::kMemfd, RegionKind::kNamed}) {
    SCOPED_TRACE(std::string(RegionKindName(kind)));
    RegionOptions o;
    o.kind = kind;
    ManagedRegion mr = ManagedRegion::Create(1 << 16, o);
    Counter* c = mr.construct<Counter>("shared")(10);
    RegionRef ref = mr.ref();
    int rc = RunInChild([&] {
      ManagedRegion child = ManagedRegion::Open(ref);
      Counter* cc = child.find<Counter>("shared");
      if (cc == nullptr || cc->value.load() != 10) return 1;
      cc->value.fetch_add(1);
      child.construct<Pair>("from_child")();
      return 0;
    });
    EXPECT_EQ(rc, 0);
    EXPECT_EQ(c->value.load(), 11);
    ASSERT_NE(mr.find<Pair>("from_child"), nullptr);
    EXPECT_EQ(mr.find<Pair>("from_child")->a, 1);
  }
}

TEST(ManagedRegionTest, OpenedByNameAndThroughProcFromAChild) {
  RegionOptions o;
  o.kind = RegionKind::kNamed;
  ManagedRegion named = ManagedRegion::Create(1 << 16, o);
  named.construct<Counter>("n")(1);
  ManagedRegion memfd = ManagedRegion::Create(1 << 16);
  memfd.construct<Counter>("m")(2);
  const std::string name = named.region().name();
  const int fd = memfd.region().fd();
  const pid_t parent = getpid();
  int rc = RunInChild([&] {
    ManagedRegion a = ManagedRegion::OpenNamed(name);
    close(fd);
    ManagedRegion b = ManagedRegion::Attach(
        Region::OpenProcFd(parent, fd, ManagedRegion::Layout()));
    a.find<Counter>("n")->value.store(100);
    b.find<Counter>("m")->value.store(200);
    return 0;
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(named.find<Counter>("n")->value.load(), 100);
  EXPECT_EQ(memfd.find<Counter>("m")->value.load(), 200);
}

TEST(ManagedRegionTest, APlainRegionIsNotAManagedOne) {
  Region r = Region::Create(4096, LayoutOf<Counter>());
  r.PublishReady();
  try {
    ManagedRegion::Attach(r);
    ADD_FAILURE();
  } catch (const InvalidRegion& e) {
    EXPECT_THAT(e.what(), HasSubstr("but was opened as shoal::ManagedRegion"));
  }
  EXPECT_THROW(ManagedRegion::Open(r.ref()), InvalidRegion);
}

TEST(ManagedRegionTest, ProcessDyingInsideConstructRetiresTheRegion) {
  ManagedRegion mr = ManagedRegion::Create(1 << 16);
  Counter* before = mr.construct<Counter>("before")(7);
  int rc = RunInChild([&] {
    mr.construct<Dies>("dies")();  // _exit(0) while holding the lock
    return 1;
  });
  EXPECT_EQ(rc, 0);
  // The next caller learns that the holder died instead of deadlocking...
  try {
    mr.find<Counter>("before");
    ADD_FAILURE() << "no OwnerDied";
  } catch (const OwnerDied& e) {
    EXPECT_THAT(e.what(), HasSubstr("died while holding"));
  }
  // ...and every later call is refused: the allocator cannot be trusted.
  try {
    mr.construct<Counter>("after")();
    ADD_FAILURE() << "no InvalidRegion";
  } catch (const InvalidRegion& e) {
    EXPECT_THAT(e.what(), HasSubstr("retired"));
  }
  EXPECT_THROW(mr.free_memory(), InvalidRegion);
  // Objects found before stay usable.
  EXPECT_EQ(before->value.load(), 7);
}

}  // namespace
}  // namespace shoal
