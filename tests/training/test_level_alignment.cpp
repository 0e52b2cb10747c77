// SPDX-License-Identifier: MIT
// Tests for training/level_alignment.hpp: every cheaper level's outputs get the top level's
// moments, both appearances of a level get the same map (so the telescoping sum keeps its
// form), the top level is untouched, constant dimensions are only shifted, held-out data can be
// mapped alike; and the ML recipes use it by default but not in paper().

#include <catch2/catch.hpp>

#include "mlsbi/flows/conditional_estimator.hpp"
#include "mlsbi/flows/diagonal_gaussian.hpp"
#include "mlsbi/losses/mlmc_loss.hpp"
#include "mlsbi/rng/normal.hpp"
#include "mlsbi/simulators/multilevel_dataset.hpp"
#include "mlsbi/training/baselines.hpp"
#include "mlsbi/training/level_alignment.hpp"

using namespace mlsbi;

namespace {

// Three levels of 2-D outputs. G_l(theta, seed) = a_l + b_l * (theta + noise(seed)) in the
// first dimension, a constant in the second: level l's own samples and the coarse members of
// level l+1's pairs are draws of the same G_l, and each level is an exact affine image of the
// next on the same (theta, seed).
Vector<double> level_output(Index l, double theta, double noise) {
    const double a[] = {5.0, -1.0, 2.0}, b[] = {3.0, 0.5, 1.5};
    Vector<double> x(2);
    x(0) = a[l] + b[l] * (theta + noise);
    x(1) = 7.0;
    return x;
}

simulators::MultilevelDataset make_data(std::uint64_t seed) {
    simulators::MultilevelDataset data;
    RandomStream rng(seed);
    const Index sizes[] = {400, 200, 100};
    for (Index l = 0; l < 3; ++l) {
        simulators::LevelData level;
        const Index n = sizes[l];
        level.theta.resize(1, n);
        level.x_fine.resize(2, n);
        if (l > 0) level.x_coarse.resize(2, n);
        for (Index j = 0; j < n; ++j) {
            const double theta = standard_normal(rng), noise = 0.3 * standard_normal(rng);
            level.theta(0, j) = theta;
            level.x_fine.col(j) = level_output(l, theta, noise);
            if (l > 0) level.x_coarse.col(j) = level_output(l - 1, theta, noise);
        }
        data.levels.push_back(std::move(level));
    }
    return data;
}

// Mean and sd of row k over the columns of a and b together.
std::pair<double, double> moments(const Matrix<double>& a, const Matrix<double>& b, Index k) {
    Vector<double> v(a.cols() + b.cols());
    v << a.row(k).transpose(), b.row(k).transpose();
    const double mean = v.mean();
    return {mean, std::sqrt((v.array() - mean).square().sum() / double(v.size() - 1))};
}

}  // namespace

TEST_CASE("align_levels maps each level through its pairs onto the top level, one map per level",
          "[training][alignment]") {
    const auto original = make_data(3);
    auto data = original;
    const auto alignment = training::align_levels(data);
    REQUIRE(alignment.maps.size() == 2);
    for (std::size_t l = 0; l < 2; ++l) {
        // On level l+1's pairs the mapped coarse members have the mapped fine members' moments.
        const auto& pairs = data.levels[l + 1];
        const auto [coarse_mean, coarse_sd] = moments(pairs.x_coarse, Matrix<double>(2, 0), 0);
        const auto [fine_mean, fine_sd] = moments(pairs.x_fine, Matrix<double>(2, 0), 0);
        CHECK(coarse_mean == Approx(fine_mean).epsilon(1e-12));
        CHECK(coarse_sd == Approx(fine_sd).epsilon(1e-12));
        // The same map on both appearances of G_l (what keeps the telescoping sum's form).
        const auto& map = alignment.maps[l];
        Matrix<double> fine = original.levels[l].x_fine, coarse = original.levels[l + 1].x_coarse;
        map.apply(fine);
        map.apply(coarse);
        CHECK((fine - data.levels[l].x_fine).norm() == 0.0);
        CHECK((coarse - data.levels[l + 1].x_coarse).norm() == 0.0);
    }
    // The top level is untouched; theta is never changed.
    CHECK(data.levels[2].x_fine == original.levels[2].x_fine);
    for (std::size_t l = 0; l < 3; ++l) CHECK(data.levels[l].theta == original.levels[l].theta);
    // Cheap levels that are exact affine images of the next level become it sample by sample:
    // every correction vanishes, where the raw pairs differ by O(1).
    for (std::size_t l = 1; l < 3; ++l) {
        const auto& pairs = data.levels[l];
        CHECK((pairs.x_fine - pairs.x_coarse).cwiseAbs().maxCoeff() < 1e-9);
        const auto& raw = original.levels[l];
        CHECK((raw.x_fine - raw.x_coarse).cwiseAbs().maxCoeff() > 1.0);
    }
}

