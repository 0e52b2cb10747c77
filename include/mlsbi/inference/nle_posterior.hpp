// SPDX-License-Identifier: MIT
/// \file
/// \brief The unnormalised NLE posterior log pi(theta) + sum_j log q(x_j | theta) for m iid
/// observations, evaluated for a batch of thetas at once (a BatchLogDensity for the samplers),
/// and sampled by SIR initialisation plus slice sampling (a Posterior).
#pragma once

#include <cmath>
#include <limits>
#include <vector>

#include "mlsbi/core/errors.hpp"
#include "mlsbi/core/parallel_for.hpp"
#include "mlsbi/distributions/prior.hpp"
#include "mlsbi/flows/estimator_task.hpp"
#include "mlsbi/inference/log_density.hpp"
#include "mlsbi/inference/posterior.hpp"
#include "mlsbi/inference/sir_slice_sampling.hpp"

namespace mlsbi::inference {

/// Options of NlePosterior.
struct NlePosteriorOptions {
    /// Thetas per estimator call, >= 1. The batch is cut into fixed chunks of this many columns
    /// which run in parallel (OpenMP); each chunk's result does not depend on the thread count.
    Index chunk_size = 8;
    /// Evaluate chunks in parallel when there is more than one.
    bool parallel = true;

    /// \throws std::invalid_argument naming the invalid field.
    void validate() const {
        require(chunk_size >= 1, "NlePosteriorOptions: chunk_size must be >= 1, got ", chunk_size);
    }
};

/// Unnormalised log posterior of neural likelihood estimation (Papamakarios et al. 2019):
///
///   log p(theta | x_1..x_m) = log pi(theta) + sum_{j=1..m} log q(x_j | theta) + const,
///
/// -infinity outside the prior support (the estimator is not evaluated there). Satisfies
/// BatchLogDensity: `posterior(thetas, out)` with thetas p x n.
///
/// \tparam Estimator a flows::ConditionalEstimator (or anything with `Scalar`, `Workspace`,
///         `input_dim()`, `context_dim()` and `log_likelihood_sum(y_obs, c, out, ws)`), trained
///         on y = x, c = theta; it is held by reference and must outlive the posterior.
/// \tparam P a distributions::Prior with dim() == estimator.context_dim().
/// Not safe to call concurrently from several threads (it owns per-thread workspaces); it
/// parallelises internally. A flows::PosteriorEstimator (trained for NPE) is rejected at compile
/// time: it is not a likelihood.
template <class Estimator, distributions::Prior P>
requires flows::LikelihoodTaskCompatible<Estimator>
class NlePosterior {
public:
    using Scalar = typename Estimator::Scalar;

    /// \param observations d x m iid observations (d = estimator.input_dim(), m >= 1).
    /// \throws std::invalid_argument on mismatched dimensions, no or non-finite observations.
    NlePosterior(const Estimator& estimator, P prior, const ConstMatrixRef<double>& observations,
                 NlePosteriorOptions options = {})
        : m_estimator(&estimator),
          m_prior(std::move(prior)),
          m_options((options.validate(), options)) {
        require(m_prior.dim() == estimator.context_dim(), "NlePosterior: prior dimension ",
                m_prior.dim(), " != estimator context_dim ", estimator.context_dim());
        require(observations.rows() == estimator.input_dim(), "NlePosterior: observations have ",
                observations.rows(), " rows, expected the estimator's input_dim ",
                estimator.input_dim());
        require(observations.cols() >= 1, "NlePosterior: need at least one observation");
        require_finite(observations, "NlePosterior: observations");
        m_observations = observations.template cast<Scalar>();
    }

    [[nodiscard]] Index dim() const { return m_prior.dim(); }
    [[nodiscard]] Index num_observations() const { return m_observations.cols(); }
    [[nodiscard]] const P& prior() const { return m_prior; }

