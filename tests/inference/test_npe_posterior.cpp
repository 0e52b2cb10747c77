// SPDX-License-Identifier: MIT
// Tests for inference/npe_posterior.hpp: with q(theta | x) = N(theta; x, s^2) and a box prior the
// truncated posterior is known in closed form: acceptance rate, moments of the accepted draws,
// the leakage-corrected density (normalised on the box), and the error when acceptance collapses.
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <numbers>
#include <optional>

#include "mlsbi/distributions/box_uniform.hpp"
#include "mlsbi/flows/conditional_estimator.hpp"
#include "mlsbi/flows/diagonal_gaussian.hpp"
#include "mlsbi/inference/npe_posterior.hpp"
#include "mlsbi/rng/normal.hpp"

using namespace mlsbi;
using namespace mlsbi::inference;

namespace {

// q(theta | x) = N(theta; x, s^2), 1-D, as a linear DiagonalGaussian.
flows::ConditionalEstimator<flows::DiagonalGaussian<double>> shifted_gaussian(double s) {
    flows::DiagonalGaussian<double>::Options options;
    options.hidden = {};
    flows::ConditionalEstimator<flows::DiagonalGaussian<double>> estimator(options, 1);
    auto& p = estimator.parameters();
    REQUIRE(p.size() == 4);  // W = [w_mu; w_s] (2 x 1), b = [b_mu; b_s]
    p << 1.0, 0.0, 0.0, std::log(s);
    return estimator;
}

double phi(double z) { return std::exp(-0.5 * z * z) / std::sqrt(2 * std::numbers::pi); }

}  // namespace

TEST_CASE("NPE posterior rejects leakage and reports the acceptance rate", "[inference][npe]") {
    const double s = 0.5;
    const double x = 0.8;
    const auto estimator = shifted_gaussian(s);
    const distributions::BoxUniform prior({0.0}, {1.0});
    Vector<double> x_obs(1);
    x_obs << x;
    const NpePosterior posterior(estimator, prior, x_obs, NpePosteriorOptions{.batch_size = 1000});
    const double a = (0 - x) / s, b = (1 - x) / s;
    const double z = normal_cdf(b) - normal_cdf(a);  // in-support mass, 0.6006
    const Index n = 20000;
    const NpeSamples draws = posterior.sample(n, 7);
    REQUIRE(draws.samples.cols() == n);
    CHECK(draws.samples.minCoeff() >= 0);
    CHECK(draws.samples.maxCoeff() <= 1);
    // acceptance = n / proposed; proposed ~ NegBin: relative sd sqrt((1 - z) / n).
    INFO("acceptance " << draws.acceptance_rate << " vs " << z);
    CHECK(std::abs(draws.acceptance_rate - z) < 4 * z * std::sqrt((1 - z) / n));
    // Truncated-normal mean and variance.
    const double mean = x + s * (phi(a) - phi(b)) / z;
    const double var =
        s * s * (1 + (a * phi(a) - b * phi(b)) / z - std::pow((phi(a) - phi(b)) / z, 2));
    const double m = draws.samples.mean();
    CHECK(std::abs(m - mean) < 4 * std::sqrt(var / n));
    const double v = (draws.samples.array() - m).square().sum() / (n - 1);
    CHECK(std::abs(v - var) < 4 * var * std::sqrt(2.0 / n));
    // Deterministic given the seed.
    CHECK(posterior.sample(100, 7).samples == draws.samples.leftCols(100));
    CHECK(posterior.sample(100, 8).samples != draws.samples.leftCols(100));
}

TEST_CASE("Leakage-corrected NPE density is normalised on the support", "[inference][npe]") {
    const double s = 0.5;
    const auto estimator = shifted_gaussian(s);
    const distributions::BoxUniform prior({0.0}, {1.0});
    Vector<double> x_obs(1);
    x_obs << 0.8;
    const NpePosterior corrected(
        estimator, prior, x_obs,
        NpePosteriorOptions{.correct_leakage = true, .leakage_samples = 200000, .leakage_seed = 3});
    const NpePosterior raw(estimator, prior, x_obs);
    const double z = normal_cdf(0.4) - normal_cdf(-1.6);
    CHECK(std::abs(corrected.support_mass() - z) < 4 * corrected.support_mass_standard_error());
    CHECK(raw.support_mass() == 1.0);
    // Trapezoid integral of exp(log density) over [0, 1]: 1 for the corrected one, z for the raw.
    const Index g = 2001;
    Matrix<double> grid(1, g);
    for (Index i = 0; i < g; ++i) grid(0, i) = static_cast<double>(i) / (g - 1);
    Vector<double> lc(g), lr(g);
    corrected.log_density(grid, lc);
    raw(grid, lr);
    auto integral = [&](const Vector<double>& l) {
        double sum = 0;
        for (Index i = 1; i < g; ++i) sum += 0.5 * (std::exp(l(i)) + std::exp(l(i - 1))) / (g - 1);
        return sum;
    };
    CHECK(integral(lc) ==
          Approx(1.0).margin(4 * corrected.support_mass_standard_error() / z + 1e-6));
    CHECK(integral(lr) == Approx(z).epsilon(1e-6));
    Matrix<double> outside(1, 2);
    outside << -0.1, 1.5;
    Vector<double> lo(2);
    corrected.log_density(outside, lo);
    CHECK((lo.array() == -std::numeric_limits<double>::infinity()).all());
}