TEST_CASE("align_levels shifts a constant dimension and keeps degenerate datasets",
          "[training][alignment]") {
    auto data = make_data(4);
    data.levels[0].x_fine.row(1).setConstant(3.0);
    data.levels[1].x_coarse.row(1).setConstant(3.0);
    const auto alignment = training::align_levels(data);
    CHECK(alignment.maps[0].scale(1) == 1.0);
    CHECK((data.levels[0].x_fine.row(1).array() == 7.0).all());  // the top level's constant
    SECTION("one level: nothing to align") {
        simulators::MultilevelDataset single;
        single.levels.push_back(data.levels[0]);
        CHECK(training::align_levels(single).maps.empty());
    }
    SECTION("a non-finite output is refused, naming the level") {
        auto bad = make_data(5);
        bad.levels[1].x_coarse(0, 3) = std::numeric_limits<double>::quiet_NaN();
        CHECK_THROWS_WITH(training::align_levels(bad),
                          Catch::Contains("level 1") && Catch::Contains("non-finite"));
    }
}

TEST_CASE("apply_alignment maps held-out data as the training data were mapped",
          "[training][alignment]") {
    auto train = make_data(6);
    auto held_out = make_data(7);
    const auto expected = [&] {
        auto copy = held_out;
        const auto alignment = training::align_levels(train);
        training::apply_alignment(alignment, copy);
        return copy;
    }();
    auto again = make_data(6);
    const auto alignment = training::align_levels(again);
    for (std::size_t l = 0; l < 2; ++l) {
        Matrix<double> x = held_out.levels[l].x_fine;
        alignment.maps[l].apply(x);
        CHECK((x - expected.levels[l].x_fine).norm() == 0.0);
    }
    simulators::MultilevelDataset two;
    two.levels.assign(held_out.levels.begin(), held_out.levels.begin() + 2);
    CHECK_THROWS_WITH(training::apply_alignment(alignment, two), Catch::Contains("2 maps"));
}

TEST_CASE("ML training aligns by default and not in paper()", "[training][alignment]") {
    CHECK(training::MlmcTrainingOptions{}.align_levels);
    CHECK_FALSE(training::MlmcTrainingOptions::paper().align_levels);
    // The paper's loop on aligned data is the paper's loop on data aligned beforehand.
    using Gaussian = flows::DiagonalGaussian<double>;
    const Gaussian::Options shape{.input_dim = 2, .context_dim = 1, .hidden = {4}};
    const auto data = make_data(8);
    auto options = training::MlmcTrainingOptions::paper();
    options.training.max_epochs = 5;
    options.training.progress = false;
    options.align_levels = true;
    flows::ConditionalEstimator<Gaussian> a(shape, 11);
    (void)training::train_mlmc(a, data, losses::Task::nle, options);
    auto aligned = data;
    (void)training::align_levels(aligned);
    options.align_levels = false;
    flows::ConditionalEstimator<Gaussian> b(shape, 11);
    (void)training::train_mlmc(b, aligned, losses::Task::nle, options);
    CHECK(a.parameters() == b.parameters());
    // and differs from the paper's loop on the data as given.
    flows::ConditionalEstimator<Gaussian> c(shape, 11);
    (void)training::train_mlmc(c, data, losses::Task::nle, options);
    CHECK(a.parameters() != c.parameters());
}
