// SPDX-License-Identifier: MIT
/// \file
/// \brief Truncated normal draws by inversion from exactly one uniform, accurate far in the tails.
#pragma once

#include <algorithm>
#include <boost/math/special_functions/erf.hpp>
#include <cmath>
#include <limits>
#include <numbers>

#include "mlsbi/core/errors.hpp"
#include "mlsbi/rng/normal.hpp"
#include "mlsbi/rng/random_stream.hpp"

namespace mlsbi {

namespace detail {

inline constexpr double log_sqrt_2pi = 0.91893853320467274178;  // log(sqrt(2 pi))

/// log Q(x) with Q(x) = P(Z > x), accurate for any x: erfc while it does not underflow, the
/// asymptotic series phi(x)/x (1 - 1/x^2 + 3/x^4 - 15/x^6 + 105/x^8) beyond x = 30 (relative
/// truncation error < 1e-12 there).
[[nodiscard]] inline double log_normal_sf(double x) {
    if (x < 30.0) return std::log(0.5 * std::erfc(x / std::numbers::sqrt2));
    const double r = 1.0 / (x * x);
    const double series = 1.0 - r * (1.0 - 3.0 * r * (1.0 - 5.0 * r * (1.0 - 7.0 * r)));
    return -0.5 * x * x - std::log(x) - log_sqrt_2pi + std::log(series);
}

/// Standard normal on [a, b] with a >= 35 (upper tail mass below 1e-267, where erfc-based
/// inversion runs out of range): solves log Q(x) = log(Q(a) - u (Q(a) - Q(b))) by Newton. The
/// function is concave and decreasing, so Newton from x = a converges monotonically.
[[nodiscard]] inline double truncated_normal_far_tail(double u, double a, double b) {
    const double log_qa = log_normal_sf(a);
    const double ratio = std::isinf(b) ? 0.0 : std::exp(log_normal_sf(b) - log_qa);
    const double target = log_qa + std::log1p(-u * (1.0 - ratio));
    double x = a;
    for (int iteration = 0; iteration < 100; ++iteration) {
        const double log_q = log_normal_sf(x);
        const double slope = -std::exp(-0.5 * x * x - log_sqrt_2pi - log_q);  // -phi/Q
        const double step = (log_q - target) / slope;
        x -= step;
        if (std::abs(step) <= 1e-15 * x) break;
    }
    return x;
}

}  // namespace detail

/// Quantile of the standard normal truncated to [a, b] at level u: the x in [a, b] with
/// (Phi(x) - Phi(a)) / (Phi(b) - Phi(a)) = u.
///
/// Accurate to a few ulps of the result in both tails: whichever of the lower tail mass
/// Phi(a) + u m and the upper tail mass Q(a) - u m (m the interval's mass) is below 1/2 is
/// inverted with Boost.Math's erfc_inv, and intervals beyond |x| = 35 (mass below 1e-267) are
/// inverted in log space. The result is clamped to [a, b] against rounding.
/// \param u level in [0, 1]; \param a lower bound (may be -infinity); \param b upper bound
///        (may be +infinity), a < b.
/// \throws std::invalid_argument if a >= b, either is NaN, or u is outside [0, 1].
[[nodiscard]] inline double truncated_standard_normal_quantile(double u, double a, double b) {
    require(a < b, "truncated_standard_normal_quantile: need lower < upper, got [", a, ", ", b,
            "]");
    require(u >= 0.0 && u <= 1.0, "truncated_standard_normal_quantile: u must be in [0, 1], got ",
            u);
    constexpr double far = 35.0;
    if (a >= far) return std::clamp(detail::truncated_normal_far_tail(u, a, b), a, b);
    if (b <= -far) return std::clamp(-detail::truncated_normal_far_tail(1.0 - u, -b, -a), a, b);

    const double s = std::numbers::sqrt2;
    const double phi_a = 0.5 * std::erfc(-a / s);  // Phi(a)
    const double phi_b = 0.5 * std::erfc(-b / s);
    const double q_a = 0.5 * std::erfc(a / s);  // Q(a) = 1 - Phi(a), accurate in the upper tail
    const double q_b = 0.5 * std::erfc(b / s);
    double mass = 0.0;  // Phi(b) - Phi(a), computed without cancellation
    if (a >= 0.0)
        mass = q_a - q_b;
    else if (b <= 0.0)
        mass = phi_b - phi_a;
    else
        mass = 0.5 * (std::erf(b / s) - std::erf(a / s));
    // Tail masses anchored at the nearer end so that u near 0 or 1 keeps full relative accuracy.
    const double lower_tail = u <= 0.5 ? phi_a + u * mass : phi_b - (1.0 - u) * mass;
    double x = 0.0;
    if (lower_tail <= 0.5) {
        x = lower_tail <= 0.0 ? a : -s * boost::math::erfc_inv(2.0 * lower_tail);
    } else {
        const double upper_tail = u <= 0.5 ? q_a - u * mass : q_b + (1.0 - u) * mass;
        x = upper_tail <= 0.0 ? b : s * boost::math::erfc_inv(2.0 * upper_tail);
    }
    return std::clamp(x, a, b);
}

/// Quantile of N(mean, sd^2) truncated to [lower, upper] at level u (see
/// truncated_standard_normal_quantile). Bounds may be infinite.
/// \throws std::invalid_argument if sd <= 0 or the bounds are not ordered.
[[nodiscard]] inline double truncated_normal_quantile(double u, double mean, double sd,
                                                      double lower, double upper) {
    require(sd > 0.0 && std::isfinite(sd) && std::isfinite(mean),
            "truncated_normal_quantile: need finite mean and sd > 0, got mean ", mean, ", sd ", sd);
    require(lower < upper, "truncated_normal_quantile: need lower < upper, got [", lower, ", ",
            upper, "]");
    const double x =
        mean + sd * truncated_standard_normal_quantile(u, (lower - mean) / sd, (upper - mean) / sd);
    return std::clamp(x, lower, upper);
}

/// One draw of N(mean, sd^2) truncated to [lower, upper]; consumes exactly one uniform, so a
/// coupled simulator that draws the same truncated normals stays aligned whatever the bounds.
///
/// The toggle-switch model's TN(loc, s) (the toggle-switch experiment of Hikida et al. 2025: loc + s erfinv(Phi_a + w (1 -
/// Phi_a)), Phi_a = erf(-loc / s)) is exactly `truncated_normal(rng, loc, s / sqrt(2), 0,
/// infinity)`: the same uniform w gives the same value.
/// \throws std::invalid_argument as truncated_normal_quantile.
[[nodiscard]] inline double truncated_normal(
    RandomStream& rng, double mean, double sd, double lower,
    double upper = std::numeric_limits<double>::infinity()) {
    return truncated_normal_quantile(rng.uniform(), mean, sd, lower, upper);
}

}  // namespace mlsbi
