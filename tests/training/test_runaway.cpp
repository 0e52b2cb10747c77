// SPDX-License-Identifier: MIT
// Tests for training/runaway.hpp and the `runaway` status of train(): a held-out criterion that
// rises past the margin never ends `completed` and the best validated weights come back; an MLMC
// run whose corrections run away (the issue's -2.4e6 while `completed`) is flagged with its epoch
// long before the divergence threshold; honest runs are not flagged.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <vector>

#include "mlsbi/flows/conditional_estimator.hpp"
#include "mlsbi/flows/diagonal_gaussian.hpp"
#include "mlsbi/losses.hpp"
#include "mlsbi/rng/normal.hpp"
#include "mlsbi/training.hpp"

using namespace mlsbi;
using losses::Task;
using training::TrainingStatus;

namespace {

using Estimator = flows::ConditionalEstimator<flows::DiagonalGaussian<float>>;

Estimator make_estimator(std::uint64_t seed) {
    flows::DiagonalGaussian<float>::Options o;
    o.input_dim = 1;
    o.context_dim = 1;
    o.hidden = {16, 16};
    o.activation = nn::Activation::tanh;
    return Estimator(o, seed);
}

// theta ~ U(-1, 1), x = sin(3 theta) + 0.3 z at level 1; level 0 is shifted by `shift` (same z).
simulators::MultilevelDataset make_data(Index n0, Index n1, double shift, std::uint64_t seed) {
    simulators::MultilevelDataset data;
    for (int level : {0, 1}) {
        const Index n = level == 0 ? n0 : n1;
        simulators::LevelData a;
        a.theta.resize(1, n);
        a.x_fine.resize(1, n);
        if (level > 0) a.x_coarse.resize(1, n);
        for (Index j = 0; j < n; ++j) {
            RandomStream rng(derive_seed(seed, static_cast<std::uint64_t>(level),
                                         static_cast<std::uint64_t>(j)));
            const double theta = rng.uniform(-1, 1);
            const double z = standard_normal(rng);
            const double high = std::sin(3 * theta) + 0.3 * z;
            a.theta(0, j) = theta;
            a.x_fine(0, j) = level == 1 ? high : high + shift;
            if (level > 0) a.x_coarse(0, j) = high + shift;
        }
        data.levels.push_back(std::move(a));
    }
    return data;
}

// A validation "loss" that falls for `falling` epochs, then rises by `step` per epoch.
struct ScriptedValidation {
    int falling = 3;
    double step = 0.25;
    int calls = 0;
    template <class E>
    double value(const E&) {
        ++calls;
        return calls <= falling ? -0.1 * calls : -0.1 * falling + step * (calls - falling);
    }
};

training::TrainingOptions quiet(int epochs, double learning_rate) {
    training::TrainingOptions o;
    o.max_epochs = epochs;
    o.adam.learning_rate = learning_rate;
    o.progress = false;
    return o;
}

}  // namespace

TEST_CASE("mlmc_runaway compares the two estimates of each E[f_{l-1}]", "[training][runaway]") {
    // h_0, zeta_1^+, zeta_1^-, zeta_2^+, zeta_2^-
    CHECK_FALSE(training::mlmc_runaway({1.0, 0.9, -1.2, 0.8, -1.0}, 10.0));
    CHECK_FALSE(training::mlmc_runaway({1.0}, 10.0));  // single term: nothing to compare
    const auto level1 = training::mlmc_runaway({1.0, -5.0, -12.0}, 10.0);
    REQUIRE(level1);
    CHECK_THAT(*level1, Catch::Contains("level 1"));
    // Level 2's coarse samples against level 1's fine estimate zeta_1^+ = 0.9.
    CHECK_FALSE(training::mlmc_runaway({1.0, 0.9, -1.2, 0.8, -10.8}, 10.0));
    const auto level2 = training::mlmc_runaway({1.0, 0.9, -1.2, 0.8, -11.0}, 10.0);
    REQUIRE(level2);
    CHECK_THAT(*level2, Catch::Contains("level 2"));
    CHECK_FALSE(training::mlmc_runaway({1.0, -5.0, -1e9}, std::numeric_limits<double>::infinity()));

    CHECK_FALSE(training::validation_runaway(0.9, 0.0, 1.0));
    CHECK(training::validation_runaway(1.1, 0.0, 1.0));
    CHECK_FALSE(training::validation_runaway(1e9, std::numeric_limits<double>::infinity(), 1.0));
}

