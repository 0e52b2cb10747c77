// SPDX-License-Identifier: MIT
/// \file
/// \brief Classifier two-sample test (C2ST): cross-validated accuracy of an MLP classifier that
/// tells two samples apart, as the sbi benchmark computes it (0.5 = indistinguishable, 1 =
/// disjoint).
///
/// Protocol of sbi's `c2st` (sbibm, Lueckmann et al. 2021): z-score both samples with the mean and
/// standard deviation of the first, label them 0 and 1, shuffle into k = 5 folds, and for each
/// fold train scikit-learn's MLPClassifier (2 hidden layers of 10 x dim, ReLU, Adam with lr 1e-3,
/// minibatches of 200, L2 penalty 1e-4, stop when the training loss has not improved by 1e-4 for
/// 10 epochs) on the other folds; report the mean held-out accuracy. This implementation follows
/// that recipe on nn::Mlp with a hand-written logistic-loss gradient, trained by the library's
/// loop (training::train_with with optimizers::Adam, detail/c2st_classifier.hpp).
///
/// References: Lopez-Paz, Oquab (2017), Revisiting classifier two-sample tests, ICLR;
/// Lueckmann et al. (2021), Benchmarking simulation-based inference, AISTATS.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <vector>

#include "mlsbi/core/errors.hpp"
#include "mlsbi/core/parallel_for.hpp"
#include "mlsbi/diagnostics/detail/c2st_classifier.hpp"
#include "mlsbi/optimizers/adam.hpp"
#include "mlsbi/rng/random_stream.hpp"
#include "mlsbi/rng/shuffle.hpp"
#include "mlsbi/training/trainer.hpp"

namespace mlsbi::diagnostics {

/// Options of c2st; the defaults reproduce sbi's c2st / scikit-learn's MLPClassifier.
struct C2stOptions {
    Index folds = 5;               ///< k of the k-fold cross-validation, >= 2
    Index hidden_multiplier = 10;  ///< hidden width = hidden_multiplier x dim, >= 1
    Index hidden_layers = 2;       ///< number of hidden ReLU layers, >= 1
    Index max_epochs = 10000;      ///< cap on training epochs per fold (sbi's max_iter), >= 1
    Index batch_size = 200;        ///< minibatch size (min(200, n) in scikit-learn), >= 1
    double learning_rate = 1e-3;   ///< Adam step size, > 0
    double beta1 = 0.9;            ///< Adam first-moment decay, in [0, 1)
    double beta2 = 0.999;          ///< Adam second-moment decay, in [0, 1)
    double epsilon = 1e-8;         ///< Adam denominator offset, >= 0
    double l2_penalty = 1e-4;  ///< scikit-learn's alpha: loss += alpha ||W||^2 / (2 batch), >= 0
    double tolerance = 1e-4;   ///< an epoch "improves" if its loss drops by more than this, >= 0
    Index patience = 10;       ///< stop after more than this many epochs without improvement
    bool z_score = true;       ///< standardise both samples with the first sample's moments
    std::uint64_t seed = 0;    ///< fold assignment, initialisation and minibatch order

