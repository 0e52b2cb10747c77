// SPDX-License-Identifier: MIT
/// \file
/// \brief Adaptive random-walk Metropolis for many chains at once: Gaussian proposals whose
/// covariance (Haario et al.) and scale (Robbins-Monro on the acceptance rate) adapt during
/// warm-up from the draws of all chains, then stay fixed.
///
/// References:
/// - Haario, Saksman, Tamminen (2001), An adaptive Metropolis algorithm, Bernoulli 7
///   (proposal covariance s_d^2 Sigma, s_d = 2.38 / sqrt(d)).
/// - Roberts, Gelman, Gilks (1997), Weak convergence and optimal scaling of random walk
///   Metropolis algorithms (acceptance 0.234).
/// - Andrieu, Thoms (2008), A tutorial on adaptive MCMC, Statist. Comput. 18 (Robbins-Monro
///   scale adaptation).
/// - Stan Reference Manual, "HMC algorithm parameters" (windowed warm-up with doubling windows
///   and the regularised covariance estimate).
#pragma once

#include <Eigen/Cholesky>
#include <chrono>
#include <cmath>
#include <limits>
#include <vector>

#include "mlsbi/inference/log_density.hpp"
#include "mlsbi/inference/mcmc.hpp"
#include "mlsbi/rng/normal.hpp"

namespace mlsbi::inference {

/// Options of the adaptive random-walk Metropolis sampler.
struct AdaptiveMetropolisOptions {
    /// Initial proposal standard deviation of every coordinate, > 0; 0 (the default) uses 0.1 x
    /// the per-coordinate standard deviation of the initial points (0.1 when there is a single
    /// chain or no spread).
    double initial_proposal_sd = 0;
    /// Re-estimate the proposal covariance from the pooled draws of all chains at the end of
    /// each warm-up window (doubling windows between a 15% initial and a 10% final buffer).
    bool adapt_covariance = true;
    /// Tune the global proposal scale towards `target_acceptance` throughout warm-up.
    bool adapt_scale = true;
    /// Acceptance rate the scale adaptation aims at, in (0, 1); 0.234 is optimal for
    /// high-dimensional Gaussian targets (about 0.44 in one dimension).
    double target_acceptance = 0.234;
    /// Length of the first covariance window (iterations), >= 1; later windows double.
    Index first_window = 25;

    /// \throws std::invalid_argument naming the first invalid field.
    void validate() const {
        require(std::isfinite(initial_proposal_sd) && initial_proposal_sd >= 0,
                "AdaptiveMetropolisOptions: initial_proposal_sd must be finite and >= 0 "
                "(0 = auto), got ",
                initial_proposal_sd);
        require(target_acceptance > 0 && target_acceptance < 1,
                "AdaptiveMetropolisOptions: target_acceptance must be in (0, 1), got ",
                target_acceptance);
        require(first_window >= 1, "AdaptiveMetropolisOptions: first_window must be >= 1, got ",
                first_window);
    }
};

namespace detail {

/// Pooled running mean and scatter matrix (Welford), added to in a fixed order.
struct RunningCovariance {
    double count = 0;
    Vector<double> mean;
    Matrix<double> scatter;