TEST_CASE("A held-out criterion that rises past the margin never ends completed",
          "[training][runaway]") {
    const auto data = make_data(300, 30, 0.0, 1);
    auto est = make_estimator(2);
    training::fit_standardization(est, data.levels[0].theta, data.levels[0].x_fine, Task::nle);
    losses::McLoss<Estimator> loss(est, data.levels[0].theta, data.levels[0].x_fine, Task::nle);
    ScriptedValidation validation;  // best -0.3 at epoch 3, then +0.25 per epoch
    std::vector<Vector<float>> weights;
    training::TrainingCallbacks callbacks;
    callbacks.on_epoch = [&](const training::EpochReport&) {
        weights.push_back(est.parameters());
        return true;
    };
    auto options = quiet(100, 3e-3);  // no early stopping: only the margin can stop it
    options.runaway_margin = 1.0;
    const auto summary = training::train(est, loss, &validation, options, callbacks);
    CHECK(summary.status == TrainingStatus::runaway);
    CHECK_FALSE(summary.ok());
    // -0.3 + 0.25 k > 0.7 first at k = 5, i.e. epoch 8.
    CHECK(summary.runaway_epoch == 8);
    CHECK(summary.best_epoch == 3);
    CHECK(summary.restored_best);
    REQUIRE(weights.size() >= 3);
    CHECK(est.parameters() == weights[2]);

    SECTION("a margin that is not crossed lets the run complete") {
        auto other = make_estimator(2);
        ScriptedValidation slow{.falling = 3, .step = 0.01};
        auto o = quiet(50, 3e-3);
        const auto s = training::train(other, loss, &slow, o);
        CHECK(s.status == TrainingStatus::completed);
        CHECK(s.runaway_epoch == 0);
    }
}

TEST_CASE("A runaway MLMC run is flagged with its epoch, not completed", "[training][runaway]") {
    // The failure: few pairs, a shifted cheap level, no gradient adjustment, the paper's
    // fixed epochs. The corrections push density away from the pairs' coarse samples.
    const auto data = make_data(200, 10, 0.5, 4);
    auto est = make_estimator(4);
    auto options = training::MlmcTrainingOptions::paper();
    options.training = quiet(3000, 1e-2);
    options.training.adjustment = {.rescale = false, .project = false};
    const auto summary = training::train_mlmc(est, data, Task::nle, options);
    INFO(summary.message);
    CHECK(summary.status == TrainingStatus::runaway);
    CHECK(summary.runaway_epoch > 1);
    CHECK(summary.runaway_epoch == summary.epochs + 1);
    CHECK(summary.epochs < 3000);
    CHECK(summary.restored_best);
    CHECK(est.parameters().allFinite());
    // Caught while the loss is still in a plausible range, far from the 1e8 threshold.
    CHECK(std::abs(summary.training_loss.back()) < 1e3);
}

TEST_CASE("An honest MLMC run on a well-coupled problem is not flagged", "[training][runaway]") {
    const auto data = make_data(500, 60, 0.02, 7);
    auto est = make_estimator(3);
    auto options = training::MlmcTrainingOptions::paper();
    options.training = quiet(400, 3e-3);
    const auto summary = training::train_mlmc(est, data, Task::nle, options);
    INFO(summary.message);
    CHECK(summary.status == TrainingStatus::completed);
}

TEST_CASE("The default (robust) recipe validates on held-out high-fidelity samples",
          "[training][runaway][baselines]") {
    const auto data = make_data(500, 60, 0.02, 9);
    auto est = make_estimator(5);
    training::MlmcTrainingOptions options;
    options.training = quiet(300, 3e-3);
    options.robust.selection_margin = 0;  // the lowest criterion wins
    const auto robust = training::train_mlmc_robust(est, data, Task::nle, options);
    CHECK(robust.warm_start.ok());
    CHECK(robust.plain_high.ok());
    CHECK(robust.multilevel.best_epoch >= 1);
    CHECK(std::isfinite(robust.criterion_multilevel));
    // The kept model has the lowest criterion of the three.
    const double kept = robust.choice == training::RobustChoice::multilevel
                            ? robust.criterion_multilevel
                        : robust.choice == training::RobustChoice::warm_start
                            ? robust.criterion_warm_start
                            : robust.criterion_plain_high;
    CHECK(kept <= robust.criterion_multilevel);
    CHECK(kept <= robust.criterion_warm_start);
    CHECK(kept <= robust.criterion_plain_high);
}

