// SPDX-License-Identifier: MIT
/// \file
/// \brief Multivariate normal prior N(mean, Sigma), diagonal or full covariance (Cholesky factor).
#pragma once

#include <Eigen/Cholesky>
#include <cmath>
#include <limits>
#include <numbers>
#include <utility>

#include "mlsbi/core/errors.hpp"
#include "mlsbi/core/types.hpp"
#include "mlsbi/rng/normal.hpp"
#include "mlsbi/rng/random_stream.hpp"

namespace mlsbi::distributions {

/// Multivariate normal N(mu, Sigma) on R^p; satisfies Prior.
///
/// Stores the lower Cholesky factor L (Sigma = L L^T) and its inverse. Sampling consumes exactly
/// p uniforms: z_i = Phi^{-1}(u_i) in coordinate order, theta = mu + L z. The log density is
/// -||L^{-1} (theta - mu)||^2 / 2 - sum_i log L_ii - (p / 2) log(2 pi), computed without any
/// allocation (MCMC calls it per proposal); non-finite theta get -infinity.
class Gaussian {
public:
    /// Full covariance. \param mean p-vector (finite); \param covariance p x p symmetric positive
    /// definite. \throws std::invalid_argument if shapes disagree, entries are not finite, the
    /// matrix is not symmetric (relative 1e-10) or not positive definite.
    Gaussian(Vector<double> mean, const Matrix<double>& covariance) : m_mean(std::move(mean)) {
        const Index p = m_mean.size();
        require(p >= 1, "Gaussian: dimension must be >= 1");
        require(m_mean.allFinite(), "Gaussian: mean must be finite");
        require(covariance.rows() == p && covariance.cols() == p, "Gaussian: covariance is ",
                covariance.rows(), " x ", covariance.cols(), ", expected ", p, " x ", p);
        require(covariance.allFinite(), "Gaussian: covariance must be finite");
        const double scale = covariance.cwiseAbs().maxCoeff();
        require((covariance - covariance.transpose()).cwiseAbs().maxCoeff() <= 1e-10 * scale,
                "Gaussian: covariance must be symmetric");
        const Eigen::LLT<Matrix<double>> llt(covariance);
        require(llt.info() == Eigen::Success &&
                    llt.matrixL().toDenseMatrix().diagonal().minCoeff() > 0.0,
                "Gaussian: covariance must be positive definite");
        m_factor = llt.matrixL();
        m_diagonal = covariance.isDiagonal(0.0);
        finish();
    }

    /// Independent coordinates with standard deviations `sd` (all > 0).
    /// \throws std::invalid_argument on a size mismatch or a non-positive sd.
    [[nodiscard]] static Gaussian diagonal(Vector<double> mean, const Vector<double>& sd) {
        require(mean.size() == sd.size(), "Gaussian::diagonal: mean has ", mean.size(),
                " entries but sd has ", sd.size());
        for (Index i = 0; i < sd.size(); ++i)
            require(sd(i) > 0.0 && std::isfinite(sd(i)), "Gaussian::diagonal: sd(", i,
                    ") must be finite and > 0, got ", sd(i));
        return Gaussian(std::move(mean), Matrix<double>(sd.array().square().matrix().asDiagonal()));
    }

    /// N(0, I_p).
    [[nodiscard]] static Gaussian standard(Index dim) {
        require(dim >= 1, "Gaussian::standard: dim must be >= 1, got ", dim);
        return diagonal(Vector<double>::Zero(dim), Vector<double>::Ones(dim));
    }

    [[nodiscard]] Index dim() const { return m_mean.size(); }
    [[nodiscard]] const Vector<double>& mean() const { return m_mean; }
    /// Sigma = L L^T.
    [[nodiscard]] Matrix<double> covariance() const { return m_factor * m_factor.transpose(); }
    /// Lower-triangular Cholesky factor L.
    [[nodiscard]] const Matrix<double>& cholesky_factor() const { return m_factor; }
    /// True when Sigma is diagonal (sampling and density then skip the triangular products).
    [[nodiscard]] bool is_diagonal() const { return m_diagonal; }
    /// Uniforms consumed per draw: p.
    [[nodiscard]] Index uniforms_per_sample() const { return dim(); }

    /// One draw theta = mu + L z into the p-vector `theta`.
    /// \throws std::invalid_argument on a size mismatch.
    void sample(RandomStream& rng, VectorRef<double> theta) const {
        require(theta.size() == dim(), "Gaussian::sample: theta has ", theta.size(),
                " entries, expected ", dim());
        const Index p = dim();
        // Draw z first (into theta), then overwrite from the last row up: row i of L z only
        // needs z_0..z_i, which are still intact below row i.
        for (Index i = 0; i < p; ++i) theta(i) = standard_normal(rng);
        for (Index i = p - 1; i >= 0; --i) {
            double value = m_factor(i, i) * theta(i);
            if (!m_diagonal)
                for (Index k = 0; k < i; ++k) value += m_factor(i, k) * theta(k);
            theta(i) = m_mean(i) + value;
        }
    }

    /// log N(theta; mu, Sigma); -infinity for non-finite theta.
    /// \throws std::invalid_argument on a size mismatch.
    [[nodiscard]] double log_density(const ConstVectorRef<double>& theta) const {
        if (!in_support(theta)) return -std::numeric_limits<double>::infinity();
        const Index p = dim();
        double quadratic = 0.0;
        for (Index i = 0; i < p; ++i) {
            double r = 0.0;  // (L^{-1} (theta - mu))_i
            if (m_diagonal)
                r = m_inverse_factor(i, i) * (theta(i) - m_mean(i));
            else
                for (Index k = 0; k <= i; ++k) r += m_inverse_factor(i, k) * (theta(k) - m_mean(k));
            quadratic += r * r;
        }
        return -0.5 * quadratic + m_log_normaliser;
    }

    /// True for finite theta (the support is R^p). \throws on a size mismatch.
    [[nodiscard]] bool in_support(const ConstVectorRef<double>& theta) const {
        require(theta.size() == dim(), "Gaussian: theta has ", theta.size(), " entries, expected ",
                dim());
        return theta.allFinite();
    }

private:
    void finish() {
        const Index p = dim();
        m_inverse_factor =
            m_factor.triangularView<Eigen::Lower>().solve(Matrix<double>::Identity(p, p));
        m_log_normaliser = -m_factor.diagonal().array().log().sum() -
                           0.5 * static_cast<double>(p) * std::log(2.0 * std::numbers::pi);
    }

    Vector<double> m_mean;
    Matrix<double> m_factor;
    Matrix<double> m_inverse_factor;
    double m_log_normaliser = 0.0;
    bool m_diagonal = false;
};

}  // namespace mlsbi::distributions
