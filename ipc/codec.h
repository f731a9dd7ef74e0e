// Copyright 2026 The shoal Authors.
//
// codec.h: how values become bytes for queues, pipes and pools, and back.
//
// Contract
//   EncodedSize(v)       the exact number of bytes v encodes to.
//   EncodeTo(v, dst)     writes exactly EncodedSize(v) bytes at the start of
//                        dst (dst.size() >= EncodedSize(v), else
//                        SerializationError). Lets a queue encode straight
//                        into a shared-memory slot with no intermediate copy.
//   Encode(v)            a std::string holding the encoding.
//   EncodeAppend(v, s)   appends the encoding to s.
//   Decode<T>(bytes)     the value; throws shoal::CodecError when the bytes
//                        are truncated, garbage, or have trailing bytes.
//   TryDecode<T>(bytes)  absl::StatusOr<T>: InvalidArgument instead of throws.
//   Encodable<T>         the concept: T can be encoded and decoded.
//   CodecTraits<T>       the extension point (see below).
//   MemcpyCodec<T>       CodecTraits<T> : MemcpyCodec<T> sends a trivially
//                        copyable T as its bytes even if it holds addresses.
//   Typed handles (Queue<T>, Connection::send/recv, ...) check
//   internal::CheckEncodable<T>() at compile time: one error naming what to
//   add (a serialize() member or a CodecTraits specialization).
//
// What is built in (one machine: native endianness, fixed widths):
//
//   type                               wire format
//   ---------------------------------  ---------------------------------------
//   trivially copyable T (ints,        sizeof(T) bytes, memcpy. Not validated:
//   floats, enums, PODs, ...)          an enum or a member of a user POD may
//                                      decode to any bit pattern. Pointers,
//                                      C arrays and views are not encodable,
//                                      nor are aggregates with a pointer or
//                                      view member (detected at compile
//                                      time; see HasRawAddress), unless
//                                      CodecTraits<T> : MemcpyCodec<T>.
//   bool                               1 byte; decodes only from 0 or 1
//   std::string (basic_string<C>)      uint64 length + bytes
//   std::string_view, std::span<T>     encode only: like std::string /
//                                      std::vector<T> (decode as those)
//   std::vector<T>                     uint64 count + elements; one memcpy
//                                      when T is trivially copyable
//   std::vector<bool>                  uint64 count + one 0/1 byte each
//   std::array<T, N>                   N elements (memcpy when T is trivial)
//   std::pair, std::tuple              the members in order
//   std::optional<T>                   1 byte (0/1) + T when engaged
//   std::variant<Ts...>                uint32 index + the alternative
//   std::monostate                     nothing
//   map-like (std::map, unordered_map, uint64 count + (key, value)...; sets
//   multimap, absl::flat_hash_map,     likewise with keys. Duplicate keys in
//   ...) and set-like containers       a non-multi container: CodecError
//   class with a serialize(Archive&)   cereal, through bounded archives
//   member (or save/load members)      (ipc/internal/codec_cereal.h).
//                                      cereal's non-member functions are
//                                      not looked for: write CodecTraits.
//
//   They nest arbitrarily: vector<map<string, optional<variant<int, string>>>>.
//   A class that is trivially copyable AND has serialize() goes through
//   cereal (its author asked for it).
//
// Garbage in, exception out
//   The decoder never reads outside its input and never allocates from an
//   unchecked length: every length is checked against the bytes that remain
//   BEFORE anything is allocated (a count of N elements needs at least
//   N x (smallest encoding of an element) bytes), variant indices and bools
//   are range-checked, and nesting is bounded (kMaxDecodeDepth). The worst
//   allocation a garbage input can cause is a small multiple of its own size.
//   ipc/internal/codec_fuzz.h decodes bytes as a fixed composite type, for
//   fuzzers.
//
// Extending: specialize shoal::CodecTraits for your type:
//
//   template <> struct shoal::CodecTraits<Point> {
//     static constexpr size_t kMinSize = 16;  // optional: fewest bytes any
//                                             // Point encodes to; lets
//                                             // containers of Point bound
//                                             // garbage counts
//     static size_t Size(const Point& p) { return 16; }
//     static void Encode(const Point& p, CodecWriter& w) {
//       w.Put(p.x); w.Put(p.y);              // or w.Write / w.WriteRaw
//     }
//     static Point Decode(CodecReader& r) {
//       double x = r.Get<double>(); double y = r.Get<double>();
//       return Point{x, y};
//     }
//   };
//
//   Size() must equal what Encode() writes (the writer throws
//   SerializationError if Encode writes more than the span holds; Encode()
//   and EncodeAppend() also check it writes exactly Size()). Decode() must
//   consume exactly what Encode() wrote and report bad input with r.Fail().
//   The second template parameter is for enable_if-style partial
//   specializations.
//
// Cost
//   Trivially copyable values, and vectors/arrays/strings of them: one memcpy
//   (EncodedSize is O(1)). Containers of non-trivial elements: EncodedSize
//   walks the value once and EncodeTo again. Decoding allocates what the
//   value needs. cereal types are walked twice to encode (count, then write).
//   Benchmark: bench/codec_bench.cc, numbers in bench/RESULTS.md "## codec".
//
// Thread safety: the functions are pure; concurrent calls on distinct values
// are safe, and concurrent calls on one value if T's const members are.
#ifndef SHOAL_IPC_CODEC_H_
#define SHOAL_IPC_CODEC_H_

