// SPDX-License-Identifier: MIT
/// \file
/// \brief Shared vocabulary of the MC and MLMC losses: the task (NLE or NPE), evaluation options,
/// batch slices, the estimator and dataset concepts, and the prepared loss term.
#pragma once

#include <concepts>
#include <cstdint>
#include <string>
#include <vector>

#include "mlsbi/core/errors.hpp"
#include "mlsbi/core/types.hpp"
#include "mlsbi/flows/estimator_task.hpp"

namespace mlsbi::losses {

/// What the estimator models. NLE learns q(x | theta): y = x (the simulation), c = theta.
/// NPE learns q(theta | x): y = theta, c = x.
enum class Task { nle, npe };

[[nodiscard]] inline const char* to_string(Task task) { return task == Task::nle ? "nle" : "npe"; }

/// How the last evaluation of a McLoss or MlmcLoss ran (a cheap diagnostic, e.g. for tests
/// that must see the parallel path run).
struct EvaluationStats {
    Index tasks = 0;  ///< chunks evaluated (one chunk of one term each)
    int threads = 0;  ///< OpenMP threads of the parallel region; 1 on the serial path
};

/// Checks that an estimator tagged with a flows::EstimatorTask is trained for its own task.
/// \throws std::invalid_argument (message starting with `who`) for a likelihood estimator and
///         Task::npe, or a posterior estimator and Task::nle.
template <class Estimator>
void require_task(Task task, const char* who) {
    constexpr flows::EstimatorTask own = flows::estimator_task<Estimator>();
    require(own == flows::EstimatorTask::unspecified ||
                (own == flows::EstimatorTask::likelihood) == (task == Task::nle),
            who, ": a ", flows::to_string(own), " estimator cannot be trained for task ",
            to_string(task), " (use flows::", task == Task::nle ? "Likelihood" : "Posterior",
            "Estimator)");
}

/// Evaluation options shared by McLoss and MlmcLoss.
struct LossOptions {
    /// Columns per evaluation chunk (>= 1). Each chunk is one forward and one backward pass with
    /// its own workspace and gradient buffer; chunks run in parallel and are reduced in a fixed
    /// order, so results are bit-identical for any thread count (they do depend on chunk_size).
    Index chunk_size = 2048;
    /// OpenMP threads for the chunk loop; 0 = the OpenMP default (OMP_NUM_THREADS).
    int threads = 0;

    /// \throws std::invalid_argument naming the invalid field.
    void validate() const {
        require(chunk_size >= 1, "LossOptions: chunk_size must be >= 1, got ", chunk_size);
        require(threads >= 0, "LossOptions: threads must be >= 0, got ", threads);
    }
};

/// Batch `index` of `count` level-stratified batches: every loss term uses the columns
/// [floor(index n / count), floor((index + 1) n / count)) of its (shuffled) data, so each batch
/// holds the same fraction of every level and the seed-matched pairs stay together.
/// The default is the full batch (the paper's mode).
struct BatchSlice {
    Index index = 0;  ///< in [0, count)
    Index count = 1;  ///< >= 1 and at most the smallest level size
};

/// A conditional density estimator the losses can train (flows::ConditionalEstimator satisfies
/// it). y is input_dim x n, c is context_dim x n; `log_prob_gradient` returns
/// sum_i w_i log q(y_i | c_i) and ADDS its parameter gradient to `grad`. Const methods must be
/// safe to call concurrently with distinct Workspaces.
template <class E>
concept TrainableEstimator = RealScalar<typename E::Scalar> &&
    std::default_initializable<typename E::Workspace> &&
    requires(E& e, const E& ce, const ConstMatrixRef<typename E::Scalar>& m,
             const ConstVectorRef<typename E::Scalar>& w, VectorRef<typename E::Scalar> out,
             typename E::Workspace& ws) {
    { ce.input_dim() } -> std::convertible_to<Index>;
    { ce.context_dim() } -> std::convertible_to<Index>;
    { ce.parameter_count() } -> std::convertible_to<Index>;
    { e.parameters() } -> std::same_as<Vector<typename E::Scalar>&>;
    {e.fit_standardization(m, m)};
    {ce.log_prob(m, m, out, ws)};
    { ce.log_prob_gradient(m, m, w, out, ws) } -> std::convertible_to<typename E::Scalar>;
};

/// Seed-matched multilevel data as simulators::MultilevelDataset holds it: `levels[l]` has
/// `theta` (d_theta x n_l), `x_fine` (d_x x n_l, the output of G_l) and, for l >= 1,
/// `x_coarse` (d_x x n_l, G_{l-1} at the same theta and seed). Level 0's x_coarse is ignored.
template <class D>
concept MultilevelData = requires(const D& d, std::size_t l) {
    { d.levels.size() } -> std::convertible_to<std::size_t>;
    { d.levels[l].theta } -> std::convertible_to<const Matrix<double>&>;
    { d.levels[l].x_fine } -> std::convertible_to<const Matrix<double>&>;
    { d.levels[l].x_coarse } -> std::convertible_to<const Matrix<double>&>;
};

/// Which MLMC term a prepared term is.
enum class TermKind {
    base,    ///< h_0 = mean f_0 on level 0
    fine,    ///< zeta_l^+ = mean f_l on level l's x_l
    coarse,  ///< zeta_l^- = -mean f_{l-1} on level l's x_{l-1}
};

/// One loss term, prepared once: data converted to Scalar, oriented for the task.
/// Its value is sign * (1/n) sum_i f(y_i, c_i) with f = -log q(y | c).
template <typename Scalar>
struct LossTerm {
    Matrix<Scalar> y;   ///< modelled variable, input_dim x n
    Matrix<Scalar> c;   ///< context, context_dim x n
    double sign = 1.0;  ///< +1 (h_0, zeta^+) or -1 (zeta^-)
    Index level = 0;    ///< level whose data the term uses
    TermKind kind = TermKind::base;

    [[nodiscard]] Index size() const { return y.cols(); }
    /// "h_0", "zeta_2^+", "zeta_2^-".
    [[nodiscard]] std::string name() const {
        if (kind == TermKind::base) return "h_0";
        return message("zeta_", level, kind == TermKind::fine ? "^+" : "^-");
    }
};

/// Per-level statistics of the per-sample losses at the current parameters:
/// they say whether seed matching works (high correlation, small V_l) and feed the MLMC sample
/// allocation n_l ~ sqrt(V_l / c_l).
struct LevelDiagnostics {
    Index level = 0;
    Index size = 0;              ///< n_l
    double mean = 0;             ///< level 0: mean f_0; l >= 1: mean of f_l - f_{l-1} (h_l)
    double variance = 0;         ///< V_l: unbiased variance of that per-sample quantity
    double variance_fine = 0;    ///< Var f_l on level l's data (level 0: = variance)
    double variance_coarse = 0;  ///< Var f_{l-1} on the same pairs (level 0: 0)
    double correlation = 0;  ///< corr(f_l, f_{l-1}) on the pairs (level 0, or a zero variance: 0)
    double variance_of_mean = 0;  ///< V_l / n_l, this level's share of the loss estimate's variance
};

}  // namespace mlsbi::losses
