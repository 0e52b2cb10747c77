// SPDX-License-Identifier: MIT
/// \file
/// \brief Uniform prior on an axis-aligned box [low_1, high_1] x ... x [low_p, high_p].
#pragma once

#include <cmath>
#include <initializer_list>
#include <limits>
#include <utility>

#include "mlsbi/core/errors.hpp"
#include "mlsbi/core/types.hpp"
#include "mlsbi/rng/random_stream.hpp"

namespace mlsbi::distributions {

/// Uniform distribution on a box; satisfies Prior.
///
/// Sampling consumes exactly p uniforms, theta_i = low_i + (high_i - low_i) u_i in coordinate
/// order. The density is 1 / prod_i (high_i - low_i) on the closed box.
class BoxUniform {
public:
    /// \param low, high p-vectors of finite bounds with low_i < high_i, p >= 1.
    /// \throws std::invalid_argument naming the first bad coordinate.
    BoxUniform(Vector<double> low, Vector<double> high)
        : m_low(std::move(low)), m_high(std::move(high)) {
        require(m_low.size() >= 1, "BoxUniform: dimension must be >= 1");
        require(m_low.size() == m_high.size(), "BoxUniform: low has ", m_low.size(),
                " entries but high has ", m_high.size());
        double log_volume = 0.0;
        for (Index i = 0; i < m_low.size(); ++i) {
            require(std::isfinite(m_low(i)) && std::isfinite(m_high(i)) && m_low(i) < m_high(i),
                    "BoxUniform: coordinate ", i, " needs finite low < high, got [", m_low(i), ", ",
                    m_high(i), "]");
            log_volume += std::log(m_high(i) - m_low(i));
        }
        m_log_density = -log_volume;
    }

    /// Convenience: `BoxUniform({0, 0}, {1, 3})`.
    BoxUniform(std::initializer_list<double> low, std::initializer_list<double> high)
        : BoxUniform(to_vector(low), to_vector(high)) {}

    /// The cube [low, high]^dim.
    [[nodiscard]] static BoxUniform cube(Index dim, double low, double high) {
        require(dim >= 1, "BoxUniform::cube: dim must be >= 1, got ", dim);
        return {Vector<double>::Constant(dim, low), Vector<double>::Constant(dim, high)};
    }

    [[nodiscard]] Index dim() const { return m_low.size(); }
    [[nodiscard]] const Vector<double>& low() const { return m_low; }
    [[nodiscard]] const Vector<double>& high() const { return m_high; }
    /// Uniforms consumed per draw: p.
    [[nodiscard]] Index uniforms_per_sample() const { return dim(); }

    /// One draw into the p-vector `theta`. \throws std::invalid_argument on a size mismatch.
    void sample(RandomStream& rng, VectorRef<double> theta) const {
        require(theta.size() == dim(), "BoxUniform::sample: theta has ", theta.size(),
                " entries, expected ", dim());
        for (Index i = 0; i < dim(); ++i) theta(i) = rng.uniform(m_low(i), m_high(i));
    }

    /// -log(volume) inside the closed box, -infinity outside. \throws on a size mismatch.
    [[nodiscard]] double log_density(const ConstVectorRef<double>& theta) const {
        return in_support(theta) ? m_log_density : -std::numeric_limits<double>::infinity();
    }

    /// low <= theta <= high coordinate-wise (false for NaN). \throws on a size mismatch.
    [[nodiscard]] bool in_support(const ConstVectorRef<double>& theta) const {
        require(theta.size() == dim(), "BoxUniform: theta has ", theta.size(),
                " entries, expected ", dim());
        for (Index i = 0; i < dim(); ++i)
            if (!(theta(i) >= m_low(i) && theta(i) <= m_high(i))) return false;
        return true;
    }

    /// Mean (low + high) / 2.
    [[nodiscard]] Vector<double> mean() const { return 0.5 * (m_low + m_high); }
    /// Coordinate variances (high - low)^2 / 12.
    [[nodiscard]] Vector<double> variance() const {
        return (m_high - m_low).array().square().matrix() / 12.0;
    }

private:
    static Vector<double> to_vector(std::initializer_list<double> values) {
        Vector<double> v(static_cast<Index>(values.size()));
        Index i = 0;
        for (double value : values) v(i++) = value;
        return v;
    }

    Vector<double> m_low;
    Vector<double> m_high;
    double m_log_density = 0.0;
};

}  // namespace mlsbi::distributions
