// SPDX-License-Identifier: MIT
// Tests for simulators/multilevel_dataset.hpp: layout and seed contract, seed matching,
// thread-count independence, non-finite policies, empty and mismatched levels, reports,
// single-level data, and datasets built from user arrays.
#include <atomic>
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "mlsbi/distributions.hpp"
#include "mlsbi/rng.hpp"
#include "mlsbi/simulators.hpp"

using namespace mlsbi;
using namespace mlsbi::simulators;

namespace {

constexpr double not_a_number = std::numeric_limits<double>::quiet_NaN();

// Three coupled toy levels: x = theta_0 + z (1 + level / 10), z shared; 2-D output.
auto toy_level(int level) {
    return make_level(
        2, [level](const ConstVectorRef<double>& theta, RandomStream& rng, VectorRef<double> x) {
            const double z = standard_normal(rng);
            x(0) = theta(0) + z * (1.0 + 0.1 * level);
            x(1) = theta(1) * rng.uniform();
        });
}

// Returns NaN at level `bad_level` for the samples whose theta_0 is above `threshold`.
auto nan_level(int level, int bad_level, double threshold) {
    return make_level(
        1, [=](const ConstVectorRef<double>& theta, RandomStream& rng, VectorRef<double> x) {
            x(0) = theta(0) + standard_normal(rng);
            if (level == bad_level && theta(0) > threshold) x(0) = not_a_number;
        });
}

bool same(const MultilevelDataset& a, const MultilevelDataset& b) {
    if (a.level_count() != b.level_count()) return false;
    for (std::size_t l = 0; l < a.level_count(); ++l) {
        const auto& x = a.levels[l];
        const auto& y = b.levels[l];
        if (x.theta != y.theta || x.x_fine != y.x_fine || x.x_coarse != y.x_coarse ||
            x.seeds != y.seeds)
            return false;
    }
    return true;
}

}  // namespace

TEST_CASE("generate_multilevel_dataset: layout, seed contract and seed matching", "[dataset]") {
    const MultilevelSimulator model(toy_level(0), toy_level(1), toy_level(2));
    const distributions::BoxUniform prior({0.0, 1.0}, {1.0, 2.0});
    const GenerationOptions options{.samples_per_level = {50, 20, 7}, .seed = 42};
    const MultilevelDataset data = generate_multilevel_dataset(model, prior, options);

    REQUIRE(data.level_count() == 3);
    REQUIRE(data.reports.size() == 3);
    CHECK(data.levels[0].x_coarse.size() == 0);
    for (std::size_t l = 0; l < 3; ++l) {
        const LevelData& level = data.levels[l];
        const Index n = options.samples_per_level[l];
        INFO("level " << l);
        REQUIRE(level.size() == n);
        REQUIRE(level.theta.rows() == 2);
        REQUIRE(level.x_fine.rows() == 2);
        REQUIRE(level.x_fine.cols() == n);
        REQUIRE(level.seeds.size() == static_cast<std::size_t>(n));
        if (l > 0) REQUIRE(level.x_coarse.cols() == n);
        CHECK(data.reports[l].requested == n);
        CHECK(data.reports[l].kept == n);
        CHECK(data.reports[l].dropped == 0);
        CHECK(data.reports[l].simulations == (l == 0 ? n : 2 * n));
        CHECK(data.reports[l].seconds >= 0.0);
        CHECK(data.reports[l].seconds_per_simulation ==
              Approx(data.reports[l].seconds / static_cast<double>(data.reports[l].simulations)));
        CHECK(distributions::batch_in_support(prior, level.theta).all());
        for (Index i = 0; i < n; ++i) {
            // The documented seed contract: column i is a function of (master, l, i) only.
            const auto index = static_cast<std::uint64_t>(i);
            RandomStream rng(derive_seed(42, l, index, theta_tag));
            Vector<double> theta(2), x(2);
            prior.sample(rng, theta);
            REQUIRE(level.theta.col(i) == theta);
            REQUIRE(level.seeds[static_cast<std::size_t>(i)] ==
                    derive_seed(42, l, index, simulator_tag));
            model.simulate(l, theta, level.seeds[static_cast<std::size_t>(i)], x);
            REQUIRE(level.x_fine.col(i) == x);
            if (l > 0) {
                model.simulate(l - 1, theta, level.seeds[static_cast<std::size_t>(i)], x);
                REQUIRE(level.x_coarse.col(i) == x);
                // Seed matching: the pair shares z, so (x_fine - theta) / (x_coarse - theta)
                // is the ratio of the levels' noise scales, and the uniform-driven row agrees.
                const double ratio =
                    (level.x_fine(0, i) - theta(0)) / (level.x_coarse(0, i) - theta(0));
                REQUIRE(ratio == Approx((1.0 + 0.1 * l) / (1.0 + 0.1 * (l - 1))).epsilon(1e-12));
                REQUIRE(level.x_fine(1, i) == level.x_coarse(1, i));
            }
        }
    }
    // Levels draw fresh thetas: no column repeats across levels.
    CHECK(data.levels[1].theta.col(0) != data.levels[0].theta.col(0));
    // Same options, same data; another master seed, other data; more samples only append.
    CHECK(same(data, generate_multilevel_dataset(model, prior, options)));
    GenerationOptions other = options;
    other.seed = 43;
    CHECK_FALSE(same(data, generate_multilevel_dataset(model, prior, other)));
    GenerationOptions more = options;
    more.samples_per_level = {60, 20, 9};
    const auto bigger = generate_multilevel_dataset(model, prior, more);
    CHECK(bigger.levels[0].x_fine.leftCols(50) == data.levels[0].x_fine);
    CHECK(bigger.levels[2].theta.leftCols(7) == data.levels[2].theta);
}

