#include "shoal/pool/internal/pool_state.h"

#include <string.h>

#include "shoal/base/errors.h"

namespace shoal::internal {

bool PoolState::Close() {
  int expected = kRunning;
  return phase_.compare_exchange_strong(expected, kClosing);
}

bool PoolState::FinishClosing() {
  int expected = kClosing;
  return phase_.compare_exchange_strong(expected, kClosed);
}

bool PoolState::Terminate() { return phase_.exchange(kTerminating) != kTerminating; }

bool PoolState::Break(const std::string& reason,
                      std::optional<ErrorRecord> cause) {
  std::lock_guard<std::mutex> lock(mu_);
  if (broken_.load()) return false;
  reason_ = reason;
  cause_ = std::move(cause);
  broken_.store(true, std::memory_order_seq_cst);
  return true;
}

std::exception_ptr PoolState::BrokenError() const {
  std::lock_guard<std::mutex> lock(mu_);
  const std::string msg = "the pool is broken: " + reason_;
  if (!cause_) return std::make_exception_ptr(BrokenPool(msg));
  try {
    std::rethrow_exception(ToExceptionPtr(*cause_));
  } catch (...) {
    try {
      std::throw_with_nested(BrokenPool(msg));
    } catch (...) {
      return std::current_exception();
    }
  }
}

void PoolState::CheckAccepting(bool continuation) const {
  if (broken()) std::rethrow_exception(BrokenError());
  if (!accepts(continuation)) throw ValueError("Pool not running");
}

std::string DescribeExit(pid_t pid, const ExitStatus& status) {
  std::string s = "worker pid " + std::to_string(pid);
  if (status.signal > 0) {
    const char* abbrev = sigabbrev_np(status.signal);
    return s + " was killed by " +
           (abbrev != nullptr ? std::string("SIG") + abbrev
                              : "signal " + std::to_string(status.signal));
  }
  if (status.exit_code >= 0) {
    return s + " exited with code " + std::to_string(status.exit_code);
  }
  return s + " exited (status unknown)";
}

}  // namespace shoal::internal
