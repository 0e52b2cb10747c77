// SPDX-License-Identifier: MIT
// Tests for train_with (training/trainer.hpp), training/callbacks.hpp, optimizers/optimizer.hpp and
// optimizers/sgd.hpp: with Adam, train_with reproduces train() bit for bit; a second optimizer
// (SGD with momentum) trains through the same loop; a training checkpointed at epoch 50,
// interrupted and resumed to 100 equals the uninterrupted 100 epochs bit for bit (weights,
// Adam state, mini-batch order, validation bookkeeping, loss history); the ready callbacks.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>

#include "mlsbi/flows/conditional_estimator.hpp"
#include "mlsbi/flows/diagonal_gaussian.hpp"
#include "mlsbi/losses/mc_loss.hpp"
#include "mlsbi/optimizers/adam.hpp"
#include "mlsbi/optimizers/optimizer.hpp"
#include "mlsbi/optimizers/sgd.hpp"
#include "mlsbi/rng/normal.hpp"
#include "mlsbi/training/callbacks.hpp"
#include "mlsbi/training/trainer.hpp"

using namespace mlsbi;
using losses::Task;

namespace {

using Estimator = flows::ConditionalEstimator<flows::DiagonalGaussian<double>>;
using Loss = losses::McLoss<Estimator>;

Estimator make_estimator() {
    flows::DiagonalGaussian<double>::Options o;
    o.hidden = {8};
    o.activation = nn::Activation::tanh;
    return Estimator(o, 3);
}

// x = sin(2 theta) + 0.3 z, theta ~ U(-1, 1).
struct Data {
    Matrix<double> theta, x;
};
Data make_data(Index n, std::uint64_t seed) {
    RandomStream rng(seed);
    Data d{Matrix<double>(1, n), Matrix<double>(1, n)};
    for (Index j = 0; j < n; ++j) {
        d.theta(0, j) = rng.uniform(-1, 1);
        d.x(0, j) = std::sin(2 * d.theta(0, j)) + 0.3 * standard_normal(rng);
    }
    return d;
}

training::TrainingOptions quiet(int epochs) {
    training::TrainingOptions o;
    o.max_epochs = epochs;
    o.adam.learning_rate = 3e-3;
    o.progress = false;
    return o;
}

// Stands in for an interruption: stops after `epoch`.
struct StopAfter {
    int epoch;
    bool end_epoch(const training::EpochReport& r) const { return r.epoch < epoch; }
};

struct NoState {
    void step(VectorRef<double>, const ConstVectorRef<double>&) {}
    [[nodiscard]] long steps() const { return 0; }
};

}  // namespace

TEST_CASE("Optimizer concept: Adam and SGD satisfy it, a stateless stepper does not",
          "[optimizers][training]") {
    STATIC_REQUIRE(optimizers::Optimizer<optimizers::Adam<float>, float>);
    STATIC_REQUIRE(optimizers::Optimizer<optimizers::SgdMomentum<double>, double>);
    STATIC_REQUIRE_FALSE(optimizers::Optimizer<NoState, double>);
    STATIC_REQUIRE_FALSE(optimizers::Optimizer<optimizers::Adam<float>, double>);
}

TEST_CASE("train_with(Adam) is train() step for step", "[training][policy]") {
    const Data data = make_data(300, 1);
    const training::TrainingOptions options = quiet(40);
    Estimator a = make_estimator();
    training::fit_standardization(a, data.theta, data.x, Task::nle);
    Loss loss_a(a, data.theta, data.x, Task::nle);
    const auto summary_a = training::train(a, loss_a, options);

    Estimator b = make_estimator();
    training::fit_standardization(b, data.theta, data.x, Task::nle);
    Loss loss_b(b, data.theta, data.x, Task::nle);
    optimizers::Adam<double> adam(b.parameter_count(), options.adam);
    const auto summary_b = training::train_with(b, loss_b, options, adam);
    CHECK(b.parameters() == a.parameters());
    CHECK(summary_b.training_loss == summary_a.training_loss);
    CHECK(summary_b.steps == summary_a.steps);
    CHECK(adam.steps() == 40);
}

