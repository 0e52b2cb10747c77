// SPDX-License-Identifier: MIT
/// \file
/// \brief Standard normal quantile and normal draws that consume exactly one uniform each.
#pragma once

#include <boost/math/special_functions/erf.hpp>
#include <cmath>
#include <numbers>

#include "mlsbi/rng/random_stream.hpp"

namespace mlsbi {

/// Standard normal quantile Phi^{-1}(u) for u in (0, 1), accurate to double precision in both
/// tails (Boost.Math's erfc_inv: -sqrt(2) erfc^{-1}(2u)).
[[nodiscard]] inline double normal_quantile(double u) {
    return -std::numbers::sqrt2 * boost::math::erfc_inv(2.0 * u);
}

/// Standard normal cumulative distribution function.
[[nodiscard]] inline double normal_cdf(double z) {
    return 0.5 * std::erfc(-z / std::numbers::sqrt2);
}

/// One N(0, 1) draw by inversion; consumes exactly one uniform, so two simulators fed the same
/// stream stay aligned draw for draw (the coupling invariant of multilevel simulators).
[[nodiscard]] inline double standard_normal(RandomStream& rng) {
    return normal_quantile(rng.uniform());
}

}  // namespace mlsbi
