// SPDX-License-Identifier: MIT
// Tests for training/allocation.hpp: the analytic MLMC allocation on known V_l and C_l, plain MC
// when the cheap level is uncoupled, dropping a useless middle level, budget accounting, the
// min_gain preference for fewer levels, unknown merged couplings, stopping below the top level
// when a cheap level's measured bias is small, and bad inputs.
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <string>

#include "mlsbi/rng/random_stream.hpp"
#include "mlsbi/training/allocation.hpp"

using namespace mlsbi;
using training::AllocationOptions;
using training::PilotStatistics;
using training::plan_allocation;

namespace {

constexpr double unknown = std::numeric_limits<double>::quiet_NaN();

// Full statistics of three levels: V(0,1), V(1,2), V(0,2) and unit level variances.
PilotStatistics three_levels(std::vector<double> cost, double v01, double v12, double v02) {
    PilotStatistics s;
    s.cost = std::move(cost);
    s.level_variance = {1.0, 1.0, 1.0};
    s.difference_variance.setConstant(3, 3, unknown);
    s.difference_variance(0, 1) = v01;
    s.difference_variance(1, 2) = v12;
    s.difference_variance(0, 2) = v02;
    return s;
}

bool contains(const std::vector<std::string>& lines, const std::string& text) {
    for (const auto& line : lines)
        if (line.find(text) != std::string::npos) return true;
    return false;
}

}  // namespace

TEST_CASE("plan_allocation reproduces the analytic MLMC allocation", "[allocation]") {
    // C = 1, 4, 16; V = 1 (base), 0.1, 0.01; merged coupling (0, 2) worse than the chain.
    const PilotStatistics s = three_levels({1, 4, 16}, 0.1, 0.01, 0.2);
    const double budget = 1e5;
    const auto plan = plan_allocation(s, budget);
    INFO(plan.describe());
    REQUIRE(plan.kept_levels() == std::vector<std::size_t>{0, 1, 2});
    const std::vector<double> v{1.0, 0.1, 0.01}, c{1.0, 5.0, 20.0};
    double sum = 0;
    for (int i = 0; i < 3; ++i) sum += std::sqrt(v[i] * c[i]);
    for (std::size_t i = 0; i < 3; ++i) {
        const double analytic = budget * std::sqrt(v[i] / c[i]) / sum;
        INFO("level " << i << ": n = " << plan.levels[i].samples << ", analytic " << analytic);
        CHECK(std::abs(double(plan.levels[i].samples) - analytic) <= 0.1 * analytic);
        CHECK(plan.levels[i].cost == Approx(c[i]));
        CHECK(plan.levels[i].variance == Approx(v[i]));
    }
    CHECK(plan.predicted_variance == Approx(sum * sum / budget).epsilon(0.1));
    CHECK(plan.mc_samples == Index(budget / 16));
    CHECK(plan.variance_reduction == Approx(16.0 / (sum * sum)).epsilon(0.1));
    CHECK(plan.total_cost <= budget);
    CHECK(plan.candidates.size() == 4);  // {2}, {0,2}, {1,2}, {0,1,2}
}

TEST_CASE("plan_allocation chooses plain MC when the cheap level is uncoupled", "[allocation]") {
    // Independent noise: Var[f_1 - f_0] = Var f_1 + Var f_0 = 2, so the correction costs more
    // than it saves: (1 + sqrt(2 * 11))^2 = 32 > Var f_1 C_1 = 10.
    const auto s = PilotStatistics::adjacent({1, 10}, {1, 1}, {2.0});
    const auto plan = plan_allocation(s, 1000);
    INFO(plan.describe());
    CHECK_FALSE(plan.multilevel());
    REQUIRE(plan.kept_levels() == std::vector<std::size_t>{1});
    CHECK(plan.levels[0].samples == 100);
    CHECK(plan.variance_reduction == Approx(1.0));
    CHECK(contains(plan.reasons, "chosen: plain MC on level 1"));
    CHECK(contains(plan.reasons, "level 0 dropped"));

    // The same costs with a good coupling keep both levels.
    const auto coupled = plan_allocation(PilotStatistics::adjacent({1, 10}, {1, 1}, {0.01}), 1000);
    INFO(coupled.describe());
    CHECK(coupled.multilevel());
    CHECK(coupled.variance_reduction > 2);
}

