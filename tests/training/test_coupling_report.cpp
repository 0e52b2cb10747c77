// SPDX-License-Identifier: MIT
// Tests for training/coupling_report.hpp: a deliberately broken coupling (different noise at the
// two levels) raises the seed-matching warning and a well-coupled pair does not; the x
// differences, costs and gradient statistics are what the data and steps say; the CSV and the
// table carry every number; bad options are rejected.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "coupled_levels.hpp"
#include "mlsbi/simulators/function_level.hpp"
#include "mlsbi/simulators/multilevel_dataset.hpp"
#include "mlsbi/simulators/multilevel_simulator.hpp"
#include "mlsbi/training/baselines.hpp"
#include "mlsbi/training/coupling_report.hpp"

using namespace mlsbi;
using losses::Task;

namespace {

using namespace testing_support;  // the coupled and uncoupled test levels
using Estimator = GaussianEstimator;

Estimator make_estimator() { return testing_support::make_gaussian_estimator(4); }

const distributions::BoxUniform& prior = testing_support::unit_prior();

bool any_contains(const std::vector<std::string>& lines, const std::string& text) {
    for (const auto& line : lines)
        if (line.find(text) != std::string::npos) return true;
    return false;
}

// Trains briefly on the data with the multilevel loss, recording the gradient statistics.
template <class Model>
training::CouplingReport trained_report(const Model& model, training::GradientMonitor& monitor) {
    const auto data = simulators::generate_multilevel_dataset(
        model, prior, {.samples_per_level = {400, 200}, .seed = 9});
    Estimator estimator = make_estimator();
    // The paper's recipe: fixed epochs of the MLMC loss (the default robust recipe early-stops).
    auto options = training::MlmcTrainingOptions::paper();
    options.training.max_epochs = 150;
    options.training.adam.learning_rate = 1e-2;
    options.training.progress = false;
    const auto summary =
        training::train_mlmc(estimator, data, Task::nle, options, monitor.callbacks());
    REQUIRE(summary.epochs == 150);
    // paper() trains on the levels as simulated: measure them so.
    return training::coupling_report(estimator, data, Task::nle, &monitor, {.align_levels = false});
}

// A cheap level off by a location and scale (the same noise): x = 2 + 1.5 (0.9 theta + 0.5 z).
void shifted_level(const ConstVectorRef<double>& theta, RandomStream& rng, VectorRef<double> x) {
    x(0) = 2 + 1.5 * (0.9 * theta(0) + 0.5 * standard_normal(rng));
}

}  // namespace

TEST_CASE("coupling_report warns about a broken coupling and not about a good one",
          "[coupling_report]") {
    training::GradientMonitor good_monitor, bad_monitor;
    const auto good =
        trained_report(simulators::MultilevelSimulator(simulators::make_level(1, cheap_level),
                                                       simulators::make_level(1, fine_level)),
                       good_monitor);
    const auto bad =
        trained_report(simulators::MultilevelSimulator(simulators::make_level(1, uncoupled_level),
                                                       simulators::make_level(1, fine_level)),
                       bad_monitor);
    INFO("good:\n" << good.table() << "bad:\n" << bad.table());
    REQUIRE(good.levels.size() == 2);
    REQUIRE(bad.levels.size() == 2);

    CHECK_FALSE(any_contains(good.warnings, "level 1:"));
    CHECK(good.levels[1].variance_ratio < 0.2);
    CHECK(good.levels[1].correlation > 0.9);

    CHECK(any_contains(bad.warnings, "level 1: correction variance is"));
    CHECK(any_contains(bad.warnings, "is the seed matching broken?"));
    CHECK(any_contains(bad.warnings, "level 1: correlation of the paired losses"));
    CHECK(bad.levels[1].variance_ratio > 1.0);  // independent noise: about 2
    CHECK(bad.levels[1].relative_rms > good.levels[1].relative_rms);

    // The gradient statistics saw every step.
    REQUIRE(good.gradients.has_value());
    CHECK(good.gradients->steps == 150);
    CHECK(good.gradients->mean_norm_plus.size() == 1);
    CHECK(good.gradients->projection_rate >= 0);
    CHECK(good.gradients->projection_rate <= good.gradients->conflict_rate);
    CHECK(good_monitor.cosines().size() == 150);
    // Costs from the generation reports (measured wall time).
    CHECK(good.levels[0].cost > 0);
    CHECK(good.table().find("warning: level") == std::string::npos);
    CHECK(bad.table().find("warning: level 1: correction variance") != std::string::npos);
}

