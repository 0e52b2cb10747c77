// SPDX-License-Identifier: MIT
/// \file
/// \brief Exact density of the high-fidelity g-and-k by numerical inversion of its quantile
/// function, and x grids for metrics.
///
/// x = Q(z) with z ~ N(0, 1) and Q increasing, so p(x) = phi(z) / Q'(z) at z = Q^{-1}(x):
/// log p(x | theta) = log phi(z) - log Q'(z). The root is bracketed (starting from [-10, 10],
/// doubled until it contains x) and found by safeguarded Newton (a Newton step when it stays
/// inside the bracket, bisection otherwise), to a relative tolerance of a few ulps. The PyTorch
/// reference (`exact_logpdf`: 80 bisections on [-10, 10] plus one Newton step) agrees to rounding
/// wherever its bracket contains the root; outside it the reference saturates, we do not.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>

#include "mlsbi/core/errors.hpp"
#include "mlsbi/core/types.hpp"
#include "mlsbi/rng/normal.hpp"
#include "mlsbi/simulators/gnk/quantile.hpp"

namespace mlsbi::simulators::gnk {

namespace detail {

inline void check_density_theta(const ConstVectorRef<double>& theta, const char* caller) {
    require(theta.size() == 4, caller, ": theta has ", theta.size(),
            " entries, expected 4 (A, B, g, k)");
    require(theta.allFinite() && theta(1) > 0.0 && theta(3) >= 1.0, caller,
            ": needs finite theta with B > 0 and k >= 1 (log k >= 0 keeps Q increasing), got (",
            theta(0), ", ", theta(1), ", ", theta(2), ", ", theta(3), ")");
}

// z with Q(z) = x; `guess` is a starting point (e.g. the previous root on a sorted grid).
// Returns +-infinity when |x| is beyond Q(+-1e8) (density zero in double precision).
inline double invert_quantile(double x, double a, double b, double g, double k, double guess) {
    double lo = -10.0, hi = 10.0;
    while (quantile(lo, a, b, g, k) > x) {
        hi = lo;
        lo *= 2.0;
        if (lo < -1e8) return -std::numeric_limits<double>::infinity();
    }
    while (quantile(hi, a, b, g, k) < x) {
        lo = hi;
        hi *= 2.0;
        if (hi > 1e8) return std::numeric_limits<double>::infinity();
    }
    double z = (guess > lo && guess < hi) ? guess : 0.5 * (lo + hi);
    for (int iteration = 0; iteration < 200; ++iteration) {
        const QuantileValue q = quantile_and_derivative(z, a, b, g, k);
        const double residual = q.value - x;
        if (residual == 0.0) return z;
        if (residual < 0.0)
            lo = z;
        else
            hi = z;
        double next = z - residual / q.derivative;
        if (!(next > lo && next < hi)) next = 0.5 * (lo + hi);  // Newton left the bracket
        const double step = next - z;
        z = next;
        if (std::abs(step) <= 4.0 * std::numeric_limits<double>::epsilon() * (1.0 + std::abs(z)) ||
            hi - lo <= 4.0 * std::numeric_limits<double>::epsilon() * (1.0 + std::abs(z)))
            break;
    }
    return z;
}

inline double log_density_at_root(double z, double a, double b, double g, double k) {
    if (std::isinf(z)) return -std::numeric_limits<double>::infinity();
    const QuantileValue q = quantile_and_derivative(z, a, b, g, k);
    return -0.5 * z * z - 0.5 * std::log(2.0 * std::numbers::pi) - std::log(q.derivative);
}

}  // namespace detail

/// Q^{-1}(x): the z with Q(z; theta) = x (+-infinity beyond Q(+-1e8)).
/// \throws std::invalid_argument unless theta = (A, B, g, k) is finite with B > 0, k >= 1, or if
///         x is NaN.
[[nodiscard]] inline double invert_quantile(double x, const ConstVectorRef<double>& theta) {
    detail::check_density_theta(theta, "gnk::invert_quantile");
    require(!std::isnan(x), "gnk::invert_quantile: x is NaN");
    return detail::invert_quantile(x, theta(0), theta(1), theta(2), theta(3), 0.0);
}

/// log p(x_i | theta) of the high-fidelity g-and-k for every entry of x (any order; a sorted grid
/// converges fastest, each root starting from the previous one).
/// \param x G points; \param theta (A, B, g, k); \param out G-vector of log densities
///        (-infinity for |x| beyond Q(+-1e8) and for x = +-infinity).
/// \throws std::invalid_argument for a bad theta (finite, B > 0, k >= 1), a NaN x, or a size
///         mismatch. Evaluate the prior first in MCMC: k < 1 is outside the prior's support.
inline void exact_log_density(const ConstVectorRef<double>& x, const ConstVectorRef<double>& theta,
                              VectorRef<double> out) {
    detail::check_density_theta(theta, "gnk::exact_log_density");
    require(out.size() == x.size(), "gnk::exact_log_density: out has ", out.size(), " entries for ",
            x.size(), " points");
    const double a = theta(0), b = theta(1), g = theta(2), k = theta(3);
    double guess = 0.0;
    for (Index i = 0; i < x.size(); ++i) {
        require(!std::isnan(x(i)), "gnk::exact_log_density: x(", i, ") is NaN");
        const double z = detail::invert_quantile(x(i), a, b, g, k, guess);
        out(i) = detail::log_density_at_root(z, a, b, g, k);
        if (std::isfinite(z)) guess = z;
    }
}

/// log p(x_i | theta) as a new vector (see the overload above).
[[nodiscard]] inline Vector<double> exact_log_density(const ConstVectorRef<double>& x,
                                                      const ConstVectorRef<double>& theta) {
    Vector<double> out(x.size());
    exact_log_density(x, theta, out);
    return out;
}

/// log p(x | theta) at one point.
[[nodiscard]] inline double exact_log_density(double x, const ConstVectorRef<double>& theta) {
    detail::check_density_theta(theta, "gnk::exact_log_density");
    require(!std::isnan(x), "gnk::exact_log_density: x is NaN");
    const double a = theta(0), b = theta(1), g = theta(2), k = theta(3);
    return detail::log_density_at_root(detail::invert_quantile(x, a, b, g, k, 0.0), a, b, g, k);
}

/// sum_j log p(x_j | theta) for m iid observations (the exact log-likelihood for MCMC).
/// \throws as exact_log_density.
[[nodiscard]] inline double exact_log_likelihood(const ConstVectorRef<double>& x_obs,
                                                 const ConstVectorRef<double>& theta) {
    detail::check_density_theta(theta, "gnk::exact_log_likelihood");
    const double a = theta(0), b = theta(1), g = theta(2), k = theta(3);
    double total = 0.0, guess = 0.0;
    for (Index i = 0; i < x_obs.size(); ++i) {
        require(!std::isnan(x_obs(i)), "gnk::exact_log_likelihood: x_obs(", i, ") is NaN");
        const double z = detail::invert_quantile(x_obs(i), a, b, g, k, guess);
        total += detail::log_density_at_root(z, a, b, g, k);
        if (std::isfinite(z)) guess = z;
    }
    return total;
}

/// `points` equally spaced x values from Q(Phi^{-1}(u_low)) to Q(Phi^{-1}(u_high)): the grid of
/// the forward-KL metric (defaults: the 0.001 and 0.999 quantiles, 4001 points, as in the PyTorch
/// reference's `quantile_grid`).
/// \throws std::invalid_argument for a bad theta, 0 < u_low < u_high < 1 violated, or points < 2.
[[nodiscard]] inline Vector<double> quantile_grid(const ConstVectorRef<double>& theta,
                                                  double u_low = 1e-3, double u_high = 1.0 - 1e-3,
                                                  Index points = 4001) {
    detail::check_density_theta(theta, "gnk::quantile_grid");
    require(u_low > 0.0 && u_low < u_high && u_high < 1.0,
            "gnk::quantile_grid: need 0 < u_low < u_high < 1, got ", u_low, ", ", u_high);
    require(points >= 2, "gnk::quantile_grid: points must be >= 2, got ", points);
    const double x_low = quantile(normal_quantile(u_low), theta);
    const double x_high = quantile(normal_quantile(u_high), theta);
    return Vector<double>::LinSpaced(points, x_low, x_high);
}

}  // namespace mlsbi::simulators::gnk
