// Copyright 2026 The shoal Authors.
//
// callable.h: how a call (a function and its arguments) becomes bytes that
// another process of the same program can execute.
//
// A task is (invoker, payload). The invoker is an instantiation of one of
// the templates below for the callable's type and the argument types; it
// decodes the callable's state (if any) and the arguments, calls, and
// encodes the result. What travels for the invoker is a CodeRef (module +
// offset, code_ref.h) of a constant InvokerDesc that points at it; the
// worker validates the descriptor (magic, checksum, code segment) before it
// calls anything, so a corrupt task fails, it never jumps to garbage.
//
// What may be called (checked at compile time, with a message saying why):
//   * a function pointer (or a function name): travels as a CodeRef;
//   * a captureless lambda, or any empty, default-constructible function
//     object (std::plus<>): its type alone identifies it; nothing travels;
//   * a function object with state that the codec can encode (a class with a
//     cereal `serialize` member, a CodecTraits specialization, or a
//     trivially copyable struct without pointers): its state travels.
//   A lambda WITH captures, std::function, or a pointer to member is refused:
//   captures may be references, which mean nothing in another process.
//
// Arguments are converted to the callable's parameter types (decayed) when
// the callable has one non-template call signature (so apply(f, "abc")
// sends a std::string when f takes a std::string), else they travel as
// their decayed types. They must be Encodable (ipc/codec.h).
#ifndef SHOAL_POOL_INTERNAL_CALLABLE_H_
#define SHOAL_POOL_INTERNAL_CALLABLE_H_

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "shoal/base/errors.h"
#include "shoal/ipc/codec.h"
#include "shoal/ipc/layout.h"
#include "shoal/pool/internal/code_ref.h"

namespace shoal::internal {

// ---------------------------------------------------------------------------
// The worker's view of one task.

class TaskIO {
 public:
  // The encoded payload: [callable part][arguments].
  virtual std::span<const std::byte> input() = 0;
  // Room for exactly `n` bytes of encoded result (inline in the task slot
  // or a shared heap block). A second call replaces the first reservation.
  // Throws SerializationError when `n` can never fit.
  virtual std::span<std::byte> Reserve(std::size_t n) = 0;

