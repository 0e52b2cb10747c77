// SPDX-License-Identifier: MIT
/// \file
/// \brief Negative log posterior density (NLPD) of the true parameters, summarised over test
/// points, with the paper's "-density" variant for comparison.
///
/// NLPD_i = -log q(theta_i | x_i) for test pairs (theta_i, x_i) from the prior and simulator;
/// lower is better, and its mean estimates E[KL(p(theta | x) || q(theta | x))] up to a constant.
/// The multilevel SBI paper's code reported -q(theta_i | x_i) under the name NLPD (it returned
/// the density, not its log); `negative_density_*` gives that number for comparison.
#pragma once

#include <algorithm>
#include <cmath>
#include <vector>

#include "mlsbi/core/errors.hpp"
#include "mlsbi/core/types.hpp"

namespace mlsbi::diagnostics {

/// Summary of NLPD over test points.
struct NlpdSummary {
    Vector<double> per_test;             ///< -log q(theta_i | x_i)
    double mean = 0;                     ///< mean NLPD (+infinity if some q is zero)
    double median = 0;                   ///< median NLPD
    double negative_density_mean = 0;    ///< mean of -q(theta_i | x_i) (the paper's quirk)
    double negative_density_median = 0;  ///< median of -q(theta_i | x_i)
};

namespace detail {
[[nodiscard]] inline double median_of(std::vector<double> v) {
    const std::size_t mid = v.size() / 2;
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(mid), v.end());
    const double upper = v[mid];
    if (v.size() % 2 == 1) return upper;
    return 0.5 *
           (upper + *std::max_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(mid)));
}
}  // namespace detail

/// Summarises NLPD from log q(theta_i | x_i) at the true parameters of N test points.
/// \throws std::invalid_argument if empty or a value is NaN.
[[nodiscard]] inline NlpdSummary nlpd(const ConstVectorRef<double>& log_density_at_truth) {
    const Index n = log_density_at_truth.size();
    require(n >= 1, "nlpd: no test points");
    require(!log_density_at_truth.array().isNaN().any(), "nlpd: NaN log density");
    NlpdSummary out;
    out.per_test = -log_density_at_truth;
    std::vector<double> v(out.per_test.data(), out.per_test.data() + n);
    out.mean = out.per_test.mean();
    out.median = detail::median_of(v);
    for (Index i = 0; i < n; ++i)
        v[static_cast<std::size_t>(i)] = -std::exp(log_density_at_truth(i));
    double s = 0;
    for (double x : v) s += x;
    out.negative_density_mean = s / static_cast<double>(n);
    out.negative_density_median = detail::median_of(v);
    return out;
}

}  // namespace mlsbi::diagnostics
