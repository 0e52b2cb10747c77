// SPDX-License-Identifier: MIT
/// \file
/// \brief Validation of (theta, x) arrays and their conversion into a prepared loss term.
#pragma once

#include <string>

#include "mlsbi/losses/loss_terms.hpp"

namespace mlsbi::losses::detail {

/// Checks one level's arrays against the estimator's dimensions and for finiteness; `where`
/// prefixes messages ("MlmcLoss: level 2"), `x_name` names the x array ("x_fine").
/// \throws std::invalid_argument naming the level and array.
inline void check_level_arrays(const ConstMatrixRef<double>& theta, const ConstMatrixRef<double>& x,
                               Task task, Index input_dim, Index context_dim,
                               const std::string& where, const char* x_name) {
    require(theta.cols() > 0, where, " has 0 samples");
    const Index theta_rows = task == Task::nle ? context_dim : input_dim;
    const Index x_rows = task == Task::nle ? input_dim : context_dim;
    const char* theta_role = task == Task::nle ? "context_dim" : "input_dim";
    const char* x_role = task == Task::nle ? "input_dim" : "context_dim";
    require(theta.rows() == theta_rows, where, " theta has ", theta.rows(),
            " rows, expected the estimator's ", theta_role, " ", theta_rows, " (task ",
            to_string(task), ")");
    require(x.rows() == x_rows, where, " ", x_name, " has ", x.rows(),
            " rows, expected the estimator's ", x_role, " ", x_rows, " (task ", to_string(task),
            ")");
    require(x.cols() == theta.cols(), where, " ", x_name, " has ", x.cols(),
            " columns but theta has ", theta.cols(), " (one simulation per theta)");
    require_finite(theta, (where + " theta").c_str());
    require_finite(x, (where + " " + x_name).c_str());
}

/// The term sign * mean_i -log q on (theta, x), oriented for the task and converted to Scalar.
template <typename Scalar>
LossTerm<Scalar> make_term(const ConstMatrixRef<double>& theta, const ConstMatrixRef<double>& x,
                           Task task, double sign, Index level, TermKind kind) {
    LossTerm<Scalar> term;
    const ConstMatrixRef<double>& y = task == Task::nle ? x : theta;
    const ConstMatrixRef<double>& c = task == Task::nle ? theta : x;
    term.y = y.template cast<Scalar>();
    term.c = c.template cast<Scalar>();
    term.sign = sign;
    term.level = level;
    term.kind = kind;
    return term;
}

}  // namespace mlsbi::losses::detail