TEST_CASE("Control-variate weights: beta_l from the warm start, in [0, 1], reported",
          "[training][runaway][baselines]") {
    training::MlmcTrainingOptions options;
    options.training = quiet(150, 3e-3);
    options.robust.control_variates = true;
    // A well-coupled cheap level keeps beta near 1.
    const auto coupled = make_data(400, 60, 0.02, 13);
    auto est = make_estimator(7);
    const auto robust = training::train_mlmc_robust(est, coupled, Task::nle, options);
    REQUIRE(robust.control_variate_weights.size() == 1);
    CHECK(robust.control_variate_weights[0] > 0.8);
    CHECK(robust.control_variate_weights[0] <= 1.0);
    CHECK(robust.multilevel.ok());
    // Off (the default): no weights, the paper's loss.
    options.robust.control_variates = false;
    auto est_off = make_estimator(7);
    CHECK(training::train_mlmc_robust(est_off, coupled, Task::nle, options)
              .control_variate_weights.empty());
}

TEST_CASE("The robust recipe keeps the ML model unless a rival beats it beyond the margin",
          "[training][runaway][baselines]") {
    // A badly shifted cheap level and 40 pairs: with no margin a rival of ML has the lowest
    // criterion (checked below), so the margin decides the choice.
    const auto data = make_data(400, 40, 2.0, 11);
    training::MlmcTrainingOptions options;
    options.training = quiet(200, 3e-3);
    options.align_levels = false;  // the level alignment would remove the shift, and ML win
    // An unreachable margin: ML is kept whatever the criterion says, and its weights are the
    // ones the estimator ends with.
    options.robust.selection_margin = 1e9;
    auto est = make_estimator(6);
    const auto robust = training::train_mlmc_robust(est, data, Task::nle, options);
    CHECK(robust.choice == training::RobustChoice::multilevel);
    // The same run with no margin keeps the lowest criterion, here a rival of ML: the margin
    // changed the kept weights, not just a label.
    options.robust.selection_margin = 0;
    auto est0 = make_estimator(6);
    const auto robust0 = training::train_mlmc_robust(est0, data, Task::nle, options);
    const double lowest = std::min(
        {robust0.criterion_multilevel, robust0.criterion_warm_start, robust0.criterion_plain_high});
    CHECK(robust0.choice != training::RobustChoice::multilevel);
    CHECK(robust0.criterion_multilevel > lowest);
    CHECK((est.parameters() - est0.parameters()).norm() > 0);
    options.robust.selection_margin = -1;
    CHECK_THROWS_WITH(options.validate(), Catch::Contains("selection_margin"));
}

TEST_CASE("patience_fraction sets each robust phase's patience from its epoch cap",
          "[training][runaway][baselines]") {
    const auto data = make_data(300, 40, 0.02, 13);
    training::MlmcTrainingOptions options;
    options.training = quiet(60, 3e-3);
    options.robust.patience = 1;
    options.robust.pretraining_epochs = 60;
    // A patience of one epoch stops every phase at the first epoch without improvement; a
    // patience of the whole cap never stops one early.
    auto impatient = make_estimator(7);
    const auto short_run = training::train_mlmc_robust(impatient, data, Task::nle, options);
    options.robust.patience_fraction = 1;
    auto patient = make_estimator(7);
    const auto long_run = training::train_mlmc_robust(patient, data, Task::nle, options);
    for (const auto* phase : {&long_run.plain_high, &long_run.warm_start, &long_run.multilevel}) {
        INFO(phase->message);
        CHECK(phase->epochs == 60);
        CHECK(phase->status != TrainingStatus::early_stopped);
    }
    CHECK(short_run.plain_high.epochs + short_run.warm_start.epochs + short_run.multilevel.epochs <
          180);
    options.robust.patience_fraction = 1.5;
    auto bad = make_estimator(7);
    CHECK_THROWS_WITH(training::train_mlmc_robust(bad, data, Task::nle, options),
                      Catch::Contains("patience_fraction must be in [0, 1]"));
}
