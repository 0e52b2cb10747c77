// SPDX-License-Identifier: MIT
/// \file
/// \brief The toggle-switch model's truncated-normal draw, exactly as the paper's code computes it
/// from one uniform.
#pragma once

#include <boost/math/policies/policy.hpp>
#include <boost/math/special_functions/erf.hpp>
#include <cmath>

namespace mlsbi::simulators::toggle_switch {

namespace detail {

/// erf_inv in plain double that returns +-inf (at +-1) or NaN (outside [-1, 1]) instead of
/// throwing: the model maps non-finite outputs to 0, so an overflow must not abort a dataset.
using ErfInvPolicy = boost::math::policies::policy<
    boost::math::policies::overflow_error<boost::math::policies::ignore_error>,
    boost::math::policies::domain_error<boost::math::policies::ignore_error>,
    boost::math::policies::promote_double<false>>;

}  // namespace detail

/// TN(loc, s) from one uniform w in (0, 1), as the paper's code writes it (Hikida et al. 2025,
/// Sec. 5, toggle switch):
/// \f[ x = \mathrm{loc} + s\, \mathrm{erf}^{-1}\big(\Phi_a + w (1 - \Phi_a)\big),\qquad
///     \Phi_a = \mathrm{erf}(-\mathrm{loc} / s). \f]
/// Because erf (not the normal CDF) is inverted, this is a normal of standard deviation
/// \f$ s / \sqrt 2 \f$ (not s) truncated to (0, inf): the same value as
/// `truncated_normal_quantile(w, loc, s / sqrt(2), 0, inf)` up to rounding. It is kept in this
/// form so the model is the one that produced the published numbers. It can return +inf when
/// the argument of erf_inv rounds to 1 (for loc / s far below 0); callers handle non-finite
/// values. \param w uniform level in (0, 1); \param loc location; \param s scale > 0.
[[nodiscard]] inline double paper_truncated_normal(double w, double loc, double s) {
    const double phi_a = std::erf(-loc / s);
    return loc + s * boost::math::erf_inv(phi_a + w * (1.0 - phi_a), detail::ErfInvPolicy());
}

}  // namespace mlsbi::simulators::toggle_switch
