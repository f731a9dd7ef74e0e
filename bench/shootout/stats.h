// Copyright 2026 The shoal Authors.
//
// stats.h: the one place the shoot-out turns a row's samples (one per
// repeat) into the figures it reports: the median, the min..max spread and
// percentiles.
//
// Written by hand, and small, because the shoot-out needs exact order
// statistics of a handful of samples (2-7 repeats, up to 256): the
// statistics libraries at hand estimate quantiles of streams
// (Boost.Accumulators' median and p_square_quantile are P-square
// approximations, wrong by design for 3 samples), and Abseil has none.
//
// Percentile(q) interpolates linearly between the closest ranks (the
// "type 7" definition of R and NumPy's default), so Percentile(0.5) is the
// median (the mean of the two middle samples for an even count),
// Percentile(0) the minimum and Percentile(1) the maximum. Samples that are
// not finite (NaN, infinities) are not measurements and are left out.
#ifndef SHOAL_BENCH_SHOOTOUT_STATS_H_
#define SHOAL_BENCH_SHOOTOUT_STATS_H_

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <vector>

namespace shoal::shootout {

class Samples {
 public:
  explicit Samples(const std::vector<double>& values) {
    sorted_.reserve(values.size());
    for (double v : values) {
      if (std::isfinite(v)) sorted_.push_back(v);
    }
    std::sort(sorted_.begin(), sorted_.end());
  }

  // How many finite samples there are; every figure below is NaN when 0.
  std::size_t size() const { return sorted_.size(); }
  bool empty() const { return sorted_.empty(); }

  // The q-quantile, q in [0, 1] (clamped).
  double Percentile(double q) const {
    if (sorted_.empty()) return std::numeric_limits<double>::quiet_NaN();
    q = std::clamp(q, 0.0, 1.0);
    const double pos = q * static_cast<double>(sorted_.size() - 1);
    const std::size_t lo = static_cast<std::size_t>(std::floor(pos));
    const std::size_t hi = std::min(lo + 1, sorted_.size() - 1);
    const double frac = pos - static_cast<double>(lo);
    return sorted_[lo] + (sorted_[hi] - sorted_[lo]) * frac;
  }
  double Median() const { return Percentile(0.5); }
  double Min() const { return Percentile(0); }
  double Max() const { return Percentile(1); }

 private:
  std::vector<double> sorted_;
};

}  // namespace shoal::shootout

#endif  // SHOAL_BENCH_SHOOTOUT_STATS_H_
