// SPDX-License-Identifier: MIT
/// \file
/// \brief The plain Monte Carlo NLE / NPE loss: mean negative log-likelihood on one data set.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "mlsbi/losses/detail/prepare.hpp"
#include "mlsbi/losses/detail/loss_base.hpp"

namespace mlsbi::losses {

/// l_MC(phi) = (1/n) sum_i -log q_phi(y_i | c_i) over n simulations (theta_i, x_i), with
/// (y, c) = (x, theta) for NLE and (theta, x) for NPE.
///
/// It has the same interface as MlmcLoss with a single term (h_0), so trainers and the
/// gradient adjustment handle both. The data are converted to Scalar once, here.
/// \tparam Estimator a TrainableEstimator (e.g. flows::ConditionalEstimator).
template <TrainableEstimator Estimator>
class McLoss : public detail::LossBase<Estimator> {
    using Base = detail::LossBase<Estimator>;

public:
    using Scalar = typename Estimator::Scalar;

    /// \param estimator fixes the dimensions and parameter count the loss checks against.
    /// \param theta d_theta x n; \param x d_x x n (column i simulated at theta column i).
    /// \throws std::invalid_argument on n = 0, dimensions that do not match the estimator for the
    ///         task, or non-finite entries (the message names the array, row and column).
    McLoss(const Estimator& estimator, const ConstMatrixRef<double>& theta,
           const ConstMatrixRef<double>& x, Task task, LossOptions options = {})
        : Base(task, build_terms(estimator, theta, x, task, options)) {}

    [[nodiscard]] Index level_count() const { return 1; }
    [[nodiscard]] Index size() const { return this->terms().front().size(); }
    [[nodiscard]] std::string term_name(Index /*term*/) const { return "h_0"; }

    /// One entry: mean and variance of the per-sample loss f_i = -log q(y_i | c_i).
    std::vector<LevelDiagnostics> level_diagnostics(const Estimator& estimator) {
        return {Base::base_level(this->per_term_losses(estimator)[0])};
    }

    /// The per-sample losses f_i = -log q(y_i | c_i), in sample order (for paired comparisons
    /// of two models on the same samples).
    Vector<double> per_sample_losses(const Estimator& estimator) {
        return this->per_term_losses(estimator)[0];
    }

private:
    static detail::TermSet<Estimator> build_terms(const Estimator& estimator,
                                                  const ConstMatrixRef<double>& theta,
                                                  const ConstMatrixRef<double>& x, Task task,
                                                  const LossOptions& options) {
        require_task<Estimator>(task, "McLoss");
        options.validate();
        detail::check_level_arrays(theta, x, task, estimator.input_dim(), estimator.context_dim(),
                                   "McLoss: data", "x");
        std::vector<LossTerm<Scalar>> terms;
        terms.push_back(detail::make_term<Scalar>(theta, x, task, 1.0, 0, TermKind::base));
        return detail::TermSet<Estimator>(std::move(terms), estimator.parameter_count(),
                                          estimator.input_dim(), estimator.context_dim(), options,
                                          "McLoss");
    }
};

}  // namespace mlsbi::losses
