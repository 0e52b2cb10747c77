// SPDX-License-Identifier: MIT
// Tests for training/pilot.hpp: the pilot reads make_level's nominal costs (or measures wall
// time), measures the coupling variances at a briefly trained network, the planned dataset
// reuses the pilot's simulations (bit-identical to generate_multilevel_dataset when every level
// is kept; merged pairs on the right seeds when a level is dropped), plain MC is chosen for an
// uncoupled cheap level, the budget is never exceeded, and bad inputs give clear errors.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "coupled_levels.hpp"
#include "mlsbi/simulators/function_level.hpp"
#include "mlsbi/simulators/multilevel_dataset.hpp"
#include "mlsbi/simulators/multilevel_simulator.hpp"
#include "mlsbi/training/pilot.hpp"

using namespace mlsbi;
using losses::Task;

namespace {

using namespace testing_support;  // the coupled and uncoupled test levels
using Estimator = GaussianEstimator;

Estimator make_estimator() { return testing_support::make_gaussian_estimator(3); }

const distributions::BoxUniform& prior = testing_support::unit_prior();

training::PilotOptions quick_pilot(Index n = 64) {
    training::PilotOptions o;
    o.samples_per_level = n;
    o.seed = 5;
    o.training.max_epochs = 150;
    o.training.adam.learning_rate = 1e-2;
    return o;
}

}  // namespace

TEST_CASE("run_pilot reads the nominal costs and measures the couplings", "[pilot]") {
    const auto model = simulators::MultilevelSimulator(simulators::make_level(1, cheap_level, 1.0),
                                                       simulators::make_level(1, middle_level, 4.0),
                                                       simulators::make_level(1, fine_level, 16.0));
    const auto pilot =
        training::run_pilot(model, prior, make_estimator(), Task::nle, quick_pilot());
    CHECK(pilot.cost_source == training::CostSource::nominal);
    CHECK(pilot.statistics.cost == std::vector<double>{1.0, 4.0, 16.0});
    // Stream l runs levels 0..l: 64 (1) + 64 (1 + 4) + 64 (1 + 4 + 16).
    CHECK(pilot.total_cost == Approx(64.0 * 27));
    REQUIRE(pilot.couplings.size() == 4);  // stream 0, then (0,1), (0,2), (1,2)
    const auto& v = pilot.statistics.difference_variance;
    for (std::size_t l = 0; l < 3; ++l) {
        INFO("level " << l);
        CHECK(pilot.statistics.level_variance[l] > 0);
        CHECK(pilot.seconds_per_simulation[l] > 0);
    }
    // Shared noise: the corrections vary far less than the levels themselves.
    CHECK(v(1, 2) < 0.2 * pilot.statistics.level_variance[2]);
    CHECK(v(0, 2) < 0.5 * pilot.statistics.level_variance[2]);
    CHECK(pilot.statistics.correlation(1, 2) > 0.9);
    CHECK(pilot.training.ok());

    // Var[f_0] pools the within-stream variances of G_0 over the three streams (the per-stream
    // diagnostics: stream 0, then G_0 as the coarse half of (0, 1) and (0, 2)).
    const auto& c = pilot.couplings;
    CHECK(pilot.statistics.level_variance[0] ==
          Approx((c[0].variance + c[1].variance_coarse + c[2].variance_coarse) / 3));
    REQUIRE(pilot.statistics.bias.size() == 3);
    CHECK(pilot.statistics.bias[2] == 0);
    for (std::size_t j = 0; j < 2; ++j) {
        CHECK(std::isfinite(pilot.statistics.bias[j]));
        CHECK(pilot.statistics.bias_standard_error[j] > 0);
    }

    // Measured costs when asked for, or when a level declares none.
    auto options = quick_pilot(8);
    options.cost = training::CostSource::measured;
    const auto measured = training::run_pilot(model, prior, make_estimator(), Task::nle, options);
    CHECK(measured.cost_source == training::CostSource::measured);
    CHECK(measured.statistics.cost == measured.seconds_per_simulation);
    const auto undeclared = simulators::MultilevelSimulator(
        simulators::make_level(1, cheap_level), simulators::make_level(1, fine_level, 16.0));
    CHECK(training::run_pilot(undeclared, prior, make_estimator(), Task::nle, quick_pilot(8))
              .cost_source == training::CostSource::measured);
    options.cost = training::CostSource::nominal;
    CHECK_THROWS_WITH(training::run_pilot(undeclared, prior, make_estimator(), Task::nle, options),
                      Catch::StartsWith("run_pilot: level 0 declares no nominal cost"));
    CHECK_THROWS_WITH(
        training::run_pilot(model, prior, make_estimator(), Task::nle, quick_pilot(2)),
        Catch::StartsWith("PilotOptions: samples_per_level must be >= 4"));
}

