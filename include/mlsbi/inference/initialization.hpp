// SPDX-License-Identifier: MIT
/// \file
/// \brief Chain initialisation by sampling-importance-resampling (SIR): pick starting points
/// among many candidates in proportion to target / proposal, without replacement.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <vector>

#include "mlsbi/core/errors.hpp"
#include "mlsbi/distributions/prior.hpp"
#include "mlsbi/inference/log_density.hpp"
#include "mlsbi/rng/random_stream.hpp"

namespace mlsbi::inference {

/// Starting points chosen by sir_initialize.
struct SirInitialization {
    Matrix<double> points;        ///< p x n_chains, in decreasing order of their perturbed key
    Vector<double> log_density;   ///< log target at each chosen point (finite)
    Index finite_candidates = 0;  ///< candidates with a finite importance weight
    /// Kish effective sample size (sum w)^2 / sum w^2 of the candidate weights: how many
    /// candidates effectively carry the target (small means the proposal misses the posterior).
    double weight_ess = 0;
};

/// Sampling-importance-resampling initialisation (sbi's "sir" strategy, here without
/// replacement so chains start at distinct points).
///
/// Evaluates log_density on the candidates in batches, forms log weights
/// w_j = log_density(c_j) - log_proposal_j, and keeps the num_chains candidates with the largest
/// w_j + G_j, G_j iid standard Gumbel: the Gumbel-top-k trick, which draws num_chains candidates
/// without replacement with probabilities proportional to exp(w) (successive sampling).
/// Deterministic given `seed` (the Gumbel noise of candidate j is draw j of one stream).
///
/// \param candidates p x N proposal draws (e.g. prior draws).
/// \param log_proposal N log densities of the proposal at the candidates (for prior candidates
///        and a posterior target this leaves the likelihood as weight).
/// \param num_chains number of points to return, 1 <= num_chains <= number of candidates with a
///        finite weight.
/// \param batch_size number of candidates per log_density call, >= 1.
/// \throws std::invalid_argument on mismatched sizes or too few finite weights.
template <BatchLogDensity F>
[[nodiscard]] SirInitialization sir_initialize(F&& log_density,
                                               const ConstMatrixRef<double>& candidates,
                                               const ConstVectorRef<double>& log_proposal,
                                               Index num_chains, std::uint64_t seed,
                                               Index batch_size = 1024) {
    const Index n = candidates.cols();
    require(log_proposal.size() == n, "sir_initialize: log_proposal has ", log_proposal.size(),
            " entries for ", n, " candidates");
    require(num_chains >= 1, "sir_initialize: num_chains must be >= 1, got ", num_chains);
    require(batch_size >= 1, "sir_initialize: batch_size must be >= 1, got ", batch_size);
    Vector<double> target(n);
    for (Index begin = 0; begin < n; begin += batch_size) {
        const Index count = std::min(batch_size, n - begin);
        log_density(candidates.middleCols(begin, count), target.segment(begin, count));
    }
    Vector<double> log_weight = target - log_proposal;
    SirInitialization out;
    for (Index j = 0; j < n; ++j) {
        if (std::isfinite(log_weight(j)))
            ++out.finite_candidates;
        else
            log_weight(j) = -std::numeric_limits<double>::infinity();
    }
    require(out.finite_candidates >= num_chains, "sir_initialize: only ", out.finite_candidates,
            " of ", n, " candidates have a finite weight, fewer than num_chains = ", num_chains,
            "; draw more candidates or check the support of the proposal");
    const double max_w = log_weight.maxCoeff();
    const Vector<double> w = (log_weight.array() - max_w).exp().matrix();
    out.weight_ess = w.sum() * w.sum() / w.squaredNorm();

    RandomStream rng(derive_seed(seed, 0x736972ULL));  // "sir"
    std::vector<double> key(static_cast<std::size_t>(n));
    for (Index j = 0; j < n; ++j)
        key[static_cast<std::size_t>(j)] = log_weight(j) - std::log(-std::log(rng.uniform()));
    std::vector<Index> order(static_cast<std::size_t>(n));
    std::iota(order.begin(), order.end(), Index(0));
    std::partial_sort(order.begin(), order.begin() + num_chains, order.end(),
                      [&](Index a, Index b) {
                          const double ka = key[static_cast<std::size_t>(a)];
                          const double kb = key[static_cast<std::size_t>(b)];
                          return ka > kb || (ka == kb && a < b);
                      });
    out.points.resize(candidates.rows(), num_chains);
    out.log_density.resize(num_chains);
    for (Index c = 0; c < num_chains; ++c) {
        const Index j = order[static_cast<std::size_t>(c)];
        out.points.col(c) = candidates.col(j);
        out.log_density(c) = target(j);
    }
    return out;
}

/// SIR from the prior: draws `num_candidates` prior samples (column j from stream
/// (derive_seed(seed, 1), j)), weights them by log_density - log prior (the likelihood, when
/// log_density is a posterior) and keeps num_chains of them (see sir_initialize; the Gumbel
/// noise uses `seed`). sbi's default for NLE posteriors uses 1000 candidates per chain or so.
/// \throws std::invalid_argument if num_candidates < num_chains or too few weights are finite.
template <BatchLogDensity F, distributions::Prior P>
[[nodiscard]] SirInitialization sir_initialize_from_prior(F&& log_density, const P& prior,
                                                          Index num_candidates, Index num_chains,
                                                          std::uint64_t seed,
                                                          Index batch_size = 1024) {
    require(num_candidates >= num_chains, "sir_initialize_from_prior: num_candidates (",
            num_candidates, ") must be >= num_chains (", num_chains, ")");
    const Matrix<double> candidates =
        distributions::sample_prior(prior, derive_seed(seed, 1), num_candidates);
    const Vector<double> log_prior = distributions::batch_log_density(prior, candidates);
    return sir_initialize(log_density, candidates, log_prior, num_chains, seed, batch_size);
}

}  // namespace mlsbi::inference