TEST_CASE("generate_multilevel_dataset: bit-identical for any thread count", "[dataset][threads]") {
    const gnk::Multilevel model = gnk::make_multilevel(3);
    const GenerationOptions options{.samples_per_level = {400, 64}, .seed = 7};
#ifdef _OPENMP
    const int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    const MultilevelDataset one = generate_multilevel_dataset(model, gnk::prior(), options);
    omp_set_num_threads(2);
    const MultilevelDataset two = generate_multilevel_dataset(model, gnk::prior(), options);
    omp_set_num_threads(saved);
    CHECK(same(one, two));
    for (std::size_t l = 0; l < 2; ++l) {  // the parallel loop really ran on two threads
        CHECK(one.reports[l].threads == 1);
        CHECK(two.reports[l].threads == 2);
    }
#endif
    GenerationOptions three = options;
    three.threads = 3;  // explicit count, more threads than cores
    const MultilevelDataset reference = generate_multilevel_dataset(model, gnk::prior(), options);
    const MultilevelDataset on_three = generate_multilevel_dataset(model, gnk::prior(), three);
    CHECK(same(reference, on_three));
#ifdef _OPENMP
    CHECK(on_three.reports[0].threads == 3);
#endif
}

TEST_CASE("generate_multilevel_dataset: non-finite output policies", "[dataset][nonfinite]") {
    const distributions::BoxUniform prior({0.0}, {1.0});
    SECTION("error (default) names the level, the sample index and the simulator") {
        // G_0 returns NaN for theta > 0.9: at level 0 it is the fine simulator, at level 1 the
        // coarse one. Configurations: failure at level 0, and (one level-0 sample below 0.9) at 1.
        const MultilevelSimulator model(nan_level(0, 0, 0.9), nan_level(1, 0, 0.9));
        auto first_theta = [](std::uint64_t master, std::size_t l, Index i) {
            RandomStream rng(derive_seed(master, l, static_cast<std::uint64_t>(i), theta_tag));
            return rng.uniform();
        };
        std::uint64_t clean_master = 1;
        while (first_theta(clean_master, 0, 0) > 0.9) ++clean_master;
        for (const GenerationOptions& options :
             {GenerationOptions{.samples_per_level = {30, 300}, .seed = 1},
              GenerationOptions{.samples_per_level = {1, 300}, .seed = clean_master}}) {
            std::size_t expected_level = 0;
            Index expected_index = -1;
            for (std::size_t l = 0; l < 2 && expected_index < 0; ++l)
                for (Index i = 0; i < options.samples_per_level[l]; ++i)
                    if (first_theta(options.seed, l, i) > 0.9) {
                        expected_level = l;
                        expected_index = i;
                        break;
                    }
            REQUIRE(expected_index >= 0);
            try {
                (void)generate_multilevel_dataset(model, prior, options);
                FAIL("expected a SimulationError");
            } catch (const SimulationError& e) {
                INFO(e.what());
                CHECK(e.level() == expected_level);
                CHECK(e.index() == expected_index);
                CHECK_THAT(e.what(),
                           Catch::Contains(message("level ", expected_level, ", sample ",
                                                   expected_index, ": non-finite output")));
                CHECK_THAT(e.what(),
                           Catch::Contains(expected_level == 0 ? "fine simulator (G_0"
                                                               : "coarse simulator (G_0"));
                CHECK_THAT(e.what(), Catch::Contains("NonFinitePolicy::drop"));
            }
        }
    }
    SECTION("drop removes the whole seed-matched pair and reports it") {
        // NaN only at level 1 (the fine member of level-1 pairs) for theta > 0.8.
        const MultilevelSimulator model(nan_level(0, 1, 0.8), nan_level(1, 1, 0.8));
        const GenerationOptions options{
            .samples_per_level = {100, 200}, .seed = 3, .non_finite = NonFinitePolicy::drop};
        const MultilevelDataset data = generate_multilevel_dataset(model, prior, options);
        const LevelData& pairs = data.levels[1];
        Index expected_dropped = 0;
        for (Index i = 0; i < 200; ++i) {
            RandomStream rng(derive_seed(3, 1, static_cast<std::uint64_t>(i), theta_tag));
            expected_dropped += rng.uniform() > 0.8;
        }
        REQUIRE(expected_dropped > 10);
        CHECK(data.reports[1].dropped == expected_dropped);
        CHECK(data.reports[1].kept == 200 - expected_dropped);
        CHECK(data.reports[1].requested == 200);
        CHECK(data.reports[1].simulations == 400);
        CHECK(pairs.size() == 200 - expected_dropped);
        CHECK(pairs.x_coarse.cols() == pairs.size());
        CHECK(pairs.seeds.size() == static_cast<std::size_t>(pairs.size()));
        CHECK(pairs.x_fine.allFinite());
        CHECK((pairs.theta.array() <= 0.8).all());
        CHECK(data.reports[0].dropped == 0);
        // Kept pairs are still seed-matched: rerun one.
        Vector<double> x(1);
        model.simulate(0, pairs.theta.col(5), pairs.seeds[5], x);
        CHECK(x(0) == pairs.x_coarse(0, 5));
    }
    SECTION("dropping every sample is an error naming the level") {
        const MultilevelSimulator model(nan_level(0, 0, -1.0), nan_level(1, 0, -1.0));
        const GenerationOptions options{.samples_per_level = {4, 4},
                                        .non_finite = NonFinitePolicy::drop};
        CHECK_THROWS_WITH(generate_multilevel_dataset(model, prior, options),
                          Catch::Contains("level 0: all 4 samples were non-finite"));
    }
    SECTION("a throwing simulator is reported with level and index") {
        auto thrower = make_level(
            1, [](const ConstVectorRef<double>& theta, RandomStream&, VectorRef<double> x) {
                if (theta(0) > 0.5) throw std::runtime_error("solver diverged");
                x(0) = 0.0;
            });
        const MultilevelSimulator model(thrower, thrower);
        const GenerationOptions options{.samples_per_level = {50, 50}, .seed = 9};
        CHECK_THROWS_WITH(generate_multilevel_dataset(model, prior, options),
                          Catch::Contains("generate_multilevel_dataset: level 0, sample ") &&
                              Catch::Contains("solver diverged"));
    }
    SECTION("a simulator that leaves an entry unwritten is caught as non-finite") {
        auto lazy = make_level(2, [](const auto&, RandomStream&, auto x) { x(0) = 1.0; });
        const MultilevelSimulator model(lazy);
        CHECK_THROWS_WITH(generate_multilevel_dataset(model, prior, {.samples_per_level = {3}}),
                          Catch::Contains("level 0, sample 0: non-finite output nan at row 1"));
    }
}