 protected:
  ~TaskIO() = default;
};

using InvokeFn = void (*)(TaskIO&);

inline constexpr uint64_t kInvokerMagic = 0x73686f616c2d7631ull;  // shoal-v1

struct InvokerDesc {
  uint64_t magic;
  uint64_t name_hash;
  uint64_t check;  // Fnv(magic, name_hash): garbage rarely passes both
  InvokeFn run;
};
static_assert(std::is_standard_layout_v<InvokerDesc>);

constexpr uint64_t DescCheck(uint64_t name_hash) {
  return Fnv1a64(name_hash, Fnv1a64(kInvokerMagic, kFnvOffset));
}

template <class Inv>
struct DescHolder {
  static constexpr uint64_t kNameHash = Fnv1a64(TypeName<Inv>());
  static constexpr InvokerDesc kValue{kInvokerMagic, kNameHash,
                                      DescCheck(kNameHash), &Inv::Run};
};

// The CodeRef of Inv's descriptor (computed once per instantiation).
template <class Inv>
const CodeRef& InvokerRef() {
  static const CodeRef ref = RefOf(&DescHolder<Inv>::kValue);
  return ref;
}

// The worker side: validates and returns the invoker a ref names. Throws
// CodecError for anything that is not a descriptor. Cached per thread.
InvokeFn ResolveInvoker(const CodeRef& ref);

// ---------------------------------------------------------------------------
// Callable classification.

// Index-based (string_view::find is not a constant expression under
// -fsanitize=undefined with GCC 12).
constexpr bool Contains(std::string_view hay, std::string_view needle) {
  for (std::size_t i = 0; i + needle.size() <= hay.size(); ++i) {
    bool match = true;
    for (std::size_t j = 0; j < needle.size() && match; ++j) {
      match = hay[i + j] == needle[j];
    }
    if (match) return true;
  }
  return false;
}

template <class Fn>
inline constexpr bool kIsLambda = Contains(TypeName<Fn>(), "<lambda");

template <class Fn>
inline constexpr bool kIsFunctionPointer =
    std::is_pointer_v<Fn> && std::is_function_v<std::remove_pointer_t<Fn>>;

template <class Fn>
inline constexpr bool kIsStateless =
    std::is_class_v<Fn> && std::is_empty_v<Fn> &&
    std::is_default_constructible_v<Fn>;

template <class Fn>
inline constexpr bool kIsStateful =
    std::is_class_v<Fn> && !kIsStateless<Fn> && !kIsLambda<Fn> &&
    Encodable<Fn>;

template <class Fn>
inline constexpr bool kSendable =
    kIsFunctionPointer<Fn> || kIsStateless<Fn> || kIsStateful<Fn>;

// Fails compilation with a message that says what to do instead.
template <class Fn>
constexpr void CheckSendable() {
  static_assert(!std::is_member_pointer_v<Fn>,
                "shoal: a pointer to member cannot be sent to a worker; wrap "
                "the call in a free function or a captureless lambda");
  static_assert(!(kIsLambda<Fn> && !kIsStateless<Fn>),
                "shoal: a lambda with captures cannot be sent to another "
                "process (its captures may be references or pointers, which "
                "mean nothing there). Capture nothing and pass the values as "
                "task arguments, or write a function object with a cereal "
                "serialize() member");
  static_assert(kIsLambda<Fn> || kSendable<Fn>,
                "shoal: this callable cannot be sent to a worker. Use a "
                "function pointer, a captureless lambda, or a function "
                "object that is empty or encodable (a serialize() member or "
                "a CodecTraits specialization). std::function cannot travel");
}

// Parameter types of a callable with one non-template call signature.
template <class T>
struct Signature {
  static constexpr bool kKnown = false;
};
template <class R, class... P>
struct Signature<R (*)(P...)> {
  static constexpr bool kKnown = true;
  using Raw = std::tuple<P...>;
};
template <class R, class... P>
struct Signature<R (*)(P...) noexcept> : Signature<R (*)(P...)> {};
#define SHOAL_MEMBER_SIG_(QUAL)                               \
  template <class R, class C, class... P>                     \
  struct Signature<R (C::*)(P...) QUAL> {                     \
    static constexpr bool kKnown = true;                      \
    using Raw = std::tuple<P...>;                             \
  };                                                          \
  template <class R, class C, class... P>                     \
  struct Signature<R (C::*)(P...) QUAL noexcept>              \
      : Signature<R (C::*)(P...) QUAL> {};
SHOAL_MEMBER_SIG_()
SHOAL_MEMBER_SIG_(const)
SHOAL_MEMBER_SIG_(&)
SHOAL_MEMBER_SIG_(const&)
#undef SHOAL_MEMBER_SIG_

template <class Fn>
struct SignatureOf : Signature<Fn> {};
template <class Fn>
  requires std::is_class_v<Fn> && requires { &Fn::operator(); }
struct SignatureOf<Fn> : Signature<decltype(&Fn::operator())> {};

// The raw parameter types to call Fn with, given the caller's argument
// types: the declared parameters when known, else the arguments as lvalues.
template <class Fn, class... Args>
struct RawParamsOf {
  using type = std::tuple<std::decay_t<Args>&...>;
};
template <class Fn, class... Args>
  requires SignatureOf<Fn>::kKnown
struct RawParamsOf<Fn, Args...> {
  using type = typename SignatureOf<Fn>::Raw;
};

// tuple<P...> -> tuple<decay_t<P>...>: what travels.
template <class Raw>
struct Decayed;
template <class... P>
struct Decayed<std::tuple<P...>> {
  using type = std::tuple<std::remove_cvref_t<P>...>;
};

// Calls f with the decoded values, forwarding each as its declared
// parameter type (by value / && -> moved; & and const& -> lvalue).
template <class Raw, class Fn, class Tuple>
decltype(auto) CallWith(Fn& f, Tuple& values) {
  return [&]<std::size_t... I>(std::index_sequence<I...>) -> decltype(auto) {
    return std::invoke(
        f, static_cast<std::tuple_element_t<I, Raw>&&>(std::get<I>(values))...);
  }(std::make_index_sequence<std::tuple_size_v<Raw>>());
}

template <class Raw, class Fn>
struct ResultOfRaw;
template <class... P, class Fn>
struct ResultOfRaw<std::tuple<P...>, Fn> {
  using type = std::remove_cvref_t<std::invoke_result_t<Fn&, P&&...>>;
};

// void results travel as std::monostate inside chunks.
template <class R>
using ValueOf = std::conditional_t<std::is_void_v<R>, std::monostate, R>;

// ---------------------------------------------------------------------------
// The callable part of a payload.

template <class Fn>
std::size_t CallableSize(const Fn& f) {
  if constexpr (kIsFunctionPointer<Fn>) {
    return sizeof(CodeRef);
  } else if constexpr (kIsStateless<Fn>) {
    return 0;
  } else {
    return EncodedSize(f);
  }
}

// Pre-computed form of the callable part: the CodeRef of a function pointer
// is looked up once, when the call is built.
template <class Fn>
struct CallablePart {
  explicit CallablePart(const Fn& f) : fn(f) {
    if constexpr (kIsFunctionPointer<Fn>) {
      ref = RefOf(reinterpret_cast<const void*>(f));
    }
  }
  std::size_t size() const { return CallableSize(fn); }
  void Write(CodecWriter& w) const {
    if constexpr (kIsFunctionPointer<Fn>) {
      w.WriteRaw(ref);
    } else if constexpr (!kIsStateless<Fn>) {
      w.Put(fn);
    }
  }
  const Fn& fn;
  CodeRef ref{};
};

template <class Fn>
Fn DecodeCallable(CodecReader& r) {
  if constexpr (kIsFunctionPointer<Fn>) {
    const CodeRef ref = r.ReadRaw<CodeRef>();
    const void* p = Resolve(ref, CodeKind::kCode);
    return reinterpret_cast<Fn>(const_cast<void*>(p));
  } else if constexpr (kIsStateless<Fn>) {
    return Fn{};
  } else {
    return r.Get<Fn>();
  }
}

template <class Tuple>
Tuple DecodeTuple(CodecReader& r) {
  return [&]<std::size_t... I>(std::index_sequence<I...>) {
    // Braced initialization evaluates left to right.
    return Tuple{r.Get<std::tuple_element_t<I, Tuple>>()...};
  }(std::make_index_sequence<std::tuple_size_v<Tuple>>());
}

// Encodes a result into the task's output, turning any failure into a
// SerializationError that names the type (the task fails, not the pool).
template <class R>
void WriteResult(TaskIO& io, const R& value) {
  try {
    const std::size_t n = EncodedSize(value);
    std::span<std::byte> dst = io.Reserve(n);
    EncodeTo(value, dst);
  } catch (const SerializationError&) {
    throw;
  } catch (const std::exception& e) {
    throw SerializationError("cannot encode the task's result (" +
                             std::string(TypeName<R>()) + "): " + e.what());
  }
}

// ---------------------------------------------------------------------------
// Invokers.

// One call: payload = [callable][P1][P2]...; output = encoded R (nothing for
// void).
template <class Fn, class Raw>
struct ApplyInvoker {
  using Values = typename Decayed<Raw>::type;
  using R = typename ResultOfRaw<Raw, Fn>::type;
  static void Run(TaskIO& io) {
    std::span<const std::byte> in = io.input();
    CodecReader r(in, "task arguments");
    Fn f = DecodeCallable<Fn>(r);
    Values values = DecodeTuple<Values>(r);
    if (r.remaining() != 0) r.Fail("trailing bytes after the arguments");
    if constexpr (std::is_void_v<R>) {
      CallWith<Raw>(f, values);
      io.Reserve(0);
    } else {
      R result = CallWith<Raw>(f, values);
      WriteResult(io, result);
    }
  }
};

// Like ApplyInvoker, but the result is dropped (Process targets and pool
// initializers).
template <class Fn, class Raw>
struct CallInvoker {
  using Values = typename Decayed<Raw>::type;
  static void Run(TaskIO& io) {
    std::span<const std::byte> in = io.input();
    CodecReader r(in, "call arguments");
    Fn f = DecodeCallable<Fn>(r);
    Values values = DecodeTuple<Values>(r);
    if (r.remaining() != 0) r.Fail("trailing bytes after the arguments");
    (void)CallWith<Raw>(f, values);
  }
};

// A chunk of map/imap/starmap: payload = [callable][u64 n][item]*n; output =
// [u64 n][result]*n. Star: each item is a tuple spread over the parameters.
template <class Fn, class Raw, bool kStar>
struct ChunkInvoker {
  // What one item is on the wire.
  using Item = std::conditional_t<
      kStar, typename Decayed<Raw>::type,
      std::remove_cvref_t<std::tuple_element_t<0, Raw>>>;
  using R = typename ResultOfRaw<Raw, Fn>::type;
  using V = ValueOf<R>;