namespace {
// x = theta + 3 + 0.5 z: the fine level shifted by six noise widths (KL 18).
void shifted_level(const ConstVectorRef<double>& theta, RandomStream& rng, VectorRef<double> x) {
    x(0) = theta(0) + 3 + 0.5 * standard_normal(rng);
}
}  // namespace

TEST_CASE("run_pilot measures the bias of stopping at a cheaper level", "[pilot]") {
    // An exact copy of the top level: every per-sample gap f_1 - f_0 is zero at any network.
    const auto exact = simulators::MultilevelSimulator(simulators::make_level(1, fine_level, 1.0),
                                                       simulators::make_level(1, fine_level, 10.0));
    const auto same =
        training::run_pilot(exact, prior, make_estimator(), Task::nle, quick_pilot(16));
    CHECK(same.statistics.bias[0] == 0);
    CHECK(same.statistics.bias_standard_error[0] == 0);
    CHECK(same.statistics.difference_variance(0, 1) == 0);
    // With no bias and no correction variance, the whole budget goes to the cheap level or to
    // an unbiased plan within min_gain of it; never plain MC on the expensive one.
    const auto plan = training::plan_allocation(same.statistics, 1000);
    INFO(plan.describe());
    CHECK(plan.levels.front().level == 0);

    // A level six noise widths off: a bias of many nats, and the allocator keeps the top level.
    const auto shifted = simulators::MultilevelSimulator(
        simulators::make_level(1, shifted_level, 1.0), simulators::make_level(1, fine_level, 10.0));
    const auto off =
        training::run_pilot(shifted, prior, make_estimator(), Task::nle, quick_pilot(16));
    INFO("bias " << off.statistics.bias[0] << " +- " << off.statistics.bias_standard_error[0]);
    CHECK(std::abs(off.statistics.bias[0]) > 5);  // H(p_1) - CE(p_0, p_1): negative
    const auto off_plan = training::plan_allocation(off.statistics, 1000);
    CHECK_FALSE(off_plan.truncated());
}

namespace {
// The top level's law on noise of its own (the first normal is skipped): no bias, no coupling.
void same_law_level(const ConstVectorRef<double>& theta, RandomStream& rng, VectorRef<double> x) {
    (void)standard_normal(rng);
    fine_level(theta, rng, x);
}
}  // namespace

TEST_CASE("run_pilot measures the bias out of sample by default", "[pilot]") {
    // Same law, independent noise: E[f_1 - f_0] = 0 at any network, while a network tuned on
    // the top samples it is measured on would favour them.
    const auto model =
        simulators::MultilevelSimulator(simulators::make_level(1, same_law_level, 1.0),
                                        simulators::make_level(1, fine_level, 10.0));
    auto options = quick_pilot(24);
    REQUIRE(options.bias == training::PilotBias::cross_fitted);
    const auto pilot = training::run_pilot(model, prior, make_estimator(), Task::nle, options);
    const double b = pilot.statistics.bias[0], se = pilot.statistics.bias_standard_error[0];
    INFO("cross-fitted bias " << b << " +- " << se);
    CHECK(se > 0);
    CHECK(std::abs(b) < 3 * se);
}

