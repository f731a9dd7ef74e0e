#include <sys/mman.h>
#include <fcntl.h>
#include <unistd.h>
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "boost/interprocess/managed_external_buffer.hpp"
#include "cereal/archives/binary.hpp"
#include "gtest/gtest.h"
TEST(Smoke, Works) {
  absl::Status s = absl::NotFoundError(absl::StrCat("x", 1));
  EXPECT_EQ(s.message(), "x1");
  int fd = shm_open("/shoal_smoke_test", O_CREAT|O_RDWR, 0600);
  ASSERT_GE(fd, 0) << errno;
  close(fd); shm_unlink("/shoal_smoke_test");
}
