#include "shoal/base/errors.h"

#include <cstring>
#include <string>

namespace shoal {

void ThrowSystemError(std::string_view what, int errno_value) {
  char buf[256];
  // GNU strerror_r returns the message pointer (which may not be buf).
  const char* msg = strerror_r(errno_value, buf, sizeof(buf));
  throw SystemError(std::string(what) + ": " + msg, errno_value);
}

}  // namespace shoal