TEST_CASE("plan_allocation drops a useless middle level", "[allocation]") {
    // Level 1 shares no noise with 0 or 2 (V = 2 on both sides) but 0 and 2 couple well.
    const PilotStatistics s = three_levels({1, 4, 16}, 2.0, 2.0, 0.01);
    const auto plan = plan_allocation(s, 1e4);
    INFO(plan.describe());
    REQUIRE(plan.kept_levels() == std::vector<std::size_t>{0, 2});
    CHECK(plan.levels[1].coarse_level == 0);
    CHECK(plan.levels[1].cost == Approx(17.0));
    CHECK(plan.levels[1].variance == Approx(0.01));
    CHECK(contains(plan.reasons, "level 1 dropped"));
    CHECK(plan.variance_reduction > 4);
    CHECK(plan.total_cost <= 1e4);
}

TEST_CASE("plan_allocation never spends more than the budget", "[allocation]") {
    RandomStream rng(11);
    for (int trial = 0; trial < 200; ++trial) {
        std::vector<double> cost{rng.uniform(0.1, 2), 0, 0};
        cost[1] = cost[0] * rng.uniform(1, 20);
        cost[2] = cost[1] * rng.uniform(1, 20);
        PilotStatistics s =
            three_levels(cost, rng.uniform(0, 3), rng.uniform(0, 3), rng.uniform(0, 3));
        s.level_variance = {rng.uniform(0.1, 3), rng.uniform(0.1, 3), rng.uniform(0.1, 3)};
        const double budget = cost[2] * rng.uniform(3, 500);
        const AllocationOptions options{.min_samples = 1 + Index(trial % 3)};
        const auto plan = plan_allocation(s, budget, options);
        INFO("trial " << trial << "\n" << plan.describe());
        double spent = 0;
        for (const auto& l : plan.levels) {
            CHECK(l.samples >= options.min_samples);
            spent += double(l.samples) * l.cost;
        }
        CHECK(spent == Approx(plan.total_cost));
        CHECK(spent <= budget * (1 + 1e-12));
        for (const auto& candidate : plan.candidates)
            if (candidate.feasible) CHECK(candidate.total_cost <= budget * (1 + 1e-12));
    }
}

TEST_CASE("plan_allocation prefers fewer levels within min_gain", "[allocation]") {
    // Chosen V_1 so that the two-level plan predicts 1/1.05 of MC's variance.
    const double target = 10.0 / 1.05;  // (1 + sqrt(11 V))^2 = target
    const double v = std::pow(std::sqrt(target) - 1, 2) / 11;
    const auto s = PilotStatistics::adjacent({1, 10}, {1, 1}, {v});
    const auto strict = plan_allocation(s, 1e5, {.min_gain = 1.0});
    CHECK(strict.multilevel());
    CHECK(strict.variance_reduction == Approx(1.05).epsilon(0.01));
    const auto cautious = plan_allocation(s, 1e5, {.min_gain = 1.1});
    INFO(cautious.describe());
    CHECK_FALSE(cautious.multilevel());
    CHECK(contains(cautious.reasons, "no other plan beats it by min_gain"));
    CHECK(contains(cautious.reasons,
                   "level 0 dropped: the best plan keeping it, {0, 1}, predicts "
                   "only 0.95"));
}

TEST_CASE("plan_allocation skips plans whose merged coupling is unknown", "[allocation]") {
    // Only adjacent couplings known: {0, 2} cannot be evaluated even if it would win.
    const auto s = PilotStatistics::adjacent({1, 4, 16}, {1, 1, 1}, {2.0, 2.0});
    const auto plan = plan_allocation(s, 1e4);
    INFO(plan.describe());
    CHECK_FALSE(plan.candidates[1].feasible);  // mask 1 = {0, 2}
    CHECK(plan.candidates[1].note.find("Var[f_2 - f_0] was not measured") != std::string::npos);
    CHECK(plan.kept_levels() == std::vector<std::size_t>{2});
}

