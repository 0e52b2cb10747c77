// SPDX-License-Identifier: MIT
/// \file
/// \brief Ready-made training recipes: ML (MLMC) training, the MC NLE/NPE baseline with a 10%
/// validation split and early stopping, and the transfer-learning (TL) baseline.
#pragma once

#include <algorithm>
#include <cmath>
#include <numeric>
#include <utility>
#include <vector>

#include "mlsbi/losses/mc_loss.hpp"
#include "mlsbi/losses/mlmc_loss.hpp"
#include "mlsbi/simulators/multilevel_dataset.hpp"
#include "mlsbi/training/trainer.hpp"

namespace mlsbi::training {

/// A random split of n sample indices into training and validation parts (both sorted).
struct IndexSplit {
    std::vector<Index> train;
    std::vector<Index> validation;
};

/// Holds out round(fraction n) indices (at least 1) for validation, chosen by a seeded shuffle.
/// \throws std::invalid_argument if fraction is not in (0, 1) or fewer than 1 training index
///         would remain.
[[nodiscard]] inline IndexSplit split_indices(Index n, double fraction, std::uint64_t seed) {
    require(fraction > 0 && fraction < 1, "split_indices: fraction must be in (0, 1), got ",
            fraction);
    const Index held_out =
        std::max<Index>(1, static_cast<Index>(std::lround(fraction * double(n))));
    require(n - held_out >= 1, "split_indices: ", n, " samples cannot be split with fraction ",
            fraction, " (", held_out, " held out, none left to train on)");
    std::vector<Index> order(static_cast<std::size_t>(n));
    std::iota(order.begin(), order.end(), Index(0));
    RandomStream rng(seed, 0x73706c6974ULL);  // "split"
    for (Index i = n - 1; i > 0; --i)
        std::swap(
            order[static_cast<std::size_t>(i)],
            order[static_cast<std::size_t>(rng.uniform_index(static_cast<std::uint64_t>(i + 1)))]);
    IndexSplit split;
    split.validation.assign(order.begin(), order.begin() + held_out);
    split.train.assign(order.begin() + held_out, order.end());
    std::sort(split.validation.begin(), split.validation.end());
    std::sort(split.train.begin(), split.train.end());
    return split;
}

/// Splits every level's seed-matched samples (pairs stay whole; seeds follow when the data have
/// them) into training and validation parts, holding out `fraction` of each level (at least one
/// sample per level).
/// \throws std::invalid_argument if a level is too small to split (see split_indices).
template <losses::MultilevelData Data>
[[nodiscard]] std::pair<simulators::MultilevelDataset, simulators::MultilevelDataset> split_levels(
    const Data& data, double fraction, std::uint64_t seed) {
    std::pair<simulators::MultilevelDataset, simulators::MultilevelDataset> out;
    for (std::size_t l = 0; l < data.levels.size(); ++l) {
        const auto& level = data.levels[l];
        const IndexSplit split = split_indices(level.theta.cols(), fraction, derive_seed(seed, l));
        auto take = [&](const std::vector<Index>& idx) {
            simulators::LevelData a;
            a.theta = level.theta(Eigen::all, idx);
            a.x_fine = level.x_fine(Eigen::all, idx);
            if (l > 0) a.x_coarse = level.x_coarse(Eigen::all, idx);
            if constexpr (requires { level.seeds.size(); }) {
                if (!level.seeds.empty())
                    for (Index i : idx) a.seeds.push_back(level.seeds[static_cast<std::size_t>(i)]);
            }
            return a;
        };
        out.first.levels.push_back(take(split.train));
        out.second.levels.push_back(take(split.validation));
    }
    return out;
}

/// Options of the MC baseline (and of each phase of TL): the paper's early-stopped training.
struct BaselineOptions {
    TrainingOptions training{
        .max_epochs = 2000, .early_stopping = true, .patience = 20, .label = "mc"};
    double validation_fraction = 0.1;  ///< held out for early stopping, in (0, 1)
    std::uint64_t split_seed = 0;      ///< seeds the validation split
    losses::LossOptions loss{};
    /// The baseline stops early on its validation split. Held here as well as in `training`
    /// because `BaselineOptions{.training = {.max_epochs = 100}}` rebuilds `training` from
    /// TrainingOptions' own defaults (early stopping off): the recipe stops early when either
    /// flag is set. For fixed epochs set both to false.
    bool early_stopping = true;
    /// Samples per mini-batch (sbi's training_batch_size): each epoch takes
    /// max(1, n_train / training_batch_size) steps, unless `training.batches_per_epoch` is set
    /// above 1 (then that wins). 0 = full batch (one step per epoch, the paper's setting).
    Index training_batch_size = 200;

