// SPDX-License-Identifier: MIT
/// \file
/// \brief Npe: multilevel neural posterior estimation from a prior and a (multilevel) simulator
/// to a posterior, in the shape of sbi's NPE (simulate / append, train, build).
#pragma once

#include <type_traits>
#include <utility>

#include "mlsbi/flows/maf.hpp"
#include "mlsbi/sbi/direct_posterior.hpp"
#include "mlsbi/sbi/neural_inference.hpp"

namespace mlsbi::sbi {

/// ML-NPE (Hikida et al. 2025, Sec. 3): learns q(theta | x) from seed-matched multilevel
/// simulations with the MLMC loss and samples it directly, rejecting draws outside the prior
/// support. With one level it is standard NPE (Papamakarios and Murray 2016; Greenberg 2019).
///
///     auto npe = sbi::make_npe(prior, {.seed = 1});
///     npe.simulate(simulator, {4000, 100}).train();
///     const auto draws = npe.build_posterior(x_o).sample(1000);
///
/// \tparam Density a flows::ConditionalDensity (default: a float MAF, as sbi's NPE default).
/// \tparam P a distributions::Prior.
/// \tparam Embedding a flows::ContextEmbedding (see sbi::Options).
template <class Density, distributions::Prior P,
          class Embedding = flows::NoEmbedding<typename Density::Scalar>>
class Npe : public NeuralInference<losses::Task::npe, Density, P, Embedding> {
    using Base = NeuralInference<losses::Task::npe, Density, P, Embedding>;

public:
    using typename Base::Estimator;
    using Posterior = DirectPosterior<Estimator, P>;
    using Base::Base;

    /// The posterior at the observation x_o (d entries); sample(n) uses the seed derived from the
    /// master seed. The posterior keeps its own copy of the trained estimator.
    /// \throws std::logic_error before train(); std::invalid_argument on the size of x_o.
    [[nodiscard]] Posterior build_posterior(const ConstVectorRef<double>& x_o,
                                            inference::NpePosteriorOptions options = {}) const {
        return Posterior(this->snapshot("Npe::build_posterior"), this->prior(), x_o, options,
                         this->options().seeds().sampling_seed());
    }
};

/// An Npe with the Density chosen explicitly and the prior's type deduced (see make_nle).
template <class Density = flows::MaskedAutoregressiveFlow<float>, distributions::Prior P>
[[nodiscard]] Npe<Density, P> make_npe(P prior, Options<Density> options = {}) {
    return Npe<Density, P>(std::move(prior), std::move(options));
}

/// An Npe with a context embedding, both deduced from the options:
/// `sbi::make_npe(prior, sbi::Options<Flow, Embedding>{.embedding = ...})`.
template <class Density, class Embedding, distributions::Prior P>
requires(!std::is_same_v<Embedding, flows::NoEmbedding<typename Density::Scalar>>)
    [[nodiscard]] Npe<Density, P, Embedding> make_npe(P prior,
                                                      Options<Density, Embedding> options) {
    return Npe<Density, P, Embedding>(std::move(prior), std::move(options));
}

}  // namespace mlsbi::sbi
