// SPDX-License-Identifier: MIT
// Tests for inference/convergence.hpp: R-hat and ESS on chains with known behaviour (iid draws,
// AR(1) chains with known integrated autocorrelation time, chains stuck at different means),
// rank normalisation with ties, quantiles, MCSE.
#include <catch2/catch.hpp>
#include <cmath>

#include "mlsbi/inference/convergence.hpp"
#include "mlsbi/rng/normal.hpp"

using namespace mlsbi;
using namespace mlsbi::inference;

namespace {

// chains of length n: x_t = phi x_{t-1} + sqrt(1 - phi^2) e_t (stationary N(0, 1)), plus offset.
Matrix<double> ar1_chains(Index n, Index chains, double phi, std::uint64_t seed,
                          double offset_step = 0.0) {
    Matrix<double> out(n, chains);
    for (Index c = 0; c < chains; ++c) {
        RandomStream rng(seed, static_cast<std::uint64_t>(c));
        double x = standard_normal(rng);
        for (Index t = 0; t < n; ++t) {
            x = phi * x + std::sqrt(1 - phi * phi) * standard_normal(rng);
            out(t, c) = x + offset_step * static_cast<double>(c);
        }
    }
    return out;
}

}  // namespace

TEST_CASE("ESS of iid draws is close to the number of draws", "[inference][convergence]") {
    const Matrix<double> draws = ar1_chains(1000, 4, 0.0, 1);
    const double s = 4000;
    // The ESS estimator's own relative error at tau = 1 is a few percent.
    CHECK(effective_sample_size(draws) == Approx(s).epsilon(0.1));
    CHECK(ess_bulk(draws) == Approx(s).epsilon(0.1));
    CHECK(ess_tail(draws) == Approx(s).epsilon(0.2));
    CHECK(split_rhat(draws) < 1.01);
    CHECK(rank_normalized_rhat(draws) < 1.01);
}

TEST_CASE("ESS of AR(1) chains matches (1 - phi) / (1 + phi)", "[inference][convergence]") {
    for (double phi : {0.5, 0.9}) {
        INFO("phi = " << phi);
        const Matrix<double> draws = ar1_chains(5000, 4, phi, 7);
        const double expected = 20000 * (1 - phi) / (1 + phi);
        CHECK(effective_sample_size(draws) == Approx(expected).epsilon(0.15));
        CHECK(ess_bulk(draws) == Approx(expected).epsilon(0.15));
        // MCSE of the mean: sd / sqrt(ESS) with sd = 1.
        CHECK(mcse_mean(draws) == Approx(1 / std::sqrt(expected)).epsilon(0.1));
    }
}

TEST_CASE("R-hat detects chains at different locations", "[inference][convergence]") {
    const Matrix<double> draws = ar1_chains(500, 4, 0.3, 3, 0.5);
    CHECK(split_rhat(draws) > 1.05);
    CHECK(rank_normalized_rhat(draws) > 1.05);
    // Within-chain drift (first half vs second half) is caught by splitting even for one chain.
    Matrix<double> drift(400, 1);
    for (Index t = 0; t < 400; ++t) drift(t, 0) = t < 200 ? 0.01 * t : 5 + 0.01 * t;
    CHECK(split_rhat(drift) > 1.5);
}

TEST_CASE("Tail R-hat catches chains that differ only in scale", "[inference][convergence]") {
    Matrix<double> draws = ar1_chains(1000, 4, 0.0, 11);
    draws.col(0) *= 3.0;              // same mean, wider
    CHECK(split_rhat(draws) < 1.05);  // the classic R-hat barely sees it
    CHECK(rank_normalized_rhat(draws) > 1.05);
}

TEST_CASE("Rank normalisation averages ties and keeps the shape", "[inference][convergence]") {
    Matrix<double> draws(2, 2);
    draws << 1.0, 2.0, 2.0, 3.0;
    const Matrix<double> z = rank_normalize(draws);
    REQUIRE(z.rows() == 2);
    REQUIRE(z.cols() == 2);
    CHECK(z(1, 0) == z(0, 1));  // tied values, same score
    CHECK(z(0, 0) < z(1, 0));
    CHECK(z(1, 0) < z(1, 1));
    // Ranks 1, 2.5, 2.5, 4 with S = 4: Phi^{-1}((r - 3/8) / 4.25).
    CHECK(z(0, 0) == Approx(normal_quantile(0.625 / 4.25)));
    CHECK(z(1, 0) == Approx(normal_quantile(2.125 / 4.25)));
}

TEST_CASE("Quantile interpolates order statistics", "[inference][convergence]") {
    Matrix<double> v(5, 1);
    v << 4, 1, 3, 2, 5;
    CHECK(quantile(v, 0.0) == 1);
    CHECK(quantile(v, 0.5) == 3);
    CHECK(quantile(v, 1.0) == 5);
    CHECK(quantile(v, 0.3) == Approx(2.2));
    CHECK_THROWS_WITH(quantile(v, 1.5), Catch::Contains("quantile: q"));
}

TEST_CASE("Diagnostics of degenerate input", "[inference][convergence]") {
    const Matrix<double> constant = Matrix<double>::Ones(100, 2);
    CHECK(std::isnan(effective_sample_size(constant)));
    CHECK(std::isnan(split_rhat(constant)));
    CHECK(std::isnan(effective_sample_size(Matrix<double>::Zero(3, 2))));  // < 4 draws
    CHECK_THROWS_WITH(split_chains(Matrix<double>::Zero(1, 2)), Catch::Contains("split_chains"));
}
