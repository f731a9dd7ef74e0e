// Copyright 2026 The shoal Authors.
#include "shoal/ipc/codec.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <variant>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "shoal/ipc/internal/codec_fuzz.h"

namespace shoal {
namespace {

using ::testing::HasSubstr;

// ---------------------------------------------------------------------------
// Test types.

enum class Color : uint8_t { kRed = 1, kGreen = 2 };

struct Pod {
  int32_t a;
  double b;
  char c[5];
  bool operator==(const Pod& o) const {
    return a == o.a && b == o.b && std::memcmp(c, o.c, 5) == 0;
  }
};

// A user class through cereal.
struct Person {
  std::string name;
  int age = 0;
  std::vector<std::string> emails;
  std::optional<std::map<std::string, double>> scores;
  bool admin = false;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(name, age, emails, scores, admin);
  }
  bool operator==(const Person&) const = default;
};

// A user type with its own CodecTraits.
struct Point {
  double x, y;
  std::string label;
  bool operator==(const Point&) const = default;
};

// A recursive user type (depth controlled by data).
struct Tree {
  std::vector<Tree> children;
  bool operator==(const Tree&) const = default;
};

// Not encodable: a non-trivial class with no serialize().
struct Opaque {
  std::string s;
};

}  // namespace

template <>
struct CodecTraits<Point> {
  static constexpr size_t kMinSize = 24;
  static size_t Size(const Point& p) { return 16 + EncodedSize(p.label); }
  static void Encode(const Point& p, CodecWriter& w) {
    w.Put(p.x);
    w.Put(p.y);
    w.Put(p.label);
  }
  static Point Decode(CodecReader& r) {
    double x = r.Get<double>();
    double y = r.Get<double>();
    return Point{x, y, r.Get<std::string>()};
  }
};

template <>
struct CodecTraits<Tree> {
  static constexpr size_t kMinSize = 8;
  static size_t Size(const Tree& t) { return EncodedSize(t.children); }
  static void Encode(const Tree& t, CodecWriter& w) { w.Put(t.children); }
  static Tree Decode(CodecReader& r) {
    return Tree{r.Get<std::vector<Tree>>()};
  }
};

// Aggregates holding addresses: refused by default (an address means
// nothing in another process), unless the user opts in with MemcpyCodec.
struct WithPointer {
  int n;
  int* p;
};
struct Label {
  double x;
  const char* text;
};
struct NestedPointer {
  int id;
  Label label;  // the pointer is found through brace elision
};
struct WithView {
  std::string_view name;
  int n;
};
struct WithSpan {
  std::span<const int> values;
};
struct PointerArray {
  int* slots[2];
};
struct WithFunction {
  int (*fn)(int);
};
// Not addresses: a string class that converts from a pointer, arrays,
// nested plain structs.
struct FixedName {
  char c[8] = {};
  FixedName() = default;
  FixedName(const char* s) {  // NOLINT: implicit on purpose
    for (int i = 0; i < 7 && s[i] != 0; ++i) c[i] = s[i];
  }
};
struct Named {
  FixedName name;
  int n;
};
struct Plain {
  int a;
  double b[3];
  Pod pod;
  std::array<float, 2> f;
};
struct Linked {
  Linked* next;
  int v;
};
template <>
struct CodecTraits<Linked> : MemcpyCodec<Linked> {};

