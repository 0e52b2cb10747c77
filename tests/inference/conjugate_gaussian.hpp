// SPDX-License-Identifier: MIT
// Test helper: a conjugate Gaussian model (Gaussian prior on the mean of m iid Gaussian
// observations with known covariance) whose posterior is Gaussian in closed form.
#pragma once

#include <Eigen/Cholesky>
#include <Eigen/LU>
#include <cmath>
#include <numbers>

#include "mlsbi/core/types.hpp"
#include "mlsbi/rng/normal.hpp"

namespace mlsbi::test {

struct ConjugateGaussian {
    Vector<double> prior_mean;
    Matrix<double> prior_cov;
    Matrix<double> noise_cov;
    Matrix<double> observations;  // p x m

    Matrix<double> prior_precision;
    Matrix<double> noise_precision;
    Vector<double> posterior_mean;
    Matrix<double> posterior_cov;

    ConjugateGaussian(Vector<double> mu0, Matrix<double> s0, Matrix<double> s, Matrix<double> x)
        : prior_mean(std::move(mu0)),
          prior_cov(std::move(s0)),
          noise_cov(std::move(s)),
          observations(std::move(x)) {
        prior_precision = prior_cov.inverse();
        noise_precision = noise_cov.inverse();
        const auto m = static_cast<double>(observations.cols());
        posterior_cov = (prior_precision + m * noise_precision).inverse();
        posterior_mean = posterior_cov * (prior_precision * prior_mean +
                                          noise_precision * observations.rowwise().sum());
    }

    // Unnormalised log posterior: log prior + sum_j log N(x_j; theta, S) (constants dropped).
    [[nodiscard]] double log_posterior(const ConstVectorRef<double>& theta) const {
        const Vector<double> d0 = theta - prior_mean;
        double lp = -0.5 * d0.dot(prior_precision * d0);
        for (Index j = 0; j < observations.cols(); ++j) {
            const Vector<double> d = observations.col(j) - theta;
            lp -= 0.5 * d.dot(noise_precision * d);
        }
        return lp;
    }

    // Exact normalised posterior log density.
    [[nodiscard]] double exact_log_density(const ConstVectorRef<double>& theta) const {
        const Eigen::LLT<Matrix<double>> llt(posterior_cov);
        const Vector<double> z = llt.matrixL().solve(theta - posterior_mean);
        const Matrix<double> l = llt.matrixL();
        return -0.5 * z.squaredNorm() - l.diagonal().array().log().sum() -
               0.5 * static_cast<double>(theta.size()) * std::log(2 * std::numbers::pi);
    }

    // n exact posterior draws (p x n) from stream (seed, j) per column.
    [[nodiscard]] Matrix<double> posterior_draws(Index n, std::uint64_t seed) const {
        const Matrix<double> l = Eigen::LLT<Matrix<double>>(posterior_cov).matrixL();
        Matrix<double> out(posterior_mean.size(), n);
        Vector<double> z(posterior_mean.size());
        for (Index j = 0; j < n; ++j) {
            RandomStream rng(seed, static_cast<std::uint64_t>(j));
            for (Index i = 0; i < z.size(); ++i) z(i) = standard_normal(rng);
            out.col(j) = posterior_mean + l * z;
        }
        return out;
    }

    // n prior draws (p x n).
    [[nodiscard]] Matrix<double> prior_draws(Index n, std::uint64_t seed) const {
        const Matrix<double> l = Eigen::LLT<Matrix<double>>(prior_cov).matrixL();
        Matrix<double> out(prior_mean.size(), n);
        Vector<double> z(prior_mean.size());
        for (Index j = 0; j < n; ++j) {
            RandomStream rng(seed, static_cast<std::uint64_t>(j));
            for (Index i = 0; i < z.size(); ++i) z(i) = standard_normal(rng);
            out.col(j) = prior_mean + l * z;
        }
        return out;
    }
};

// A correlated 3-D instance with m = 5 observations drawn at theta = (1, -0.5, 2).
inline ConjugateGaussian make_conjugate_3d() {
    Vector<double> mu0(3);
    mu0 << 0.0, 0.0, 0.0;
    Matrix<double> s0(3, 3);
    s0 << 4.0, 1.0, 0.5, 1.0, 3.0, -0.5, 0.5, -0.5, 2.0;
    Matrix<double> s(3, 3);
    s << 1.0, 0.6, 0.0, 0.6, 1.0, -0.3, 0.0, -0.3, 0.5;
    Vector<double> truth(3);
    truth << 1.0, -0.5, 2.0;
    const Matrix<double> l = Eigen::LLT<Matrix<double>>(s).matrixL();
    Matrix<double> x(3, 5);
    RandomStream rng(2024);
    for (Index j = 0; j < 5; ++j) {
        Vector<double> z(3);
        for (Index i = 0; i < 3; ++i) z(i) = standard_normal(rng);
        x.col(j) = truth + l * z;
    }
    return ConjugateGaussian(mu0, s0, s, x);
}

}  // namespace mlsbi::test
