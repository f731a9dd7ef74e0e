// Tests for base/internal/code_ref.h.
#include "shoal/base/internal/code_ref.h"

#include <errno.h>
#include <sys/resource.h>
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

// With too few file descriptors left to open /proc/self/maps, the error
// says so (SystemError, EMFILE, naming the file) instead of claiming the
// address is "not inside any loaded module"; and nothing is poisoned: once
// descriptors are back, the same call works.
TEST(CodeRefTest, UnreadableProcMapsIsReportedAsSuch) {
  if (std::getenv("CODE_REF_NOFILE_CHILD") != nullptr) {
    // A fresh process (exec): no module table built yet.
    rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    // RefOf(address) with fds 0-2 only (open() gets EMFILE); returns the
    // SystemError's errno and text, or -1 if something else happened. The
    // limit is restored before the exception is looked at: UBSan's vptr
    // check itself needs a descriptor (a pipe) to probe memory.
    auto ref_with_no_fd_left = [&rl](const void* address, std::string* what) {
      const rlimit tiny{3, rl.rlim_max};
      if (setrlimit(RLIMIT_NOFILE, &tiny) != 0) _exit(10);
      try {
        shoal::internal::RefOf(address);
      } catch (const shoal::SystemError& e) {
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0) _exit(18);
        *what = e.what();
        return e.error_code();
      } catch (...) {
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0) _exit(18);
        return -1;
      }
      if (setrlimit(RLIMIT_NOFILE, &rl) != 0) _exit(18);
      return -1;
    };
    // UBSan's vptr check of an object it has not seen yet probes memory
    // through a pipe(), which cannot be made with no descriptor left: it
    // would report the SystemError below as having an invalid vptr. One
    // SystemError made beforehand puts its type in UBSan's cache.
    try {
      shoal::ThrowSystemError("warm-up", EMFILE);
    } catch (const shoal::SystemError& e) {
      if (e.error_code() != EMFILE) _exit(9);
    }
    const void* fn = reinterpret_cast<const void*>(&Target);
    std::string what;
    // First use: builds the table.
    if (ref_with_no_fd_left(fn, &what) != EMFILE) _exit(12);
    if (what.find("/proc/self/maps") == std::string::npos) _exit(13);
    // A miss forces a rebuild: the same error, nothing was cached.
    int x = 0;
    if (ref_with_no_fd_left(&x, &what) != EMFILE) _exit(16);
    // Descriptors back: the same call works.
    const shoal::internal::CodeRef r = shoal::internal::RefOf(fn);
    if (shoal::internal::Resolve(r, shoal::internal::CodeKind::kCode) != fn) {
      _exit(19);
    }
    _exit(0);
  }
  pid_t pid = fork();
  if (pid == 0) {
    alarm(30);
    setenv("CODE_REF_NOFILE_CHILD", "1", 1);
    char arg0[] = "code_ref_test";
    char arg1[] = "--gtest_filter=CodeRefTest.UnreadableProcMapsIsReportedAsSuch";
    char* argv[] = {arg0, arg1, nullptr};
    execv("/proc/self/exe", argv);
    _exit(2);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

}  // namespace
