// Copyright 2026 The shoal Authors.
//
// fd_passing.h: file descriptors that travel with a Process's arguments.
//
// A Connection passed to a child must arrive as a descriptor, not as bytes.
// While Process encodes its arguments, an FdCollector is active on the
// thread: CodecTraits<Connection>::Encode dup()s the descriptor into it and
// writes only its index. The child learns where those descriptors landed
// (the same numbers after fork(); 4, 5, ... after spawn) through
// SetReceivedFds before it decodes, and Decode takes ownership of them.
// Outside a Process start, encoding a Connection throws SerializationError
// (a descriptor number means nothing inside a queue or a pool task).
#ifndef SHOAL_POOL_INTERNAL_FD_PASSING_H_
#define SHOAL_POOL_INTERNAL_FD_PASSING_H_

#include <vector>

namespace shoal::internal {

class FdCollector {
 public:
  FdCollector();
  ~FdCollector();
  FdCollector(const FdCollector&) = delete;
  FdCollector& operator=(const FdCollector&) = delete;

  // Dups `fd` (CLOEXEC) and returns its index. Throws SystemError.
  int Add(int fd);
  // The collected descriptors (owned by the collector until Release()).
  const std::vector<int>& fds() const { return fds_; }
  // The caller's descriptors they duplicate, index for index. A fork()ed
  // child uses these (it inherited them) when they are still the same open
  // file, so that closing a passed Connection in the child closes the
  // child's only copy, as in Python.
  const std::vector<int>& originals() const { return originals_; }
  std::vector<int> Release();

  // The collector active on this thread, or nullptr.
  static FdCollector* Current();

 private:
  std::vector<int> fds_;
  std::vector<int> originals_;
  FdCollector* previous_;
};

// Child side.
void SetReceivedFds(std::vector<int> fds);
// fork() child: where originals[i] is still the open file fds[i] duplicates,
// use it and close the duplicate. Returns the descriptors to receive.
std::vector<int> PreferInherited(std::vector<int> fds,
                                 const std::vector<int>& originals);
// The descriptor for `index`, handed over once (-1 if unknown or taken).
int TakeReceivedFd(int index);

}  // namespace shoal::internal

#endif  // SHOAL_POOL_INTERNAL_FD_PASSING_H_
