// SPDX-License-Identifier: MIT
/// \file
/// \brief LossBase: what McLoss and MlmcLoss share (the task, the terms and their evaluation,
/// shuffling, diagnostics of a level); they differ only in which terms they build.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "mlsbi/losses/detail/term_set.hpp"

namespace mlsbi::losses::detail {

/// The part of a loss over prepared terms that does not depend on how the terms were built.
/// \tparam Estimator a TrainableEstimator.
template <TrainableEstimator Estimator>
class LossBase {
public:
    using Scalar = typename Estimator::Scalar;

    [[nodiscard]] Task task() const { return m_task; }
    /// Terms in evaluation order: h_0 (then zeta_1^+, zeta_1^-, ... for MlmcLoss).
    [[nodiscard]] Index term_count() const { return m_terms.term_count(); }
    [[nodiscard]] Index max_batches() const { return m_terms.max_batches(); }
    [[nodiscard]] const std::vector<LossTerm<Scalar>>& terms() const { return m_terms.terms(); }
    /// Chunks and OpenMP threads of the last evaluation (a diagnostic: shows whether the
    /// parallel path ran).
    [[nodiscard]] const EvaluationStats& last_evaluation() const {
        return m_terms.last_evaluation();
    }

    /// The loss and the per-term gradients on the slice (default: full batch).
    /// \param term_gradients parameter_count x term_count(); column t receives d(term t)/dphi.
    /// \param term_values resized to term_count(); receives the term values.
    /// \return the total, the sum of the terms.
    double evaluate(const Estimator& estimator, MatrixRef<Scalar> term_gradients,
                    std::vector<double>& term_values, BatchSlice slice = {}) {
        return m_terms.evaluate(estimator, term_gradients, term_values, slice);
    }

    /// The loss only (no gradient work); term values optional.
    double value(const Estimator& estimator, std::vector<double>* term_values = nullptr,
                 BatchSlice slice = {}) {
        return m_terms.value(estimator, term_values, slice);
    }

    /// Permutes each level's samples (one permutation per level, applied to all of its terms,
    /// so seed-matched pairs stay whole) for mini-batch epochs; deterministic in `seed`.
    void shuffle(std::uint64_t seed) { m_terms.shuffle(seed); }

protected:
    LossBase(Task task, TermSet<Estimator> terms) : m_task(task), m_terms(std::move(terms)) {}

    /// f_i = -log q(y_i | c_i) of every term, in sample order.
    std::vector<Vector<double>> per_term_losses(const Estimator& estimator) {
        return m_terms.per_sample_losses(estimator);
    }

    /// The unbiased sample variance (0 for fewer than 2 values).
    static double sample_variance(const Vector<double>& v) {
        const double mean = v.mean();
        return v.size() > 1 ? (v.array() - mean).square().sum() / double(v.size() - 1) : 0.0;
    }

    /// Diagnostics of level 0 from its per-sample losses f_0.
    static LevelDiagnostics base_level(const Vector<double>& f0) {
        LevelDiagnostics d;
        d.size = f0.size();
        d.mean = f0.mean();
        d.variance = sample_variance(f0);
        d.variance_fine = d.variance;
        d.variance_of_mean = d.variance / double(d.size);
        return d;
    }

private:
    Task m_task;
    TermSet<Estimator> m_terms;
};

}  // namespace mlsbi::losses::detail