TEST_CASE("NPE posterior sampling stops at max_proposals when min_acceptance is 0",
          "[inference][npe]") {
    // q(theta | x) = N(x, 0.1^2) at x = 50 against a U(0, 1) prior: no draw ever lands in the
    // support. With min_acceptance = 0 the acceptance check never fires; this used to loop
    // forever, and must now stop after max_proposals draws with LowAcceptanceError.
    const auto estimator = shifted_gaussian(0.1);
    const distributions::BoxUniform prior({0.0}, {1.0});
    const Vector<double> far = Vector<double>::Constant(1, 50.0);
    // The LowAcceptanceError of sampling n draws with `options` (none: a failed test).
    auto stop = [&](const Vector<double>& x, Index n, NpePosteriorOptions options) {
        try {
            (void)NpePosterior(estimator, prior, x, options).sample(n, 1);
        } catch (const LowAcceptanceError& e) {
            return std::optional<LowAcceptanceError>(e);
        }
        return std::optional<LowAcceptanceError>();
    };
    const auto never =
        stop(far, 10, {.batch_size = 1000, .min_acceptance = 0, .max_proposals = 25000});
    REQUIRE(never);
    CHECK(never->proposed() == 25000);
    CHECK(never->acceptance() == 0);
    CHECK_THAT(never->what(), Catch::Contains("max_proposals = 25000 reached"));
    // The bound also holds when some draws are accepted but too few: x = 1.3 puts ~0.1% of the
    // mass of N(1.3, 0.1^2) inside [0, 1]; 200 draws are nowhere near 5000 accepted.
    CHECK(stop(Vector<double>::Constant(1, 1.3), 5000,
               {.batch_size = 100, .min_acceptance = 0, .max_proposals = 200}));
    // Checked after each batch: the last batch may overshoot the bound by < batch_size.
    const auto overshoot =
        stop(far, 1, {.batch_size = 1000, .min_acceptance = 0, .max_proposals = 1500});
    REQUIRE(overshoot);
    CHECK(overshoot->proposed() == 2000);
    CHECK_THROWS_WITH(
        NpePosterior(estimator, prior, far, NpePosteriorOptions{.max_proposals = 0}),
        Catch::Contains("max_proposals must be >= 1"));
}

TEST_CASE("NPE posterior stops with a clear error when acceptance collapses", "[inference][npe]") {
    const auto estimator = shifted_gaussian(0.1);
    const distributions::BoxUniform prior({0.0}, {1.0});
    Vector<double> far(1);
    far << 1.5;  // mass inside [0, 1] is Phi(-5) ~ 3e-7
    const NpePosterior posterior(estimator, prior, far,
                                 NpePosteriorOptions{.batch_size = 500, .min_proposals = 2000});
    try {
        (void)posterior.sample(10, 1);
        FAIL("expected LowAcceptanceError");
    } catch (const LowAcceptanceError& e) {
        CHECK(std::string(e.what()).find("NpePosterior::sample") != std::string::npos);
        CHECK(e.acceptance() < 1e-3);
        CHECK(e.proposed() == 2000);
    }
    CHECK_THROWS_AS(
        NpePosterior(estimator, prior, far,
                     NpePosteriorOptions{.correct_leakage = true, .leakage_samples = 1000}),
        LowAcceptanceError);
    CHECK_THROWS_WITH(NpePosterior(estimator, prior, Vector<double>::Zero(2)),
                      Catch::Contains("x_obs has 2 entries"));
    CHECK_THROWS_WITH(
        NpePosterior(estimator, prior, far, NpePosteriorOptions{.min_acceptance = 1.0}),
        Catch::Contains("min_acceptance"));
}
