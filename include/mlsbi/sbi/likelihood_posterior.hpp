// SPDX-License-Identifier: MIT
/// \file
/// \brief LikelihoodPosterior: what Nle::build_posterior returns, an NLE posterior that owns a
/// snapshot of the trained likelihood and samples by SIR plus slice sampling (sbi's
/// MCMCPosterior).
#pragma once

#include <cstdint>
#include <memory>
#include <utility>

#include "mlsbi/core/errors.hpp"
#include "mlsbi/distributions/prior.hpp"
#include "mlsbi/flows/estimator_task.hpp"
#include "mlsbi/inference/nle_posterior.hpp"
#include "mlsbi/inference/posterior.hpp"

namespace mlsbi::sbi {

/// p(theta | x_1..x_m) proportional to pi(theta) prod_j q(x_j | theta), for m iid observations.
/// Satisfies inference::Posterior. Copies share the (immutable) estimator snapshot.
/// \tparam Estimator a flows::ConditionalEstimator trained for NLE (y = x, c = theta).
/// \tparam P a distributions::Prior.
template <class Estimator, distributions::Prior P>
requires flows::LikelihoodTaskCompatible<Estimator>
class LikelihoodPosterior {
public:
    /// \param x_o d x m observations (one per column, raw units).
    /// \param default_seed the seed of sample(n).
    /// \throws std::invalid_argument as inference::NlePosterior, or on invalid sampling options.
    LikelihoodPosterior(std::shared_ptr<const Estimator> estimator, P prior,
                        const ConstMatrixRef<double>& x_o,
                        inference::NleSamplingOptions sampling = {}, std::uint64_t default_seed = 0,
                        inference::NlePosteriorOptions evaluation = {})
        : m_estimator((require(estimator != nullptr, "LikelihoodPosterior: no estimator"),
                       std::move(estimator))),
          m_posterior(*m_estimator, std::move(prior), x_o, evaluation),
          m_observations(x_o),
          m_sampling((sampling.validate(), sampling)),
          m_default_seed(default_seed) {}

    [[nodiscard]] Index dim() const { return m_posterior.dim(); }
    [[nodiscard]] const P& prior() const { return m_posterior.prior(); }
    /// The observations conditioned on (d x m).
    [[nodiscard]] const Matrix<double>& observations() const { return m_observations; }
    [[nodiscard]] const Estimator& estimator() const { return *m_estimator; }
    [[nodiscard]] const inference::NleSamplingOptions& sampling_options() const {
        return m_sampling;
    }
    /// The batched log posterior the sampler evaluates.
    [[nodiscard]] const inference::NlePosterior<Estimator, P>& log_posterior() const {
        return m_posterior;
    }

    /// out(j) = log pi(theta_j) + sum_i log q(x_i | theta_j) (unnormalised) for thetas p x n.
    void log_density(const ConstMatrixRef<double>& thetas, VectorRef<double> out) const {
        m_posterior(thetas, out);
    }

    /// n draws (SIR + slice sampling with the sampling options), R-hat and ESS in `mcmc`.
    [[nodiscard]] inference::PosteriorSamples sample(Index n, std::uint64_t seed) const {
        return m_posterior.sample(n, seed, m_sampling);
    }
    /// sample(n, seed) with the seed derived from the front end's master seed.
    [[nodiscard]] inference::PosteriorSamples sample(Index n) const {
        return sample(n, m_default_seed);
    }

private:
    std::shared_ptr<const Estimator> m_estimator;  // before m_posterior, which points into it
    inference::NlePosterior<Estimator, P> m_posterior;
    Matrix<double> m_observations;
    inference::NleSamplingOptions m_sampling;
    std::uint64_t m_default_seed;
};

}  // namespace mlsbi::sbi
