// SPDX-License-Identifier: MIT
// Tests for inference/initialization.hpp: SIR picks distinct, high-weight candidates, follows
// the importance weights, is deterministic and reports bad input.
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <numbers>
#include <set>

#include "mlsbi/distributions/box_uniform.hpp"
#include "mlsbi/inference/initialization.hpp"

using namespace mlsbi;
using namespace mlsbi::inference;

TEST_CASE("SIR resamples candidates in proportion to their weights", "[inference][sir]") {
    // 1-D: candidates on a grid with flat proposal, target N(1, 0.2^2): chosen points concentrate.
    const Index n = 2001;
    Matrix<double> candidates(1, n);
    for (Index j = 0; j < n; ++j) candidates(0, j) = -5.0 + 10.0 * static_cast<double>(j) / (n - 1);
    const Vector<double> log_proposal = Vector<double>::Zero(n);
    auto target = [](const ConstMatrixRef<double>& t, VectorRef<double> out) {
        out = (-0.5 * ((t.row(0).array() - 1.0) / 0.2).square()).transpose().matrix();
    };
    const auto init = sir_initialize(target, candidates, log_proposal, 50, 123, 300);
    REQUIRE(init.points.cols() == 50);
    CHECK(init.finite_candidates == n);
    // Kish ESS of the grid weights: sum(w)^2 / sum(w^2) = 2 sqrt(pi) sigma / h for a fine grid.
    CHECK(init.weight_ess == Approx(2 * std::sqrt(std::numbers::pi) * 0.2 / 0.005).epsilon(0.01));
    std::set<double> distinct(init.points.data(), init.points.data() + 50);
    CHECK(distinct.size() == 50);  // without replacement
    // Successive sampling of 50 of ~140 effective points: still near the target mean.
    const double mean = init.points.mean();
    CHECK(std::abs(mean - 1.0) < 0.15);
    CHECK((init.points.array() - 1.0).abs().maxCoeff() < 1.0);
    for (Index c = 0; c < 50; ++c)
        CHECK(init.log_density(c) == Approx(-0.5 * std::pow((init.points(0, c) - 1) / 0.2, 2)));
    const auto again = sir_initialize(target, candidates, log_proposal, 50, 123);
    CHECK(again.points == init.points);  // batch size does not matter
    const auto other = sir_initialize(target, candidates, log_proposal, 50, 124);
    CHECK(other.points != init.points);
}

TEST_CASE("SIR skips candidates outside the support and reports too few", "[inference][sir]") {
    Matrix<double> candidates(1, 4);
    candidates << -1, 0.5, 2, 0.7;
    auto support = [](const ConstMatrixRef<double>& t, VectorRef<double> out) {
        for (Index j = 0; j < t.cols(); ++j)
            out(j) = (t(0, j) > 0 && t(0, j) < 1) ? 0.0 : -std::numeric_limits<double>::infinity();
    };
    const Vector<double> zero = Vector<double>::Zero(4);
    const auto init = sir_initialize(support, candidates, zero, 2, 1);
    CHECK(init.finite_candidates == 2);
    CHECK(((init.points.array() == 0.5) || (init.points.array() == 0.7)).all());
    CHECK_THROWS_WITH(sir_initialize(support, candidates, zero, 3, 1),
                      Catch::Contains("only 2 of 4 candidates"));
    CHECK_THROWS_WITH(sir_initialize(support, candidates, Vector<double>::Zero(3), 1, 1),
                      Catch::Contains("log_proposal"));
}

TEST_CASE("SIR from a prior starts chains where the likelihood is", "[inference][sir]") {
    // Box-uniform prior on [0, 3]^2, likelihood centred at (2, 1) with sd 0.1.
    Vector<double> low(2), high(2);
    low << 0, 0;
    high << 3, 3;
    const distributions::BoxUniform prior(low, high);
    auto posterior = [&](const ConstMatrixRef<double>& t, VectorRef<double> out) {
        for (Index j = 0; j < t.cols(); ++j)
            out(j) = prior.log_density(t.col(j)) -
                     0.5 * (std::pow((t(0, j) - 2) / 0.1, 2) + std::pow((t(1, j) - 1) / 0.1, 2));
    };
    const auto init = sir_initialize_from_prior(posterior, prior, 5000, 8, 42);
    REQUIRE(init.points.cols() == 8);
    CHECK((init.points.row(0).array() - 2).abs().maxCoeff() < 0.5);
    CHECK((init.points.row(1).array() - 1).abs().maxCoeff() < 0.5);
    CHECK(init.log_density.allFinite());
    CHECK_THROWS_WITH(sir_initialize_from_prior(posterior, prior, 4, 8, 1),
                      Catch::Contains("num_candidates"));
}
