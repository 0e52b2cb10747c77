// SPDX-License-Identifier: MIT
/// \file
/// \brief The g-and-k quantile function Q(z; A, B, g, k), its z-derivative, and the two fidelities'
/// z(u).
#pragma once

#include <cmath>
#include <numbers>

#include "mlsbi/core/errors.hpp"
#include "mlsbi/core/types.hpp"
#include "mlsbi/rng/normal.hpp"

namespace mlsbi::simulators::gnk {

/// The g-and-k constant c = 0.8.
inline constexpr double skew_constant = 0.8;

/// Q(z) = A + B (1 + c (1 - e^{-g z}) / (1 + e^{-g z})) (1 + z^2)^{log k} z with c = 0.8
/// (the g-and-k experiment of Hikida et al. 2025). Evaluated as tanh(g z / 2), which equals the exponential ratio but
/// cannot overflow for large |g z|.
[[nodiscard]] inline double quantile(double z, double a, double b, double g, double k) {
    const double skew = std::tanh(0.5 * g * z);
    return a + b * (1.0 + skew_constant * skew) * std::exp(std::log(k) * std::log1p(z * z)) * z;
}

/// Q(z) with theta = (A, B, g, k) as a 4-vector.
[[nodiscard]] inline double quantile(double z, const ConstVectorRef<double>& theta) {
    return quantile(z, theta(0), theta(1), theta(2), theta(3));
}

/// Q(z) and dQ/dz = B b (c a' z + (1 + c a)(1 + 2 kappa z^2 / (1 + z^2))), with a = tanh(g z / 2),
/// a' = (g / 2)(1 - a^2), b = (1 + z^2)^kappa, kappa = log k.
struct QuantileValue {
    double value = 0;       ///< Q(z)
    double derivative = 0;  ///< Q'(z)
};

/// Q and Q' at z (see QuantileValue).
[[nodiscard]] inline QuantileValue quantile_and_derivative(double z, double a, double b, double g,
                                                           double k) {
    const double kappa = std::log(k);
    const double skew = std::tanh(0.5 * g * z);
    const double skew_slope = 0.5 * g * (1.0 - skew * skew);
    const double s = 1.0 + z * z;
    const double power = std::exp(kappa * std::log1p(z * z));
    const double factor = 1.0 + skew_constant * skew;
    return {
        a + b * factor * power * z,
        b * power * (skew_constant * skew_slope * z + factor * (1.0 + 2.0 * kappa * z * z / s))};
}

/// High fidelity: z = sqrt(2) erfinv(2u - 1) = Phi^{-1}(u), the exact normal quantile.
[[nodiscard]] inline double z_high(double u) { return normal_quantile(u); }

/// Low fidelity: z = sqrt(2) (pi / 2)(v + (pi / 12) v^3), v = 2u - 1: the first two terms of the
/// series of erfinv, kept exactly as published (it is bounded, |z| <= 2.85).
[[nodiscard]] inline double z_low(double u) {
    const double v = 2.0 * u - 1.0;
    return std::numbers::sqrt2 * (std::numbers::pi / 2.0) *
           (v + (std::numbers::pi / 12.0) * v * v * v);
}

}  // namespace mlsbi::simulators::gnk