TEST_CASE("generate_multilevel_dataset: bad options and shapes", "[dataset][errors]") {
    const MultilevelSimulator model(toy_level(0), toy_level(1));
    const distributions::BoxUniform prior({0.0, 1.0}, {1.0, 2.0});
    CHECK_THROWS_WITH(generate_multilevel_dataset(model, prior, {.samples_per_level = {100, 0}}),
                      Catch::Contains("samples_per_level[1] is 0: level 1 is empty"));
    CHECK_THROWS_WITH(
        generate_multilevel_dataset(model, prior, {.samples_per_level = {100}}),
        Catch::Contains("samples_per_level has 1 entries but the simulator has 2 levels"));
    CHECK_THROWS_WITH(generate_multilevel_dataset(model, prior, {.samples_per_level = {}}),
                      Catch::Contains("samples_per_level is empty"));
    CHECK_THROWS_WITH(
        generate_multilevel_dataset(model, prior, {.samples_per_level = {1, 1}, .threads = -1}),
        Catch::Contains("threads must be >= 0"));
    auto one_d = make_level(1, [](const auto&, RandomStream&, auto x) { x(0) = 0; });
    CHECK_THROWS_WITH(generate_multilevel_dataset(MultilevelSimulator(toy_level(0), one_d), prior,
                                                  {.samples_per_level = {2, 2}}),
                      Catch::Contains("level 1 has output_dim 1 but level 0 has 2"));
    CHECK_THROWS_WITH(
        generate_multilevel_dataset(gnk::make_multilevel(), prior, {.samples_per_level = {2, 2}}),
        Catch::Contains("level 0 expects theta of dimension 4 but the prior has 2"));
}

