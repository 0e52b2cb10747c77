// SPDX-License-Identifier: MIT
/// \file
/// \brief The multilevel Monte Carlo (MLMC) NLE / NPE loss over seed-matched data, with its
/// 2L + 1 per-term gradients (Hikida et al. 2025, the MLMC loss l_MLMC).
#pragma once

#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "mlsbi/losses/detail/loss_base.hpp"
#include "mlsbi/losses/detail/prepare.hpp"

namespace mlsbi::losses {

/// l_MLMC(phi) = h_0 + sum_{l=1..L} (zeta_l^+ + zeta_l^-), with f = -log q_phi(y | c) and
///   h_0       = (1/n_0) sum_i f(level 0 sample i),
///   zeta_l^+  = (1/n_l) sum_i f(x_l,i ; theta_l,i),        (x_l = G_l(theta, seed))
///   zeta_l^-  = -(1/n_l) sum_i f(x_{l-1},i ; theta_l,i),   (x_{l-1} = G_{l-1}(theta, seed))
/// where for NLE (y, c) = (x, theta) and for NPE (y, c) = (theta, x). The seed matching of each
/// pair is what keeps Var[f_l - f_{l-1}] small.
///
/// Terms are ordered h_0, zeta_1^+, zeta_1^-, ..., zeta_L^+, zeta_L^- (the column order
/// optimizers::GradientAdjustment expects). Each term is evaluated on its own data in one forward
/// and one backward pass, in fixed-size chunks run in parallel and reduced in a fixed order
/// (bit-identical for any thread count).
///
/// Standardisation: the loss only reads data; the estimator arrives with its z-scoring. ML
/// training fits ONE z-scoring for all levels on the highest-fidelity data
/// (training::fit_standardization on the dataset), since G_L is the simulator the model must
/// describe; per-level statistics (as in the research code) would give the +f_l and -f_{l-1}
/// terms different input scalings and break the telescoping sum.
///
/// Memory: the data are converted to Scalar once at construction (each level l >= 1 keeps
/// theta twice, once per term); plus one workspace and one gradient buffer per chunk.
/// \tparam Estimator a TrainableEstimator (e.g. flows::ConditionalEstimator).
template <TrainableEstimator Estimator>
class MlmcLoss : public detail::LossBase<Estimator> {
    using Base = detail::LossBase<Estimator>;

public:
    using Scalar = typename Estimator::Scalar;

    /// \param estimator fixes the dimensions and parameter count the loss checks against.
    /// \param data seed-matched levels (e.g. simulators::MultilevelDataset), at least 2.
    /// \throws std::invalid_argument on fewer than 2 levels, an empty level, arrays whose rows
    ///         do not match the estimator for the task or whose columns differ within a level,
    ///         levels whose x dimensions differ, or non-finite entries; messages name the level.
    template <MultilevelData Data>
    MlmcLoss(const Estimator& estimator, const Data& data, Task task, LossOptions options = {})
        : Base(task, build_terms(estimator, data, task, options, {})) {}

    /// The control-variate form: with beta_l = control_variate_weights[l - 1] (l = 1..L, each
    /// finite and >= 0), E[f_l] is estimated by mean f_l - beta_l (mean f_{l-1} on the pairs -
    /// the estimate of E[f_{l-1}] from below), unbiased for any beta_l. Unrolled, the terms are
    /// weighted: h_0 by w_0, zeta_l^+ by w_l and zeta_l^- by w_l beta_l, with w_l = prod_{k > l}
    /// beta_k (w_L = 1). beta_l = 1 everywhere is the paper's loss; beta_l = 0 drops the levels
    /// below l (plain MC on level l's fine samples). Term values then carry their weights
    /// (LossTerm::sign = +w or -w beta).
    /// \throws std::invalid_argument as above, or on a weight count other than L or a weight
    ///         that is negative or not finite.
    template <MultilevelData Data>
    MlmcLoss(const Estimator& estimator, const Data& data, Task task, LossOptions options,
             const std::vector<double>& control_variate_weights)
        : Base(task, build_terms(estimator, data, task, options, control_variate_weights)) {}

    /// L + 1.
    [[nodiscard]] Index level_count() const { return (this->term_count() + 1) / 2; }
    /// n_l.
    [[nodiscard]] Index size(Index level) const {
        require(level >= 0 && level < level_count(), "MlmcLoss::size: level ", level,
                " out of range [0, ", level_count(), ")");
        return this->terms()[static_cast<std::size_t>(level == 0 ? 0 : 2 * level - 1)].size();
    }
    /// "h_0", "zeta_1^+", "zeta_1^-", ...
    [[nodiscard]] std::string term_name(Index term) const {
        return this->terms().at(static_cast<std::size_t>(term)).name();
    }

