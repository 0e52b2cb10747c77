// SPDX-License-Identifier: MIT
/// \file
/// \brief Nle: multilevel neural likelihood estimation from a prior and a (multilevel)
/// simulator to a posterior, in the shape of sbi's NLE (simulate / append, train, build).
#pragma once

#include <type_traits>
#include <utility>

#include "mlsbi/flows/maf.hpp"
#include "mlsbi/sbi/likelihood_posterior.hpp"
#include "mlsbi/sbi/neural_inference.hpp"

namespace mlsbi::sbi {

/// ML-NLE (Hikida et al. 2025, Sec. 3): learns q(x | theta) from seed-matched multilevel
/// simulations with the MLMC loss and samples pi(theta) prod_j q(x_j | theta) by MCMC. With one
/// level it is standard NLE (Papamakarios et al. 2019).
///
///     auto nle = sbi::make_nle(prior, {.seed = 1});
///     nle.simulate(simulator, {4000, 100}).train();
///     const auto draws = nle.build_posterior(x_o).sample(1000);
///
/// \tparam Density a flows::ConditionalDensity (default: a float MAF, as sbi's NLE default).
/// \tparam P a distributions::Prior.
/// \tparam Embedding a flows::ContextEmbedding (see sbi::Options).
template <class Density, distributions::Prior P,
          class Embedding = flows::NoEmbedding<typename Density::Scalar>>
class Nle : public NeuralInference<losses::Task::nle, Density, P, Embedding> {
    using Base = NeuralInference<losses::Task::nle, Density, P, Embedding>;

public:
    using typename Base::Estimator;
    using Posterior = LikelihoodPosterior<Estimator, P>;
    using Base::Base;

    /// The posterior given m iid observations x_o (d x m, one per column), sampled by SIR and
    /// slice sampling with `sampling`; sample(n) uses the seed derived from the master seed.
    /// The posterior keeps its own copy of the trained estimator.
    /// \throws std::logic_error before train(); std::invalid_argument on the shape of x_o.
    [[nodiscard]] Posterior build_posterior(const ConstMatrixRef<double>& x_o,
                                            inference::NleSamplingOptions sampling = {}) const {
        return Posterior(this->snapshot("Nle::build_posterior"), this->prior(), x_o, sampling,
                         this->options().seeds().sampling_seed());
    }
};

/// An Nle with the Density chosen explicitly and the prior's type deduced:
/// `sbi::make_nle<flows::NeuralSplineFlow<float>>(prior, {.seed = 1, .density = {.bins = 8}})`.
template <class Density = flows::MaskedAutoregressiveFlow<float>, distributions::Prior P>
[[nodiscard]] Nle<Density, P> make_nle(P prior, Options<Density> options = {}) {
    return Nle<Density, P>(std::move(prior), std::move(options));
}

/// An Nle with a context embedding, both deduced from the options:
/// `sbi::make_nle(prior, sbi::Options<Flow, Embedding>{.embedding = ...})`.
template <class Density, class Embedding, distributions::Prior P>
requires(!std::is_same_v<Embedding, flows::NoEmbedding<typename Density::Scalar>>)
    [[nodiscard]] Nle<Density, P, Embedding> make_nle(P prior,
                                                      Options<Density, Embedding> options) {
    return Nle<Density, P, Embedding>(std::move(prior), std::move(options));
}

}  // namespace mlsbi::sbi