TEST_CASE("generate_multilevel_dataset refuses absurd sizes before allocating",
          "[dataset][errors]") {
    // A typo (10^12 samples) used to abort in the allocation; it must be refused, naming the
    // level, before anything is allocated or simulated.
    const MultilevelSimulator model(toy_level(0), toy_level(1));
    const distributions::BoxUniform prior({0.0, 1.0}, {1.0, 2.0});
    const Index huge = 1'000'000'000'000;
    CHECK_THROWS_AS(generate_multilevel_dataset(model, prior, {.samples_per_level = {huge, 10}}),
                    std::invalid_argument);
    CHECK_THROWS_WITH(
        generate_multilevel_dataset(model, prior, {.samples_per_level = {huge, 10}}),
        Catch::Contains("generate_multilevel_dataset: level 0 (1000000000000 samples") &&
            Catch::Contains("above max_bytes"));
    CHECK_THROWS_WITH(
        generate_multilevel_dataset(model, prior, {.samples_per_level = {10, huge}}),
        Catch::Contains("level 1 (1000000000000 samples"));
    // More entries than an Eigen Index can hold, whatever max_bytes says.
    const Index overflow = std::numeric_limits<Index>::max() / 2 + 1;
    CHECK_THROWS_WITH(generate_multilevel_dataset(
                          model, prior,
                          {.samples_per_level = {10, overflow},
                           .max_bytes = std::numeric_limits<std::int64_t>::max()}),
                      Catch::Contains("level 1 asks for") &&
                          Catch::Contains("more entries than an Eigen matrix can index"));
    // The bound is on the sum over levels: 2 levels of 10 samples need (2 + 2) * 8 + 9 = 41 and
    // (2 + 4) * 8 + 9 = 57 bytes per sample, 980 in all.
    CHECK_NOTHROW(generate_multilevel_dataset(model, prior,
                                              {.samples_per_level = {10, 10}, .max_bytes = 980}));
    CHECK_THROWS_WITH(generate_multilevel_dataset(
                          model, prior, {.samples_per_level = {10, 10}, .max_bytes = 979}),
                      Catch::Contains("level 1 (10 samples, 570 bytes)"));
    CHECK_THROWS_WITH(
        generate_multilevel_dataset(model, prior, {.samples_per_level = {1, 1}, .max_bytes = 0}),
        Catch::Contains("max_bytes must be >= 1"));
    CHECK_THROWS_WITH(generate_dataset(gnk::HighLevel{}, gnk::prior(), huge, 1),
                      Catch::Contains("generate_dataset: level 0 (1000000000000 samples"));
}

