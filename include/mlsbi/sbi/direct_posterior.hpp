// SPDX-License-Identifier: MIT
/// \file
/// \brief DirectPosterior: what Npe::build_posterior returns, q(theta | x_o) restricted to the
/// prior support, sampled directly with rejection (sbi's DirectPosterior), owning a snapshot of
/// the trained estimator and reporting low acceptance as a status.
#pragma once

#include <cstdint>
#include <memory>
#include <utility>

#include "mlsbi/core/errors.hpp"
#include "mlsbi/distributions/prior.hpp"
#include "mlsbi/flows/estimator_task.hpp"
#include "mlsbi/inference/npe_posterior.hpp"
#include "mlsbi/inference/posterior.hpp"

namespace mlsbi::sbi {

/// q(theta | x_o) truncated to the prior support. Satisfies inference::Posterior. Copies share the
/// (immutable) estimator snapshot.
/// \tparam Estimator a flows::ConditionalEstimator trained for NPE (y = theta, c = x).
/// \tparam P a distributions::Prior.
template <class Estimator, distributions::Prior P>
requires flows::PosteriorTaskCompatible<Estimator>
class DirectPosterior {
public:
    /// \param x_o the observation (context_dim entries, raw units).
    /// \param default_seed the seed of sample(n).
    /// \throws std::invalid_argument as inference::NpePosterior.
    DirectPosterior(std::shared_ptr<const Estimator> estimator, P prior,
                    const ConstVectorRef<double>& x_o, inference::NpePosteriorOptions options = {},
                    std::uint64_t default_seed = 0)
        : m_estimator((require(estimator != nullptr, "DirectPosterior: no estimator"),
                       std::move(estimator))),
          m_posterior(*m_estimator, std::move(prior), x_o, options),
          m_observation(x_o),
          m_default_seed(default_seed) {}

    [[nodiscard]] Index dim() const { return m_posterior.dim(); }
    [[nodiscard]] const P& prior() const { return m_posterior.prior(); }
    /// The observation conditioned on.
    [[nodiscard]] const Vector<double>& observation() const { return m_observation; }
    [[nodiscard]] const Estimator& estimator() const { return *m_estimator; }
    [[nodiscard]] const inference::NpePosterior<Estimator, P>& npe_posterior() const {
        return m_posterior;
    }

    /// out(j) = log q(theta_j | x_o), -infinity outside the prior support, for thetas p x n.
    /// Not thread-safe (the wrapped posterior reuses a workspace).
    void log_density(const ConstMatrixRef<double>& thetas, VectorRef<double> out) const {
        m_posterior.log_density(thetas, out);
    }

    /// n draws by rejection outside the support. When the acceptance rate collapses (the
    /// estimator puts its mass outside the prior), returns no draws with status low_acceptance
    /// and the rate measured, instead of throwing.
    [[nodiscard]] inference::PosteriorSamples sample(Index n, std::uint64_t seed) const {
        inference::PosteriorSamples out;
        out.method = "direct sampling of q(theta | x_o) with rejection outside the prior support";
        try {
            inference::NpeSamples draws = m_posterior.sample(n, seed);
            out.samples = std::move(draws.samples);
            out.proposed = draws.proposed;
            out.acceptance_rate = draws.acceptance_rate;
        } catch (const inference::LowAcceptanceError& e) {
            out.samples.resize(dim(), 0);
            out.status = inference::SamplingStatus::low_acceptance;
            out.message = e.what();
            out.proposed = e.proposed();
            out.acceptance_rate = e.acceptance();
        }
        return out;
    }
    /// sample(n, seed) with the seed derived from the front end's master seed.
    [[nodiscard]] inference::PosteriorSamples sample(Index n) const {
        return sample(n, m_default_seed);
    }

private:
    std::shared_ptr<const Estimator> m_estimator;  // before m_posterior, which points into it
    inference::NpePosterior<Estimator, P> m_posterior;
    Vector<double> m_observation;
    std::uint64_t m_default_seed;
};

}  // namespace mlsbi::sbi
