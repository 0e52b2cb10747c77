// SPDX-License-Identifier: MIT
/// \file
/// \brief The Prior concept and batch helpers (sampling n draws with a seed, batched log density).
#pragma once

#include <concepts>
#include <cstdint>

#include "mlsbi/core/errors.hpp"
#include "mlsbi/core/types.hpp"
#include "mlsbi/rng/random_stream.hpp"

namespace mlsbi::distributions {

/// A prior pi(theta) over R^p, in double precision.
///
/// Contract (who calls it: dataset generation draws thetas, inference evaluates log densities and
/// support):
/// - `dim()` is p >= 1.
/// - `sample(rng, theta)` writes one draw into the pre-sized p-vector `theta`, using only `rng`.
///   Every prior in mlsbi consumes a fixed, documented number of uniforms per draw and reports it
///   as `uniforms_per_sample()` (optional for user priors; a rejection sampler cannot have one).
/// - `log_density(theta)` is log pi(theta), normalised, and -infinity outside the support
///   (including non-finite theta); never NaN for a p-vector.
/// - `in_support(theta)` is true exactly when log_density(theta) > -infinity.
/// - Const methods are thread-safe; a prior is cheap to copy.
/// Dimension mismatches throw std::invalid_argument naming the class.
template <class P>
concept Prior = requires(const P& prior, RandomStream& rng, VectorRef<double> theta,
                         const ConstVectorRef<double>& const_theta) {
    { prior.dim() } -> std::convertible_to<Index>;
    { prior.sample(rng, theta) } -> std::same_as<void>;
    { prior.log_density(const_theta) } -> std::convertible_to<double>;
    { prior.in_support(const_theta) } -> std::convertible_to<bool>;
};

/// A Prior whose draws consume a fixed number of uniforms, reported by `uniforms_per_sample()`.
template <class P>
concept FixedDrawPrior = Prior<P> && requires(const P& prior) {
    { prior.uniforms_per_sample() } -> std::convertible_to<Index>;
};

/// n prior draws as a p x n batch; column j is drawn from RandomStream(seed, j) alone, so any
/// column can be reproduced independently of n, batching or threads.
/// \throws std::invalid_argument if n < 0.
template <Prior P>
[[nodiscard]] Matrix<double> sample_prior(const P& prior, std::uint64_t seed, Index n) {
    require(n >= 0, "sample_prior: n must be >= 0, got ", n);
    Matrix<double> theta(prior.dim(), n);
    for (Index j = 0; j < n; ++j) {
        RandomStream rng(seed, static_cast<std::uint64_t>(j));
        prior.sample(rng, theta.col(j));
    }
    return theta;
}

/// log pi(theta_j) for every column of a p x n batch; -infinity for columns outside the support.
/// \throws std::invalid_argument if thetas does not have p rows.
template <Prior P>
[[nodiscard]] Vector<double> batch_log_density(const P& prior,
                                               const ConstMatrixRef<double>& thetas) {
    require_shape(thetas, prior.dim(), -1, "batch_log_density: thetas");
    Vector<double> out(thetas.cols());
    for (Index j = 0; j < thetas.cols(); ++j) out(j) = prior.log_density(thetas.col(j));
    return out;
}

/// Support indicator for every column of a p x n batch.
/// \throws std::invalid_argument if thetas does not have p rows.
template <Prior P>
[[nodiscard]] Eigen::Array<bool, Eigen::Dynamic, 1> batch_in_support(
    const P& prior, const ConstMatrixRef<double>& thetas) {
    require_shape(thetas, prior.dim(), -1, "batch_in_support: thetas");
    Eigen::Array<bool, Eigen::Dynamic, 1> out(thetas.cols());
    for (Index j = 0; j < thetas.cols(); ++j) out(j) = prior.in_support(thetas.col(j));
    return out;
}

}  // namespace mlsbi::distributions