    void reset(Index p) {
        count = 0;
        mean = Vector<double>::Zero(p);
        scatter = Matrix<double>::Zero(p, p);
    }
    void add(const ConstVectorRef<double>& x) {
        count += 1;
        const Vector<double> delta = x - mean;
        mean += delta / count;
        scatter.noalias() += delta * (x - mean).transpose();
    }
    /// Covariance shrunk towards its diagonal as Stan does: (n / (n + 5)) S + 1e-3 (5 / (n + 5))
    /// diag(S), plus a tiny floor so the Cholesky factor exists.
    [[nodiscard]] Matrix<double> regularized() const {
        Matrix<double> cov = scatter / std::max(count - 1, 1.0);
        const double w = count / (count + 5.0);
        const Vector<double> diag = cov.diagonal();
        cov *= w;
        cov.diagonal() += (1e-3 * (1 - w)) * diag + Vector<double>::Constant(diag.size(), 1e-300);
        return cov;
    }
};

/// Lower Cholesky factor of a covariance; falls back to the diagonal if it is not positive
/// definite in floating point.
inline Matrix<double> proposal_factor(const Matrix<double>& cov) {
    Eigen::LLT<Matrix<double>> llt(cov);
    if (llt.info() == Eigen::Success && llt.matrixL().toDenseMatrix().allFinite())
        return llt.matrixL();
    return cov.diagonal().cwiseMax(1e-300).cwiseSqrt().asDiagonal();
}

}  // namespace detail

/// Draws from exp(log_density) by random-walk Metropolis with proposal x' = x + s L z,
/// z ~ N(0, I), one chain per column of `initial_points`.
///
/// All chains move in lockstep: each iteration evaluates every chain's proposal in one batched
/// call. During warm-up the shape L L^T is re-estimated from the draws of all chains at the end of
/// doubling windows (Stan's schedule; the scale then restarts at 2.38 / sqrt(p)), and log s
/// follows the Robbins-Monro recursion log s += k^-0.6 (a_k - target) on the pooled acceptance
/// a_k of the round. After warm-up both are frozen, so the kept draws come from a fixed
/// Metropolis kernel. Chain c draws its normals and acceptance uniforms (p + 1 per iteration)
/// from RandomStream(derive_seed(seed, c, tag)); the run is a deterministic function of the seed
/// and the initial points, whatever the thread count of `log_density`.
///
/// \tparam F a BatchLogDensity.
/// \param initial_points p x n_chains starting points, each with a finite log density.
/// \return draws with R-hat, ESS and the post-warm-up acceptance rate of each chain.
/// \throws std::invalid_argument on invalid options, non-finite initial points or an initial
///         point with a non-finite log density.
template <BatchLogDensity F>
[[nodiscard]] McmcResult adaptive_metropolis(F&& log_density,
                                             const ConstMatrixRef<double>& initial_points,
                                             const McmcOptions& options = {},
                                             const AdaptiveMetropolisOptions& metropolis = {}) {
    options.validate();
    metropolis.validate();
    using Clock = std::chrono::steady_clock;
    const auto start = Clock::now();
    const Index p = initial_points.rows();
    const Index chains = initial_points.cols();
    Vector<double> lp =
        detail::initial_log_density(log_density, initial_points, "adaptive_metropolis");
    Matrix<double> x = initial_points;

    std::vector<RandomStream> rng;
    rng.reserve(static_cast<std::size_t>(chains));
    for (Index c = 0; c < chains; ++c)
        rng.emplace_back(
            derive_seed(options.seed, static_cast<std::uint64_t>(c), detail::metropolis_tag));

    // Initial shape: a diagonal from the spread of the initial points.
    Vector<double> sd0 = Vector<double>::Constant(
        p, metropolis.initial_proposal_sd > 0 ? metropolis.initial_proposal_sd : 0.1);
    if (metropolis.initial_proposal_sd == 0 && chains >= 2) {
        for (Index i = 0; i < p; ++i) {
            const double mean = x.row(i).mean();
            const double sd = std::sqrt((x.row(i).array() - mean).square().sum() /
                                        static_cast<double>(chains - 1));
            if (sd > 0 && std::isfinite(sd)) sd0(i) = 0.1 * sd;
        }
    }
    Matrix<double> factor = sd0.asDiagonal();
    double log_scale = 0;
    double rm_step = 0;  // Robbins-Monro counter, restarted with every new covariance

    // Windowed covariance adaptation (Stan's schedule).
    const Index warmup = options.warmup;
    const Index window_begin = warmup * 15 / 100;
    const Index window_stop = warmup - warmup / 10;
    const bool windows = metropolis.adapt_covariance && warmup >= 20 && window_stop > window_begin;
    Index window_size = metropolis.first_window;
    Index window_end = std::min(window_begin + window_size, window_stop);
    if (windows && window_end + 2 * window_size > window_stop) window_end = window_stop;
    detail::RunningCovariance pooled;
    pooled.reset(p);

    const Index draws = options.draws_per_chain;
    const Index total_iterations = warmup + draws * options.thin;
    McmcResult result;
    result.num_chains = chains;
    result.draws_per_chain = draws;
    result.samples.resize(p, chains * draws);
    result.log_density.resize(chains * draws);
    result.evaluations = chains;
    result.warmup_evaluations = chains;
    result.batch_calls = 1;
    Vector<double> accepted = Vector<double>::Zero(chains);

    Matrix<double> proposals(p, chains);
    Vector<double> proposal_lp(chains);
    Vector<double> z(p);
    auto warmup_end = start;
    for (Index it = 0; it < total_iterations; ++it) {
        const bool warming_up = it < warmup;
        const double scale = std::exp(log_scale);
        for (Index c = 0; c < chains; ++c) {
            for (Index i = 0; i < p; ++i) z(i) = standard_normal(rng[static_cast<std::size_t>(c)]);
            proposals.col(c) = x.col(c);
            proposals.col(c).noalias() += scale * (factor * z);
        }
        log_density(proposals, proposal_lp);
        ++result.batch_calls;
        result.evaluations += chains;
        if (warming_up) result.warmup_evaluations += chains;
        Index round_accepted = 0;
        for (Index c = 0; c < chains; ++c) {
            const double log_u = std::log(rng[static_cast<std::size_t>(c)].uniform());
            const double candidate = proposal_lp(c);
            if (!std::isnan(candidate) && log_u < candidate - lp(c)) {
                x.col(c) = proposals.col(c);
                lp(c) = candidate;
                ++round_accepted;
                if (!warming_up) accepted(c) += 1;
            }
        }
        if (warming_up) {
            if (metropolis.adapt_scale) {
                rm_step += 1;
                const double rate =
                    static_cast<double>(round_accepted) / static_cast<double>(chains);
                log_scale += std::pow(rm_step, -0.6) * (rate - metropolis.target_acceptance);
            }
            if (windows && it >= window_begin && it < window_stop) {
                for (Index c = 0; c < chains; ++c) pooled.add(x.col(c));
                if (it + 1 == window_end) {
                    factor = detail::proposal_factor(pooled.regularized());
                    log_scale = std::log(2.38 / std::sqrt(static_cast<double>(p)));
                    rm_step = 0;
                    pooled.reset(p);
                    window_size *= 2;
                    window_end = window_end + window_size;
                    if (window_end + 2 * window_size > window_stop) window_end = window_stop;
                }
            }
            if (it + 1 == warmup) warmup_end = Clock::now();
            continue;
        }
        const Index after = it + 1 - warmup;
        if (after % options.thin != 0) continue;
        const Index k = after / options.thin - 1;
        for (Index c = 0; c < chains; ++c) {
            result.samples.col(c * draws + k) = x.col(c);
            result.log_density(c * draws + k) = lp(c);
        }
    }
    const auto end = Clock::now();
    result.acceptance_rate = accepted / static_cast<double>(draws * options.thin);
    result.warmup_seconds = std::chrono::duration<double>(warmup_end - start).count();
    result.sampling_seconds = std::chrono::duration<double>(end - warmup_end).count();
    detail::finish_diagnostics(result, options);
    return result;
}

}  // namespace mlsbi::inference
