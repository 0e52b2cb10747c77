// SPDX-License-Identifier: MIT
// Test support for the allocation, pilot and coupling-report tests: 1-D levels that share their
// noise (or deliberately do not), a small Gaussian network and the prior they use.
#pragma once

#include <cstdint>

#include "mlsbi/distributions/box_uniform.hpp"
#include "mlsbi/flows/conditional_estimator.hpp"
#include "mlsbi/flows/diagonal_gaussian.hpp"
#include "mlsbi/rng/normal.hpp"
#include "mlsbi/rng/random_stream.hpp"

namespace mlsbi::testing_support {

using GaussianEstimator = flows::ConditionalEstimator<flows::DiagonalGaussian<double>>;

/// q(x | theta) Gaussian with a 16-unit tanh MLP, 1-D x and theta.
inline GaussianEstimator make_gaussian_estimator(std::uint64_t seed) {
    flows::DiagonalGaussian<double>::Options o;
    o.input_dim = 1;
    o.context_dim = 1;
    o.hidden = {16};
    o.activation = nn::Activation::tanh;
    return GaussianEstimator(o, seed);
}

/// The level we trust: x = theta + 0.5 z, z from the sample's seed.
inline void fine_level(const ConstVectorRef<double>& theta, RandomStream& rng,
                       VectorRef<double> x) {
    x(0) = theta(0) + 0.5 * standard_normal(rng);
}
/// A close level: the same z, a small quadratic error.
inline void middle_level(const ConstVectorRef<double>& theta, RandomStream& rng,
                         VectorRef<double> x) {
    const double z = standard_normal(rng);
    x(0) = theta(0) + 0.5 * z + 0.02 * z * z;
}
/// A cheap level: the same z, a slightly wrong map.
inline void cheap_level(const ConstVectorRef<double>& theta, RandomStream& rng,
                        VectorRef<double> x) {
    x(0) = 0.9 * theta(0) + 0.5 * standard_normal(rng);
}
/// Broken coupling: the cheap map, but its noise from another stream of the same seed.
inline void uncoupled_level(const ConstVectorRef<double>& theta, std::uint64_t seed,
                            VectorRef<double> x) {
    RandomStream rng(seed, 7);
    x(0) = 0.9 * theta(0) + 0.5 * standard_normal(rng);
}

/// theta ~ U(-1, 1).
inline const distributions::BoxUniform& unit_prior() {
    static const distributions::BoxUniform prior({-1.0}, {1.0});
    return prior;
}

}  // namespace mlsbi::testing_support