TEST_CASE("SGD with momentum trains through the trainer", "[training][policy]") {
    const Data data = make_data(400, 2);
    Estimator est = make_estimator();
    training::fit_standardization(est, data.theta, data.x, Task::nle);
    Loss loss(est, data.theta, data.x, Task::nle);
    optimizers::SgdMomentum<double> sgd(est.parameter_count(), {.learning_rate = 0.05});
    training::LossHistory history;
    const auto summary = training::train_with(est, loss, quiet(300), sgd, history);
    REQUIRE(summary.ok());
    CHECK(sgd.steps() == 300);
    REQUIRE(history.training.size() == 300);
    CHECK(history.training == summary.training_loss);
    CHECK(history.steps.size() == 300);
    // The initial network's mean NLL is ~1.2; 300 SGD steps take it to ~0.2 (the true law's is
    // log 0.3 + 0.92 = -0.28): well below where it started, and monotone at the end.
    INFO("first " << history.training.front() << ", last " << history.training.back());
    CHECK(history.training.back() < history.training.front() - 0.8);
    CHECK(history.training.back() < history.training[250]);
}

TEST_CASE("A checkpointed, interrupted and resumed training equals the uninterrupted one",
          "[training][policy][checkpoint]") {
    const Data data = make_data(240, 3);
    const Data held_out = make_data(60, 4);
    training::TrainingOptions options = quiet(100);
    options.batches_per_epoch = 4;  // mini-batches: the resumed run must replay the shuffles
    options.shuffle_seed = 9;
    const std::filesystem::path path =
        std::filesystem::temp_directory_path() / "mlsbi_test_checkpoint.bin";
    std::filesystem::remove(path);

    auto run = [&](auto&&... callbacks) {
        Estimator est = make_estimator();
        training::fit_standardization(est, data.theta, data.x, Task::nle);
        Loss loss(est, data.theta, data.x, Task::nle);
        Loss validation(est, held_out.theta, held_out.x, Task::nle);
        optimizers::Adam<double> adam(est.parameter_count(), options.adam);
        auto summary = training::train_with(est, loss, &validation, options, adam, callbacks...);
        return std::tuple{est.parameters(), summary, adam.state()};
    };
    const auto [straight, straight_summary, straight_adam] = run();
    REQUIRE(straight_summary.epochs == 100);

    training::Checkpoint save({.path = path, .every = 50});
    const auto [interrupted, interrupted_summary, interrupted_adam] = run(save, StopAfter{50});
    CHECK(interrupted_summary.status == training::TrainingStatus::stopped_by_callback);
    CHECK(interrupted_summary.epochs == 50);
    CHECK(save.saved() == 1);
    REQUIRE(std::filesystem::exists(path));

    training::Checkpoint resume({.path = path, .every = 50});
    const auto [resumed, resumed_summary, resumed_adam] = run(resume);
    CHECK(resume.resumed_epoch() == 50);
    CHECK(resumed_summary.status == training::TrainingStatus::completed);
    CHECK(resumed_summary.epochs == 100);
    CHECK(resumed == straight);  // bit for bit
    CHECK(resumed_adam.first == straight_adam.first);
    CHECK(resumed_adam.second == straight_adam.second);
    CHECK(resumed_adam.steps == straight_adam.steps);
    CHECK(resumed_summary.training_loss == straight_summary.training_loss);
    CHECK(resumed_summary.validation_loss == straight_summary.validation_loss);
    CHECK(resumed_summary.best_epoch == straight_summary.best_epoch);
    CHECK(resumed_summary.steps == straight_summary.steps);
    std::filesystem::remove(path);

    // A file that is not a checkpoint is refused before training.
    {
        std::FILE* f = std::fopen(path.string().c_str(), "w");
        std::fputs("junk", f);
        std::fclose(f);
    }
    training::Checkpoint bad({.path = path});
    CHECK_THROWS_AS(run(bad), std::invalid_argument);
    std::filesystem::remove(path);
}

TEST_CASE("EarlyStopping stops on the validation loss; ProgressBar is quiet when asked",
          "[training][policy]") {
    const Data data = make_data(200, 5);
    const Data held_out = make_data(50, 6);
    Estimator est = make_estimator();
    training::fit_standardization(est, data.theta, data.x, Task::nle);
    Loss loss(est, data.theta, data.x, Task::nle);
    Loss validation(est, held_out.theta, held_out.x, Task::nle);
    training::TrainingOptions options = quiet(2000);
    options.adam.learning_rate = 3e-2;  // overfits quickly, so the validation loss turns up
    optimizers::Adam<double> adam(est.parameter_count(), options.adam);
    training::EarlyStopping early({.patience = 5});
    training::ProgressBar bar({.quiet = true});
    CHECK_FALSE(bar.active());
    const auto summary = training::train_with(est, loss, &validation, options, adam, early, bar);
    CHECK(summary.status == training::TrainingStatus::early_stopped);
    CHECK(summary.epochs < 2000);
    CHECK(summary.epochs - summary.best_epoch >= 5);
    CHECK(summary.restored_best);
}