TEST_CASE("the planned dataset reuses the pilot's simulations", "[pilot]") {
    const auto model = simulators::MultilevelSimulator(simulators::make_level(1, cheap_level, 1.0),
                                                       simulators::make_level(1, middle_level, 4.0),
                                                       simulators::make_level(1, fine_level, 16.0));
    const auto pilot =
        training::run_pilot(model, prior, make_estimator(), Task::nle, quick_pilot(16));

    SECTION("every level kept: bit-identical to generate_multilevel_dataset") {
        training::Plan plan;
        plan.levels = {{.level = 0, .samples = 200},
                       {.level = 1, .coarse_level = 0, .samples = 40},
                       {.level = 2, .coarse_level = 1, .samples = 10}};  // below n_pilot: 16
        const auto planned = training::generate_planned_dataset(model, prior, pilot, plan);
        const auto direct = simulators::generate_multilevel_dataset(
            model, prior, {.samples_per_level = {200, 40, 16}, .seed = 5});
        REQUIRE(planned.level_count() == 3);
        for (std::size_t l = 0; l < 3; ++l) {
            INFO("level " << l);
            CHECK(planned.levels[l].theta == direct.levels[l].theta);
            CHECK(planned.levels[l].x_fine == direct.levels[l].x_fine);
            CHECK(planned.levels[l].x_coarse == direct.levels[l].x_coarse);
            CHECK(planned.levels[l].seeds == direct.levels[l].seeds);
        }
        CHECK(planned.reports[0].simulations == 184);  // only the new ones ran
        CHECK(planned.reports[2].simulations == 0);
    }
    SECTION("a dropped level: the merged pair runs both levels on the fine level's seeds") {
        training::Plan plan;
        plan.levels = {{.level = 0, .samples = 50}, {.level = 2, .coarse_level = 0, .samples = 30}};
        const auto planned = training::generate_planned_dataset(model, prior, pilot, plan);
        REQUIRE(planned.level_count() == 2);
        const auto& pair = planned.levels[1];
        REQUIRE(pair.size() == 30);
        Vector<double> x(1);
        for (Index i = 0; i < pair.size(); ++i) {
            const auto s = pair.seeds[static_cast<std::size_t>(i)];
            CHECK(s == derive_seed(5, 2, static_cast<std::uint64_t>(i), simulators::simulator_tag));
            model.simulate(2, pair.theta.col(i), s, x);
            CHECK(x(0) == pair.x_fine(0, i));
            model.simulate(0, pair.theta.col(i), s, x);
            CHECK(x(0) == pair.x_coarse(0, i));
        }
        // The dropped level's stream is not wasted: its G_0 runs join level 0 after its own 50.
        const auto& base = planned.levels[0];
        REQUIRE(base.size() == 50 + 16);
        CHECK(training::reused_dropped_columns(plan, pilot, 0) == 16);
        CHECK(training::reused_dropped_columns(plan, pilot, 1) == 0);
        CHECK(base.theta.rightCols(16) == pilot.streams[1].theta);
        CHECK(base.x_fine.rightCols(16) == pilot.streams[1].x[0]);
        CHECK(std::vector<std::uint64_t>(base.seeds.end() - 16, base.seeds.end()) ==
              pilot.streams[1].seeds);
    }
    SECTION("a plan that stops at level 1: streams above it join as pairs of levels 0 and 1") {
        training::Plan plan;
        plan.levels = {{.level = 0, .samples = 40}, {.level = 1, .coarse_level = 0, .samples = 20}};
        const auto planned = training::generate_planned_dataset(model, prior, pilot, plan);
        REQUIRE(planned.level_count() == 2);
        CHECK(planned.levels[0].size() == 40);
        const auto& pair = planned.levels[1];
        REQUIRE(pair.size() == 20 + 16);
        CHECK(pair.x_fine.rightCols(16) == pilot.streams[2].x[1]);
        CHECK(pair.x_coarse.rightCols(16) == pilot.streams[2].x[0]);
        CHECK(planned.reports[1].kept == 36);
    }
    SECTION("plain MC on the top level: nothing below it joins") {
        training::Plan plan;
        plan.levels = {{.level = 2, .samples = 30}};
        const auto planned = training::generate_planned_dataset(model, prior, pilot, plan);
        REQUIRE(planned.level_count() == 1);
        CHECK(planned.levels[0].size() == 30);
        CHECK(planned.levels[0].x_fine.leftCols(16) == pilot.streams[2].x[2]);
    }
}

