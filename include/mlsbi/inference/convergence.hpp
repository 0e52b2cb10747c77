// SPDX-License-Identifier: MIT
/// \file
/// \brief MCMC convergence diagnostics: split R-hat, rank-normalised R-hat, bulk and tail
/// effective sample size (Geyer's initial monotone sequence, as Stan computes them) and MCSE.
///
/// Every function takes the draws of ONE scalar quantity as a matrix with one column per chain
/// and one row per draw (draws x chains), the layout `McmcResult::parameter_draws` returns.
///
/// References:
/// - Gelman, Carlin, Stern, Dunson, Vehtari, Rubin (2013), Bayesian Data Analysis, 3rd ed.,
///   Sec. 11.4-11.5 (split R-hat, effective sample size).
/// - Geyer (1992), Practical Markov chain Monte Carlo, Statist. Sci. 7 (initial monotone
///   sequence estimator).
/// - Vehtari, Gelman, Simpson, Carpenter, Buerkner (2021), Rank-normalization, folding, and
///   localization: an improved R-hat for assessing convergence of MCMC, Bayesian Analysis 16.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include "mlsbi/core/errors.hpp"
#include "mlsbi/core/types.hpp"
#include "mlsbi/rng/normal.hpp"

namespace mlsbi::inference {

/// Splits each chain into its first and second half (the middle draw of an odd-length chain is
/// dropped), giving (draws/2) x (2 chains). Splitting lets R-hat see within-chain drift.
/// \param draws draws x chains. \throws std::invalid_argument if fewer than 2 draws per chain.
[[nodiscard]] inline Matrix<double> split_chains(const ConstMatrixRef<double>& draws) {
    const Index n = draws.rows();
    require(n >= 2, "split_chains: need at least 2 draws per chain, got ", n);
    const Index half = n / 2;
    Matrix<double> out(half, 2 * draws.cols());
    for (Index c = 0; c < draws.cols(); ++c) {
        out.col(2 * c) = draws.col(c).head(half);
        out.col(2 * c + 1) = draws.col(c).tail(half);
    }
    return out;
}

/// Replaces every draw by the normal score of its pooled rank (ties get their average rank):
/// z = Phi^{-1}((r - 3/8) / (S + 1/4)), S the total number of draws (Blom's offset, as in
/// Vehtari et al. 2021). Shape is kept.
[[nodiscard]] inline Matrix<double> rank_normalize(const ConstMatrixRef<double>& draws) {
    const Index total = draws.size();
    std::vector<Index> order(static_cast<std::size_t>(total));
    std::iota(order.begin(), order.end(), Index(0));
    const double* values = draws.data();
    Matrix<double> copy;
    if (draws.outerStride() != draws.rows()) {  // a strided view: take a contiguous copy
        copy = draws;
        values = copy.data();
    }
    std::stable_sort(order.begin(), order.end(),
                     [values](Index a, Index b) { return values[a] < values[b]; });
    Matrix<double> out(draws.rows(), draws.cols());
    const double denominator = static_cast<double>(total) + 0.25;
    Index i = 0;
    while (i < total) {
        Index j = i;
        while (j + 1 < total && values[order[static_cast<std::size_t>(j + 1)]] ==
                                    values[order[static_cast<std::size_t>(i)]])
            ++j;
        const double rank = 0.5 * static_cast<double>(i + j) + 1.0;  // average 1-based rank
        const double z = normal_quantile((rank - 0.375) / denominator);
        for (Index k = i; k <= j; ++k) out.data()[order[static_cast<std::size_t>(k)]] = z;
        i = j + 1;
    }
    return out;
}

/// Classic potential scale reduction factor of BDA3 on the chains as given (split them first
/// with split_chains for the split R-hat): sqrt(((n-1)/n W + B/n) / W). Returns NaN when the
/// within-chain variance is zero or any draw is non-finite.
/// \param draws draws x chains, at least 2 draws and 2 chains.
[[nodiscard]] inline double potential_scale_reduction(const ConstMatrixRef<double>& draws) {
    const Index n = draws.rows();
    const Index m = draws.cols();
    require(n >= 2 && m >= 2, "potential_scale_reduction: need >= 2 draws and >= 2 chains, got ", n,
            " x ", m);
    if (!draws.allFinite()) return std::numeric_limits<double>::quiet_NaN();
    const Vector<double> means = draws.colwise().mean().transpose();
    double within = 0;
    for (Index c = 0; c < m; ++c)
        within += (draws.col(c).array() - means(c)).square().sum() / static_cast<double>(n - 1);
    within /= static_cast<double>(m);
    const double between_over_n =
        (means.array() - means.mean()).square().sum() / static_cast<double>(m - 1);
    if (!(within > 0)) return std::numeric_limits<double>::quiet_NaN();
    const double var_plus =
        static_cast<double>(n - 1) / static_cast<double>(n) * within + between_over_n;
    return std::sqrt(var_plus / within);
}

/// Split R-hat (BDA3, Sec. 11.4): potential_scale_reduction of the split chains.
/// \param draws draws x chains (one chain is allowed: it is split in two).
[[nodiscard]] inline double split_rhat(const ConstMatrixRef<double>& draws) {
    return potential_scale_reduction(split_chains(draws));
}

/// Effective sample size of the chains as given (no splitting, no ranks), by Stan's algorithm:
/// autocorrelations combined across chains through the variance estimate var+, Geyer's initial
/// positive sequence truncated at the first negative pair sum, made monotone, with the
/// antithetic correction; the result is capped at S log10(S).
/// Returns NaN for fewer than 4 draws per chain, non-finite draws or zero variance.
/// Cost O(chains x draws x lags used); the lags stop where the autocorrelation dies out.
/// \param draws draws x chains.
[[nodiscard]] inline double effective_sample_size(const ConstMatrixRef<double>& draws) {
    const Index n = draws.rows();
    const Index m = draws.cols();
    constexpr double nan = std::numeric_limits<double>::quiet_NaN();
    if (n < 4 || m < 1 || !draws.allFinite()) return nan;
    const Vector<double> means = draws.colwise().mean().transpose();
    const Matrix<double> centred = draws.rowwise() - means.transpose();
    double mean_var = 0;
    for (Index c = 0; c < m; ++c)
        mean_var += centred.col(c).squaredNorm() / static_cast<double>(n - 1);
    mean_var /= static_cast<double>(m);
    double var_plus = mean_var * static_cast<double>(n - 1) / static_cast<double>(n);
    if (m > 1)
        var_plus += (means.array() - means.mean()).square().sum() / static_cast<double>(m - 1);
    if (!(var_plus > 0)) return nan;
    // Mean over chains of the biased autocovariance at lag t (what Stan's FFT computes).
    auto acov = [&](Index t) {
        double s = 0;
        for (Index c = 0; c < m; ++c)
            s += centred.col(c).head(n - t).dot(centred.col(c).tail(n - t));
        return s / (static_cast<double>(n) * static_cast<double>(m));
    };
    auto rho_at = [&](Index t) { return 1.0 - (mean_var - acov(t)) / var_plus; };

    std::vector<double> rho(static_cast<std::size_t>(n), 0.0);
    auto r = [&rho](Index t) -> double& { return rho[static_cast<std::size_t>(t)]; };
    double rho_even = 1.0;
    double rho_odd = rho_at(1);
    r(0) = rho_even;
    r(1) = rho_odd;
    Index s = 1;
    while (s < n - 5 && rho_even + rho_odd > 0) {
        rho_even = rho_at(s + 1);
        rho_odd = rho_at(s + 2);
        if (rho_even + rho_odd >= 0) {
            r(s + 1) = rho_even;
            r(s + 2) = rho_odd;
        }
        s += 2;
    }
    const Index max_s = s;
    if (rho_even > 0 && max_s + 1 < n) r(max_s + 1) = rho_even;
    // Geyer's initial monotone sequence: pair sums may not increase.
    for (Index t = 1; t + 3 <= max_s; t += 2) {
        if (r(t + 1) + r(t + 2) > r(t - 1) + r(t)) {
            r(t + 1) = 0.5 * (r(t - 1) + r(t));
            r(t + 2) = r(t + 1);
        }
    }
    double sum = 0;
    for (Index t = 0; t < max_s; ++t) sum += r(t);
    const double tail = max_s + 1 < n ? r(max_s + 1) : 0.0;
    const double tau = -1.0 + 2.0 * sum + tail;
    const double total = static_cast<double>(n * m);
    return total / std::max(tau, 1.0 / std::log10(total));
}

/// Bulk ESS (Vehtari et al. 2021): ESS of the rank-normalised split chains.
[[nodiscard]] inline double ess_bulk(const ConstMatrixRef<double>& draws) {
    return effective_sample_size(rank_normalize(split_chains(draws)));
}

/// Empirical quantile with linear interpolation between order statistics (R's type 7).
/// \param values any non-empty set of numbers; \param q in [0, 1].
[[nodiscard]] inline double quantile(const ConstMatrixRef<double>& values, double q) {
    require(values.size() > 0, "quantile: no values");
    require(q >= 0 && q <= 1, "quantile: q must be in [0, 1], got ", q);
    std::vector<double> v(static_cast<std::size_t>(values.size()));
    Index k = 0;
    for (Index j = 0; j < values.cols(); ++j)
        for (Index i = 0; i < values.rows(); ++i) v[static_cast<std::size_t>(k++)] = values(i, j);
    std::sort(v.begin(), v.end());
    const double h = q * static_cast<double>(v.size() - 1);
    const auto lo = static_cast<std::size_t>(std::floor(h));
    const std::size_t hi = std::min(lo + 1, v.size() - 1);
    return v[lo] + (h - static_cast<double>(lo)) * (v[hi] - v[lo]);
}

/// Tail ESS (Vehtari et al. 2021): the smaller ESS of the split-chain indicators of lying below
/// the 5% and the 95% quantiles; tells how well the central 90% interval is estimated.
[[nodiscard]] inline double ess_tail(const ConstMatrixRef<double>& draws) {
    const double q05 = quantile(draws, 0.05);
    const double q95 = quantile(draws, 0.95);
    const Matrix<double> below05 = (draws.array() <= q05).cast<double>().matrix();
    const Matrix<double> below95 = (draws.array() <= q95).cast<double>().matrix();
    return std::min(effective_sample_size(split_chains(below05)),
                    effective_sample_size(split_chains(below95)));
}

/// Rank-normalised split R-hat (Vehtari et al. 2021): the larger of the bulk R-hat (split,
/// rank-normalised draws) and the tail R-hat (same for |draw - median|). Values below 1.01 are
/// the usual sign of convergence.
[[nodiscard]] inline double rank_normalized_rhat(const ConstMatrixRef<double>& draws) {
    const Matrix<double> split = split_chains(draws);
    const double bulk = potential_scale_reduction(rank_normalize(split));
    const double median = quantile(draws, 0.5);
    const Matrix<double> folded = (split.array() - median).abs().matrix();
    const double tail = potential_scale_reduction(rank_normalize(folded));
    if (std::isnan(bulk) || std::isnan(tail)) return std::numeric_limits<double>::quiet_NaN();
    return std::max(bulk, tail);
}

/// Monte Carlo standard error of the mean of the draws: sd / sqrt(ESS of the split chains).
[[nodiscard]] inline double mcse_mean(const ConstMatrixRef<double>& draws) {
    const double mean = draws.mean();
    const double var =
        (draws.array() - mean).square().sum() / static_cast<double>(draws.size() - 1);
    return std::sqrt(var / effective_sample_size(split_chains(draws)));
}

}  // namespace mlsbi::inference
