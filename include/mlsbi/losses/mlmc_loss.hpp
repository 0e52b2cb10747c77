// SPDX-License-Identifier: MIT
/// \file
/// \brief The multilevel Monte Carlo (MLMC) NLE / NPE loss over seed-matched data, with its
/// 2L + 1 per-term gradients (Hikida et al. 2025, the MLMC loss l_MLMC).
#pragma once

#include <cmath>
#include <string>
#include <vector>

#include "mlsbi/losses/detail/prepare.hpp"
#include "mlsbi/losses/detail/term_set.hpp"

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
/// Standardisation: ONE z-scoring for all levels, fitted by `fit_standardization` on the
/// highest-fidelity data (level L's theta and x_fine), since G_L is the simulator the model
/// must describe; per-level statistics (as in the research code) would give the +f_l and
/// -f_{l-1} terms different input scalings and break the telescoping sum.
///
/// Memory: the data are converted to Scalar once at construction (each level l >= 1 keeps
/// theta twice, once per term); plus one workspace and one gradient buffer per chunk.
/// \tparam Estimator a TrainableEstimator (e.g. flows::ConditionalEstimator).
template <TrainableEstimator Estimator>
class MlmcLoss {
public:
    using Scalar = typename Estimator::Scalar;

    /// \param estimator fixes the dimensions and parameter count the loss checks against.
    /// \param data seed-matched levels (e.g. simulators::MultilevelDataset), at least 2.
    /// \throws std::invalid_argument on fewer than 2 levels, an empty level, arrays whose rows
    ///         do not match the estimator for the task or whose columns differ within a level,
    ///         levels whose x dimensions differ, or non-finite entries; messages name the level.
    template <MultilevelData Data>
    MlmcLoss(const Estimator& estimator, const Data& data, Task task, LossOptions options = {})
        : m_task(task) {
        require_task<Estimator>(task, "MlmcLoss");
        options.validate();
        const auto levels = static_cast<Index>(data.levels.size());
        require(levels >= 2, "MlmcLoss: need at least 2 levels (L >= 1), got ", levels,
                " (use McLoss for single-level data)");
        std::vector<LossTerm<Scalar>> terms;
        terms.reserve(static_cast<std::size_t>(2 * levels - 1));
        for (Index l = 0; l < levels; ++l) {
            const auto& level = data.levels[static_cast<std::size_t>(l)];
            const std::string where = message("MlmcLoss: level ", l);
            detail::check_level_arrays(level.theta, level.x_fine, task, estimator.input_dim(),
                                       estimator.context_dim(), where, "x_fine");
            if (l == 0) {
                terms.push_back(detail::make_term<Scalar>(level.theta, level.x_fine, task, 1.0, 0,
                                                          TermKind::base));
                continue;
            }
            detail::check_level_arrays(level.theta, level.x_coarse, task, estimator.input_dim(),
                                       estimator.context_dim(), where, "x_coarse");
            terms.push_back(
                detail::make_term<Scalar>(level.theta, level.x_fine, task, 1.0, l, TermKind::fine));
            terms.push_back(detail::make_term<Scalar>(level.theta, level.x_coarse, task, -1.0, l,
                                                      TermKind::coarse));
        }
        m_terms = detail::TermSet<Estimator>(std::move(terms), estimator.parameter_count(),
                                             estimator.input_dim(), estimator.context_dim(),
                                             options, "MlmcLoss");
    }

    [[nodiscard]] Task task() const { return m_task; }
    /// L + 1.
    [[nodiscard]] Index level_count() const { return (m_terms.term_count() + 1) / 2; }
    /// 2L + 1.
    [[nodiscard]] Index term_count() const { return m_terms.term_count(); }
    /// n_l.
    [[nodiscard]] Index size(Index level) const {
        require(level >= 0 && level < level_count(), "MlmcLoss::size: level ", level,
                " out of range [0, ", level_count(), ")");
        return m_terms.terms()[static_cast<std::size_t>(level == 0 ? 0 : 2 * level - 1)].size();
    }
    /// "h_0", "zeta_1^+", "zeta_1^-", ...
    [[nodiscard]] std::string term_name(Index term) const {
        return m_terms.terms().at(static_cast<std::size_t>(term)).name();
    }
    [[nodiscard]] Index max_batches() const { return m_terms.max_batches(); }
    [[nodiscard]] const std::vector<LossTerm<Scalar>>& terms() const { return m_terms.terms(); }
    /// Chunks and OpenMP threads of the last evaluation (a diagnostic: shows whether the
    /// parallel path ran).
    [[nodiscard]] const EvaluationStats& last_evaluation() const {
        return m_terms.last_evaluation();
    }