TEST_CASE("plan_and_generate chooses plain MC for an uncoupled cheap level", "[pilot]") {
    const auto coupled = simulators::MultilevelSimulator(
        simulators::make_level(1, cheap_level, 1.0), simulators::make_level(1, fine_level, 10.0));
    const auto broken =
        simulators::MultilevelSimulator(simulators::make_level(1, uncoupled_level, 1.0),
                                        simulators::make_level(1, fine_level, 10.0));
    training::PlanningOptions options{.pilot = quick_pilot()};
    const double budget = 20000;
    const auto bad =
        training::plan_and_generate(broken, prior, make_estimator(), Task::nle, budget, options);
    INFO(bad.plan.describe());
    CHECK_FALSE(bad.plan.multilevel());
    REQUIRE(bad.dataset.level_count() == 1);
    CHECK(bad.dataset.levels[0].x_coarse.size() == 0);
    CHECK(bad.spent <= budget);

    // The coupled cheap level's map is off by 0.1 theta against noise 0.5 (KL about 0.007
    // nats): at this budget the allocator may stop at level 0, so the two-level plan is
    // checked with truncation off; the truncated plan is checked below.
    auto unbiased = options;
    unbiased.allocation.allow_truncation = false;
    const auto good =
        training::plan_and_generate(coupled, prior, make_estimator(), Task::nle, budget, unbiased);
    INFO(good.plan.describe());
    CHECK(good.plan.multilevel());
    CHECK(good.plan.variance_reduction > 1.5);
    REQUIRE(good.dataset.level_count() == 2);
    // Budget accounting: the pilot plus what was added, counted from the dataset itself.
    double added = 0;
    for (std::size_t i = 0; i < good.dataset.level_count(); ++i)
        added += double(good.dataset.levels[i].size() - good.pilot.samples_per_level) *
                 good.plan.levels[i].cost;
    CHECK(good.spent == Approx(good.pilot.total_cost + added));
    CHECK(good.spent <= budget);
    CHECK(good.dataset.levels[0].size() == good.plan.levels[0].samples);

    // Stream 0: 64 x 1; stream 1: 64 x (1 + 10).
    CHECK(good.pilot.total_cost == Approx(768));

    // With truncation allowed, a plan that stops at level 0 is one level of G_0 (stream 0's
    // pilot runs reused) within the budget.
    const auto any =
        training::plan_and_generate(coupled, prior, make_estimator(), Task::nle, budget, options);
    INFO(any.plan.describe());
    CHECK(any.spent <= budget);
    if (any.plan.truncated()) {
        REQUIRE(any.dataset.level_count() == 1);
        CHECK(any.dataset.levels[0].x_coarse.size() == 0);
        CHECK(any.plan.levels[0].level == 0);
        CHECK(any.plan.bias_squared >= 0);
        // The plan charged the plug-in squared bias (bias_confidence 0).
        const double b = any.pilot.statistics.bias[0];
        CHECK(any.plan.bias_squared == Approx(b * b));
    } else {
        CHECK(any.plan.multilevel());
    }
    CHECK_THROWS_WITH(
        training::plan_and_generate(coupled, prior, make_estimator(), Task::nle, 700, options),
        Catch::StartsWith("plan_and_generate: the pilot alone cost 768"));
}