  static V CallOne(Fn& f, Item& item) {
    if constexpr (kStar) {
      if constexpr (std::is_void_v<R>) {
        CallWith<Raw>(f, item);
        return V{};
      } else {
        return CallWith<Raw>(f, item);
      }
    } else {
      using P = std::tuple_element_t<0, Raw>;
      if constexpr (std::is_void_v<R>) {
        std::invoke(f, static_cast<P&&>(item));
        return V{};
      } else {
        return std::invoke(f, static_cast<P&&>(item));
      }
    }
  }

  static void Run(TaskIO& io) {
    std::span<const std::byte> in = io.input();
    CodecReader r(in, "task chunk");
    Fn f = DecodeCallable<Fn>(r);
    constexpr std::size_t kMin = MinSize<Item>();
    const uint64_t n = r.ReadLength(kMin);
    if constexpr (kIsRaw<Item> && kIsRaw<V> &&
                  std::is_default_constructible_v<Item>) {
      // The hot path of map() over numbers: items are read straight from
      // shared memory and results written straight into it, no vectors.
      const std::byte* src = r.Read(n * sizeof(Item));
      if (r.remaining() != 0) r.Fail("trailing bytes after the chunk");
      std::span<std::byte> out = io.Reserve(8 + n * sizeof(V));
      std::memcpy(out.data(), &n, 8);
      std::byte* dst = out.data() + 8;
      for (uint64_t i = 0; i < n; ++i) {
        Item item;
        std::memcpy(static_cast<void*>(&item), src + i * sizeof(Item),
                    sizeof(Item));
        V v = CallOne(f, item);
        std::memcpy(dst + i * sizeof(V), static_cast<const void*>(&v),
                    sizeof(V));
      }
    } else {
      std::vector<V> results;
      results.reserve(n);
      for (uint64_t i = 0; i < n; ++i) {
        Item item = r.Get<Item>();
        results.push_back(CallOne(f, item));
      }
      if (r.remaining() != 0) r.Fail("trailing bytes after the chunk");
      WriteResult(io, results);
    }
  }
};

// ---------------------------------------------------------------------------
// Building calls on the caller's side.

// P from an argument A: a reference to the argument when it already has
// type P, else a converted P (kept alive in the tuple).
template <class P, class A>
using ArgHolder =
    std::conditional_t<std::is_same_v<std::remove_cvref_t<A>, P>, const P&, P>;

template <class Values, class ArgsTuple, class Seq>
struct HeldTuple;
template <class Values, class... Args, std::size_t... I>
struct HeldTuple<Values, std::tuple<Args...>, std::index_sequence<I...>> {
  using type = std::tuple<ArgHolder<std::tuple_element_t<I, Values>, Args>...>;
};

// One call, ready to be written into a task's payload. Holds references to
// the caller's arguments (or converted copies): use it within the call that
// made it.
template <class Fn, class Raw, class Invoker, class... Args>
class BoundCall {
 public:
  using Values = typename Decayed<Raw>::type;
  using Held = typename HeldTuple<Values, std::tuple<Args...>,
                                  std::index_sequence_for<Args...>>::type;

