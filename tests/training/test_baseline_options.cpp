// SPDX-License-Identifier: MIT
// Tests for the options of training/baselines.hpp: nested designated initialisers keep the
// baseline's early stopping (regression: `.training = {...}` used to rebuild TrainingOptions
// with early stopping off), and the training batch size becomes mini-batches per epoch.
#include <catch2/catch.hpp>

#include "mlsbi/flows/conditional_estimator.hpp"
#include "mlsbi/flows/diagonal_gaussian.hpp"
#include "mlsbi/rng/normal.hpp"
#include "mlsbi/training/baselines.hpp"

using namespace mlsbi;

TEST_CASE("Nested baseline options keep early stopping on", "[training][baselines][options]") {
    const training::BaselineOptions nested{.training = {.max_epochs = 100}};
    CHECK(nested.effective_training(1000).early_stopping);
    CHECK(nested.effective_training(1000).max_epochs == 100);
    CHECK(training::BaselineOptions{}.effective_training(1000).early_stopping);
    // Fixed epochs remain possible: both flags off.
    const training::BaselineOptions fixed{.training = {.max_epochs = 100, .early_stopping = false},
                                          .early_stopping = false};
    CHECK_FALSE(fixed.effective_training(1000).early_stopping);
}

TEST_CASE("training_batch_size sets the mini-batches; 0 is full batch",
          "[training][baselines][options]") {
    training::BaselineOptions options;
    CHECK(options.training_batch_size == 200);  // sbi's default
    CHECK(options.effective_training(900).batches_per_epoch == 4);
    CHECK(options.effective_training(150).batches_per_epoch == 1);
    options.training_batch_size = 0;
    CHECK(options.effective_training(900).batches_per_epoch == 1);
    options.training.batches_per_epoch = 3;  // explicit batches win
    options.training_batch_size = 100;
    CHECK(options.effective_training(900).batches_per_epoch == 3);
    options.training_batch_size = -1;
    CHECK_THROWS_AS(options.validate(), std::invalid_argument);
}

TEST_CASE("train_mc early-stops with nested options and steps per mini-batch",
          "[training][baselines][options]") {
    RandomStream rng(3);
    Matrix<double> theta(1, 500), x(1, 500);
    for (Index j = 0; j < 500; ++j) {
        theta(0, j) = rng.uniform(-1, 1);
        x(0, j) = theta(0, j) + 0.2 * standard_normal(rng);
    }
    flows::DiagonalGaussian<double>::Options density;
    density.hidden = {8};
    flows::ConditionalEstimator<flows::DiagonalGaussian<double>> est(density, 1);
    training::BaselineOptions options{
        .training = {.max_epochs = 3000, .patience = 3, .adam = {.learning_rate = 3e-2},
                     .progress = false}};
    const auto summary = training::train_mc(est, theta, x, losses::Task::nle, options);
    CHECK(summary.status == training::TrainingStatus::early_stopped);
    CHECK(summary.epochs < 3000);
    CHECK(summary.steps == 2L * summary.epochs);  // 450 training samples / 200 = 2 batches
}
