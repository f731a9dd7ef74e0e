#include "shoal/pool/internal/callable.h"

#include <string>

namespace shoal::internal {
namespace {

// A small direct-mapped cache of validated descriptors, per thread: a
// worker resolves the same few invokers over and over.
struct CacheEntry {
  CodeRef ref;
  InvokeFn fn = nullptr;
};
constexpr int kCacheSize = 16;
thread_local CacheEntry t_cache[kCacheSize];

}  // namespace

InvokeFn ResolveInvoker(const CodeRef& ref) {
  CacheEntry& e =
      t_cache[(ref.offset ^ (ref.offset >> 7) ^ ref.module) % kCacheSize];
  if (e.fn != nullptr && e.ref.module == ref.module &&
      e.ref.offset == ref.offset) {
    return e.fn;
  }
  const auto* desc = static_cast<const InvokerDesc*>(
      Resolve(ref, CodeKind::kData, sizeof(InvokerDesc)));
  if (reinterpret_cast<uintptr_t>(desc) % alignof(InvokerDesc) != 0 ||
      desc->magic != kInvokerMagic || desc->check != DescCheck(desc->name_hash) ||
      !IsCodeAddress(reinterpret_cast<const void*>(desc->run))) {
    throw CodecError(
        "the task names something that is not a shoal invoker (offset " +
        std::to_string(ref.offset) + " in " + DescribeModule(ref.module) +
        "): garbage in shared memory, or a different build");
  }
  e.ref = ref;
  e.fn = desc->run;
  return e.fn;
}

}  // namespace shoal::internal
