// Tests for mpi/internal/wire.h: message validation and the handshake's
// identity comparison (pure functions: no MPI needed).
#include "shoal/mpi/internal/wire.h"

#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "shoal/base/errors.h"

namespace {

using ::testing::HasSubstr;
using shoal::mpi::internal::CompareIdentity;
using shoal::mpi::internal::Header;
using shoal::mpi::internal::Identity;
using shoal::mpi::internal::Kind;
using shoal::mpi::internal::Message;
using shoal::mpi::internal::Parse;
using shoal::mpi::internal::ParseSessionConfig;
using shoal::mpi::internal::SessionConfig;

std::vector<std::byte> Bytes(Message& m) {
  return std::vector<std::byte>(m.data(), m.data() + m.size());
}

TEST(WireTest, MessageRoundTrip) {
  Message m(Kind::kTask, 3, 77, 5);
  std::memcpy(m.payload().data(), "hello", 5);
  m.header().arg = -9;
  auto b = Bytes(m);
  auto p = Parse(b, 2);
  EXPECT_EQ(p.kind, Kind::kTask);
  EXPECT_EQ(p.header.session, 3u);
  EXPECT_EQ(p.header.task, 77u);
  EXPECT_EQ(p.header.arg, -9);
  ASSERT_EQ(p.payload.size(), 5u);
  EXPECT_EQ(std::memcmp(p.payload.data(), "hello", 5), 0);
}

TEST(WireTest, GarbageIsAClearError) {
  Message m(Kind::kResult, 1, 2, 8);
  auto good = Bytes(m);
  // Too short.
  std::vector<std::byte> shorty(good.begin(), good.begin() + 10);
  try {
    Parse(shorty, 4);
    FAIL();
  } catch (const shoal::CodecError& e) {
    EXPECT_THAT(e.what(), HasSubstr("rank 4"));
    EXPECT_THAT(e.what(), HasSubstr("shorter than a header"));
  }
  // Bad magic.
  auto bad = good;
  bad[0] = std::byte{0};
  EXPECT_THROW(Parse(bad, 1), shoal::CodecError);
  // Unknown kind.
  bad = good;
  Header h;
  std::memcpy(&h, bad.data(), sizeof(h));
  h.kind = 99;
  std::memcpy(bad.data(), &h, sizeof(h));
  try {
    Parse(bad, 1);
    FAIL();
  } catch (const shoal::CodecError& e) {
    EXPECT_THAT(e.what(), HasSubstr("unknown kind 99"));
  }
  // Size that disagrees with what arrived.
  bad = good;
  bad.push_back(std::byte{1});
  EXPECT_THROW(Parse(bad, 1), shoal::CodecError);
  // Every truncation of a valid message is refused, none crashes.
  for (std::size_t n = 0; n < good.size(); ++n) {
    std::vector<std::byte> cut(good.begin(), good.begin() + n);
    EXPECT_THROW(Parse(cut, 1), shoal::CodecError) << n;
  }
}

TEST(WireTest, SessionConfigIsValidated) {
  SessionConfig c;
  c.processes = 4;
  auto ok = ParseSessionConfig(std::as_bytes(std::span(&c, 1)));
  EXPECT_EQ(ok.processes, 4u);
  c.processes = 100000;
  EXPECT_THROW(ParseSessionConfig(std::as_bytes(std::span(&c, 1))),
               shoal::CodecError);
  c.processes = 1;
  c.start_method = 2;  // forkserver
  EXPECT_EQ(ParseSessionConfig(std::as_bytes(std::span(&c, 1))).start_method,
            2u);
  c.start_method = 3;
  EXPECT_THROW(ParseSessionConfig(std::as_bytes(std::span(&c, 1))),
               shoal::CodecError);
  std::byte few[3] = {};
  EXPECT_THROW(ParseSessionConfig(few), shoal::CodecError);
}

TEST(WireTest, MessagesTooLargeForMpiAreRefusedUpFront) {
  EXPECT_THROW(Message(Kind::kTask, 1, 1, std::size_t{1} << 31),
               shoal::SerializationError);
}

void Here() {}

TEST(WireTest, IdentityRoundTripsAsText) {
  const Identity a = Identity::Here(reinterpret_cast<const void*>(&Here));
  EXPECT_FALSE(a.arch.empty());
  EXPECT_NE(a.program, 0u);
  EXPECT_THAT(a.program_desc, HasSubstr("build-id"));
  EXPECT_EQ(a.pid, getpid());
  const Identity b = Identity::Parse(a.Serialize());
  EXPECT_EQ(b.arch, a.arch);
  EXPECT_EQ(b.byte_order, a.byte_order);
  EXPECT_EQ(b.pointer_bits, a.pointer_bits);
  EXPECT_EQ(b.program, a.program);
  EXPECT_EQ(b.library, a.library);
  EXPECT_EQ(b.program_desc, a.program_desc);
  EXPECT_EQ(b.host, a.host);
  EXPECT_EQ(b.pid, a.pid);
  EXPECT_EQ(CompareIdentity(a, 0, b, 1), std::nullopt);
  // Garbage parses to something that does not match.
  const Identity g = Identity::Parse("\x01\x02 no=keys\nwire=x\n");
  EXPECT_NE(CompareIdentity(a, 0, g, 1), std::nullopt);
}

TEST(WireTest, MismatchesNameBothSides) {
  Identity ours = Identity::Here(reinterpret_cast<const void*>(&Here));
  ours.host = "alpha";
  Identity theirs = ours;
  theirs.host = "beta";
  theirs.pid = 4242;

  Identity t = theirs;
  t.arch = "aarch64";
  auto why = CompareIdentity(ours, 0, t, 3);
  ASSERT_TRUE(why.has_value());
  EXPECT_THAT(*why, HasSubstr("rank 3 differs from rank 0 in architecture "
                              "aarch64 vs " + ours.arch));
  EXPECT_THAT(*why, HasSubstr("host beta, pid 4242"));
  EXPECT_THAT(*why, HasSubstr("host alpha"));

  t = theirs;
  t.byte_order = ours.byte_order == "little" ? "big" : "little";
  why = CompareIdentity(ours, 0, t, 1);
  ASSERT_TRUE(why.has_value());
  EXPECT_THAT(*why, HasSubstr("byte order " + t.byte_order + " vs " +
                              ours.byte_order));

  t = theirs;
  t.pointer_bits = 32;
  why = CompareIdentity(ours, 0, t, 1);
  ASSERT_TRUE(why.has_value());
  EXPECT_THAT(*why, HasSubstr("word size 32 vs 64 bits"));

  t = theirs;
  t.program ^= 1;
  t.program_desc = "module /other/prog (build-id 1234)";
  why = CompareIdentity(ours, 0, t, 2);
  ASSERT_TRUE(why.has_value());
  EXPECT_THAT(*why, HasSubstr("binary module /other/prog (build-id 1234) vs " +
                              ours.program_desc));

  t = theirs;
  t.wire = 2;
  why = CompareIdentity(ours, 0, t, 2);
  ASSERT_TRUE(why.has_value());
  EXPECT_THAT(*why, HasSubstr("shoal wire format 2 vs 1"));

  // Only the host and pid differ: the same build elsewhere is fine.
  EXPECT_EQ(CompareIdentity(ours, 0, theirs, 1), std::nullopt);
}

TEST(WireTest, LongPathsAreCutToFitTheHandshake) {
  Identity a = Identity::Here(reinterpret_cast<const void*>(&Here));
  a.program_desc = std::string(5000, 'x');
  const std::string s = a.Serialize();
  EXPECT_LT(s.size(), shoal::mpi::internal::kIdentityBytes);
  const Identity b = Identity::Parse(s);
  EXPECT_EQ(b.pid, a.pid);  // the fields before the long one survive
  EXPECT_EQ(b.program, a.program);
}

}  // namespace
