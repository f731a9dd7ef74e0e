// Tests for pool/internal/callable.h: invokers, validation of descriptors.
#include "shoal/pool/internal/callable.h"

#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "shoal/base/errors.h"

namespace {

using namespace shoal::internal;

class BufferIO final : public TaskIO {
 public:
  explicit BufferIO(std::string in) : in_(std::move(in)) {}
  std::span<const std::byte> input() override {
    return std::as_bytes(std::span<const char>(in_));
  }
  std::span<std::byte> Reserve(std::size_t n) override {
    out_.assign(n, '\0');
    return std::as_writable_bytes(std::span<char>(out_));
  }
  std::string in_, out_;
};

std::string Join(const std::string& a, int b) { return a + std::to_string(b); }

template <class F, class... Args>
std::string Payload(F f, Args&&... args) {
  using Fn = std::decay_t<F>;
  using Raw = typename RawParamsOf<Fn, Args...>::type;
  CheckCall<Fn, Raw, Args...>();
  BoundCall<Fn, Raw, ApplyInvoker<Fn, Raw>, Args...> call(f, std::forward<Args>(args)...);
  std::string s(call.size(), '\0');
  call.Write(std::as_writable_bytes(std::span<char>(s)));
  return s;
}

TEST(CallableTest, ClassifiesCallables) {
  auto captureless = [](int x) { return x; };
  int y = 0;
  auto capturing = [y](int x) { return x + y; };
  static_assert(kIsLambda<decltype(captureless)>);
  static_assert(kIsStateless<decltype(captureless)>);
  static_assert(kSendable<decltype(captureless)>);
  static_assert(!kSendable<decltype(capturing)>);
  static_assert(kIsFunctionPointer<decltype(&Join)>);
  static_assert(kSendable<std::plus<>>);
  static_assert(!kSendable<std::function<int(int)>>);
  static_assert(SignatureOf<decltype(&Join)>::kKnown);
  static_assert(!SignatureOf<decltype([](auto x) { return x; })>::kKnown);
  (void)y;
}

TEST(CallableTest, ApplyInvokerRunsThroughItsDescriptor) {
  using Fn = decltype(&Join);
  using Raw = SignatureOf<Fn>::Raw;
  BufferIO io(Payload(&Join, "n=", 5));  // const char* -> std::string
  InvokeFn fn = ResolveInvoker(InvokerRef<ApplyInvoker<Fn, Raw>>());
  fn(io);
  EXPECT_EQ(shoal::Decode<std::string>(io.out_), "n=5");
  // Truncated arguments: CodecError, nothing called with garbage.
  BufferIO cut(io.in_.substr(0, io.in_.size() - 2));
  EXPECT_THROW(fn(cut), shoal::CodecError);
}

TEST(CallableTest, ChunkInvoker) {
  auto sq = [](int x) { return x * x; };
  using Fn = decltype(sq);
  using Inv = ChunkInvoker<Fn, std::tuple<int>, false>;
  std::vector<int> items{1, 2, 3};
  ChunkWriter<Fn> w(sq);
  std::string s(w.size(std::span<const int>(items)), '\0');
  w.Write(std::span<const int>(items), std::as_writable_bytes(std::span<char>(s)));
  BufferIO io(s);
  ResolveInvoker(InvokerRef<Inv>())(io);
  EXPECT_EQ(shoal::Decode<std::vector<int>>(io.out_), (std::vector<int>{1, 4, 9}));
}

const InvokerDesc kNotADescriptorButData{1, 2, 3, nullptr};
const uint64_t kJustANumber = 99;

TEST(CallableTest, ResolveInvokerRejectsAnythingButADescriptor) {
  EXPECT_THROW(ResolveInvoker(RefOf(&kJustANumber)), shoal::CodecError);
  EXPECT_THROW(ResolveInvoker(RefOf(&kNotADescriptorButData)), shoal::CodecError);
  CodeRef r = InvokerRef<ApplyInvoker<decltype(&Join), SignatureOf<decltype(&Join)>::Raw>>();
  r.offset += 8;  // inside the descriptor, not at it
  EXPECT_THROW(ResolveInvoker(r), shoal::CodecError);
  r.module ^= 1;
  EXPECT_THROW(ResolveInvoker(r), shoal::CodecError);
}

}  // namespace
