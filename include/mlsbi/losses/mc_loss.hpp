// SPDX-License-Identifier: MIT
/// \file
/// \brief The plain Monte Carlo NLE / NPE loss: mean negative log-likelihood on one data set.
#pragma once

#include <vector>

#include "mlsbi/losses/detail/prepare.hpp"
#include "mlsbi/losses/detail/term_set.hpp"

namespace mlsbi::losses {

/// l_MC(phi) = (1/n) sum_i -log q_phi(y_i | c_i) over n simulations (theta_i, x_i), with
/// (y, c) = (x, theta) for NLE and (theta, x) for NPE.
///
/// It has the same interface as MlmcLoss with a single term (h_0), so trainers and the
/// gradient adjustment handle both. The data are converted to Scalar once, here.
/// \tparam Estimator a TrainableEstimator (e.g. flows::ConditionalEstimator).
template <TrainableEstimator Estimator>
class McLoss {
public:
    using Scalar = typename Estimator::Scalar;

    /// \param estimator fixes the dimensions and parameter count the loss checks against.
    /// \param theta d_theta x n; \param x d_x x n (column i simulated at theta column i).
    /// \throws std::invalid_argument on n = 0, dimensions that do not match the estimator for the
    ///         task, or non-finite entries (the message names the array, row and column).
    McLoss(const Estimator& estimator, const ConstMatrixRef<double>& theta,
           const ConstMatrixRef<double>& x, Task task, LossOptions options = {})
        : m_task(task) {
        require_task<Estimator>(task, "McLoss");
        options.validate();
        detail::check_level_arrays(theta, x, task, estimator.input_dim(), estimator.context_dim(),
                                   "McLoss: data", "x");
        std::vector<LossTerm<Scalar>> terms;
        terms.push_back(detail::make_term<Scalar>(theta, x, task, 1.0, 0, TermKind::base));
        m_terms = detail::TermSet<Estimator>(std::move(terms), estimator.parameter_count(),
                                             estimator.input_dim(), estimator.context_dim(),
                                             options, "McLoss");
    }

    [[nodiscard]] Task task() const { return m_task; }
    [[nodiscard]] Index level_count() const { return 1; }
    [[nodiscard]] Index term_count() const { return 1; }
    [[nodiscard]] Index size() const { return m_terms.terms().front().size(); }
    [[nodiscard]] std::string term_name(Index /*term*/) const { return "h_0"; }
    [[nodiscard]] Index max_batches() const { return m_terms.max_batches(); }
    [[nodiscard]] const std::vector<LossTerm<Scalar>>& terms() const { return m_terms.terms(); }
    /// Chunks and OpenMP threads of the last evaluation (a diagnostic: shows whether the
    /// parallel path ran).
    [[nodiscard]] const EvaluationStats& last_evaluation() const {
        return m_terms.last_evaluation();
    }

    /// Fits the estimator's z-scoring on this data set (needs n >= 2).
    void fit_standardization(Estimator& estimator) const {
        const auto& t = m_terms.terms().front();
        require(t.size() >= 2, "McLoss::fit_standardization: need at least 2 samples, got ",
                t.size());
        estimator.fit_standardization(t.y, t.c);
    }

    /// Loss and gradient on the slice: writes dl/dphi into column 0 of term_gradients
    /// (parameter_count x 1) and the value into term_values[0]; returns the loss.
    double evaluate(const Estimator& estimator, MatrixRef<Scalar> term_gradients,
                    std::vector<double>& term_values, BatchSlice slice = {}) {
        return m_terms.evaluate(estimator, term_gradients, term_values, slice);
    }

    /// Loss value only (no gradient work), on the slice.
    double value(const Estimator& estimator, std::vector<double>* term_values = nullptr,
                 BatchSlice slice = {}) {
        return m_terms.value(estimator, term_values, slice);
    }

    /// One entry: mean and variance of the per-sample loss f_i = -log q(y_i | c_i).
    std::vector<LevelDiagnostics> level_diagnostics(const Estimator& estimator) {
        const auto f = m_terms.per_sample_losses(estimator);
        LevelDiagnostics d;
        d.size = f[0].size();
        d.mean = f[0].mean();
        d.variance = d.size > 1 ? (f[0].array() - d.mean).square().sum() / double(d.size - 1) : 0.0;
        d.variance_fine = d.variance;
        d.variance_of_mean = d.variance / double(d.size);
        return {d};
    }

    /// The per-sample losses f_i = -log q(y_i | c_i), in sample order (for paired comparisons
    /// of two models on the same samples).
    Vector<double> per_sample_losses(const Estimator& estimator) {
        return m_terms.per_sample_losses(estimator)[0];
    }

    /// Permutes the samples (for mini-batch epochs); deterministic in `seed`.
    void shuffle(std::uint64_t seed) { m_terms.shuffle(seed); }

private:
    Task m_task;
    detail::TermSet<Estimator> m_terms;
};

}  // namespace mlsbi::losses
