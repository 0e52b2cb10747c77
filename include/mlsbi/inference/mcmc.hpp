// SPDX-License-Identifier: MIT
/// \file
/// \brief Options and result shared by the MCMC samplers: run length, warm-up, thinning, seed,
/// and the draws reported with split R-hat and effective sample sizes.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <string_view>

#include "mlsbi/core/errors.hpp"
#include "mlsbi/core/types.hpp"
#include "mlsbi/inference/convergence.hpp"

namespace mlsbi::inference {

/// Run-length options common to every sampler. The number of chains is the number of columns of
/// the initial points given to the sampler.
struct McmcOptions {
    Index draws_per_chain = 1000;  ///< draws kept per chain after warm-up and thinning, >= 4
    Index warmup = 500;            ///< warm-up (adaptation) iterations per chain, discarded, >= 0
    Index thin = 1;                ///< keep every thin-th iteration after warm-up, >= 1
    std::uint64_t seed = 0;  ///< master seed; chain c uses the stream derive_seed(seed, c, tag)
    double rhat_threshold = 1.01;  ///< status is `converged` when every R-hat is below it, > 1

    /// \throws std::invalid_argument naming the first invalid field.
    void validate() const {
        require(draws_per_chain >= 4, "McmcOptions: draws_per_chain must be >= 4, got ",
                draws_per_chain);
        require(warmup >= 0, "McmcOptions: warmup must be >= 0, got ", warmup);
        require(thin >= 1, "McmcOptions: thin must be >= 1, got ", thin);
        require(rhat_threshold > 1, "McmcOptions: rhat_threshold must be > 1, got ",
                rhat_threshold);
    }
};

/// Outcome of a sampler run.
enum class McmcStatus {
    converged,             ///< every rank-normalised split R-hat is below the threshold
    rhat_above_threshold,  ///< some R-hat is at or above the threshold (or NaN): run longer
    evaluation_limit,      ///< some slice updates hit the shrinkage cap (log density not
                           ///< reproducible or numerically degenerate); draws are suspect
};

[[nodiscard]] constexpr std::string_view to_string(McmcStatus s) {
    switch (s) {
        case McmcStatus::converged:
            return "converged";
        case McmcStatus::rhat_above_threshold:
            return "rhat_above_threshold";
        case McmcStatus::evaluation_limit:
            return "evaluation_limit";
    }
    return "unknown";
}

/// Draws of a multi-chain run with their convergence diagnostics.
struct McmcResult {
    /// p x (num_chains * draws_per_chain); chain c holds columns [c D, (c + 1) D), D =
    /// draws_per_chain, in the order drawn.
    Matrix<double> samples;
    Vector<double> log_density;  ///< log density of each column of `samples`
    Index num_chains = 0;
    Index draws_per_chain = 0;
    Vector<double> rhat;             ///< per parameter: rank-normalised split R-hat
    Vector<double> ess_bulk;         ///< per parameter: bulk effective sample size (all chains)
    Vector<double> ess_tail;         ///< per parameter: tail effective sample size
    Vector<double> acceptance_rate;  ///< per chain, after warm-up (1 for slice sampling)
    Index evaluations = 0;           ///< log-density evaluations (points), warm-up included
    Index warmup_evaluations = 0;    ///< of which during warm-up
    Index batch_calls = 0;           ///< calls of the batched log density
    Index limit_hits = 0;            ///< slice updates stopped by the shrinkage cap
    double warmup_seconds = 0;       ///< wall time of the warm-up
    double sampling_seconds = 0;     ///< wall time after warm-up (the kept iterations)
    McmcStatus status = McmcStatus::converged;

    [[nodiscard]] Index dim() const { return samples.rows(); }

    /// The draws of chain c (p x draws_per_chain).
    [[nodiscard]] auto chain(Index c) const {
        return samples.middleCols(c * draws_per_chain, draws_per_chain);
    }

    /// Draws of parameter i as draws_per_chain x num_chains (the layout of convergence.hpp).
    [[nodiscard]] Matrix<double> parameter_draws(Index i) const {
        require(i >= 0 && i < dim(), "McmcResult::parameter_draws: index ", i, " out of range");
        return samples.row(i).reshaped(draws_per_chain, num_chains);
    }

    [[nodiscard]] double max_rhat() const {
        double r = 0;
        for (Index i = 0; i < rhat.size(); ++i)
            r = std::isnan(rhat(i)) ? std::numeric_limits<double>::quiet_NaN()
                                    : std::max(r, rhat(i));
        return r;
    }
    [[nodiscard]] double min_ess_bulk() const {
        return ess_bulk.size() ? ess_bulk.minCoeff() : 0.0;
    }
    [[nodiscard]] double min_ess_tail() const {
        return ess_tail.size() ? ess_tail.minCoeff() : 0.0;
    }
};

namespace detail {

/// Fills the diagnostics and status of a result whose samples are set.
inline void finish_diagnostics(McmcResult& result, const McmcOptions& options) {
    const Index p = result.dim();
    result.rhat.resize(p);
    result.ess_bulk.resize(p);
    result.ess_tail.resize(p);
    bool converged = true;
    for (Index i = 0; i < p; ++i) {
        const Matrix<double> draws = result.parameter_draws(i);
        result.rhat(i) = rank_normalized_rhat(draws);
        result.ess_bulk(i) = ess_bulk(draws);
        result.ess_tail(i) = ess_tail(draws);
        if (!(result.rhat(i) < options.rhat_threshold)) converged = false;
    }
    if (result.limit_hits > 0)
        result.status = McmcStatus::evaluation_limit;
    else
        result.status = converged ? McmcStatus::converged : McmcStatus::rhat_above_threshold;
}

/// Seed tags so that the two samplers never share streams for the same master seed.
inline constexpr std::uint64_t slice_tag = 0x736c696365ULL;     // "slice"
inline constexpr std::uint64_t metropolis_tag = 0x72776d68ULL;  // "rwmh"

/// Validates the initial points and evaluates them; every chain must start at a finite density.
template <class F>
Vector<double> initial_log_density(F& log_density, const ConstMatrixRef<double>& initial,
                                   const char* who) {
    require(initial.rows() >= 1 && initial.cols() >= 1, who,
            ": initial_points must be p x n_chains with p, n_chains >= 1, got ", initial.rows(),
            " x ", initial.cols());
    require_finite(initial, who);
    Vector<double> lp(initial.cols());
    log_density(initial, lp);
    for (Index c = 0; c < lp.size(); ++c)
        require(std::isfinite(lp(c)), who, ": the log density at initial point ", c, " is ", lp(c),
                "; start every chain inside the support (e.g. prior draws or "
                "sir_initialize)");
    return lp;
}

}  // namespace detail

}  // namespace mlsbi::inference
