// SPDX-License-Identifier: MIT
// Tests for diagnostics/c2st.hpp: ~0.5 for samples of one distribution (and for identical
// samples), the Bayes accuracy for two shifted Gaussians, determinism across thread counts.
#include <catch2/catch.hpp>
#include <cmath>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "mlsbi/diagnostics/c2st.hpp"
#include "mlsbi/rng/normal.hpp"

using namespace mlsbi;
using namespace mlsbi::diagnostics;

namespace {
Matrix<double> gaussian_sample(Index d, Index n, double shift, std::uint64_t seed) {
    Matrix<double> out(d, n);
    for (Index j = 0; j < n; ++j) {
        RandomStream rng(seed, static_cast<std::uint64_t>(j));
        for (Index i = 0; i < d; ++i)
            out(i, j) = 3.0 + 2.0 * standard_normal(rng) + (i == 0 ? shift : 0.0);
    }
    return out;
}
}  // namespace

TEST_CASE("C2ST is about 0.5 for samples of the same distribution", "[diagnostics][c2st]") {
    const Matrix<double> x = gaussian_sample(2, 500, 0, 1);
    const Matrix<double> y = gaussian_sample(2, 500, 0, 2);
    const C2stResult r = c2st(x, y, C2stOptions{.seed = 3});
    INFO("accuracy " << r.accuracy << ", epochs " << r.epochs[0]);
    // Standard error of an accuracy over 1000 held-out points is 0.016; overfitting can only
    // push a held-out accuracy around 0.5, not up.
    CHECK(std::abs(r.accuracy - 0.5) < 0.06);
    CHECK(r.fold_accuracy.size() == 5);
    CHECK(r.converged);
    // Literally identical samples cannot be told apart either.
    const C2stResult same = c2st(x, x, C2stOptions{.seed = 4});
    CHECK(std::abs(same.accuracy - 0.5) < 0.06);
}

TEST_CASE("C2ST reaches the Bayes accuracy for shifted Gaussians", "[diagnostics][c2st]") {
    // Shift of one standard deviation (2) along x_1: Bayes accuracy Phi(1 / 2) = 0.6915; shift of
    // two: Phi(1) = 0.8413.
    for (auto [shift, bayes] : {std::pair{2.0, 0.6915}, std::pair{4.0, 0.8413}}) {
        INFO("shift " << shift);
        const Matrix<double> x = gaussian_sample(2, 600, 0, 10);
        const Matrix<double> y = gaussian_sample(2, 600, shift, 11);
        const C2stResult r = c2st(x, y, C2stOptions{.seed = 12});
        INFO("accuracy " << r.accuracy);
        // Binomial SE on 1200 points ~0.013; a finite-sample classifier loses a little.
        CHECK(r.accuracy > bayes - 0.04);
        CHECK(r.accuracy < bayes + 0.04);
    }
}

TEST_CASE("C2ST is deterministic across thread counts", "[diagnostics][c2st]") {
    const Matrix<double> x = gaussian_sample(3, 150, 0, 1);
    const Matrix<double> y = gaussian_sample(3, 150, 1.0, 2);
    const C2stOptions options{.max_epochs = 30, .seed = 9};
#ifdef _OPENMP
    const int threads = omp_get_max_threads();
    omp_set_num_threads(1);
#endif
    const C2stResult one = c2st(x, y, options);
#ifdef _OPENMP
    omp_set_num_threads(2);
#endif
    const C2stResult two = c2st(x, y, options);
#ifdef _OPENMP
    omp_set_num_threads(threads);
#endif
    CHECK(one.fold_accuracy == two.fold_accuracy);
    CHECK(one.epochs == two.epochs);
    const C2stResult dbl = c2st<double>(x, y, options);
    CHECK(dbl.accuracy > 0.5);
}

TEST_CASE("C2ST rejects bad input", "[diagnostics][c2st]") {
    const Matrix<double> x = Matrix<double>::Zero(2, 10);
    CHECK_THROWS_WITH(c2st(x, Matrix<double>::Zero(3, 10)), Catch::Contains("dimension"));
    CHECK_THROWS_WITH(c2st(x, x, C2stOptions{.folds = 1}), Catch::Contains("folds"));
    CHECK_THROWS_WITH(c2st(x, x, C2stOptions{.learning_rate = 0}),
                      Catch::Contains("learning_rate"));
    CHECK_THROWS_WITH(c2st(x.leftCols(2), x.leftCols(2)), Catch::Contains("2 x folds"));
}