    void validate() const {
        training.validate();
        require(validation_fraction > 0 && validation_fraction < 1,
                "BaselineOptions: validation_fraction must be in (0, 1), got ",
                validation_fraction);
        require(training_batch_size >= 0, "BaselineOptions: training_batch_size must be >= 0, got ",
                training_batch_size);
        loss.validate();
    }

    /// The TrainingOptions the recipe runs for n_train training samples.
    [[nodiscard]] TrainingOptions effective_training(Index n_train) const {
        TrainingOptions out = training;
        out.early_stopping = training.early_stopping || early_stopping;
        if (training.batches_per_epoch == 1 && training_batch_size > 0)
            out.batches_per_epoch = std::max<Index>(1, n_train / training_batch_size);
        return out;
    }
};

/// MC NLE / NPE baseline: holds out `validation_fraction` of (theta, x), fits the z-scoring on
/// the training part, trains (mini-batches of `training_batch_size`, see
/// BaselineOptions::effective_training) with early stopping on the held-out mean NLL and
/// restores the best weights (as the paper's baselines prescribe; the research code kept the last
/// ones by mistake).
/// \param theta d_theta x n; \param x d_x x n.
template <losses::TrainableEstimator Estimator>
TrainingSummary train_mc(Estimator& estimator, const ConstMatrixRef<double>& theta,
                         const ConstMatrixRef<double>& x, losses::Task task,
                         const BaselineOptions& options = {},
                         const TrainingCallbacks& callbacks = {}) {
    options.validate();
    require(x.cols() == theta.cols(), "train_mc: x has ", x.cols(), " columns but theta has ",
            theta.cols());
    const IndexSplit split =
        split_indices(theta.cols(), options.validation_fraction, options.split_seed);
    const Matrix<double> theta_train = theta(Eigen::all, split.train);
    const Matrix<double> x_train = x(Eigen::all, split.train);
    const Matrix<double> theta_validation = theta(Eigen::all, split.validation);
    const Matrix<double> x_validation = x(Eigen::all, split.validation);
    losses::McLoss<Estimator> loss(estimator, theta_train, x_train, task, options.loss);
    losses::McLoss<Estimator> validation(estimator, theta_validation, x_validation, task,
                                         options.loss);
    return train(estimator, loss, &validation,
                 options.effective_training(static_cast<Index>(split.train.size())), callbacks);
}

/// Which validation loss ML training monitors.
enum class MlmcValidation {
    none,           ///< fixed epochs on all data (the paper's ML mode)
    held_out_mlmc,  ///< the MLMC loss on `validation_fraction` of every level's seed-matched
                    ///< pairs, held out (an unbiased estimate of the high-fidelity NLL, noisy
                    ///< when n_L is small)
};

/// Options of ML training. Defaults: the paper's (1000 full-batch epochs, no validation).
struct MlmcTrainingOptions {
    TrainingOptions training{.label = "mlmc"};
    MlmcValidation validation = MlmcValidation::none;
    double validation_fraction = 0.1;  ///< per level, when validation = held_out_mlmc
    std::uint64_t split_seed = 0;
    losses::LossOptions loss{};