#include <algorithm>
#include <array>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <ranges>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "shoal/base/errors.h"
#include "shoal/ipc/internal/codec_cereal.h"
#include "shoal/ipc/internal/codec_io.h"
#include "shoal/ipc/layout.h"

namespace shoal {

// The extension point. The primary template handles trivially copyable
// types, bool and cereal-serializable classes; the std types below have
// partial specializations; users add their own.
template <class T, class Enable = void>
struct CodecTraits;

namespace internal {

template <class T>
using Traits = CodecTraits<std::remove_cv_t<T>>;

// T can be encoded (Size + Encode).
template <class T>
concept CanEncode = requires(const T& v, CodecWriter& w) {
  { Traits<T>::Size(v) } -> std::convertible_to<size_t>;
  Traits<T>::Encode(v, w);
};

}  // namespace internal

// T can be encoded and decoded.
template <class T>
concept Encodable = internal::CanEncode<T> && requires(CodecReader& r) {
  { internal::Traits<T>::Decode(r) } -> std::same_as<std::remove_cv_t<T>>;
};

namespace internal {

// The fewest bytes any value of T encodes to (0 when unknown).
template <class T>
constexpr size_t MinSize() {
  if constexpr (requires { Traits<T>::kMinSize; }) {
    return Traits<T>::kMinSize;
  } else {
    return 0;
  }
}

// Encodes by memcpy of the object representation.
template <class T>
struct RawCodec {
  static constexpr size_t kMinSize = sizeof(T);
  static constexpr size_t Size(const T&) { return sizeof(T); }
  static void Encode(const T& v, CodecWriter& w) { w.WriteRaw(v); }
  static T Decode(CodecReader& r) { return r.ReadRaw<T>(); }
};

// True when T's traits are the memcpy kind, so arrays of T are one memcpy.
template <class T>
inline constexpr bool kIsRaw =
    std::is_base_of_v<RawCodec<std::remove_cv_t<T>>, Traits<T>>;

// Types that are safe to send as their bytes: trivially copyable and not
// something whose bytes mean nothing in another process (pointers, views
// over memory elsewhere) or whose bit patterns are restricted (bool).
template <class T>
concept RawEncodable = std::is_trivially_copyable_v<T> && std::is_object_v<T> &&
                       !std::is_pointer_v<T> &&
                       !std::is_member_pointer_v<T> && !std::is_array_v<T> &&
                       !std::is_same_v<T, bool> && !std::is_null_pointer_v<T> &&
                       !std::ranges::range<T>;

struct BoolCodec {
  static constexpr size_t kMinSize = 1;
  static constexpr size_t Size(bool) { return 1; }
  static void Encode(bool v, CodecWriter& w) {
    const unsigned char b = v ? 1 : 0;
    w.Write(&b, 1);
  }
  static bool Decode(CodecReader& r) {
    const unsigned char b = static_cast<unsigned char>(*r.Read(1));
    if (b > 1) r.Fail("a bool byte is neither 0 nor 1");
    return b != 0;
  }
};

template <class T>
struct CerealCodec {
  static constexpr size_t kMinSize = 0;
  static size_t Size(const T& v) {
    CodecOutputArchive ar;
    Save(ar, v);
    return ar.count();
  }
  static void Encode(const T& v, CodecWriter& w) {
    CodecOutputArchive ar(w);
    Save(ar, v);
  }
  static T Decode(CodecReader& r) {
    static_assert(std::is_default_constructible_v<T>,
                  "cereal types are decoded into a default-constructed value");
    T v{};
    try {
      CodecInputArchive ar(r);
      ar(v);
    } catch (const cereal::Exception& e) {
      r.Fail(std::string("cereal: ") + e.what());
    }
    return v;
  }

