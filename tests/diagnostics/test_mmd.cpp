// SPDX-License-Identifier: MIT
// Tests for diagnostics/mmd.hpp: MMD of identical samples is zero, the unbiased and biased
// estimators match the closed form for two Gaussians within Monte Carlo error, the median
// heuristic and the multi-bandwidth kernel behave as documented.
#include <catch2/catch.hpp>
#include <cmath>

#include "mlsbi/diagnostics/mmd.hpp"
#include "mlsbi/rng/normal.hpp"

using namespace mlsbi;
using namespace mlsbi::diagnostics;

namespace {
Matrix<double> gaussian_sample(Index d, Index n, double shift, std::uint64_t seed) {
    Matrix<double> out(d, n);
    for (Index j = 0; j < n; ++j) {
        RandomStream rng(seed, static_cast<std::uint64_t>(j));
        for (Index i = 0; i < d; ++i) out(i, j) = standard_normal(rng) + (i == 0 ? shift : 0.0);
    }
    return out;
}
// For P = N(0, I_d), Q = N(delta e_1, I_d) and k = exp(-r^2 / (2 l^2)):
// E k(X, X') = (l^2 / (l^2 + 2))^{d/2}, E k(X, Y) = that times exp(-delta^2 / (2 (l^2 + 2))).
double expected_kernel_same(double l, Index d) {
    return std::pow(l * l / (l * l + 2), 0.5 * static_cast<double>(d));
}
double exact_mmd2(double l, Index d, double delta) {
    return 2 * expected_kernel_same(l, d) * (1 - std::exp(-delta * delta / (2 * (l * l + 2))));
}
}  // namespace

TEST_CASE("MMD of identical samples is zero", "[diagnostics][mmd]") {
    const Matrix<double> x = gaussian_sample(3, 200, 0, 1);
    CHECK(mmd_squared(x, x, 1.0) == Approx(0).margin(1e-14));
    CHECK(mmd_squared_median(x, x) == Approx(0).margin(1e-14));
    CHECK(mmd_squared(x, x, paper_multiscale_length_scales()) == Approx(0).margin(1e-12));
    // Unbiased with x = y: the diagonal terms are left out of the within-sample means only, so
    // it is -(2/n) (k(0) - mean off-diagonal k) < 0, small.
    const double u = mmd_squared(x, x, 1.0, MmdEstimator::unbiased);
    CHECK(u < 0);
    CHECK(u > -2.0 / 200);
}

TEST_CASE("MMD of two Gaussians with a known shift matches the closed form", "[diagnostics][mmd]") {
    const Index d = 2;
    const Index n = 300;
    const double l = 1.5;
    for (double delta : {0.0, 0.5, 1.5}) {
        INFO("shift " << delta);
        const double exact = exact_mmd2(l, d, delta);
        // Bias of the V-statistic: (k(0) - E k(X, X')) (1/n + 1/m).
        const double bias = 2.0 * (1 - expected_kernel_same(l, d)) / static_cast<double>(n);
        const int reps = 20;
        Vector<double> u(reps), v(reps);
        for (int r = 0; r < reps; ++r) {
            const Matrix<double> x = gaussian_sample(d, n, 0, 100 + static_cast<std::uint64_t>(r));
            const Matrix<double> y =
                gaussian_sample(d, n, delta, 900 + static_cast<std::uint64_t>(r));
            u(r) = mmd_squared(x, y, l, MmdEstimator::unbiased);
            v(r) = mmd_squared(x, y, l, MmdEstimator::biased);
        }
        const double se = std::sqrt((u.array() - u.mean()).square().sum() / (reps - 1) / reps);
        INFO("unbiased mean " << u.mean() << " exact " << exact << " se " << se);
        CHECK(std::abs(u.mean() - exact) < 4 * se + 1e-12);
        const double se_v = std::sqrt((v.array() - v.mean()).square().sum() / (reps - 1) / reps);
        INFO("biased mean " << v.mean() << " expected " << exact + bias << " se " << se_v);
        CHECK(std::abs(v.mean() - (exact + bias)) < 4 * se_v);
        CHECK((v.array() >= 0).all());
    }
}

TEST_CASE("Median heuristic and multi-bandwidth kernel", "[diagnostics][mmd]") {
    // Pooled points 0, 1, 3 (1-D): squared distances 1, 9, 4, median 4 -> l = sqrt(2).
    Matrix<double> x(1, 2), y(1, 2);
    x << 0, 1;
    y << 3, 3;  // pooled {0, 1, 3, 3}: d^2 = 1, 9, 9, 4, 4, 0 -> median (4 + 4) / 2 = 4
    CHECK(median_heuristic(x, y) == Approx(std::sqrt(2.0)));
    // The median length scale of N(0, I_d) pairs approaches sqrt(median chi2_d) (r^2 = 2 chi2_d).
    const Matrix<double> a = gaussian_sample(2, 1500, 0, 5);
    const Matrix<double> b = gaussian_sample(2, 1500, 0, 6);
    CHECK(median_heuristic(a, b) == Approx(std::sqrt(2 * std::log(2.0))).epsilon(0.03));
    // A kernel sum is a sum of MMDs.
    const Matrix<double> c = gaussian_sample(2, 100, 1.0, 7);
    const std::vector<double> scales = {0.5, 1.0, 3.0};
    double sum = 0;
    for (double s : scales) sum += mmd_squared(a.leftCols(100), c, s);
    CHECK(mmd_squared(a.leftCols(100), c, scales) == Approx(sum).epsilon(1e-12));
    const auto scaled = median_scaled_length_scales(a, b);
    REQUIRE(scaled.size() == 5);
    CHECK(scaled[2] == Approx(median_heuristic(a, b)));
    CHECK(paper_multiscale_length_scales().size() == 19);
}

TEST_CASE("MMD rejects bad input", "[diagnostics][mmd]") {
    const Matrix<double> x = Matrix<double>::Zero(2, 5);
    CHECK_THROWS_WITH(mmd_squared(x, Matrix<double>::Zero(3, 5), 1.0),
                      Catch::Contains("dimension"));
    CHECK_THROWS_WITH(mmd_squared(x, Matrix<double>::Ones(2, 5), -1.0),
                      Catch::Contains("length scales"));
    CHECK_THROWS_WITH(median_heuristic(x, x), Catch::Contains("coincide"));
    CHECK_THROWS_WITH(mmd_squared(x, Matrix<double>::Ones(2, 1), 1.0),
                      Catch::Contains("at least 2"));
}
