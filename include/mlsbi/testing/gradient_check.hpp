// SPDX-License-Identifier: MIT
/// \file
/// \brief Finite-difference gradient checker for any function of a flat vector (ships for users).
#pragma once

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <string>

#include "mlsbi/core/errors.hpp"
#include "mlsbi/rng/random_stream.hpp"

namespace mlsbi::testing {

/// Options of check_gradient. Zero step or tolerance means "the default for Scalar":
/// step 1e-6 / 2e-3 and tolerance 1e-5 / 3e-2 for double / float (central differences have
/// O(h^2) truncation and O(eps/h) rounding error). The tolerance bounds the relative error
/// defined at check_gradient, so float checks cannot see gradient errors below about 3%.
struct GradientCheckOptions {
    int directions = 10;         ///< random unit directions (plus each of the first coordinates)
    int coordinate_checks = 5;   ///< coordinate directions e_i also checked (first few entries)
    double step = 0;             ///< central-difference step h
    double tolerance = 0;        ///< relative tolerance on the directional derivative
    std::uint64_t seed = 12345;  ///< seed of the random directions

    void validate() const {
        require(directions >= 0, "GradientCheckOptions: directions must be >= 0");
        require(coordinate_checks >= 0, "GradientCheckOptions: coordinate_checks must be >= 0");
        require(step >= 0 && tolerance >= 0, "GradientCheckOptions: step and tolerance must be >= 0");
    }
};

/// Outcome of check_gradient: the worst relative error over all directions checked.
struct GradientCheckResult {
    bool passed = true;
    double worst_error = 0;      ///< max over directions of the relative error (see below)
    double worst_numeric = 0;    ///< finite-difference directional derivative at the worst one
    double worst_analytic = 0;   ///< analytic directional derivative at the worst one
    int worst_direction = -1;    ///< index of the worst direction (coordinates first)
    int checked = 0;

    [[nodiscard]] std::string report() const {
        return message("gradient check ", passed ? "passed" : "FAILED", ": ", checked,
                       " directions, worst relative error ", worst_error, " (numeric ",
                       worst_numeric, ", analytic ", worst_analytic, ", direction ",
                       worst_direction, ")");
    }
};

/// Compares `gradient` (the claimed gradient of `value` at x) with central differences of
/// `value` along random unit directions and along the first coordinate axes.
///
/// \tparam Scalar float or double: the precision `value` is evaluated in.
/// \param value callable `double(const Vector<Scalar>&)`; must be deterministic.
/// \param x the point; \param gradient the analytic gradient at x (same size).
/// The error of a direction v is |D_fd - g.v| / max(0.1 scale, |D_fd|, |g.v|), where D_fd is the
/// central difference (f(x + h v) - f(x - h v)) / 2h and scale the largest |g.v| or |D_fd| over
/// all directions checked, so that tiny components are judged against the gradient's magnitude.
/// The check passes when the worst error is finite and <= the tolerance (a NaN fails).
template <typename Scalar, typename Value>
GradientCheckResult check_gradient(Value&& value, const Vector<Scalar>& x,
                                   const Vector<Scalar>& gradient,
                                   const GradientCheckOptions& options = {}) {
    options.validate();
    require(gradient.size() == x.size(), "check_gradient: gradient has size ", gradient.size(),
            ", point has size ", x.size());
    constexpr bool is_double = std::is_same_v<Scalar, double>;
    const double h = options.step > 0 ? options.step : (is_double ? 1e-6 : 2e-3);
    const double tol = options.tolerance > 0 ? options.tolerance : (is_double ? 1e-5 : 3e-2);

    RandomStream rng(options.seed);
    const Index n = x.size();
    const int coords = static_cast<int>(std::min<Index>(options.coordinate_checks, n));
    const int total = coords + options.directions;

    std::vector<double> numeric(static_cast<std::size_t>(total));
    std::vector<double> analytic(static_cast<std::size_t>(total));
    Vector<Scalar> direction(n);
    Vector<Scalar> shifted(n);
    for (int d = 0; d < total; ++d) {
        if (d < coords) {
            direction.setZero();
            direction(d) = Scalar(1);
        } else {
            for (Index i = 0; i < n; ++i) direction(i) = static_cast<Scalar>(rng.uniform(-1, 1));
            const Scalar norm = direction.norm();
            if (norm > Scalar(0)) direction /= norm;
        }
        shifted = x + static_cast<Scalar>(h) * direction;
        const double plus = value(shifted);
        shifted = x - static_cast<Scalar>(h) * direction;
        const double minus = value(shifted);
        numeric[static_cast<std::size_t>(d)] = (plus - minus) / (2 * h);
        analytic[static_cast<std::size_t>(d)] =
            static_cast<double>(gradient.template cast<double>().dot(direction.template cast<double>()));
    }
    double scale = std::numeric_limits<double>::min();
    for (double a : analytic) scale = std::max(scale, std::abs(a));
    for (double a : numeric) scale = std::max(scale, std::abs(a));

    GradientCheckResult result;
    result.checked = total;
    for (int d = 0; d < total; ++d) {
        const double fd = numeric[static_cast<std::size_t>(d)];
        const double an = analytic[static_cast<std::size_t>(d)];
        double err = std::abs(fd - an) / std::max({scale * 1e-1, std::abs(fd), std::abs(an)});
        if (std::isnan(err)) err = std::numeric_limits<double>::infinity();
        if (d == 0 || err > result.worst_error) {
            result.worst_error = err;
            result.worst_numeric = fd;
            result.worst_analytic = an;
            result.worst_direction = d;
        }
    }
    result.passed = std::isfinite(result.worst_error) && result.worst_error <= tol;
    return result;
}

}  // namespace mlsbi::testing