 private:
  static void Save(CodecOutputArchive& ar, const T& v) {
    try {
      ar(v);
    } catch (const cereal::Exception& e) {
      throw SerializationError(std::string("cannot encode ") +
                               std::string(TypeName<T>()) +
                               " with cereal: " + e.what());
    }
  }
};

// --- Raw addresses inside aggregates -----------------------------------------
//
// A trivially copyable struct would travel by memcpy, so a raw pointer
// member would arrive as an address that means nothing in the receiving
// process. HasRawAddress<T>() finds such members at compile time in
// aggregates, without reflection: it initializes T from a list of probe
// objects. Each probe is an initializer clause written without braces, so
//   * a member of class type takes a clause only by converting to that very
//     type (never through the member's converting constructors: a fixed-size
//     string class constructible from const char* is not taken for a
//     pointer);
//   * an array member, and a member or base that is itself an aggregate,
//     take one clause per element (brace elision), so the probes reach
//     nested members: struct { Point p; int* q; } is flattened to
//     {p.x, p.y, q}.
// AnyClause fills every clause; at one position at a time a PointerClause
// (converts only to pointers and member pointers) or a ViewClause (only to
// std::basic_string_view / std::span) asks "is this member an address?".
// Everything happens in requires-expressions: a type the probes cannot
// handle (a member that is a non-aggregate class type, a reference, more
// than kMaxClauses clauses) is simply not judged, never an error.
// Not detected: pointers inside non-aggregate members (std::pair,
// std::tuple, classes with constructors) and in non-aggregate T.
struct AnyClause {
  template <class U>
    requires(!std::is_class_v<U> || !std::is_aggregate_v<U>)
  constexpr operator U() const noexcept;
};
struct PointerClause {
  template <class U>
    requires(std::is_pointer_v<U> || std::is_member_pointer_v<U> ||
             std::is_null_pointer_v<U>)
  constexpr operator U() const noexcept;
};
template <class T>
inline constexpr bool kIsView = false;
template <class C, class Tr>
inline constexpr bool kIsView<std::basic_string_view<C, Tr>> = true;
template <class E, size_t N>
inline constexpr bool kIsView<std::span<E, N>> = true;
struct ViewClause {
  template <class U>
    requires kIsView<U>
  constexpr operator U() const noexcept;
};

inline constexpr size_t kMaxClauses = 256;

template <class T, size_t N>
constexpr bool AcceptsClauses() {
  return []<size_t... I>(std::index_sequence<I...>) {
    return requires { T{(static_cast<void>(I), AnyClause{})...}; };
  }(std::make_index_sequence<N>());
}

// The number of clauses T's flattened aggregate initialization takes.
// Invariant of the binary search: Lo clauses are accepted, Hi are not.
template <class T, size_t Lo, size_t Hi>
constexpr size_t ClauseCount() {
  if constexpr (Lo + 1 >= Hi) {
    return Lo;
  } else if constexpr (AcceptsClauses<T, (Lo + Hi) / 2>()) {
    return ClauseCount<T, (Lo + Hi) / 2, Hi>();
  } else {
    return ClauseCount<T, Lo, (Lo + Hi) / 2>();
  }
}

// Clause K of N accepts a Probe.
template <class T, class Probe, size_t K, size_t N>
constexpr bool ClauseAccepts() {
  return []<size_t... I>(std::index_sequence<I...>) {
    return requires { T{std::conditional_t<I == K, Probe, AnyClause>{}...}; };
  }(std::make_index_sequence<N>());
}

// T is, or is an aggregate with a member (at any depth reachable by brace
// elision) that is, a raw pointer, a member pointer or a std::string_view /
// std::span.
template <class T>
constexpr bool HasRawAddress() {
  if constexpr (std::is_pointer_v<T> || std::is_member_pointer_v<T> ||
                std::is_null_pointer_v<T> || kIsView<std::remove_cv_t<T>>) {
    return true;
  } else if constexpr (!std::is_aggregate_v<T> || std::is_array_v<T> ||
                       !AcceptsClauses<T, 0>() ||
                       AcceptsClauses<T, kMaxClauses + 1>()) {
    return false;
  } else {
    constexpr size_t n = ClauseCount<T, 0, kMaxClauses + 1>();
    return []<size_t... K>(std::index_sequence<K...>) {
      return ((ClauseAccepts<T, PointerClause, K, n>() ||
               ClauseAccepts<T, ViewClause, K, n>()) ||
              ...);
    }(std::make_index_sequence<n>());
  }
}

template <class T>
struct DefaultCodec {};  // not encodable
template <class T>
  requires kCerealSerializable<T>
struct DefaultCodec<T> : CerealCodec<T> {};
template <class T>
  requires(!kCerealSerializable<T> && RawEncodable<T> && !HasRawAddress<T>())
struct DefaultCodec<T> : RawCodec<T> {};
template <>
struct DefaultCodec<bool> : BoolCodec {};

// Encode/decode one nested value.
template <class T>
size_t SizeOf(const T& v) {
  return Traits<T>::Size(v);
}
template <class T>
void EncodeValue(const T& v, CodecWriter& w) {
  Traits<T>::Encode(v, w);
}
template <class T>
std::remove_cv_t<T> DecodeValue(CodecReader& r) {
  if constexpr (kIsRaw<T>) {
    return Traits<T>::Decode(r);
  } else {
    CodecReader::Nest nest(r);
    return Traits<T>::Decode(r);
  }
}

// Writes a count for elements of type E, refusing counts the decoder would
// refuse (zero-size elements beyond kMaxZeroSizeElements).
template <class E>
void WriteCount(uint64_t n, CodecWriter& w) {
  if constexpr (MinSize<E>() == 0) {
    if (n > kMaxZeroSizeElements) {
      throw SerializationError(
          "cannot encode more than 2^24 elements of " +
          std::string(TypeName<E>()) +
          ", which may encode to zero bytes (the decoder could not bound "
          "their count)");
    }
  }
  w.WriteLength(n);
}

// Reserve only when the element's in-memory size is a small multiple of its
// smallest encoding, so garbage counts cannot make us allocate much more
// than the input's size.
template <class E>
constexpr bool kReserveSafe = MinSize<E>() > 0 &&
                              sizeof(E) <= 16 * MinSize<E>();

template <class R>
size_t SizeOfRange(const R& range) {
  using E = std::ranges::range_value_t<R>;
  size_t n = 8;
  if constexpr (kIsRaw<E>) {
    n += std::ranges::size(range) * sizeof(E);
  } else {
    for (const auto& e : range) n += SizeOf<E>(e);
  }
  return n;
}

template <class R>
void EncodeRange(const R& range, CodecWriter& w) {
  using E = std::ranges::range_value_t<R>;
  const uint64_t n = std::ranges::size(range);
  WriteCount<E>(n, w);
  if constexpr (kIsRaw<E> && std::ranges::contiguous_range<R>) {
    w.Write(std::ranges::data(range), n * sizeof(E));
  } else {
    for (const auto& e : range) EncodeValue<E>(e, w);
  }
}

}  // namespace internal

// ---------------------------------------------------------------------------
// The primary template: trivially copyable types, bool, cereal classes.

template <class T, class Enable>
struct CodecTraits : internal::DefaultCodec<T> {};

// Sends T as its bytes, as the default does for trivially copyable types,
// even when T holds a raw pointer or a view (which the default refuses: an
// address means nothing in another process). For an address that does mean
// something to the receiver, e.g. into memory a fork()ed child inherited:
//
//   template <> struct shoal::CodecTraits<Node> : shoal::MemcpyCodec<Node> {};
template <class T>
  requires std::is_trivially_copyable_v<T>
struct MemcpyCodec : internal::RawCodec<T> {};

// ---------------------------------------------------------------------------
// Strings.

template <class C, class Tr, class A>
  requires internal::RawEncodable<C>
struct CodecTraits<std::basic_string<C, Tr, A>> {
  using S = std::basic_string<C, Tr, A>;
  static constexpr size_t kMinSize = 8;
  static size_t Size(const S& s) { return 8 + s.size() * sizeof(C); }
  static void Encode(const S& s, CodecWriter& w) {
    w.WriteLength(s.size());
    w.Write(s.data(), s.size() * sizeof(C));
  }
  static S Decode(CodecReader& r) {
    const uint64_t n = r.ReadLength(sizeof(C));
    const std::byte* p = r.Read(n * sizeof(C));
    if constexpr (sizeof(C) == 1) {
      return S(reinterpret_cast<const C*>(p), n);
    } else {
      S s;
      s.resize(n);
      std::memcpy(s.data(), p, n * sizeof(C));
      return s;
    }
  }
};

// Encode-only: decodes as std::basic_string.
template <class C, class Tr>
  requires internal::RawEncodable<C>
struct CodecTraits<std::basic_string_view<C, Tr>> {
  using S = std::basic_string_view<C, Tr>;
  static constexpr size_t kMinSize = 8;
  static size_t Size(const S& s) { return 8 + s.size() * sizeof(C); }
  static void Encode(const S& s, CodecWriter& w) {
    w.WriteLength(s.size());
    w.Write(s.data(), s.size() * sizeof(C));
  }
};

// ---------------------------------------------------------------------------
// Sequences.

template <class T, class A>
  requires internal::CanEncode<T> && (!std::is_same_v<T, bool>)
struct CodecTraits<std::vector<T, A>> {
  using V = std::vector<T, A>;
  static constexpr size_t kMinSize = 8;
  static size_t Size(const V& v) { return internal::SizeOfRange(v); }
  static void Encode(const V& v, CodecWriter& w) {
    internal::EncodeRange(v, w);
  }
  static V Decode(CodecReader& r) requires Encodable<T> {
    if constexpr (internal::kIsRaw<T>) {
      const uint64_t n = r.ReadLength(sizeof(T));
      const std::byte* p = r.Read(n * sizeof(T));
      if (reinterpret_cast<uintptr_t>(p) % alignof(T) == 0) {
        // One allocation and one memmove, no zero-fill first.
        const T* first = reinterpret_cast<const T*>(p);
        return V(first, first + n);
      }
      if constexpr (std::is_default_constructible_v<T>) {
        V v(n);
        if (n != 0) std::memcpy(static_cast<void*>(v.data()), p, n * sizeof(T));
        return v;
      } else {
        CodecReader sub(std::span<const std::byte>(p, n * sizeof(T)));
        V v;
        v.reserve(n);
        for (uint64_t i = 0; i < n; ++i) v.push_back(sub.ReadRaw<T>());
        return v;
      }
    } else {
      const uint64_t n = r.ReadLength(internal::MinSize<T>());
      V v;
      if constexpr (internal::kReserveSafe<T>) v.reserve(n);
      for (uint64_t i = 0; i < n; ++i) v.push_back(internal::DecodeValue<T>(r));
      return v;
    }
  }
};

template <class A>
struct CodecTraits<std::vector<bool, A>> {
  using V = std::vector<bool, A>;
  static constexpr size_t kMinSize = 8;
  static size_t Size(const V& v) { return 8 + v.size(); }
  static void Encode(const V& v, CodecWriter& w) {
    w.WriteLength(v.size());
    for (bool b : v) internal::BoolCodec::Encode(b, w);
  }
  static V Decode(CodecReader& r) {
    const uint64_t n = r.ReadLength(1);
    const std::byte* p = r.Read(n);
    V v(n);
    for (uint64_t i = 0; i < n; ++i) {
      const unsigned char b = static_cast<unsigned char>(p[i]);
      if (b > 1) r.Fail("a bool byte in std::vector<bool> is neither 0 nor 1");
      v[i] = b != 0;
    }
    return v;
  }
};

// Encode-only: decodes as std::vector<T>.
template <class T, size_t E>
  requires internal::CanEncode<std::remove_cv_t<T>>
struct CodecTraits<std::span<T, E>> {
  static constexpr size_t kMinSize = 8;
  static size_t Size(const std::span<T, E>& s) {
    return internal::SizeOfRange(s);
  }
  static void Encode(const std::span<T, E>& s, CodecWriter& w) {
    internal::EncodeRange(s, w);
  }
};

template <class T, size_t N>
  requires internal::CanEncode<T>
struct CodecTraits<std::array<T, N>> {
  using Arr = std::array<T, N>;
  static constexpr size_t kMinSize = N * internal::MinSize<T>();
  static size_t Size(const Arr& a) {
    if constexpr (internal::kIsRaw<T>) {
      return sizeof(T) * N;
    } else {
      size_t n = 0;
      for (const T& e : a) n += internal::SizeOf<T>(e);
      return n;
    }
  }
  static void Encode(const Arr& a, CodecWriter& w) {
    if constexpr (internal::kIsRaw<T>) {
      w.Write(a.data(), sizeof(T) * N);
    } else {
      for (const T& e : a) internal::EncodeValue<T>(e, w);
    }
  }
  static Arr Decode(CodecReader& r) requires Encodable<T> {
    if constexpr (internal::kIsRaw<T> && std::is_default_constructible_v<T>) {
      Arr a;
      r.ReadInto(static_cast<void*>(a.data()), sizeof(T) * N);
      return a;
    } else if constexpr (std::is_default_constructible_v<T>) {
      Arr a;
      for (T& e : a) e = internal::DecodeValue<T>(r);
      return a;
    } else {
      return [&]<size_t... I>(std::index_sequence<I...>) {
        // Braced initialization evaluates left to right.
        return Arr{((void)I, internal::DecodeValue<T>(r))...};
      }
      (std::make_index_sequence<N>());
    }
  }
};

// ---------------------------------------------------------------------------
// Products and sums.

template <class A, class B>
  requires internal::CanEncode<A> && internal::CanEncode<B>
struct CodecTraits<std::pair<A, B>> {
  using P = std::pair<A, B>;
  static constexpr size_t kMinSize =
      internal::MinSize<A>() + internal::MinSize<B>();
  static size_t Size(const P& p) {
    return internal::SizeOf<A>(p.first) + internal::SizeOf<B>(p.second);
  }
  static void Encode(const P& p, CodecWriter& w) {
    internal::EncodeValue<A>(p.first, w);
    internal::EncodeValue<B>(p.second, w);
  }
  static P Decode(CodecReader& r) requires Encodable<A> && Encodable<B> {
    // Braced initialization evaluates left to right.
    return P{internal::DecodeValue<A>(r), internal::DecodeValue<B>(r)};
  }
};

template <class... Ts>
  requires(internal::CanEncode<Ts> && ...)
struct CodecTraits<std::tuple<Ts...>> {
  using Tup = std::tuple<Ts...>;
  static constexpr size_t kMinSize =
      (size_t{0} + ... + internal::MinSize<Ts>());
  static size_t Size(const Tup& t) {
    return std::apply(
        [](const auto&... e) {
          return (size_t{0} + ... + internal::SizeOf<Ts>(e));
        },
        t);
  }
  static void Encode(const Tup& t, CodecWriter& w) {
    std::apply(
        [&](const auto&... e) { (internal::EncodeValue<Ts>(e, w), ...); }, t);
  }
  static Tup Decode(CodecReader& r) requires(Encodable<Ts> && ...) {
    // Braced initialization evaluates left to right.
    return Tup{internal::DecodeValue<Ts>(r)...};
  }
};

template <class T>
  requires internal::CanEncode<T>
struct CodecTraits<std::optional<T>> {
  using O = std::optional<T>;
  static constexpr size_t kMinSize = 1;
  static size_t Size(const O& o) {
    return 1 + (o.has_value() ? internal::SizeOf<T>(*o) : 0);
  }
  static void Encode(const O& o, CodecWriter& w) {
    internal::BoolCodec::Encode(o.has_value(), w);
    if (o.has_value()) internal::EncodeValue<T>(*o, w);
  }
  static O Decode(CodecReader& r) requires Encodable<T> {
    if (!internal::BoolCodec::Decode(r)) return std::nullopt;
    return O(std::in_place, internal::DecodeValue<T>(r));
  }
};

template <class... Ts>
  requires(internal::CanEncode<Ts> && ...)
struct CodecTraits<std::variant<Ts...>> {
  using V = std::variant<Ts...>;
  static constexpr size_t kMinSize = 4 + std::min({internal::MinSize<Ts>()...});
  static size_t Size(const V& v) {
    CheckValue(v);
    return 4 + std::visit(
                   [](const auto& alt) {
                     return internal::SizeOf<std::decay_t<decltype(alt)>>(alt);
                   },
                   v);
  }
  static void Encode(const V& v, CodecWriter& w) {
    CheckValue(v);
    w.WriteRaw(static_cast<uint32_t>(v.index()));
    std::visit(
        [&](const auto& alt) {
          internal::EncodeValue<std::decay_t<decltype(alt)>>(alt, w);
        },
        v);
  }
  static V Decode(CodecReader& r) requires(Encodable<Ts> && ...) {
    const uint32_t index = r.ReadRaw<uint32_t>();
    if (index >= sizeof...(Ts)) {
      r.Fail("variant index " + std::to_string(index) + " is out of range (" +
             std::to_string(sizeof...(Ts)) + " alternatives)");
    }
    return DecodeIndex(r, index, std::index_sequence_for<Ts...>());
  }