  explicit BoundCall(const Fn& f, Args&&... args)
      : part_(f), held_(std::forward<Args>(args)...) {}

  static const CodeRef& invoker() { return InvokerRef<Invoker>(); }

  std::size_t size() const {
    return part_.size() +
           std::apply(
               [](const auto&... v) {
                 return (std::size_t{0} + ... + EncodedSize(v));
               },
               held_);
  }
  void Write(std::span<std::byte> dst) const {
    CodecWriter w(dst);
    part_.Write(w);
    std::apply([&](const auto&... v) { (w.Put(v), ...); }, held_);
  }

 private:
  CallablePart<Fn> part_;
  Held held_;
};

// Static checks shared by every entry point. Returns nothing; fails to
// compile with a message.
template <class Fn, class Raw, class... Args>
constexpr void CheckCall() {
  CheckSendable<Fn>();
  static_assert(std::tuple_size_v<Raw> == sizeof...(Args),
                "shoal: wrong number of arguments for the callable");
  using Values = typename Decayed<Raw>::type;
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    static_assert((Encodable<std::tuple_element_t<I, Values>> && ...),
                  "shoal: every argument must be Encodable (ipc/codec.h): "
                  "trivially copyable types without pointers, std strings and "
                  "containers, cereal-serializable classes, shoal handles");
  }(std::make_index_sequence<std::tuple_size_v<Values>>());
}

// The chunk side: writes [callable][u64 n][items] from a contiguous span of
// items that already have the wire type, or from any range converting each
// element.
template <class Fn>
class ChunkWriter {
 public:
  explicit ChunkWriter(const Fn& f) : part_(f) {}
  template <class Item>
  std::size_t size(std::span<const Item> items) const {
    return part_.size() + EncodedSize(items);
  }
  template <class Item>
  void Write(std::span<const Item> items, std::span<std::byte> dst) const {
    CodecWriter w(dst);
    part_.Write(w);
    w.Put(items);
  }

 private:
  CallablePart<Fn> part_;
};

}  // namespace shoal::internal

#endif  // SHOAL_POOL_INTERNAL_CALLABLE_H_