TEST_CASE("plan_allocation stops below the top level only when the bias is small", "[allocation]") {
    // C = 1, 10; V_0 = V_1 = 1, a mediocre coupling V(0, 1) = 0.5; B = 1000. Unbiased plans:
    // MC on level 1 predicts 1 / 100 = 0.01, {0, 1} (1 + sqrt(5.5))^2 / 1000 = 0.0112.
    // Stopping at level 0 predicts 1 / 1000 + b^2.
    auto with_bias = [](double bias, double standard_error) {
        auto s = PilotStatistics::adjacent({1, 10}, {1, 1}, {0.5});
        s.bias = {bias, 0.0};
        s.bias_standard_error = {standard_error, 0.0};
        return s;
    };
    const auto small = plan_allocation(with_bias(0.01, 0.005), 1000);
    INFO(small.describe());
    REQUIRE(small.truncated());
    REQUIRE(small.kept_levels() == std::vector<std::size_t>{0});
    CHECK(small.levels[0].samples == 1000);
    CHECK(small.bias_squared == Approx(1e-4));  // bias_confidence 0: the plug-in b^2
    CHECK(small.variance_reduction == Approx(0.01 / (1e-3 + 1e-4)));
    CHECK(small.total_cost <= 1000);
    CHECK(contains(small.reasons, "stopping below the top level 1"));
    CHECK(contains(small.reasons, "level 1 dropped: the top level does not pay for itself"));
    CHECK(small.candidates.size() == 3);  // {1}, {0, 1}, {0}

    // A large bias, the same bias with a pessimistic bound, or truncation switched off: MC.
    CHECK(plan_allocation(with_bias(0.2, 0.005), 1000).kept_levels() ==
          std::vector<std::size_t>{1});
    CHECK(plan_allocation(with_bias(0.01, 0.1), 1000, {.bias_confidence = 1}).kept_levels() ==
          std::vector<std::size_t>{1});
    const auto off = plan_allocation(with_bias(0.01, 0.005), 1000, {.allow_truncation = false});
    CHECK(off.kept_levels() == std::vector<std::size_t>{1});
    CHECK(off.candidates.size() == 2);
    // Within min_gain of the truncated plan, an unbiased plan wins: b^2 = 0.008 makes {0}
    // predict 0.009, 1.11 x below MC's 0.01, inside min_gain = 1.2.
    CHECK(plan_allocation(with_bias(std::sqrt(0.008), 0), 1000, {.min_gain = 1.2}).kept_levels() ==
          std::vector<std::size_t>{1});
    CHECK(plan_allocation(with_bias(std::sqrt(0.008), 0), 1000, {.min_gain = 1.05}).kept_levels() ==
          std::vector<std::size_t>{0});
    // An unknown bias (NaN) is never truncated onto.
    CHECK_FALSE(plan_allocation(with_bias(unknown, 0.005), 1000).truncated());
}

TEST_CASE("plan_allocation rejects bad inputs with clear errors", "[allocation]") {
    const auto good = PilotStatistics::adjacent({1, 10}, {1, 1}, {0.1});
    // A budget that affords no top-level simulation (min_samples = 2 at cost 10).
    CHECK_THROWS_WITH(plan_allocation(good, 15),
                      Catch::StartsWith("plan_allocation: budget 15 cannot pay for min_samples"));
    CHECK_THROWS_WITH(plan_allocation(good, 5, {.min_samples = 1}),
                      Catch::Contains("simulations of the top level 1 (cost 10 each)"));
    CHECK_THROWS_WITH(plan_allocation(good, 0), Catch::StartsWith("plan_allocation: budget"));
    CHECK_THROWS_WITH(plan_allocation(good, std::numeric_limits<double>::infinity()),
                      Catch::StartsWith("plan_allocation: budget"));
    // Zero, negative and NaN costs name the level.
    for (const double bad : {0.0, -1.0, unknown}) {
        const auto s = PilotStatistics::adjacent({1, bad}, {1, 1}, {0.1});
        CHECK_THROWS_WITH(plan_allocation(s, 100),
                          Catch::StartsWith("plan_allocation: PilotStatistics: level 1 has cost"));
    }
    CHECK_THROWS_WITH(plan_allocation(PilotStatistics::adjacent({1, 10}, {1, -1}, {0.1}), 100),
                      Catch::Contains("level 1 has level_variance -1"));
    CHECK_THROWS_WITH(plan_allocation(PilotStatistics::adjacent({1, 10}, {1}, {0.1}), 100),
                      Catch::Contains("level_variance has 1 entries for 2 levels"));
    CHECK_THROWS_WITH(plan_allocation(PilotStatistics{}, 100), Catch::Contains("no levels"));
    CHECK_THROWS_WITH(plan_allocation(good, 100, {.min_samples = 0}),
                      Catch::Contains("AllocationOptions: min_samples"));
    CHECK_THROWS_WITH(plan_allocation(good, 100, {.min_gain = 0.5}),
                      Catch::Contains("AllocationOptions: min_gain"));
    CHECK_THROWS_WITH(plan_allocation(good, 100, {.bias_confidence = -1}),
                      Catch::Contains("AllocationOptions: bias_confidence"));
    auto biased = good;
    biased.bias = {0.1};
    biased.bias_standard_error = {0.1};
    CHECK_THROWS_WITH(plan_allocation(biased, 100), Catch::Contains("bias has 1 entries for 2"));
    biased.bias = {0.1, 0.0};
    CHECK_THROWS_WITH(plan_allocation(biased, 100),
                      Catch::Contains("bias_standard_error has 1 entries, bias 2"));
    biased.bias_standard_error = {-0.1, 0.0};
    CHECK_THROWS_WITH(plan_allocation(biased, 100),
                      Catch::Contains("level 0 has bias 0.1 +- -0.1"));
}