 private:
  static void CheckValue(const V& v) {
    if (v.valueless_by_exception()) {
      throw SerializationError("cannot encode a valueless " +
                               std::string(internal::TypeName<V>()));
    }
  }
  template <size_t I>
  static V DecodeAlt(CodecReader& r) {
    using Alt = std::variant_alternative_t<I, V>;
    return V(std::in_place_index<I>, internal::DecodeValue<Alt>(r));
  }
  template <size_t... I>
  static V DecodeIndex(CodecReader& r, uint32_t index,
                       std::index_sequence<I...>) {
    static constexpr V (*kDecoders[])(CodecReader&) = {&DecodeAlt<I>...};
    return kDecoders[index](r);
  }
};

template <>
struct CodecTraits<std::monostate> {
  static constexpr size_t kMinSize = 0;
  static constexpr size_t Size(std::monostate) { return 0; }
  static void Encode(std::monostate, CodecWriter&) {}
  static std::monostate Decode(CodecReader&) { return {}; }
};

// ---------------------------------------------------------------------------
// Associative containers, by shape (std::map, std::unordered_map,
// std::multimap, absl::flat_hash_map, ... and the sets).

namespace internal {

template <class M>
concept MapLike =
    requires {
      typename M::key_type;
      typename M::mapped_type;
      typename M::value_type;
    } &&
    requires(M& m, const M& cm, typename M::key_type&& k,
             typename M::mapped_type&& v) {
      { cm.size() } -> std::convertible_to<size_t>;
      cm.begin();
      cm.end();
      m.emplace_hint(m.end(), std::move(k), std::move(v));
    };

template <class S>
concept SetLike =
    requires {
      typename S::key_type;
      typename S::value_type;
    } &&
    !requires { typename S::mapped_type; } &&
    std::same_as<typename S::key_type, typename S::value_type> &&
    requires(S& s, const S& cs, typename S::key_type&& k) {
      { cs.size() } -> std::convertible_to<size_t>;
      cs.begin();
      cs.end();
      s.emplace_hint(s.end(), std::move(k));
    };

template <class C>
void MaybeReserve(C& c, uint64_t n) {
  if constexpr (requires { c.reserve(n); }) c.reserve(n);
}

}  // namespace internal

template <class M>
  requires internal::MapLike<M> &&
           internal::CanEncode<typename M::key_type> &&
           internal::CanEncode<typename M::mapped_type>
struct CodecTraits<M> {
  using K = typename M::key_type;
  using V = typename M::mapped_type;
  static constexpr size_t kMinSize = 8;
  static size_t Size(const M& m) {
    if constexpr (internal::kIsRaw<K> && internal::kIsRaw<V>) {
      return 8 + m.size() * (sizeof(K) + sizeof(V));
    } else {
      size_t n = 8;
      for (const auto& [k, v] : m) {
        n += internal::SizeOf<K>(k) + internal::SizeOf<V>(v);
      }
      return n;
    }
  }
  static void Encode(const M& m, CodecWriter& w) {
    internal::WriteCount<std::pair<K, V>>(m.size(), w);
    for (const auto& [k, v] : m) {
      internal::EncodeValue<K>(k, w);
      internal::EncodeValue<V>(v, w);
    }
  }
  static M Decode(CodecReader& r) requires Encodable<K> && Encodable<V> {
    const uint64_t n =
        r.ReadLength(internal::MinSize<K>() + internal::MinSize<V>());
    M m;
    if constexpr (internal::kReserveSafe<std::pair<K, V>>) {
      internal::MaybeReserve(m, n);
    }
    for (uint64_t i = 0; i < n; ++i) {
      K k = internal::DecodeValue<K>(r);
      V v = internal::DecodeValue<V>(r);
      const size_t before = m.size();
      // Encoders iterate in order, so the end is the right hint for
      // ordered maps (amortized O(1) insertion).
      m.emplace_hint(m.end(), std::move(k), std::move(v));
      if (m.size() == before) r.Fail("duplicate key in a map");
    }
    return m;
  }
};

template <class S>
  requires internal::SetLike<S> && internal::CanEncode<typename S::key_type>
struct CodecTraits<S> {
  using K = typename S::key_type;
  static constexpr size_t kMinSize = 8;
  static size_t Size(const S& s) {
    if constexpr (internal::kIsRaw<K>) {
      return 8 + s.size() * sizeof(K);
    } else {
      size_t n = 8;
      for (const K& k : s) n += internal::SizeOf<K>(k);
      return n;
    }
  }
  static void Encode(const S& s, CodecWriter& w) {
    internal::WriteCount<K>(s.size(), w);
    for (const K& k : s) internal::EncodeValue<K>(k, w);
  }
  static S Decode(CodecReader& r) requires Encodable<K> {
    const uint64_t n = r.ReadLength(internal::MinSize<K>());
    S s;
    if constexpr (internal::kReserveSafe<K>) internal::MaybeReserve(s, n);
    for (uint64_t i = 0; i < n; ++i) {
      const size_t before = s.size();
      s.emplace_hint(s.end(), internal::DecodeValue<K>(r));
      if (s.size() == before) r.Fail("duplicate key in a set");
    }
    return s;
  }
};

// ---------------------------------------------------------------------------
// CodecWriter::Put / CodecReader::Get, for CodecTraits of composite types.

template <class T>
void CodecWriter::Put(const T& v) {
  internal::EncodeValue<T>(v, *this);
}

template <class T>
T CodecReader::Get() {
  return internal::DecodeValue<T>(*this);
}

namespace internal {

// The compile-time check of a typed handle (Queue<T>, Connection::send<T>,
// ...): one error that says what to add, instead of the codec's overload
// errors from deep inside the handle. Use it as
//   static_assert(internal::CheckEncodable<T>());
// and reach the codec through the Quiet* functions below, which compile to
// nothing for a T this check has already refused. kEncodeOnly: T is only
// sent, never decoded (std::string_view, std::span may be sent).
template <class T, bool kEncodeOnly = false>
constexpr bool CheckEncodable() {
  using U = std::remove_cvref_t<T>;
  constexpr bool ok = kEncodeOnly ? CanEncode<U> : Encodable<U>;
  static_assert(
      ok || !HasRawAddress<U>(),
      "shoal: this type holds a raw pointer, a member pointer or a view "
      "(std::string_view, std::span); an address means nothing in another "
      "process, so it is not sent. Send the data itself (std::string, "
      "std::vector, std::array, an offset), or, when the receiver can use "
      "the address (memory a fork()ed child inherited), say so: "
      "template <> struct shoal::CodecTraits<T> : shoal::MemcpyCodec<T> {};");
  static_assert(
      ok || HasRawAddress<U>(),
      "shoal: this type cannot be encoded. Give it a member "
      "`template <class Archive> void serialize(Archive& ar) { ar(a, b); }` "
      "naming its members (cereal), or specialize shoal::CodecTraits<T> with "
      "Size, Encode and Decode (see <shoal/ipc/codec.h>). Trivially copyable "
      "types without pointers, std::string, std::vector, std::array, "
      "std::pair, std::tuple, std::optional, std::variant and the map and "
      "set types of encodable types work as they are.");
  return true;  // the assertions above report; the caller's must not repeat
}

template <class T>
size_t QuietEncodedSize(const T& v) {
  if constexpr (CanEncode<T>) {
    return SizeOf<T>(v);
  } else {
    return 0;
  }
}
template <class T>
void QuietEncodeTo(const T& v, std::span<std::byte> dst) {
  if constexpr (CanEncode<T>) {
    CodecWriter w(dst);
    EncodeValue<T>(v, w);
  }
}

}  // namespace internal

// ---------------------------------------------------------------------------
// The API.

// The exact number of bytes `v` encodes to.
template <class T>
  requires internal::CanEncode<T>
size_t EncodedSize(const T& v) {
  return internal::SizeOf<T>(v);
}

// Writes the encoding of `v` (exactly EncodedSize(v) bytes) at the start of
// `dst`. Throws SerializationError when dst is too small.
template <class T>
  requires internal::CanEncode<T>
void EncodeTo(const T& v, std::span<std::byte> dst) {
  CodecWriter w(dst);
  internal::EncodeValue<T>(v, w);
}

// Appends the encoding of `v` to `out`. On an exception `out` is unchanged.
template <class T>
  requires internal::CanEncode<T>
void EncodeAppend(const T& v, std::string& out) {
  const size_t n = EncodedSize(v);
  const size_t old = out.size();
  out.resize(old + n);
  try {
    CodecWriter w(std::as_writable_bytes(std::span<char>(out.data() + old, n)));
    internal::EncodeValue<T>(v, w);
    if (w.written() != n) {
      throw SerializationError(
          "CodecTraits<" + std::string(internal::TypeName<T>()) +
          ">: Encode wrote " + std::to_string(w.written()) +
          " bytes but Size said " + std::to_string(n));
    }
  } catch (...) {
    out.resize(old);
    throw;
  }
}

// The encoding of `v`.
template <class T>
  requires internal::CanEncode<T>
std::string Encode(const T& v) {
  std::string out;
  EncodeAppend(v, out);
  return out;
}

// Decodes a T that fills `bytes` exactly. Throws CodecError on truncated
// input, garbage, or trailing bytes.
template <Encodable T>
T Decode(std::span<const std::byte> bytes) {
  CodecReader r(bytes, internal::TypeName<T>());
  T v = internal::DecodeValue<T>(r);
  if (r.remaining() != 0) {
    r.Fail(std::to_string(r.remaining()) + " trailing bytes after the value");
  }
  return v;
}
template <Encodable T>
T Decode(std::string_view bytes) {
  return Decode<T>(std::as_bytes(std::span<const char>(bytes)));
}

// Like Decode, with InvalidArgument instead of exceptions. (A decoder that
// itself opens resources, e.g. Shared<T>, reports InvalidRegion and
// SystemError the same way.)
template <Encodable T>
absl::StatusOr<T> TryDecode(std::span<const std::byte> bytes) {
  try {
    return Decode<T>(bytes);
  } catch (const Error& e) {
    return absl::InvalidArgumentError(e.what());
  }
}
template <Encodable T>
absl::StatusOr<T> TryDecode(std::string_view bytes) {
  return TryDecode<T>(std::as_bytes(std::span<const char>(bytes)));
}

namespace internal {

// Decode<T> for handles that ran CheckEncodable<T>() (see there).
template <class T>
T QuietDecode(std::span<const std::byte> bytes) {
  if constexpr (Encodable<T>) {
    return Decode<T>(bytes);
  } else {
    throw SerializationError("not encodable");  // refused at compile time
  }
}

}  // namespace internal

}  // namespace shoal

#endif  // SHOAL_IPC_CODEC_H_