namespace {
// A box prior on [0, 1] whose draws above `threshold` come out as NaN (a broken transform).
struct NanPrior {
    double threshold;
    [[nodiscard]] Index dim() const { return 1; }
    void sample(RandomStream& rng, VectorRef<double> theta) const {
        const double u = rng.uniform();
        theta(0) = u > threshold ? not_a_number : u;
    }
    [[nodiscard]] double log_density(const ConstVectorRef<double>&) const { return 0; }
    [[nodiscard]] bool in_support(const ConstVectorRef<double>& t) const {
        return t(0) >= 0 && t(0) <= 1;
    }
};
static_assert(distributions::Prior<NanPrior>);
}  // namespace

TEST_CASE("generate_multilevel_dataset flags non-finite thetas from the prior",
          "[dataset][nonfinite]") {
    // The simulator counts its calls: a NaN theta must never reach it.
    std::atomic<Index> calls{0};
    auto counted = make_level(1, [&](const ConstVectorRef<double>& theta, RandomStream& rng,
                                     VectorRef<double> x) {
        ++calls;
        x(0) = theta(0) + standard_normal(rng);
    });
    const MultilevelSimulator model(counted, counted);
    const NanPrior prior{0.8};
    const GenerationOptions options{.samples_per_level = {40, 30}, .seed = 3};
    // The expected first bad sample, from the documented seed derivation.
    auto theta_of = [&](std::size_t l, Index i) {
        RandomStream rng(derive_seed(options.seed, l, static_cast<std::uint64_t>(i), theta_tag));
        return rng.uniform();
    };
    Index first_bad = -1;
    for (Index i = 0; i < 40 && first_bad < 0; ++i)
        if (theta_of(0, i) > 0.8) first_bad = i;
    REQUIRE(first_bad >= 0);
    SECTION("error (default) names the level and the sample") {
        try {
            (void)generate_multilevel_dataset(model, prior, options);
            FAIL("expected SimulationError");
        } catch (const SimulationError& e) {
            CHECK(e.level() == 0);
            CHECK(e.index() == first_bad);
            CHECK_THAT(e.what(), Catch::Contains("level 0, sample " + std::to_string(first_bad) +
                                                 ": the prior drew a non-finite theta"));
        }
    }
    SECTION("drop removes the sample and counts it") {
        GenerationOptions drop = options;
        drop.non_finite = NonFinitePolicy::drop;
        calls = 0;
        const MultilevelDataset data = generate_multilevel_dataset(model, prior, drop);
        Index simulations = 0;
        for (std::size_t l = 0; l < 2; ++l) {
            Index bad = 0;
            for (Index i = 0; i < drop.samples_per_level[l]; ++i) bad += theta_of(l, i) > 0.8;
            CHECK(bad > 0);
            CHECK(data.reports[l].dropped == bad);
            CHECK(data.levels[l].size() == drop.samples_per_level[l] - bad);
            CHECK(data.reports[l].simulations ==
                  Index(l == 0 ? 1 : 2) * (drop.samples_per_level[l] - bad));
            CHECK(data.levels[l].theta.allFinite());
            simulations += data.reports[l].simulations;
        }
        CHECK(calls.load() == simulations);
        CHECK_NOTHROW(validate_dataset(data));
    }
}

namespace {
// A multilevel model as one type indexed by level (no MultilevelSimulator): level l adds l to x.
struct IndexedModel {
    static constexpr std::size_t levels = 3;
    Index output_dim(std::size_t) const { return 1; }
    Index parameter_dim(std::size_t) const { return 1; }  // plain Index: ignored, still compiles
    void simulate(std::size_t level, const ConstVectorRef<double>& theta, std::uint64_t seed,
                  VectorRef<double> x) const {
        RandomStream rng(seed);
        x(0) = theta(0) + standard_normal(rng) + static_cast<double>(level);
    }
};
static_assert(MultilevelModel<IndexedModel>);
}  // namespace

TEST_CASE("generate_multilevel_dataset accepts any MultilevelModel", "[dataset]") {
    const distributions::BoxUniform prior({0.0}, {1.0});
    const auto data =
        generate_multilevel_dataset(IndexedModel{}, prior, {.samples_per_level = {10, 5, 3}});
    REQUIRE(data.level_count() == 3);
    // Seed matching: the pair differs by exactly the level offset.
    CHECK((data.levels[2].x_fine - data.levels[2].x_coarse).array().isApproxToConstant(1.0));
}

