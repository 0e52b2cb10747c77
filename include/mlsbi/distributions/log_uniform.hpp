// SPDX-License-Identifier: MIT
/// \file
/// \brief One-dimensional log-uniform prior on [low, high] (log theta uniform), for scale
/// parameters.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>

#include "mlsbi/core/errors.hpp"
#include "mlsbi/core/types.hpp"
#include "mlsbi/rng/random_stream.hpp"

namespace mlsbi::distributions {

/// Log-uniform ("reciprocal") distribution on [low, high], 0 < low < high; satisfies Prior with
/// p = 1. Density 1 / (theta log(high / low)); sampling consumes one uniform,
/// theta = exp(log low + u log(high / low)). Combine with IndependentProduct for several.
class LogUniform {
public:
    /// \throws std::invalid_argument unless 0 < low < high < infinity.
    LogUniform(double low, double high) : m_low(low), m_high(high) {
        require(low > 0.0 && low < high && std::isfinite(high),
                "LogUniform: need 0 < low < high < infinity, got [", low, ", ", high, "]");
        m_log_low = std::log(low);
        m_log_ratio = std::log(high) - m_log_low;
    }

    [[nodiscard]] Index dim() const { return 1; }
    [[nodiscard]] double low() const { return m_low; }
    [[nodiscard]] double high() const { return m_high; }
    /// Uniforms consumed per draw: 1.
    [[nodiscard]] Index uniforms_per_sample() const { return 1; }

    /// One draw into the 1-vector `theta`. \throws std::invalid_argument on a size mismatch.
    void sample(RandomStream& rng, VectorRef<double> theta) const {
        require(theta.size() == 1, "LogUniform::sample: theta has ", theta.size(),
                " entries, expected 1");
        theta(0) = std::clamp(std::exp(m_log_low + m_log_ratio * rng.uniform()), m_low, m_high);
    }

    /// -log(theta) - log(log(high / low)) on [low, high], -infinity outside.
    [[nodiscard]] double log_density(const ConstVectorRef<double>& theta) const {
        return in_support(theta) ? -std::log(theta(0)) - std::log(m_log_ratio)
                                 : -std::numeric_limits<double>::infinity();
    }

    /// low <= theta <= high (false for NaN). \throws on a size mismatch.
    [[nodiscard]] bool in_support(const ConstVectorRef<double>& theta) const {
        require(theta.size() == 1, "LogUniform: theta has ", theta.size(), " entries, expected 1");
        return theta(0) >= m_low && theta(0) <= m_high;
    }

private:
    double m_low;
    double m_high;
    double m_log_low = 0.0;
    double m_log_ratio = 0.0;
};

}  // namespace mlsbi::distributions
