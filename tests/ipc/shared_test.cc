// Copyright 2026 The shoal Authors.
#include "shoal/ipc/shared.h"

#include <unistd.h>

#include <atomic>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "shoal/ipc/codec.h"
#include "tests/ipc/fork_helper.h"

namespace shoal {
namespace {

using ::shoal::testing::RunInChild;
using ::shoal::testing::StartChild;
using ::shoal::testing::WaitChild;
using ::testing::HasSubstr;

struct Counter {
  explicit Counter(int start = 0) : value(start) {}
  std::atomic<int> value;
};
static_assert(std::is_standard_layout_v<Counter>);
static_assert(std::atomic<int>::is_always_lock_free);

int g_destroyed = 0;

struct Tracked {
  std::atomic<int> value{0};
  ~Tracked() { ++g_destroyed; }
};

struct Other {
  std::atomic<int64_t> x{0};
};

struct ThrowsOnConstruction {
  ThrowsOnConstruction() { throw std::runtime_error("no"); }
  int x;
};

static_assert(Encodable<Shared<Counter>>);

TEST(SharedTest, CreateConstructsInPlace) {
  auto c = Shared<Counter>::Create(5);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->value.load(), 5);
  EXPECT_EQ((*c).value.load(), 5);
  EXPECT_EQ(reinterpret_cast<std::byte*>(c.get()), c.region().payload());
  EXPECT_EQ(c.region().kind(), RegionKind::kMemfd);
  EXPECT_EQ(c.region().type_name(),
            "shoal::Shared<shoal::{anonymous}::Counter>");
  Shared<Counter> copy = c;
  EXPECT_EQ(copy.get(), c.get());
  Shared<Counter> empty;
  EXPECT_FALSE(empty);
}

TEST(SharedTest, ForkedChildIncrementsThroughTheHandle) {
  auto c = Shared<Counter>::Create(0);
  pid_t child = StartChild([&] {
    for (int i = 0; i < 10000; ++i) c->value.fetch_add(1);
    return 0;
  });
  for (int i = 0; i < 10000; ++i) c->value.fetch_add(1);
  EXPECT_EQ(WaitChild(child), 0);
  EXPECT_EQ(c->value.load(), 20000);
}

TEST(SharedTest, OpenByRefFromAChildForEveryKind) {
  for (RegionKind kind :
       {RegionKind::kAnonymous, RegionKind::kMemfd, RegionKind::kNamed}) {
    SCOPED_TRACE(std::string(RegionKindName(kind)));
    RegionOptions o;
    o.kind = kind;
    auto c = Shared<Counter>::CreateWith(o, 1);
    RegionRef ref = c.ref();
    int rc = RunInChild([&] {
      auto mine = Shared<Counter>::Open(ref);
      mine->value.fetch_add(10);
      return 0;
    });
    EXPECT_EQ(rc, 0);
    EXPECT_EQ(c->value.load(), 11);
  }
}

TEST(SharedTest, MemfdRefOpensThroughProcWithoutTheInheritedMapping) {
  auto c = Shared<Counter>::Create(3);
  RegionRef ref = c.ref();
  int rc = RunInChild([&] {
    c = Shared<Counter>();  // drop the inherited mapping: registry is empty
    auto mine = Shared<Counter>::Open(ref);  // via /proc/<parent>/fd/<n>
    mine->value.store(4);
    return 0;
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(c->value.load(), 4);
}

TEST(SharedTest, TravelsThroughTheCodec) {
  auto c = Shared<Counter>::Create(7);
  std::string bytes = Encode(c);
  EXPECT_EQ(bytes.size(), sizeof(RegionRef));
  // In this process: the same mapping.
  auto same = Decode<Shared<Counter>>(bytes);
  EXPECT_EQ(same.get(), c.get());
  // As a member of a message, decoded in a child that dropped its own copy.
  std::string msg = Encode(std::make_pair(std::string("task"), c));
  int rc = RunInChild([&] {
    c = Shared<Counter>();
    same = Shared<Counter>();
    auto [name, counter] = Decode<std::pair<std::string, Shared<Counter>>>(msg);
    if (name != "task") return 2;
    counter->value.fetch_add(1);
    return 0;
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(c->value.load(), 8);
  EXPECT_THROW(Encode(Shared<Counter>()), SerializationError);
}

TEST(SharedTest, OpenAsTheWrongTypeNamesBoth) {
  auto c = Shared<Counter>::Create();
  try {
    Shared<Other>::Open(c.ref());
    ADD_FAILURE();
  } catch (const InvalidRegion& e) {
    EXPECT_THAT(
        e.what(),
        HasSubstr("holds shoal::Shared<shoal::{anonymous}::Counter> but "
                  "was opened as shoal::Shared<shoal::{anonymous}::Other>"));
  }
  // Garbage bytes decode to an error status, not a crash.
  std::string junk(sizeof(RegionRef), '\x7f');
  EXPECT_FALSE(TryDecode<Shared<Counter>>(junk).ok());
}

// Unrelated processes meet by name: the opener needs only the name (a
// forked child that drops its inherited handles first, so the mapping is a
// new one), and the wrong type is refused.
TEST(SharedTest, OpenByNameFromAnotherProcess) {
  RegionOptions o;
  o.kind = RegionKind::kNamed;
  o.name = "test.shared.byname." + std::to_string(getpid());
  auto c = std::make_unique<Shared<Counter>>(Shared<Counter>::CreateWith(o, 5));
  Counter* original = c->get();
  EXPECT_EQ(RunInChild([&] {
              auto same = Shared<Counter>::Open(o.name);
              if (same.get() == original) return 2;  // must be a new mapping
              same->value.fetch_add(1);
              auto also = Shared<Counter>::Open("shoal." + o.name);
              also->value.fetch_add(1);
              return 0;
            }),
            0);
  EXPECT_EQ((*c)->value.load(), 7);
  EXPECT_THROW(Shared<Other>::Open(o.name), InvalidRegion);
  c.reset();  // the creator's last handle unlinks the name
  EXPECT_THROW(Shared<Counter>::Open(o.name), Error);
}

TEST(SharedTest, DestructorRunsOnceWhenTheCreatorsLastHandleGoes) {
  g_destroyed = 0;
  auto t = std::make_unique<Shared<Tracked>>(Shared<Tracked>::Create());
  Shared<Tracked> copy = *t;
  auto reopened = Shared<Tracked>::Open(t->ref());  // same process
  int rc = RunInChild([&] {
    // The child's handles going away never destroy the object.
    t.reset();
    copy = Shared<Tracked>();
    reopened = Shared<Tracked>();
    return g_destroyed == 0 ? 0 : 1;
  });
  EXPECT_EQ(rc, 0);
  t.reset();
  EXPECT_EQ(g_destroyed, 0);
  copy = Shared<Tracked>();
  EXPECT_EQ(g_destroyed, 0);
  reopened = Shared<Tracked>();
  EXPECT_EQ(g_destroyed, 1);
}

TEST(SharedTest, ThrowingConstructorLeavesNoNamedRegion) {
  RegionOptions o;
  o.kind = RegionKind::kNamed;
  o.name = "test.shared.throws." + std::to_string(getpid());
  EXPECT_THROW(Shared<ThrowsOnConstruction>::CreateWith(o), std::runtime_error);
  EXPECT_NE(access(("/dev/shm/shoal." + o.name).c_str(), F_OK), 0);
  // The name is free again.
  EXPECT_TRUE(Shared<Counter>::CreateWith(o));
}

}  // namespace
}  // namespace shoal
