// SPDX-License-Identifier: MIT
/// \file
/// \brief The exact likelihood of the Euler-Maruyama Ornstein-Uhlenbeck recursion observed at a
/// subset of its steps (a Gaussian AR(1) chain), for reference posteriors by MCMC.
#pragma once

#include <cmath>
#include <limits>
#include <numbers>
#include <vector>

#include "mlsbi/core/errors.hpp"
#include "mlsbi/core/types.hpp"
#include "mlsbi/simulators/ou/simulator.hpp"

namespace mlsbi::simulators::ou {

/// log p(x_{t_1}, ..., x_{t_K} | theta) of EulerLevel's output observed at the output indices
/// t_1 < ... < t_K (index j is step j + 1, x_{j+1}).
///
/// The recursion is the AR(1) chain x_{i+1} = a x_i + b + s eps_i with a = 1 - gamma dt,
/// b = gamma mu dt, s = sigma sqrt(dt), so k steps from x_m give
///   x_{m+k} | x_m ~ N(a^k x_m + b (1 - a^k) / (1 - a), s^2 (1 - a^{2k}) / (1 - a^2)),
/// (the sums of the geometric series; k s^2 and m + k b when a = 1), and by the Markov property
/// the likelihood is the product of these transitions from x_0. With all indices 0..N-1 it is the
/// full-path likelihood. Returns -infinity when gamma or sigma is not positive.
/// \param indices sorted, distinct output indices in [0, steps); \param values x at them.
/// \throws std::invalid_argument on mismatched sizes, unsorted or out-of-range indices, or a
///         theta of the wrong size.
[[nodiscard]] inline double euler_log_likelihood(const std::vector<Index>& indices,
                                                 const ConstVectorRef<double>& values,
                                                 const ConstVectorRef<double>& theta,
                                                 const Settings& settings = {}) {
    require(values.size() == static_cast<Index>(indices.size()), "ou::euler_log_likelihood: ",
            values.size(), " values for ", indices.size(), " indices");
    require(theta.size() == settings.parameter_dim(), "ou::euler_log_likelihood: theta has ",
            theta.size(), " entries, expected ", settings.parameter_dim());
    const double gamma = theta(0), mu = theta(1), sigma = theta(2);
    if (!(gamma > 0) || !(sigma > 0)) return -std::numeric_limits<double>::infinity();
    const double a = 1 - gamma * settings.dt, b = gamma * mu * settings.dt;
    const double s2 = sigma * sigma * settings.dt;
    double previous_value = settings.infer_x0 ? theta(3) : settings.x0;
    Index previous_step = 0;
    double log_p = 0;
    for (std::size_t j = 0; j < indices.size(); ++j) {
        const Index step = indices[j] + 1;
        require(step > previous_step && step <= settings.steps,
                "ou::euler_log_likelihood: indices must be sorted, distinct and in [0, ",
                settings.steps, "), got ", indices[j], " at position ", j);
        const auto k = static_cast<double>(step - previous_step);
        const double ak = std::pow(a, k);
        const double geometric = std::abs(1 - a) < 1e-12 ? k : (1 - ak) / (1 - a);
        const double geometric2 =
            std::abs(1 - a * a) < 1e-12 ? k : (1 - ak * ak) / (1 - a * a);
        const double mean = ak * previous_value + b * geometric;
        const double variance = s2 * geometric2;
        const double r = values(static_cast<Index>(j)) - mean;
        log_p += -0.5 * (r * r / variance + std::log(2 * std::numbers::pi * variance));
        previous_value = values(static_cast<Index>(j));
        previous_step = step;
    }
    return log_p;
}

}  // namespace mlsbi::simulators::ou