    /// Per-level statistics of the per-sample losses at the current parameters: level 0 gets
    /// mean and variance of f_0; level l >= 1 the mean and variance of f_l - f_{l-1} over its
    /// seed-matched pairs, the variances of both and their correlation.
    std::vector<LevelDiagnostics> level_diagnostics(const Estimator& estimator) {
        const auto f = this->per_term_losses(estimator);
        std::vector<LevelDiagnostics> out;
        out.push_back(Base::base_level(f[0]));
        for (Index l = 1; l < level_count(); ++l) {
            LevelDiagnostics d;
            d.level = l;
            const Vector<double>& fine = f[static_cast<std::size_t>(2 * l - 1)];
            const Vector<double>& coarse = f[static_cast<std::size_t>(2 * l)];
            const Vector<double> difference = fine - coarse;
            d.size = fine.size();
            d.mean = difference.mean();
            d.variance = Base::sample_variance(difference);
            d.variance_fine = Base::sample_variance(fine);
            d.variance_coarse = Base::sample_variance(coarse);
            if (d.size > 1 && d.variance_fine > 0 && d.variance_coarse > 0) {
                const double covariance =
                    ((fine.array() - fine.mean()) * (coarse.array() - coarse.mean())).sum() /
                    double(d.size - 1);
                d.correlation = covariance / std::sqrt(d.variance_fine * d.variance_coarse);
            }
            d.variance_of_mean = d.variance / double(d.size);
            out.push_back(d);
        }
        return out;
    }

private:
    template <MultilevelData Data>
    static detail::TermSet<Estimator> build_terms(const Estimator& estimator, const Data& data,
                                                  Task task, const LossOptions& options,
                                                  const std::vector<double>& beta) {
        require_task<Estimator>(task, "MlmcLoss");
        options.validate();
        const auto levels = static_cast<Index>(data.levels.size());
        require(levels >= 2, "MlmcLoss: need at least 2 levels (L >= 1), got ", levels,
                " (use McLoss for single-level data)");
        require(beta.empty() || static_cast<Index>(beta.size()) == levels - 1,
                "MlmcLoss: control_variate_weights has ", beta.size(),
                " entries, need one per correction level (", levels - 1, ")");
        for (std::size_t l = 0; l < beta.size(); ++l)
            require(std::isfinite(beta[l]) && beta[l] >= 0, "MlmcLoss: control_variate_weights[", l,
                    "] (level ", l + 1, ") must be finite and >= 0, got ", beta[l]);
        // w[l] = prod_{k > l} beta_k, the weight of level l's terms.
        std::vector<double> w(static_cast<std::size_t>(levels), 1.0);
        if (!beta.empty())
            for (Index l = levels - 2; l >= 0; --l)
                w[std::size_t(l)] = w[std::size_t(l + 1)] * beta[std::size_t(l)];
        auto beta_of = [&](Index l) { return beta.empty() ? 1.0 : beta[std::size_t(l - 1)]; };
        std::vector<LossTerm<Scalar>> terms;
        terms.reserve(static_cast<std::size_t>(2 * levels - 1));
        for (Index l = 0; l < levels; ++l) {
            const auto& level = data.levels[static_cast<std::size_t>(l)];
            const std::string where = message("MlmcLoss: level ", l);
            detail::check_level_arrays(level.theta, level.x_fine, task, estimator.input_dim(),
                                       estimator.context_dim(), where, "x_fine");
            if (l == 0) {
                terms.push_back(detail::make_term<Scalar>(level.theta, level.x_fine, task, w[0], 0,
                                                          TermKind::base));
                continue;
            }
            detail::check_level_arrays(level.theta, level.x_coarse, task, estimator.input_dim(),
                                       estimator.context_dim(), where, "x_coarse");
            const double weight = w[std::size_t(l)];
            terms.push_back(detail::make_term<Scalar>(level.theta, level.x_fine, task, weight, l,
                                                      TermKind::fine));
            terms.push_back(detail::make_term<Scalar>(level.theta, level.x_coarse, task,
                                                      -weight * beta_of(l), l, TermKind::coarse));
        }
        return detail::TermSet<Estimator>(std::move(terms), estimator.parameter_count(),
                                          estimator.input_dim(), estimator.context_dim(), options,
                                          "MlmcLoss");
    }
};

}  // namespace mlsbi::losses
