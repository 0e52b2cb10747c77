// SPDX-License-Identifier: MIT
/// \file
/// \brief Per-dimension z-score standardisation with fixed statistics and its log-Jacobian.
#pragma once

#include <cmath>

#include "mlsbi/core/errors.hpp"
#include "mlsbi/core/types.hpp"

namespace mlsbi::flows {

/// z = (v - mean) / scale per dimension, statistics fixed once (from training data).
///
/// Densities of z convert to densities of v by adding log_jacobian() = -sum log scale, which
/// ConditionalEstimator does inside log_prob, so reported densities are in the user's units.
/// A dimension with (near-)zero spread gets scale 1 so a constant feature cannot divide by zero;
/// `constant_dimensions()` counts them so the user can be told.
template <typename Scalar>
class Standardizer {
public:
    Standardizer() = default;

    /// The identity on `dim` dimensions (mean 0, scale 1).
    explicit Standardizer(Index dim)
        : m_mean(Vector<Scalar>::Zero(dim)), m_scale(Vector<Scalar>::Ones(dim)) {}

    /// Fixes mean and (unbiased) standard deviation per row of `data` (dim x n, n >= 2).
    /// \throws std::invalid_argument if n < 2 or data has non-finite entries.
    void fit(const ConstMatrixRef<Scalar>& data) {
        require(data.cols() >= 2, "Standardizer::fit: need at least 2 samples, got ", data.cols());
        require_finite(data, "Standardizer::fit: data");
        const Eigen::MatrixXd d = data.template cast<double>();
        const Eigen::VectorXd mean = d.rowwise().mean();
        const Eigen::VectorXd var =
            (d.colwise() - mean).array().square().rowwise().sum() / double(d.cols() - 1);
        m_mean = mean.template cast<Scalar>();
        m_scale.resize(d.rows());
        m_constant = 0;
        for (Index i = 0; i < d.rows(); ++i) {
            const double sd = std::sqrt(var(i));
            const bool constant = !(sd > 1e-12 * std::max(1.0, std::abs(mean(i))));
            m_constant += constant ? 1 : 0;
            m_scale(i) = static_cast<Scalar>(constant ? 1.0 : sd);
        }
    }

    /// Sets the statistics directly. \throws std::invalid_argument on size mismatch or a scale
    /// that is not positive and finite.
    void set(const ConstVectorRef<Scalar>& mean, const ConstVectorRef<Scalar>& scale) {
        require(mean.size() == scale.size(), "Standardizer::set: mean has size ", mean.size(),
                ", scale has size ", scale.size());
        require_finite(mean, "Standardizer::set: mean");
        for (Index i = 0; i < scale.size(); ++i)
            require(std::isfinite(double(scale(i))) && scale(i) > Scalar(0),
                    "Standardizer::set: scale[", i, "] must be positive and finite, got ", scale(i));
        m_mean = mean;
        m_scale = scale;
        m_constant = 0;
    }

    [[nodiscard]] Index dim() const { return m_mean.size(); }
    [[nodiscard]] const Vector<Scalar>& mean() const { return m_mean; }
    [[nodiscard]] const Vector<Scalar>& scale() const { return m_scale; }
    [[nodiscard]] Index constant_dimensions() const { return m_constant; }

    /// log |dz/dv| = -sum_i log scale_i (the same for every sample).
    [[nodiscard]] Scalar log_jacobian() const {
        return static_cast<Scalar>(-m_scale.template cast<double>().array().log().sum());
    }

    /// out = (in - mean) / scale, column-wise; `out` is resized.
    void apply(const ConstMatrixRef<Scalar>& in, Matrix<Scalar>& out) const {
        MLSBI_ASSERT(in.rows() == dim());
        out.resize(in.rows(), in.cols());
        out = ((in.colwise() - m_mean).array().colwise() / m_scale.array()).matrix();
    }

    /// out = mean + scale * in, column-wise (in place allowed).
    void invert(const ConstMatrixRef<Scalar>& in, MatrixRef<Scalar> out) const {
        MLSBI_ASSERT(in.rows() == dim() && out.rows() == dim() && out.cols() == in.cols());
        out = ((in.array().colwise() * m_scale.array()).colwise() + m_mean.array()).matrix();
    }

private:
    Vector<Scalar> m_mean{};
    Vector<Scalar> m_scale{};
    Index m_constant = 0;
};

}  // namespace mlsbi::flows
