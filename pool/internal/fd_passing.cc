#include "shoal/pool/internal/fd_passing.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mutex>
#include <utility>

#include "shoal/base/errors.h"

namespace shoal::internal {
namespace {

thread_local FdCollector* t_current = nullptr;

std::mutex g_mu;
std::vector<int>* g_received = nullptr;

}  // namespace

FdCollector::FdCollector() : previous_(t_current) { t_current = this; }

FdCollector::~FdCollector() {
  t_current = previous_;
  for (int fd : fds_) close(fd);
}

int FdCollector::Add(int fd) {
  const int d = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (d < 0) ThrowSystemError("passing a descriptor to a child: dup", errno);
  fds_.push_back(d);
  originals_.push_back(fd);
  return static_cast<int>(fds_.size() - 1);
}

std::vector<int> FdCollector::Release() {
  originals_.clear();
  return std::exchange(fds_, {});
}

std::vector<int> PreferInherited(std::vector<int> fds,
                                 const std::vector<int>& originals) {
  for (std::size_t i = 0; i < fds.size() && i < originals.size(); ++i) {
    struct stat a, b;
    if (originals[i] >= 0 && fds[i] >= 0 && fstat(originals[i], &a) == 0 &&
        fstat(fds[i], &b) == 0 && a.st_dev == b.st_dev &&
        a.st_ino == b.st_ino) {
      close(fds[i]);
      fds[i] = originals[i];
    }
  }
  return fds;
}

FdCollector* FdCollector::Current() { return t_current; }

void SetReceivedFds(std::vector<int> fds) {
  std::lock_guard<std::mutex> lock(g_mu);
  delete g_received;
  g_received = new std::vector<int>(std::move(fds));
}

int TakeReceivedFd(int index) {
  std::lock_guard<std::mutex> lock(g_mu);
  if (g_received == nullptr || index < 0 ||
      index >= static_cast<int>(g_received->size())) {
    return -1;
  }
  return std::exchange((*g_received)[index], -1);
}

}  // namespace shoal::internal
