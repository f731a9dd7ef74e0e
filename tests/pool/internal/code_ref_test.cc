// Tests for pool/internal/code_ref.h.
#include "shoal/pool/internal/code_ref.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "gtest/gtest.h"
#include "shoal/base/errors.h"

namespace {

int Target(int x) { return x + 1; }
const int kConstant = 42;
int g_writable = 1;

TEST(CodeRefTest, RoundTripsCodeAndData) {
  const auto fn = &Target;
  shoal::internal::CodeRef r = shoal::internal::RefOf(reinterpret_cast<const void*>(fn));
  EXPECT_NE(r.module, 0u);
  const void* back = shoal::internal::Resolve(r, shoal::internal::CodeKind::kCode);
  EXPECT_EQ(back, reinterpret_cast<const void*>(fn));
  EXPECT_TRUE(shoal::internal::IsCodeAddress(back));

  shoal::internal::CodeRef d = shoal::internal::RefOf(&kConstant);
  EXPECT_EQ(d.module, r.module);  // same executable
  EXPECT_EQ(shoal::internal::Resolve(d, shoal::internal::CodeKind::kData, sizeof(int)),
            &kConstant);
  // Writable data is never code (read-only data may share the text
  // segment, depending on the linker).
  shoal::internal::CodeRef w = shoal::internal::RefOf(&g_writable);
  EXPECT_THROW(shoal::internal::Resolve(w, shoal::internal::CodeKind::kCode),
               shoal::CodecError);
  EXPECT_FALSE(shoal::internal::IsCodeAddress(&g_writable));
  // A function of a shared library (libc) lives in another module.
  shoal::internal::CodeRef libc =
      shoal::internal::RefOf(reinterpret_cast<const void*>(&::getpid));
  EXPECT_NE(libc.module, r.module);
  EXPECT_EQ(shoal::internal::Resolve(libc, shoal::internal::CodeKind::kCode),
            reinterpret_cast<const void*>(&::getpid));
  EXPECT_NE(shoal::internal::DescribeModule(r.module), "unknown module");
}

TEST(CodeRefTest, RefusesNonModuleAddressesAndGarbage) {
  int on_stack = 0;
  EXPECT_THROW(shoal::internal::RefOf(&on_stack), shoal::SerializationError);
  auto* heap = new int(0);
  EXPECT_THROW(shoal::internal::RefOf(heap), shoal::SerializationError);
  delete heap;
  shoal::internal::CodeRef bad{0x1234, 0x10};
  EXPECT_THROW(shoal::internal::Resolve(bad, shoal::internal::CodeKind::kCode),
               shoal::CodecError);
  shoal::internal::CodeRef far = shoal::internal::RefOf(
      reinterpret_cast<const void*>(&Target));
  far.offset += uint64_t{1} << 40;
  EXPECT_THROW(shoal::internal::Resolve(far, shoal::internal::CodeKind::kCode),
               shoal::CodecError);
}

TEST(CodeRefTest, SameRefAfterExec) {
  // A child that re-executes this binary (as spawn does) finds the same
  // function at the same ref: check the module value is stable across exec
  // by asking a fresh process for it.
  const shoal::internal::CodeRef r = shoal::internal::RefOf(
      reinterpret_cast<const void*>(&Target));
  if (const char* want = std::getenv("CODE_REF_CHILD")) {
    // In the re-executed child: report whether the ref resolves to Target.
    const bool same =
        std::to_string(r.module) + ":" + std::to_string(r.offset) == want;
    _exit(same ? 0 : 1);
  }
  const std::string spec =
      std::to_string(r.module) + ":" + std::to_string(r.offset);
  pid_t pid = fork();
  if (pid == 0) {
    setenv("CODE_REF_CHILD", spec.c_str(), 1);
    char arg0[] = "code_ref_test";
    char arg1[] = "--gtest_filter=CodeRefTest.SameRefAfterExec";
    char* argv[] = {arg0, arg1, nullptr};
    execv("/proc/self/exe", argv);
    _exit(2);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

}  // namespace