TEST_CASE("generate_dataset: single-level data for MC baselines", "[dataset]") {
    const gnk::HighLevel high;
    LevelReport report;
    const Simulations data = generate_dataset(high, gnk::prior(), 300, 11, {}, &report);
    CHECK(data.size() == 300);
    CHECK(data.x.rows() == high.output_dim());
    CHECK(data.seeds.size() == 300);
    CHECK(report.simulations == 300);
    CHECK(report.kept == 300);
    const auto index = std::uint64_t{17};
    CHECK(data.seeds[17] == derive_seed(11, single_level_stream, index, simulator_tag));
    CHECK(data.x.allFinite());
    // Independent of the multilevel dataset drawn from the same master seed.
    const auto ml = generate_multilevel_dataset(gnk::make_multilevel(), gnk::prior(),
                                                {.samples_per_level = {300, 300}, .seed = 11});
    CHECK(data.theta.col(0) != ml.levels[0].theta.col(0));
    CHECK(data.theta.col(0) != ml.levels[1].theta.col(0));
    CHECK_THROWS_WITH(generate_dataset(high, gnk::prior(), 0, 1),
                      Catch::Contains("n must be >= 1"));
}

TEST_CASE("dataset_from_arrays validates shapes and values", "[dataset][arrays]") {
    auto make = [](Index p, Index d, Index n0, Index n1) {
        std::vector<LevelData> levels(2);
        levels[0].theta = Matrix<double>::Random(p, n0);
        levels[0].x_fine = Matrix<double>::Random(d, n0);
        levels[1].theta = Matrix<double>::Random(p, n1);
        levels[1].x_fine = Matrix<double>::Random(d, n1);
        levels[1].x_coarse = Matrix<double>::Random(d, n1);
        return levels;
    };
    const MultilevelDataset ok = dataset_from_arrays(make(1, 39, 30, 5));
    CHECK(ok.level_count() == 2);
    CHECK(ok.reports[1].kept == 5);
    CHECK(ok.reports[1].simulations == 0);

    auto bad = make(1, 39, 30, 5);
    bad[1].x_coarse = Matrix<double>::Zero(39, 4);
    CHECK_THROWS_WITH(dataset_from_arrays(bad),
                      Catch::Contains("level 1 x_coarse is 39 x 4, expected 39 x 5"));
    bad = make(1, 39, 30, 5);
    bad[0].x_fine.resize(38, 30);
    CHECK_THROWS_WITH(dataset_from_arrays(bad),
                      Catch::Contains("level 1 x_fine is 39 x 5, expected 38 x 5"));
    bad = make(1, 39, 30, 5);
    bad[1].theta.resize(2, 5);
    bad[1].theta.setZero();
    CHECK_THROWS_WITH(dataset_from_arrays(bad),
                      Catch::Contains("level 1 theta has 2 rows but level 0 has 1"));
    bad = make(1, 39, 30, 5);
    bad[0].x_coarse = Matrix<double>::Zero(39, 30);
    CHECK_THROWS_WITH(dataset_from_arrays(bad), Catch::Contains("level 0 x_coarse must be empty"));
    bad = make(1, 39, 0, 5);
    CHECK_THROWS_WITH(dataset_from_arrays(bad), Catch::Contains("level 0 is empty"));
    CHECK_THROWS_WITH(dataset_from_arrays({}), Catch::Contains("the dataset has no levels"));

    bad = make(1, 39, 30, 5);
    bad[1].x_coarse(7, 3) = std::numeric_limits<double>::infinity();
    bad[0].x_fine(2, 12) = not_a_number;
    CHECK_THROWS_WITH(
        dataset_from_arrays(bad),
        Catch::Contains("level 0 x_fine has a non-finite value nan at sample 12, row 2"));
    const MultilevelDataset dropped = dataset_from_arrays(bad, NonFinitePolicy::drop);
    CHECK(dropped.levels[0].size() == 29);
    CHECK(dropped.levels[1].size() == 4);
    CHECK(dropped.reports[0].dropped == 1);
    CHECK(dropped.reports[1].dropped == 1);
    CHECK(dropped.levels[1].x_fine.col(3) == bad[1].x_fine.col(4));  // order kept, pair dropped
}
