// Copyright 2026 The shoal Authors.
//
// cv_wait.h: a parent-local wait on a std::condition_variable bounded by a
// shoal::Deadline (an infinite one waits without a timeout).
#ifndef SHOAL_POOL_INTERNAL_CV_WAIT_H_
#define SHOAL_POOL_INTERNAL_CV_WAIT_H_

#include <condition_variable>
#include <mutex>

#include "shoal/base/deadline.h"

namespace shoal::internal {

// Waits (lock held) until pred() holds or `deadline` passes; returns pred().
template <class Pred>
bool WaitUntil(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
               const Deadline& deadline, Pred pred) {
  if (deadline.infinite()) {
    cv.wait(lock, pred);
    return true;
  }
  return cv.wait_until(lock, deadline.when(), pred);
}

}  // namespace shoal::internal

#endif  // SHOAL_POOL_INTERNAL_CV_WAIT_H_