    void validate() const {
        training.validate();
        require(validation_fraction > 0 && validation_fraction < 1,
                "MlmcTrainingOptions: validation_fraction must be in (0, 1), got ",
                validation_fraction);
        loss.validate();
    }
};

/// ML-NLE / ML-NPE training on seed-matched multilevel data (MlmcLoss, z-scoring fitted on the
/// highest-fidelity training data, Algorithm 1 per step). With validation = held_out_mlmc the
/// MLMC loss on held-out pairs of every level is the validation loss (use `early_stopping` in
/// `training` to stop on it); the other overload takes any validation loss, e.g. an McLoss on a
/// separate high-fidelity-only set (the high-fidelity NLL).
template <losses::TrainableEstimator Estimator, losses::MultilevelData Data>
TrainingSummary train_mlmc(Estimator& estimator, const Data& data, losses::Task task,
                           const MlmcTrainingOptions& options = {},
                           const TrainingCallbacks& callbacks = {}) {
    options.validate();
    if (options.validation == MlmcValidation::none) {
        require(!options.training.early_stopping,
                "train_mlmc: early_stopping needs validation = held_out_mlmc or a validation loss");
        losses::MlmcLoss<Estimator> loss(estimator, data, task, options.loss);
        return train(estimator, loss, options.training, callbacks);
    }
    const auto [train_part, validation_part] =
        split_levels(data, options.validation_fraction, options.split_seed);
    losses::MlmcLoss<Estimator> loss(estimator, train_part, task, options.loss);
    losses::MlmcLoss<Estimator> validation(estimator, validation_part, task, options.loss);
    return train(estimator, loss, &validation, options.training, callbacks);
}

/// ML training with a user-supplied validation loss (anything with `value(estimator)`).
template <losses::TrainableEstimator Estimator, losses::MultilevelData Data, class Validation>
requires ValidationLoss<Validation, Estimator> TrainingSummary train_mlmc(
    Estimator& estimator, const Data& data, losses::Task task, const MlmcTrainingOptions& options,
    Validation& validation, const TrainingCallbacks& callbacks = {}) {
    options.validate();
    losses::MlmcLoss<Estimator> loss(estimator, data, task, options.loss);
    return train(estimator, loss, &validation, options.training, callbacks);
}

/// Which data fix the z-scoring of the TL baseline (kept through both phases).
enum class TransferStandardization {
    low_fidelity,   ///< the low-fidelity training data (what sbi does: the network is built on the
                    ///< first data it sees)
    high_fidelity,  ///< the high-fidelity training data (as ML training does)
};

/// Options of the TL baseline: each phase is an early-stopped baseline run.
struct TransferOptions {
    BaselineOptions pretraining{
        .training = {
            .max_epochs = 2000, .early_stopping = true, .patience = 20, .label = "tl-low"}};
    BaselineOptions fine_tuning{
        .training = {
            .max_epochs = 2000, .early_stopping = true, .patience = 20, .label = "tl-high"}};
    TransferStandardization standardization = TransferStandardization::low_fidelity;
};

/// The two phases of TL.
struct TransferSummary {
    TrainingSummary pretraining;  ///< on low-fidelity data
    TrainingSummary fine_tuning;  ///< on high-fidelity data, starting from the pretrained weights
};

/// Transfer-learning baseline (Krouglova et al.): train on low-fidelity data with early stopping,
/// then continue training the SAME network (same z-scoring, fresh Adam state) on high-fidelity
/// data with early stopping. Each phase holds out its own validation fraction. If pretraining
/// ends non-finite, fine-tuning still starts from the weights it restored.
template <losses::TrainableEstimator Estimator>
TransferSummary train_transfer(Estimator& estimator, const ConstMatrixRef<double>& theta_low,
                               const ConstMatrixRef<double>& x_low,
                               const ConstMatrixRef<double>& theta_high,
                               const ConstMatrixRef<double>& x_high, losses::Task task,
                               const TransferOptions& options = {},
                               const TrainingCallbacks& callbacks = {}) {
    options.pretraining.validate();
    options.fine_tuning.validate();
    TransferSummary out;
    BaselineOptions pretraining = options.pretraining;
    if (options.standardization == TransferStandardization::high_fidelity) {
        const IndexSplit split =
            split_indices(theta_high.cols(), options.fine_tuning.validation_fraction,
                          options.fine_tuning.split_seed);
        const Matrix<double> theta = theta_high(Eigen::all, split.train);
        const Matrix<double> x = x_high(Eigen::all, split.train);
        losses::McLoss<Estimator>(estimator, theta, x, task, options.fine_tuning.loss)
            .fit_standardization(estimator);
        pretraining.training.fit_standardization = false;
    }
    out.pretraining = train_mc(estimator, theta_low, x_low, task, pretraining, callbacks);
    BaselineOptions fine_tuning = options.fine_tuning;
    fine_tuning.training.fit_standardization = false;
    out.fine_tuning = train_mc(estimator, theta_high, x_high, task, fine_tuning, callbacks);
    return out;
}

}  // namespace mlsbi::training