    /// out(j) = log pi(theta_j) + sum_i log q(x_i | theta_j) for thetas p x n; -infinity outside
    /// the support. \throws std::invalid_argument on shape mismatch.
    void operator()(const ConstMatrixRef<double>& thetas, VectorRef<double> out) const {
        require(thetas.rows() == dim() && out.size() == thetas.cols(),
                "NlePosterior: thetas must be ", dim(), " x n with out of size n, got ",
                thetas.rows(), " x ", thetas.cols(), " and ", out.size());
        const Index n = thetas.cols();
        const Index chunk = m_options.chunk_size;
        const Index chunks = (n + chunk - 1) / chunk;
        const int threads = m_options.parallel && chunks > 1 ? outer_thread_count() : 1;
        if (m_workspaces.size() < static_cast<std::size_t>(threads))
            m_workspaces.resize(static_cast<std::size_t>(threads));
        parallel_for(chunks, threads, Schedule::dynamic, [&](Index k, int thread) {
            const Index begin = k * chunk;
            evaluate_chunk(thetas.middleCols(begin, std::min(chunk, n - begin)),
                           out.segment(begin, std::min(chunk, n - begin)),
                           m_workspaces[static_cast<std::size_t>(thread)]);
        });
    }

    /// The log posterior at one theta (p).
    [[nodiscard]] double log_density(const ConstVectorRef<double>& theta) const {
        Vector<double> out(1);
        (*this)(theta, out);
        return out(0);
    }

    /// The log posterior of a batch (thetas p x n, out of size n); the same as operator().
    void log_density(const ConstMatrixRef<double>& thetas, VectorRef<double> out) const {
        (*this)(thetas, out);
    }

    /// n posterior draws: SIR picks `chains` starting points among `sir_candidates` prior draws,
    /// then slice sampling runs the chains for ceil(n / chains) kept draws each after `warmup`.
    /// The first n draws (chain after chain) are `samples`; the whole run, with R-hat and ESS,
    /// is `mcmc`. Seeds: SIR uses derive_seed(seed, 0), the chains derive_seed(seed, 1).
    /// \throws std::invalid_argument if n < 1, on invalid options, or when fewer than `chains`
    ///         prior draws have a finite posterior density (before any chain runs).
    [[nodiscard]] PosteriorSamples sample(Index n, std::uint64_t seed,
                                          const NleSamplingOptions& options) const {
        return sample_by_sir_and_slice(*this, m_prior, n, seed, options);
    }

    /// sample(n, seed) with the default NleSamplingOptions.
    [[nodiscard]] PosteriorSamples sample(Index n, std::uint64_t seed) const {
        return sample(n, seed, NleSamplingOptions{});
    }

private:
    struct ChunkWorkspace {
        typename Estimator::Workspace estimator;
        Matrix<Scalar> thetas;
        Vector<Scalar> log_likelihood;
        std::vector<Index> inside;
        Vector<double> log_prior;
    };

    // One chunk: the prior (and support) per column, then one estimator call on the columns
    // inside the support.
    void evaluate_chunk(const ConstMatrixRef<double>& thetas, VectorRef<double> out,
                        ChunkWorkspace& ws) const {
        const Index n = thetas.cols();
        ws.inside.clear();
        ws.log_prior.resize(n);
        for (Index j = 0; j < n; ++j) {
            const double lp = m_prior.log_density(thetas.col(j));
            ws.log_prior(j) = lp;
            if (lp > -std::numeric_limits<double>::infinity())
                ws.inside.push_back(j);
            else
                out(j) = -std::numeric_limits<double>::infinity();
        }
        const auto count = static_cast<Index>(ws.inside.size());
        if (count == 0) return;
        ws.thetas.resize(dim(), count);
        for (Index k = 0; k < count; ++k)
            ws.thetas.col(k) =
                thetas.col(ws.inside[static_cast<std::size_t>(k)]).template cast<Scalar>();
        ws.log_likelihood.resize(count);
        m_estimator->log_likelihood_sum(m_observations, ws.thetas, ws.log_likelihood, ws.estimator);
        for (Index k = 0; k < count; ++k) {
            const Index j = ws.inside[static_cast<std::size_t>(k)];
            out(j) = ws.log_prior(j) + static_cast<double>(ws.log_likelihood(k));
        }
    }

    const Estimator* m_estimator;
    P m_prior;
    NlePosteriorOptions m_options;
    Matrix<Scalar> m_observations;
    mutable std::vector<ChunkWorkspace> m_workspaces;
};

}  // namespace mlsbi::inference
