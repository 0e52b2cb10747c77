// SPDX-License-Identifier: MIT
/// \file
/// \brief fit_standardization: the estimator fits its z-scoring on simulations, oriented for the
/// task. Losses only read data; the recipes call this once, on the data the model must describe.
#pragma once

#include "mlsbi/losses/detail/prepare.hpp"
#include "mlsbi/losses/loss_terms.hpp"

namespace mlsbi::training {

/// Fits `estimator`'s z-scoring on simulations (theta_i, x_i): y = x, c = theta for NLE and
/// y = theta, c = x for NPE. Double data reach a float estimator converted once.
/// \param theta d_theta x n; \param x d_x x n (column i simulated at theta column i).
/// \throws std::invalid_argument naming `caller` if the estimator is tagged for the other task,
///         the shapes do not fit the estimator for the
///         task, the columns differ, or n < 2 (a standard deviation needs two samples).
template <losses::TrainableEstimator Estimator>
void fit_standardization(Estimator& estimator, const ConstMatrixRef<double>& theta,
                         const ConstMatrixRef<double>& x, losses::Task task,
                         const char* caller = "fit_standardization") {
    losses::require_task<Estimator>(task, caller);
    losses::detail::check_level_arrays(theta, x, task, estimator.input_dim(),
                                       estimator.context_dim(), caller, "x");
    require(theta.cols() >= 2, caller, ": the z-scoring needs at least 2 samples, got ",
            theta.cols());
    if (task == losses::Task::nle)
        estimator.fit_standardization(x, theta);
    else
        estimator.fit_standardization(theta, x);
}

/// Fits the z-scoring on a multilevel dataset's highest level, (theta, x_fine) of G_L, the
/// simulator the model must describe. One z-scoring serves every level: per-level statistics
/// would scale the +f_l and -f_{l-1} terms of a correction differently and break the
/// telescoping sum.
/// \throws std::invalid_argument as above, or on a dataset without levels.
template <losses::TrainableEstimator Estimator, losses::MultilevelData Data>
void fit_standardization(Estimator& estimator, const Data& data, losses::Task task,
                         const char* caller = "fit_standardization (the highest level)") {
    require(data.levels.size() >= 1, caller, ": the dataset has no levels");
    const auto& top = data.levels.back();
    fit_standardization(estimator, top.theta, top.x_fine, task, caller);
}

}  // namespace mlsbi::training
