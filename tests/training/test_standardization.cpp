// SPDX-License-Identifier: MIT
// Tests for training/standardization.hpp: the estimator fits its z-scoring on simulations,
// oriented for the task; on a multilevel dataset, on the highest level only; bad input is
// refused naming the caller; and the recipes fit it (the losses only read data).

#include <catch2/catch.hpp>

#include "mlsbi/flows/conditional_estimator.hpp"
#include "mlsbi/flows/diagonal_gaussian.hpp"
#include "mlsbi/losses/mc_loss.hpp"
#include "mlsbi/rng/normal.hpp"
#include "mlsbi/simulators/multilevel_dataset.hpp"
#include "mlsbi/training/baselines.hpp"
#include "mlsbi/training/standardization.hpp"

using namespace mlsbi;
using losses::Task;

namespace {

using Gaussian = flows::DiagonalGaussian<double>;

Gaussian::Options options(Task task) {
    Gaussian::Options o;
    o.input_dim = task == Task::nle ? 1 : 2;  // x is 1-D, theta 2-D
    o.context_dim = task == Task::nle ? 2 : 1;
    o.hidden = {4};
    return o;
}

// Three levels whose (theta, x) have level-dependent location and scale, so fitting on the
// wrong level shows in the means.
simulators::MultilevelDataset make_data() {
    simulators::MultilevelDataset data;
    RandomStream rng(5);
    for (Index l = 0; l < 3; ++l) {
        simulators::LevelData level;
        const Index n = 40 - 10 * l;
        level.theta.resize(2, n);
        level.x_fine.resize(1, n);
        if (l > 0) level.x_coarse.resize(1, n);
        for (Index j = 0; j < n; ++j) {
            level.theta(0, j) = 3.0 * double(l) + standard_normal(rng);
            level.theta(1, j) = -2.0 * double(l) + (1 + double(l)) * standard_normal(rng);
            level.x_fine(0, j) = 10.0 * double(l) + standard_normal(rng);
            if (l > 0) level.x_coarse(0, j) = level.x_fine(0, j) + 0.1;
        }
        data.levels.push_back(std::move(level));
    }
    return data;
}

// The estimator's z-scoring means are those of `level`'s (y, c) for the task.
template <class Estimator>
void check_fitted_on(const Estimator& est, const simulators::LevelData& level, Task task) {
    const Matrix<double>& y = task == Task::nle ? level.x_fine : level.theta;
    const Matrix<double>& c = task == Task::nle ? level.theta : level.x_fine;
    CHECK((est.input_standardizer().mean() - y.rowwise().mean()).norm() < 1e-12);
    CHECK((est.context_standardizer().mean() - c.rowwise().mean()).norm() < 1e-12);
}

}  // namespace

TEST_CASE("fit_standardization orients (theta, x) for the task", "[training][standardization]") {
    const auto data = make_data();
    const auto& level = data.levels[0];
    for (Task task : {Task::nle, Task::npe}) {
        flows::ConditionalEstimator<Gaussian> est(options(task), 1);
        training::fit_standardization(est, level.theta, level.x_fine, task);
        check_fitted_on(est, level, task);
    }
}

TEST_CASE("On a multilevel dataset the z-scoring is fitted on the highest level only",
          "[training][standardization]") {
    const auto data = make_data();
    const auto& top = data.levels.back();
    for (Task task : {Task::nle, Task::npe}) {
        flows::ConditionalEstimator<Gaussian> est(options(task), 1);
        training::fit_standardization(est, data, task);
        check_fitted_on(est, top, task);
    }
}

TEST_CASE("A float estimator fits on double data as on the same data in float",
          "[training][standardization]") {
    const auto data = make_data();
    flows::ConditionalEstimator<flows::DiagonalGaussian<float>> a(
        flows::DiagonalGaussian<float>::Options{.input_dim = 1, .context_dim = 2, .hidden = {4}});
    auto b = a;
    training::fit_standardization(a, data, Task::nle);
    b.fit_standardization(Matrix<float>(data.levels[2].x_fine.cast<float>()),
                          Matrix<float>(data.levels[2].theta.cast<float>()));
    CHECK(a.input_standardizer().mean() == b.input_standardizer().mean());
    CHECK(a.context_standardizer().mean() == b.context_standardizer().mean());
}

TEST_CASE("fit_standardization refuses bad input naming the caller",
          "[training][standardization]") {
    const auto data = make_data();
    const auto& level = data.levels[0];
    flows::ConditionalEstimator<Gaussian> est(options(Task::nle), 1);
    SECTION("rows that do not fit the task") {
        CHECK_THROWS_WITH(
            training::fit_standardization(est, level.theta, level.x_fine, Task::npe, "my_recipe"),
            Catch::Contains("my_recipe") && Catch::Contains("rows"));
    }
    SECTION("one sample") {
        CHECK_THROWS_WITH(training::fit_standardization(est, level.theta.leftCols(1),
                                                        level.x_fine.leftCols(1), Task::nle),
                          Catch::Contains("at least 2 samples"));
    }
    SECTION("columns that differ") {
        CHECK_THROWS_WITH(
            training::fit_standardization(est, level.theta, level.x_fine.leftCols(5), Task::nle),
            Catch::Contains("columns"));
    }
    SECTION("a likelihood estimator for NPE") {
        flows::LikelihoodEstimator<Gaussian> likelihood(options(Task::npe), 1);
        CHECK_THROWS_WITH(
            training::fit_standardization(likelihood, level.theta, level.x_fine, Task::npe),
            Catch::Contains("likelihood estimator cannot be trained for task npe"));
    }
    SECTION("an empty dataset") {
        CHECK_THROWS_WITH(
            training::fit_standardization(est, simulators::MultilevelDataset{}, Task::nle),
            Catch::Contains("no levels"));
    }
}

TEST_CASE("The losses leave the z-scoring alone; the recipes fit it unless told not to",
          "[training][standardization]") {
    const auto data = make_data();
    const auto& top = data.levels.back();
    flows::ConditionalEstimator<Gaussian> est(options(Task::nle), 1);
    const Vector<double> identity = est.input_standardizer().mean();
    losses::McLoss<decltype(est)> loss(est, top.theta, top.x_fine, Task::nle);
    (void)loss.value(est);
    CHECK(est.input_standardizer().mean() == identity);

    training::BaselineOptions o;
    o.training.max_epochs = 1;
    o.training.progress = false;
    o.fit_standardization = false;
    (void)training::train_mc(est, top.theta, top.x_fine, Task::nle, o);
    CHECK(est.input_standardizer().mean() == identity);
    o.fit_standardization = true;
    (void)training::train_mc(est, top.theta, top.x_fine, Task::nle, o);
    CHECK(est.input_standardizer().mean()(0) == Approx(10.0 * 2).margin(1.0));

    training::MlmcTrainingOptions ml = training::MlmcTrainingOptions::paper();
    ml.training.max_epochs = 1;
    ml.training.progress = false;
    flows::ConditionalEstimator<Gaussian> fresh(options(Task::nle), 1);
    (void)training::train_mlmc(fresh, data, Task::nle, ml);
    CHECK((fresh.input_standardizer().mean() - top.x_fine.rowwise().mean()).norm() < 1e-12);
}