    /// Fits the estimator's z-scoring on the highest-fidelity data: level L's (theta, x_fine),
    /// oriented for the task. \throws std::invalid_argument if n_L < 2.
    void fit_standardization(Estimator& estimator) const {
        const auto& fine = m_terms.terms()[static_cast<std::size_t>(term_count() - 2)];
        require(fine.size() >= 2, "MlmcLoss::fit_standardization: the highest level has ",
                fine.size(), " samples, need at least 2");
        estimator.fit_standardization(fine.y, fine.c);
    }

    /// The loss and the 2L + 1 per-term gradients on the slice (default: full batch).
    /// \param term_gradients parameter_count x (2L + 1); column t receives d(term t)/dphi.
    /// \param term_values resized to 2L + 1; receives h_0, zeta_1^+, zeta_1^-, ...
    /// \return the total, l_MLMC = sum of the terms.
    double evaluate(const Estimator& estimator, MatrixRef<Scalar> term_gradients,
                    std::vector<double>& term_values, BatchSlice slice = {}) {
        return m_terms.evaluate(estimator, term_gradients, term_values, slice);
    }

    /// The loss only (no gradient work); term values optional.
    double value(const Estimator& estimator, std::vector<double>* term_values = nullptr,
                 BatchSlice slice = {}) {
        return m_terms.value(estimator, term_values, slice);
    }

    /// Per-level statistics of the per-sample losses at the current parameters: level 0 gets
    /// mean and variance of f_0; level l >= 1 the mean and variance of f_l - f_{l-1} over its
    /// seed-matched pairs, the variances of both and their correlation.
    std::vector<LevelDiagnostics> level_diagnostics(const Estimator& estimator) {
        const auto f = m_terms.per_sample_losses(estimator);
        std::vector<LevelDiagnostics> out(static_cast<std::size_t>(level_count()));
        for (Index l = 0; l < level_count(); ++l) {
            LevelDiagnostics& d = out[static_cast<std::size_t>(l)];
            d.level = l;
            if (l == 0) {
                d.size = f[0].size();
                d.mean = f[0].mean();
                d.variance = sample_variance(f[0], d.mean);
                d.variance_fine = d.variance;
            } else {
                const Vector<double>& fine = f[static_cast<std::size_t>(2 * l - 1)];
                const Vector<double>& coarse = f[static_cast<std::size_t>(2 * l)];
                const Vector<double> difference = fine - coarse;
                d.size = fine.size();
                d.mean = difference.mean();
                d.variance = sample_variance(difference, d.mean);
                d.variance_fine = sample_variance(fine, fine.mean());
                d.variance_coarse = sample_variance(coarse, coarse.mean());
                if (d.size > 1 && d.variance_fine > 0 && d.variance_coarse > 0) {
                    const double covariance =
                        ((fine.array() - fine.mean()) * (coarse.array() - coarse.mean())).sum() /
                        double(d.size - 1);
                    d.correlation = covariance / std::sqrt(d.variance_fine * d.variance_coarse);
                }
            }
            d.variance_of_mean = d.variance / double(d.size);
        }
        return out;
    }

    /// Permutes each level's pairs (one permutation per level, applied to both of its terms) for
    /// level-stratified mini-batch epochs; deterministic in `seed`.
    void shuffle(std::uint64_t seed) { m_terms.shuffle(seed); }

private:
    static double sample_variance(const Vector<double>& v, double mean) {
        return v.size() > 1 ? (v.array() - mean).square().sum() / double(v.size() - 1) : 0.0;
    }

    Task m_task;
    detail::TermSet<Estimator> m_terms;
};

}  // namespace mlsbi::losses