namespace {

// ---------------------------------------------------------------------------
// An allocator that records the largest single allocation, to prove that
// garbage lengths never reach the allocator.

std::atomic<size_t> g_largest_alloc{0};

template <class T>
struct TrackingAllocator {
  using value_type = T;
  TrackingAllocator() = default;
  template <class U>
  TrackingAllocator(const TrackingAllocator<U>&) {}  // NOLINT
  T* allocate(size_t n) {
    size_t bytes = n * sizeof(T);
    size_t prev = g_largest_alloc.load();
    while (bytes > prev &&
           !g_largest_alloc.compare_exchange_weak(prev, bytes)) {
    }
    return std::allocator<T>().allocate(n);
  }
  void deallocate(T* p, size_t n) { std::allocator<T>().deallocate(p, n); }
  template <class U>
  bool operator==(const TrackingAllocator<U>&) const {
    return true;
  }
};

using TString =
    std::basic_string<char, std::char_traits<char>, TrackingAllocator<char>>;
template <class T>
using TVector = std::vector<T, TrackingAllocator<T>>;

// ---------------------------------------------------------------------------
// Concepts.

static_assert(Encodable<int>);
static_assert(Encodable<double>);
static_assert(Encodable<Color>);
static_assert(Encodable<Pod>);
static_assert(Encodable<bool>);
static_assert(Encodable<std::string>);
static_assert(Encodable<std::vector<std::map<std::string, int>>>);
static_assert(Encodable<std::tuple<int, std::string, std::optional<bool>>>);
static_assert(Encodable<std::variant<std::monostate, int, std::string>>);
static_assert(Encodable<absl::flat_hash_map<std::string, int>>);
static_assert(Encodable<Person>);
static_assert(Encodable<std::vector<Person>>);
static_assert(Encodable<Point>);
static_assert(!Encodable<int*>);
static_assert(!Encodable<const char*>);
static_assert(!Encodable<int Pod::*>);
static_assert(!Encodable<std::vector<int*>>);
static_assert(!Encodable<Opaque>);
static_assert(!Encodable<std::vector<Opaque>>);
static_assert(!Encodable<std::map<int, Opaque>>);
static_assert(!Encodable<std::unique_ptr<int>>);
// Aggregates with a pointer, member pointer or view member, at any depth
// brace elision reaches; and what must stay accepted.
static_assert(!Encodable<WithPointer>);
static_assert(!Encodable<NestedPointer>);
static_assert(!Encodable<WithView>);
static_assert(!Encodable<WithSpan>);
static_assert(!Encodable<PointerArray>);
static_assert(!Encodable<WithFunction>);
static_assert(!Encodable<std::vector<WithPointer>>);
static_assert(internal::HasRawAddress<Label>());
static_assert(!internal::HasRawAddress<Named>());
static_assert(!internal::HasRawAddress<Plain>());
static_assert(Encodable<Named>);
static_assert(Encodable<Plain>);
static_assert(Encodable<Linked>);  // opted in
// Views encode but do not decode.
static_assert(internal::CanEncode<std::string_view>);
static_assert(!Encodable<std::string_view>);
static_assert(internal::CanEncode<std::span<const int>>);
static_assert(!Encodable<std::span<const int>>);
static_assert(internal::CanEncode<std::pair<std::string_view, int>>);
static_assert(!Encodable<std::pair<std::string_view, int>>);
// The memcpy path is taken exactly where it should be.
static_assert(internal::kIsRaw<int>);
static_assert(internal::kIsRaw<Pod>);
static_assert(!internal::kIsRaw<bool>);
static_assert(!internal::kIsRaw<std::optional<int>>);  // trivially copyable!
static_assert(!internal::kIsRaw<std::variant<int, float>>);

// ---------------------------------------------------------------------------
// Round trips.

template <class T>
void ExpectRoundTrip(const T& v) {
  SCOPED_TRACE(std::string(internal::TypeName<T>()));
  std::string bytes = Encode(v);
  EXPECT_EQ(bytes.size(), EncodedSize(v));
  T back = Decode<T>(bytes);
  EXPECT_TRUE(back == v);
  // EncodeTo into a larger span writes exactly EncodedSize bytes.
  std::vector<std::byte> buf(bytes.size() + 16, std::byte{0xAB});
  EncodeTo(v, buf);
  EXPECT_EQ(std::memcmp(buf.data(), bytes.data(), bytes.size()), 0);
  EXPECT_TRUE(std::all_of(buf.begin() + bytes.size(), buf.end(),
                          [](std::byte b) { return b == std::byte{0xAB}; }));
  // EncodeAppend appends.
  std::string s = "xy";
  EncodeAppend(v, s);
  EXPECT_EQ(s.substr(2), bytes);
  // TryDecode agrees.
  absl::StatusOr<T> t = TryDecode<T>(bytes);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_TRUE(*t == v);
}

TEST(CodecRoundTrip, Scalars) {
  ExpectRoundTrip(0);
  ExpectRoundTrip(-123456789);
  ExpectRoundTrip(std::numeric_limits<int64_t>::min());
  ExpectRoundTrip(uint8_t{255});
  ExpectRoundTrip(3.25);
  ExpectRoundTrip(-0.0f);
  ExpectRoundTrip(std::numeric_limits<double>::infinity());
  ExpectRoundTrip('x');
  ExpectRoundTrip(true);
  ExpectRoundTrip(false);
  ExpectRoundTrip(Color::kGreen);
  ExpectRoundTrip(Pod{7, 2.5, {'a', 'b', 'c', 'd', 'e'}});
  ExpectRoundTrip(std::monostate{});
}

TEST(CodecRoundTrip, Strings) {
  ExpectRoundTrip(std::string());
  ExpectRoundTrip(std::string("hello"));
  ExpectRoundTrip(std::string("with\0nul", 8));
  ExpectRoundTrip(std::string(100000, 'z'));
  ExpectRoundTrip(std::u16string(u"grüße"));
  ExpectRoundTrip(std::wstring(L"wide"));
}

TEST(CodecRoundTrip, Sequences) {
  ExpectRoundTrip(std::vector<int>());
  ExpectRoundTrip(std::vector<int>{1, 2, 3});
  std::vector<double> big(100000);
  for (size_t i = 0; i < big.size(); ++i) big[i] = i * 0.5;
  ExpectRoundTrip(big);
  ExpectRoundTrip(std::vector<Pod>{{1, 1.5, {}}, {2, 2.5, {'q'}}});
  ExpectRoundTrip(std::vector<std::string>{"a", "", "ccc"});
  ExpectRoundTrip(std::vector<bool>{});
  ExpectRoundTrip(std::vector<bool>{true, false, true, true, false});
  ExpectRoundTrip(std::vector<std::vector<int>>{{1}, {}, {2, 3}});
  ExpectRoundTrip(std::array<int, 4>{1, 2, 3, 4});
  ExpectRoundTrip(std::array<int, 0>{});
  ExpectRoundTrip(std::array<std::string, 3>{"x", "yy", ""});
  ExpectRoundTrip(std::array<bool, 3>{true, false, true});
  ExpectRoundTrip(std::vector<std::monostate>(1000));
}

TEST(CodecRoundTrip, ProductsAndSums) {
  ExpectRoundTrip(std::pair<int, std::string>{1, "one"});
  ExpectRoundTrip(std::tuple<>{});
  ExpectRoundTrip(
      std::tuple<int, double, std::string, bool>{1, 2.0, "3", true});
  ExpectRoundTrip(std::optional<int>());
  ExpectRoundTrip(std::optional<int>(5));
  ExpectRoundTrip(std::optional<std::string>("s"));
  using V = std::variant<int, std::string, std::monostate, std::vector<int>>;
  ExpectRoundTrip(V(1));
  ExpectRoundTrip(V(std::string("two")));
  ExpectRoundTrip(V(std::monostate{}));
  ExpectRoundTrip(V(std::vector<int>{3}));
  // Two alternatives of the same type are told apart by index.
  using Same = std::variant<int, int>;
  Same second(std::in_place_index<1>, 9);
  EXPECT_EQ(Decode<Same>(Encode(second)).index(), 1u);
}

TEST(CodecRoundTrip, Associative) {
  ExpectRoundTrip(std::map<std::string, int>{{"a", 1}, {"b", 2}});
  ExpectRoundTrip(std::map<int, int>{});
  ExpectRoundTrip(std::unordered_map<int, std::string>{{1, "x"}, {2, "y"}});
  ExpectRoundTrip(std::multimap<int, int>{{1, 1}, {1, 2}, {2, 3}});
  ExpectRoundTrip(std::set<std::string>{"p", "q"});
  ExpectRoundTrip(std::unordered_set<int>{4, 5, 6});
  ExpectRoundTrip(std::multiset<int>{1, 1, 1});
  ExpectRoundTrip(absl::flat_hash_map<std::string, std::vector<int>>{
      {"k", {1, 2}}, {"l", {}}});
  ExpectRoundTrip(absl::flat_hash_set<int64_t>{7, 8});
}

TEST(CodecRoundTrip, DeepNesting) {
  using Inner = std::optional<std::variant<int, std::string>>;
  std::vector<std::map<std::string, Inner>> v = {
      {{"a", 1}, {"b", std::string("bee")}, {"c", std::nullopt}},
      {},
      {{"", Inner(std::in_place, 0)}}};
  ExpectRoundTrip(v);

  std::tuple<std::pair<int, std::string>, std::array<std::optional<double>, 3>,
             std::vector<std::set<std::string>>>
      t{{1, "x"}, {1.5, std::nullopt, -2.0}, {{"a", "b"}, {}}};
  ExpectRoundTrip(t);

  std::map<std::string, std::vector<std::pair<int, std::set<std::string>>>> m{
      {"k", {{1, {"u", "v"}}, {2, {}}}}};
  ExpectRoundTrip(m);
}

TEST(CodecRoundTrip, CerealUserType) {
  Person p{"Ada", 36, {"ada@example.com", "a@b"}, std::nullopt, true};
  ExpectRoundTrip(p);
  p.scores = std::map<std::string, double>{{"math", 10.0}};
  ExpectRoundTrip(p);
  ExpectRoundTrip(std::vector<Person>{p, Person{}, p});
  ExpectRoundTrip(std::map<std::string, Person>{{"x", p}});
  ExpectRoundTrip(std::optional<Person>(p));
}

TEST(CodecRoundTrip, UserCodecTraits) {
  ExpectRoundTrip(Point{1, 2, "p"});
  ExpectRoundTrip(std::vector<Point>{{1, 2, "a"}, {3, 4, ""}});
  Tree t{{Tree{}, Tree{{Tree{}, Tree{}}}}};
  ExpectRoundTrip(t);
}

TEST(CodecRoundTrip, ViewsDecodeAsOwners) {
  std::string_view sv = "view";
  EXPECT_EQ(Decode<std::string>(Encode(sv)), "view");
  std::vector<int> data{1, 2, 3};
  std::span<const int> sp(data);
  EXPECT_EQ(Encode(sp), Encode(data));
  EXPECT_EQ(Decode<std::vector<int>>(Encode(sp)), data);
  std::pair<std::string_view, int> pv{"k", 1};
  EXPECT_EQ((Decode<std::pair<std::string, int>>(Encode(pv))),
            (std::pair<std::string, int>{"k", 1}));
}

// ---------------------------------------------------------------------------
// The wire format.

TEST(CodecWire, Layout) {
  EXPECT_EQ(Encode(int32_t{1}).size(), 4u);
  std::string s = Encode(std::string("abc"));
  ASSERT_EQ(s.size(), 11u);
  uint64_t n;
  std::memcpy(&n, s.data(), 8);
  EXPECT_EQ(n, 3u);
  EXPECT_EQ(s.substr(8), "abc");
  EXPECT_EQ(Encode(std::vector<double>(10)).size(), 8u + 80u);
  EXPECT_EQ(Encode(std::vector<bool>(10)).size(), 8u + 10u);
  EXPECT_EQ(Encode(std::optional<int>()).size(), 1u);
  EXPECT_EQ(Encode(std::optional<int>(1)).size(), 5u);
  std::string v = Encode(std::variant<int, char>('c'));
  ASSERT_EQ(v.size(), 5u);
  uint32_t index;
  std::memcpy(&index, v.data(), 4);
  EXPECT_EQ(index, 1u);
  EXPECT_EQ(Encode(std::array<int16_t, 3>{}).size(), 6u);
  EXPECT_EQ(Encode(std::pair<int8_t, int64_t>{}).size(), 9u);  // no padding
}

TEST(CodecWire, DecodesFromMisalignedInput) {
  std::vector<double> v{1.5, 2.5, 3.5};
  std::string bytes = "x" + Encode(v);
  std::string_view view(bytes);
  view.remove_prefix(1);
  EXPECT_EQ(Decode<std::vector<double>>(view), v);
}

TEST(CodecWire, EncodeToTooSmallThrows) {
  std::vector<int> v{1, 2, 3};
  std::vector<std::byte> buf(EncodedSize(v) - 1);
  EXPECT_THROW(EncodeTo(v, buf), SerializationError);
}

// ---------------------------------------------------------------------------
// Bad input.

template <class T>
void ExpectDecodeError(std::string_view bytes, const std::string& substr) {
  try {
    (void)Decode<T>(bytes);
    ADD_FAILURE() << "decoded garbage as " << internal::TypeName<T>();
  } catch (const CodecError& e) {
    EXPECT_THAT(e.what(), HasSubstr(substr));
  }
  absl::StatusOr<T> s = TryDecode<T>(bytes);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
}

std::string U64(uint64_t v) {
  return std::string(reinterpret_cast<char*>(&v), 8);
}
std::string U32(uint32_t v) {
  return std::string(reinterpret_cast<char*>(&v), 4);
}

TEST(CodecBadInput, TrailingBytes) {
  ExpectDecodeError<int>(Encode(1) + "x", "1 trailing bytes");
  ExpectDecodeError<std::string>(Encode(std::string("a")) + "zz",
                                 "2 trailing bytes");
}

TEST(CodecBadInput, Bools) {
  ExpectDecodeError<bool>(std::string(1, '\2'), "neither 0 nor 1");
  ExpectDecodeError<std::optional<int>>(std::string(1, '\3') + U32(0),
                                        "neither 0 nor 1");
  ExpectDecodeError<std::vector<bool>>(U64(2) + std::string("\1\7", 2),
                                       "neither 0 nor 1");
  Person p;
  std::string bytes = Encode(p);
  bytes.back() = '\5';  // `admin`
  ExpectDecodeError<Person>(bytes, "neither 0 nor 1");
}

TEST(CodecBadInput, VariantIndex) {
  using V = std::variant<int, std::string>;
  ExpectDecodeError<V>(U32(2) + U32(0), "variant index 2 is out of range");
  ExpectDecodeError<V>(U32(0xFFFFFFFF) + U32(0), "out of range");
}

TEST(CodecBadInput, DuplicateKeys) {
  std::string m = U64(2) + Encode(1) + Encode(10) + Encode(1) + Encode(11);
  ExpectDecodeError<std::map<int, int>>(m, "duplicate key");
  ExpectDecodeError<std::unordered_map<int, int>>(m, "duplicate key");
  EXPECT_EQ((Decode<std::multimap<int, int>>(m).size()), 2u);
  std::string s = U64(2) + Encode(1) + Encode(1);
  ExpectDecodeError<std::set<int>>(s, "duplicate key");
}

TEST(CodecBadInput, HugeLengthsAreRefusedBeforeAllocating) {
  g_largest_alloc = 0;
  const uint64_t huge[] = {uint64_t{1} << 60, uint64_t{1} << 40, 1u << 25,
                           ~uint64_t{0}, 1000};
  for (uint64_t n : huge) {
    SCOPED_TRACE(n);
    std::string tail(16, '\1');
    ExpectDecodeError<TString>(U64(n) + tail, "length");
    ExpectDecodeError<TVector<int>>(U64(n) + tail, "length");
    ExpectDecodeError<TVector<double>>(U64(n) + tail, "length");
    ExpectDecodeError<TVector<TString>>(U64(n) + tail, "length");
    ExpectDecodeError<TVector<TVector<int>>>(U64(n) + tail, "length");
    ExpectDecodeError<std::vector<bool>>(U64(n) + tail, "length");
    ExpectDecodeError<std::map<int, int>>(U64(n) + tail, "length");
    ExpectDecodeError<std::unordered_set<int>>(U64(n) + tail, "length");
    ExpectDecodeError<Person>(U64(n) + tail, "length");
    if (n > internal::kMaxZeroSizeElements) {
      ExpectDecodeError<std::vector<std::monostate>>(U64(n), "limit");
    }
  }
  // Nothing beyond the (tiny) input was ever allocated.
  EXPECT_LE(g_largest_alloc.load(), 64u);
}

TEST(CodecBadInput, ZeroSizeElementsAreCappedBothWays) {
  std::vector<std::monostate> v(internal::kMaxZeroSizeElements + 1);
  EXPECT_THROW(Encode(v), SerializationError);
}

TEST(CodecBadInput, NestingDepthIsBounded) {
  // A Tree nested 10000 deep: each level is "1 child" (8 bytes).
  std::string deep;
  for (int i = 0; i < 10000; ++i) deep += U64(1);
  deep += U64(0);
  ExpectDecodeError<Tree>(deep, "nesting is deeper");
  // 100 deep is fine.
  Tree t;
  Tree* cur = &t;
  for (int i = 0; i < 100; ++i) {
    cur->children.resize(1);
    cur = &cur->children[0];
  }
  ExpectRoundTrip(t);
}

// A composite value, truncated at every prefix length: always CodecError.
TEST(CodecBadInput, EveryTruncationOfACompositeFails) {
  internal::FuzzComposite v;
  std::get<0>(v) = {{{"a", 1}, {"b", std::string("bee")}, {"n", std::nullopt}},
                    {{"d", 2.5}, {"m", std::monostate{}}}};
  std::get<1>(v) = {true, {1, 2, 3}};
  std::get<2>(v) = {5, -7, 100};
  std::get<3>(v) = {true, false, true};
  std::get<4>(v) = {{1, {1.0, 2.0}}, {2, {}}};
  std::get<5>(v) = {{1, "x"}, {1, "y"}};
  std::get<6>(v) = {
      internal::FuzzRecord{"r", {1, 2}, 0.5, true, {{"t", {"u", "v"}}}},
      internal::FuzzRecord{}};
  std::get<7>(v) = {std::string("o"), std::nullopt};
  std::get<8>(v) = "tail";
  const std::string bytes = Encode(v);
  ASSERT_EQ(bytes.size(), EncodedSize(v));
  ASSERT_TRUE(Decode<internal::FuzzComposite>(bytes) == v);
  EXPECT_TRUE(
      internal::FuzzDecode(std::as_bytes(std::span<const char>(bytes))).ok());
  for (size_t len = 0; len < bytes.size(); ++len) {
    std::string_view prefix(bytes.data(), len);
    EXPECT_THROW(Decode<internal::FuzzComposite>(prefix), CodecError) << len;
    // A copy of exactly `len` bytes so ASan sees any over-read.
    std::vector<std::byte> exact(len);
    if (len != 0) std::memcpy(exact.data(), bytes.data(), len);
    EXPECT_FALSE(internal::FuzzDecode(exact).ok()) << len;
  }
}

// Random garbage with fixed seeds: an error or a value, never a crash.
TEST(CodecBadInput, RandomGarbageNeverCrashes) {
  int decoded = 0;
  for (uint64_t seed = 1; seed <= 4; ++seed) {
    std::mt19937_64 rng(seed);
    for (int iter = 0; iter < 5000; ++iter) {
      size_t len = rng() % 200;
      std::vector<std::byte> junk(len);
      // Mostly small bytes, so lengths and indices are often plausible.
      for (auto& b : junk) {
        b = std::byte(rng() % 4 == 0 ? rng() : rng() % 3);
      }
      absl::Status s = internal::FuzzDecode(junk);
      EXPECT_NE(s.code(), absl::StatusCode::kInternal) << s;
      decoded += s.ok();
      // Also as a few simpler types.
      (void)TryDecode<std::vector<std::string>>(junk);
      (void)TryDecode<std::map<int, std::optional<bool>>>(junk);
      (void)TryDecode<std::variant<int, std::string, std::vector<bool>>>(junk);
      (void)TryDecode<Person>(junk);
    }
  }
  RecordProperty("decoded", decoded);
}

// Mutations of a valid encoding: flip bytes, decode.
TEST(CodecBadInput, MutatedValidEncodingsNeverCrash) {
  internal::FuzzComposite v;
  std::get<0>(v) = {{{"key", std::string("value")}, {"n", 7}}};
  std::get<6>(v) = {
      internal::FuzzRecord{"r", {1, 2, 3}, 1.0, false, {{"t", {"a"}}}}};
  std::get<8>(v) = "end";
  const std::string bytes = Encode(v);
  std::mt19937_64 rng(42);
  for (int iter = 0; iter < 20000; ++iter) {
    std::vector<std::byte> m(bytes.size());
    std::memcpy(m.data(), bytes.data(), bytes.size());
    int flips = 1 + rng() % 4;
    for (int f = 0; f < flips; ++f) m[rng() % m.size()] = std::byte(rng());
    if (rng() % 8 == 0) m.resize(rng() % m.size());
    absl::Status s = internal::FuzzDecode(m);
    EXPECT_NE(s.code(), absl::StatusCode::kInternal) << s;
  }
}

TEST(Codec, MemcpyCodecSendsAnOptedInPointerAsItsBytes) {
  int target = 7;
  Linked in{reinterpret_cast<Linked*>(&target), 3};
  EXPECT_EQ(EncodedSize(in), sizeof(Linked));
  Linked out = Decode<Linked>(Encode(in));
  EXPECT_EQ(out.next, in.next);
  EXPECT_EQ(out.v, 3);
  Named n = Decode<Named>(Encode(Named{"ann", 4}));
  EXPECT_STREQ(n.name.c, "ann");
  EXPECT_EQ(n.n, 4);
}

TEST(CodecErrors, MessagesNameTheTypeAndOffset) {
  try {
    Decode<std::vector<int>>(U64(3) + Encode(1));
    ADD_FAILURE();
  } catch (const CodecError& e) {
    EXPECT_THAT(e.what(), HasSubstr("cannot decode std::vector<int>"));
    EXPECT_THAT(e.what(), HasSubstr("offset 8"));
  }
}

}  // namespace
}  // namespace shoal
