// SPDX-License-Identifier: MIT
// Tests for rng/brownian.hpp: coarse increments are sums of fine ones (exact for
// coarsen_increments, to rounding for BrownianPath), increments have variance dt and are
// uncorrelated at every level, determinism from the seed.
#include <catch2/catch.hpp>
#include <cmath>

#include "mlsbi/rng.hpp"

using namespace mlsbi;

TEST_CASE("brownian_increments and coarsen_increments", "[rng][brownian]") {
    RandomStream rng(5);
    const Matrix<double> fine = brownian_increments(rng, 2, 12, 0.01);
    CHECK(rng.position() == 24);
    const Matrix<double> coarse = coarsen_increments(fine, 3);
    REQUIRE(coarse.rows() == 2);
    REQUIRE(coarse.cols() == 4);
    for (Index k = 0; k < 4; ++k)
        for (Index d = 0; d < 2; ++d)  // bit-exact: same summation order
            REQUIRE(coarse(d, k) == (fine(d, 3 * k) + fine(d, 3 * k + 1)) + fine(d, 3 * k + 2));
    CHECK(coarsen_increments(fine, 1) == fine);
    CHECK_THROWS_WITH(coarsen_increments(fine, 5), Catch::Contains("does not divide"));
    CHECK_THROWS_WITH(brownian_increments(rng, 1, 3, 0.0), Catch::Contains("dt must be > 0"));

    // Variance dt within standard errors (pooled over many streams).
    constexpr int reps = 20000;
    double ss = 0;
    for (int r = 0; r < reps; ++r) {
        RandomStream s(11, static_cast<std::uint64_t>(r));
        ss += brownian_increments(s, 1, 4, 0.25).squaredNorm();
    }
    const double var = ss / (4.0 * reps);
    CHECK(std::abs(var - 0.25) < 4.0 * 0.25 * std::sqrt(2.0 / (4.0 * reps)));
}

TEST_CASE("BrownianPath levels are coupled and have the right law", "[rng][brownian]") {
    const BrownianPath path(123, 2, 2.0, 4, 3);
    CHECK(path.steps(0) == 4);
    CHECK(path.steps(2) == 36);
    CHECK(path.dt(1) == Approx(2.0 / 12));

    SECTION("coarse increments equal block sums of fine ones up to rounding") {
        Matrix<double> previous = path.increments(0);
        for (Index level = 1; level <= 3; ++level) {
            const Matrix<double> next = path.increments(level);
            REQUIRE(next.cols() == path.steps(level));
            const Matrix<double> sums = coarsen_increments(next, 3);
            INFO("level " << level);
            CHECK((sums - previous).cwiseAbs().maxCoeff() <= 1e-14);
            previous = next;
        }
    }
    SECTION("deterministic in the seed; different seeds differ") {
        CHECK(path.increments(2) == BrownianPath(123, 2, 2.0, 4, 3).increments(2));
        CHECK(path.increments(2) != BrownianPath(124, 2, 2.0, 4, 3).increments(2));
    }
    SECTION("each level's increments are iid N(0, dt): variance and lag-1 correlation") {
        constexpr int reps = 3000;
        for (Index level : {Index(0), Index(2)}) {
            double ss = 0, cross = 0;
            Index count = 0, pairs = 0;
            for (int r = 0; r < reps; ++r) {
                const Matrix<double> dw =
                    BrownianPath(static_cast<std::uint64_t>(r), 1, 1.0, 2, 2).increments(level);
                ss += dw.squaredNorm();
                count += dw.size();
                for (Index i = 0; i + 1 < dw.cols(); ++i, ++pairs) cross += dw(0, i) * dw(0, i + 1);
            }
            const double dt = 1.0 / static_cast<double>(2 << level);
            INFO("level " << level << ", samples " << count);
            CHECK(std::abs(ss / count / dt - 1.0) < 4.0 * std::sqrt(2.0 / count));
            if (pairs > 0)  // a wrong bridge (e.g. the shift not split) correlates neighbours
                CHECK(std::abs(cross / pairs / dt) < 4.0 / std::sqrt(static_cast<double>(pairs)));
        }
    }
    SECTION("bad arguments") {
        CHECK_THROWS_WITH(BrownianPath(1, 0, 1.0, 4), Catch::Contains("dim must be >= 1"));
        CHECK_THROWS_WITH(BrownianPath(1, 1, 1.0, 4, 1),
                          Catch::Contains("refinement must be >= 2"));
        CHECK_THROWS_WITH(path.steps(-1), Catch::Contains("level must be >= 0"));
    }
}