TEST_CASE("coupling_report measures on the levels as aligned training saw them",
          "[coupling_report]") {
    const auto data = simulators::generate_multilevel_dataset(
        simulators::MultilevelSimulator(simulators::make_level(1, shifted_level),
                                        simulators::make_level(1, fine_level)),
        prior, {.samples_per_level = {400, 200}, .seed = 9});
    Estimator estimator = make_estimator();
    auto options = training::MlmcTrainingOptions::paper();
    options.align_levels = true;  // the default recipe's alignment, in the paper's loop
    options.training.max_epochs = 150;
    options.training.adam.learning_rate = 1e-2;
    options.training.progress = false;
    (void)training::train_mlmc(estimator, data, Task::nle, options);
    const auto aligned = training::coupling_report(estimator, data, Task::nle);
    const auto raw =
        training::coupling_report(estimator, data, Task::nle, nullptr, {.align_levels = false});
    INFO("aligned:\n" << aligned.table() << "raw:\n" << raw.table());
    // Aligned, the pair differs by the 0.9 theta map only: well coupled, no warning.
    CHECK(aligned.levels[1].variance_ratio < 0.2);
    CHECK(std::abs(aligned.levels[1].mean_difference) < 0.1);
    CHECK_FALSE(any_contains(aligned.warnings, "level 1: correction variance"));
    // On the raw levels the network, fitted to aligned data, misreads the shift as bad coupling.
    CHECK(raw.levels[1].variance_ratio > 5 * aligned.levels[1].variance_ratio);
    CHECK(raw.levels[1].mean_difference < -1);
}

TEST_CASE("coupling_report measures x differences and summarises the steps exactly",
          "[coupling_report]") {
    // Hand-made pairs: x_fine - x_coarse = 0.1 + 0.2 * (+-1), so mean 0.1, RMS sqrt(0.05).
    simulators::MultilevelDataset data;
    const Index n = 40;
    simulators::LevelData base{Matrix<double>(1, n), Matrix<double>(1, n), {}, {}};
    simulators::LevelData pair{
        Matrix<double>(1, n), Matrix<double>(1, n), Matrix<double>(1, n), {}};
    for (Index i = 0; i < n; ++i) {
        base.theta(0, i) = pair.theta(0, i) = -1 + 2.0 * double(i) / double(n - 1);
        base.x_fine(0, i) = std::sin(double(i));
        pair.x_coarse(0, i) = std::cos(double(i));
        pair.x_fine(0, i) = pair.x_coarse(0, i) + 0.1 + (i % 2 == 0 ? 0.2 : -0.2);
    }
    data.levels = {base, pair};

    // Steps: 3 of 4 projected, cosines -0.9, -0.8, -0.7, 0.2.
    training::GradientMonitor monitor;
    optimizers::GradientAdjustmentDiagnostics d;
    d.norm_plus = {2.0};
    d.norm_minus = {4.0};
    const double cosines[] = {-0.9, -0.8, -0.7, 0.2};
    for (int s = 0; s < 4; ++s) {
        d.cosine = cosines[s];
        d.conflict = d.projected = d.cosine < 0;
        d.norm_base = 1.0 + s;
        monitor.record(training::StepReport{.step = s + 1, .adjustment = &d});
    }
    monitor.record(training::StepReport{});  // no diagnostics: ignored

    training::CouplingReportOptions options;
    options.cost = {1.0, 5.0};
    options.align_levels = false;  // the hand-made differences as given
    const auto report =
        training::coupling_report(make_estimator(), data, Task::nle, &monitor, options);
    INFO(report.table());
    CHECK(report.levels[1].mean_difference == Approx(0.1));
    CHECK(report.levels[1].rms_difference == Approx(std::sqrt(0.05)));
    CHECK(std::isnan(report.levels[0].mean_difference));
    CHECK_FALSE(any_contains(report.warnings, "level"));
    CHECK(report.levels[1].cost == 5.0);
    const auto& g = *report.gradients;
    CHECK(g.steps == 4);
    CHECK(g.projection_rate == Approx(0.75));
    CHECK(g.mean_cosine == Approx(-0.55));
    CHECK(g.late_mean_cosine == Approx(0.2));  // the last quarter: one step
    CHECK(g.mean_norm_base == Approx(2.5));
    CHECK(g.mean_norm_plus[0] == Approx(2.0));
    CHECK(g.mean_norm_minus[0] == Approx(4.0));
    CHECK(any_contains(report.warnings, "training: the gradient projection fired on 75% of 4"));
    CHECK(any_contains(report.warnings, "training: mean cos(g_0, g_c) is -0.55"));

    // CSV: header, 9 rows per level, 8 run-wide rows and 2 per correction level.
    const std::string path = "coupling_report_test.csv";
    report.write_csv(path);
    std::ifstream file(path);
    std::string line, header;
    std::getline(file, header);
    CHECK(header == "section,level,quantity,value");
    int rows = 0;
    bool found = false;
    while (std::getline(file, line)) {
        ++rows;
        found = found || line == "level,1,mean_difference,0.1";
    }
    CHECK(rows == 2 * 9 + 8 + 2);
    CHECK(found);
    std::remove(path.c_str());

    CHECK_THROWS_WITH(
        training::coupling_report(make_estimator(), data, Task::nle, nullptr, {.cost = {1.0}}),
        Catch::StartsWith("coupling_report: options.cost has 1 entries for 2"));
    CHECK_THROWS_WITH(training::coupling_report(make_estimator(), data, Task::nle, nullptr,
                                                {.projection_rate_warning = 2}),
                      Catch::StartsWith("CouplingReportOptions: projection_rate_warning"));
}