    /// \throws std::invalid_argument naming the first invalid field.
    void validate() const {
        require(folds >= 2, "C2stOptions: folds must be >= 2, got ", folds);
        require(hidden_multiplier >= 1, "C2stOptions: hidden_multiplier must be >= 1, got ",
                hidden_multiplier);
        require(hidden_layers >= 1, "C2stOptions: hidden_layers must be >= 1, got ", hidden_layers);
        require(max_epochs >= 1, "C2stOptions: max_epochs must be >= 1, got ", max_epochs);
        require(batch_size >= 1, "C2stOptions: batch_size must be >= 1, got ", batch_size);
        require(l2_penalty >= 0 && std::isfinite(l2_penalty),
                "C2stOptions: l2_penalty must be finite and >= 0, got ", l2_penalty);
        require(tolerance >= 0, "C2stOptions: tolerance must be >= 0, got ", tolerance);
        require(patience >= 0, "C2stOptions: patience must be >= 0, got ", patience);
        optimizers::AdamOptions{learning_rate, beta1, beta2, epsilon}.validate();
    }
};

/// Result of c2st.
struct C2stResult {
    double accuracy = 0;           ///< mean held-out accuracy over the folds
    Vector<double> fold_accuracy;  ///< per fold
    std::vector<Index> epochs;     ///< training epochs run per fold
    bool converged = true;         ///< every fold stopped by the tolerance rule before max_epochs
};

namespace detail {

/// Trains one classifier on (train_x, train_label) through training::train_with (Adam, the
/// logistic loss over minibatches, scikit-learn's stopping rule as a policy) and returns its
/// accuracy on the test set.
template <typename Scalar>
double c2st_fold(const Matrix<Scalar>& train_x, const Vector<Scalar>& train_label,
                 const Matrix<Scalar>& test_x, const Vector<Scalar>& test_label,
                 const C2stOptions& options, std::uint64_t seed, Index& epochs, bool& converged) {
    Classifier<Scalar> classifier(train_x.rows(), options.hidden_layers,
                                  options.hidden_multiplier * train_x.rows(), seed);
    LogisticLoss<Scalar> loss(train_x, train_label, options.batch_size, options.l2_penalty);
    training::TrainingOptions training;
    training.max_epochs = static_cast<int>(std::min<Index>(options.max_epochs, 1 << 30));
    training.batches_per_epoch = loss.batch_count();
    training.shuffle_seed = derive_seed(seed, 0x73687566ULL);              // "shuf"
    training.max_gradient_norm = std::numeric_limits<double>::infinity();  // sklearn: no clipping
    training.adam = optimizers::AdamOptions{options.learning_rate, options.beta1, options.beta2,
                                            options.epsilon};
    optimizers::Adam<Scalar> adam(classifier.parameter_count(), training.adam);
    TrainingLossPlateau<LogisticLoss<Scalar>> plateau(loss, train_x.cols(), options.tolerance,
                                                      options.patience);
    const training::TrainingSummary summary =
        training::train_with(classifier, loss, training, adam, plateau);
    epochs = summary.epochs;
    converged = plateau.converged();
    return classifier.accuracy(test_x, test_label);
}

}  // namespace detail

/// Classifier two-sample test between samples x (d x n) and y (d x m): mean k-fold held-out
/// accuracy of an MLP classifier. About 0.5 when x and y come from the same distribution (the
/// standard error is about 0.5 / sqrt(n + m)); 1 when they are perfectly separable.
///
/// Folds run in parallel (OpenMP); each fold uses its own stream derive_seed(seed, fold), so the
/// result is the same for any thread count.
/// \tparam Scalar precision of the classifier (float is twice as fast; accuracy is unaffected).
/// \throws std::invalid_argument on mismatched dimensions, fewer samples than 2 x folds,
///         non-finite values or invalid options.
template <typename Scalar = float>
[[nodiscard]] C2stResult c2st(const ConstMatrixRef<double>& x, const ConstMatrixRef<double>& y,
                              const C2stOptions& options = {}) {
    options.validate();
    const Index d = x.rows();
    require(d >= 1 && y.rows() == d, "c2st: x and y must have the same dimension (rows), got ",
            x.rows(), " and ", y.rows());
    const Index total = x.cols() + y.cols();
    require(x.cols() >= 1 && y.cols() >= 1 && total >= 2 * options.folds,
            "c2st: need at least 2 x folds samples in all (and one of each), got ", x.cols(),
            " and ", y.cols());
    require_finite(x, "c2st: x");
    require_finite(y, "c2st: y");

    Vector<double> mean = Vector<double>::Zero(d);
    Vector<double> sd = Vector<double>::Ones(d);
    if (options.z_score) {
        mean = x.rowwise().mean();
        if (x.cols() >= 2) {
            for (Index i = 0; i < d; ++i) {
                const double s = std::sqrt((x.row(i).array() - mean(i)).square().sum() /
                                           static_cast<double>(x.cols() - 1));
                if (s > 0) sd(i) = s;
            }
        }
    }
    Matrix<Scalar> data(d, total);
    Vector<Scalar> label(total);
    for (Index j = 0; j < total; ++j) {
        const bool from_x = j < x.cols();
        const auto col = from_x ? x.col(j) : y.col(j - x.cols());
        data.col(j) = ((col - mean).array() / sd.array()).matrix().template cast<Scalar>();
        label(j) = from_x ? Scalar(0) : Scalar(1);
    }
    // KFold(shuffle=True): a random permutation cut into k contiguous folds, the first
    // total % k folds one larger.
    RandomStream shuffle(derive_seed(options.seed, 0x6332737453ULL));  // "c2stS"
    const std::vector<Index> perm = random_permutation(total, shuffle);
    const Index k = options.folds;
    std::vector<Index> fold_start(static_cast<std::size_t>(k + 1), 0);
    for (Index f = 0; f < k; ++f)
        fold_start[static_cast<std::size_t>(f + 1)] =
            fold_start[static_cast<std::size_t>(f)] + total / k + (f < total % k ? 1 : 0);

    C2stResult result;
    result.fold_accuracy.resize(k);
    result.epochs.assign(static_cast<std::size_t>(k), 0);
    std::vector<char> fold_converged(static_cast<std::size_t>(k), 0);
    const auto run_fold = [&](Index f) {
        const Index begin = fold_start[static_cast<std::size_t>(f)];
        const Index end = fold_start[static_cast<std::size_t>(f + 1)];
        Matrix<Scalar> train_x(d, total - (end - begin)), test_x(d, end - begin);
        Vector<Scalar> train_label(train_x.cols()), test_label(test_x.cols());
        Index tr = 0;
        for (Index i = 0; i < total; ++i) {
            const Index j = perm[static_cast<std::size_t>(i)];
            if (i >= begin && i < end) {
                test_x.col(i - begin) = data.col(j);
                test_label(i - begin) = label(j);
            } else {
                train_x.col(tr) = data.col(j);
                train_label(tr++) = label(j);
            }
        }
        bool converged = false;
        Index epochs = 0;
        result.fold_accuracy(f) = detail::c2st_fold<Scalar>(
            train_x, train_label, test_x, test_label, options,
            derive_seed(options.seed, static_cast<std::uint64_t>(f), 0x63327374ULL), epochs,
            converged);
        result.epochs[static_cast<std::size_t>(f)] = epochs;
        fold_converged[static_cast<std::size_t>(f)] = converged ? 1 : 0;
    };
    // Folds in parallel; each fold's classifier runs its Eigen products serially.
    parallel_for(k, outer_thread_count(), Schedule::dynamic, [&](Index f) { run_fold(f); });
    result.accuracy = result.fold_accuracy.mean();
    for (char c : fold_converged) result.converged = result.converged && c != 0;
    return result;
}

}  // namespace mlsbi::diagnostics
