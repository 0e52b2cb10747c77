// SPDX-License-Identifier: MIT
// Tests for diagnostics/calibration.hpp: an exact posterior (conjugate Gaussian) gives HPD and
// central coverage within binomial error of nominal at every level and uniform SBC ranks; an
// overconfident posterior is detected by all three.
#include <catch2/catch.hpp>
#include <cmath>
#include <numbers>

#include "mlsbi/diagnostics/calibration.hpp"
#include "mlsbi/rng/normal.hpp"

using namespace mlsbi;
using namespace mlsbi::diagnostics;

namespace {

// theta ~ N(0, I_2), x | theta ~ N(theta, s^2 I_2): posterior N(x / (1 + s^2), s^2 / (1 + s^2) I).
// `width` multiplies the posterior sd used for sampling and density (1 = exact).
struct CalibrationRun {
    Vector<double> hpd;                                          // N credibilities
    Matrix<double> central;                                      // 2 x N credibilities
    Eigen::Matrix<Index, Eigen::Dynamic, Eigen::Dynamic> ranks;  // 2 x N
};

CalibrationRun run(Index tests, Index samples, double width, std::uint64_t seed) {
    const double s2 = 0.25;
    const double post_sd = width * std::sqrt(s2 / (1 + s2));
    CalibrationRun out;
    out.hpd.resize(tests);
    out.central.resize(2, tests);
    out.ranks.resize(2, tests);
    Matrix<double> draws(2, samples);
    Vector<double> log_q(samples);
    for (Index t = 0; t < tests; ++t) {
        RandomStream rng(seed, static_cast<std::uint64_t>(t));
        Vector<double> theta(2), mean(2);
        for (Index i = 0; i < 2; ++i) {
            theta(i) = standard_normal(rng);
            const double x = theta(i) + std::sqrt(s2) * standard_normal(rng);
            mean(i) = x / (1 + s2);
        }
        auto log_density = [&](const Vector<double>& v) {
            return -0.5 * ((v - mean) / post_sd).squaredNorm();  // constants cancel in ranks
        };
        for (Index j = 0; j < samples; ++j) {
            for (Index i = 0; i < 2; ++i) draws(i, j) = mean(i) + post_sd * standard_normal(rng);
            log_q(j) = log_density(draws.col(j));
        }
        out.hpd(t) = hpd_credibility(log_q, log_density(theta));
        // Element-wise copies: gcc 12 misreports a vectorised column copy here
        // (-Wstringop-overread).
        const Vector<double> central = central_credibility(draws, theta);
        const auto ranks = sbc_ranks(draws, theta);
        for (Index i = 0; i < 2; ++i) {
            out.central(i, t) = central(i);
            out.ranks(i, t) = ranks(i);
        }
    }
    return out;
}

}  // namespace

TEST_CASE("An exact posterior is calibrated at every level", "[diagnostics][calibration]") {
    const Index tests = 1000;
    const Index samples = 200;
    const CalibrationRun r = run(tests, samples, 1.0, 17);
    const Vector<double> levels = coverage_levels(21);
    const CoverageCurve hpd = coverage_curve(r.hpd, levels);
    INFO("HPD max z " << hpd.max_z_score());
    CHECK(hpd.num_tests == tests);
    CHECK(hpd.coverage(0) == 0.0);
    CHECK(hpd.coverage(20) == 1.0);
    // 19 correlated levels: each within 3.5 binomial standard errors (plus the 1/(L+1)
    // discreteness of the credibility).
    for (Index i = 1; i < 20; ++i) {
        INFO("level " << levels(i) << ": HPD coverage " << hpd.coverage(i));
        CHECK(std::abs(hpd.coverage(i) - levels(i)) < 3.5 * hpd.standard_error(i) + 1.0 / samples);
    }
    for (Index k = 0; k < 2; ++k) {
        const CoverageCurve central = coverage_curve(r.central.row(k).transpose(), levels);
        for (Index i = 1; i < 20; ++i) {
            INFO("dimension " << k << ", level " << levels(i) << ": central "
                              << central.coverage(i));
            CHECK(std::abs(central.coverage(i) - levels(i)) <
                  3.5 * central.standard_error(i) + 1.0 / samples);
        }
    }
    const SbcUniformity sbc = sbc_uniformity(r.ranks, samples, 20);
    INFO("SBC p-values " << sbc.p_value.transpose());
    CHECK(sbc.histogram.sum() == 2 * tests);
    CHECK((sbc.p_value.array() > 1e-3).all());
}

TEST_CASE("An overconfident posterior is detected", "[diagnostics][calibration]") {
    const Index samples = 200;
    const CalibrationRun r = run(500, samples, 0.6, 23);
    const CoverageCurve hpd = coverage_curve(r.hpd, coverage_levels(11));
    INFO("coverage at 0.5: " << hpd.coverage(5));
    CHECK(hpd.coverage(5) < 0.4);  // too narrow: the truth falls outside too often
    CHECK(hpd.max_z_score() > 5);
    const SbcUniformity sbc = sbc_uniformity(r.ranks, samples, 20);
    CHECK((sbc.p_value.array() < 1e-6).all());
}

TEST_CASE("Credibility and rank edge cases", "[diagnostics][calibration]") {
    Vector<double> lq(4);
    lq << 1.0, 2.0, 3.0, 2.0;
    CHECK(hpd_credibility(lq, 2.0) == Approx(0.5));  // one above, two ties
    CHECK(hpd_credibility(lq, 5.0) == 0.0);          // truth denser than every sample
    CHECK(hpd_credibility(lq, -std::numeric_limits<double>::infinity()) == 1.0);
    Matrix<double> s(1, 4);
    s << 0.0, 1.0, 2.0, 3.0;
    Vector<double> th(1);
    th << 1.5;
    CHECK(central_credibility(s, th)(0) == Approx(0.0));  // the median: innermost
    CHECK(sbc_ranks(s, th)(0) == 2);
    th << 10;
    CHECK(central_credibility(s, th)(0) == Approx(1.0));
    CHECK(sbc_ranks(s, th)(0) == 4);
    // Bins: 5 rank values (L = 4) into 2 bins of sizes 3 and 2.
    Eigen::Matrix<Index, Eigen::Dynamic, Eigen::Dynamic> ranks(1, 5);
    ranks << 0, 1, 2, 3, 4;
    const SbcUniformity u = sbc_uniformity(ranks, 4, 2);
    CHECK(u.histogram(0, 0) == 3);
    CHECK(u.histogram(0, 1) == 2);
    CHECK(u.chi_square(0) == Approx(0.0).margin(1e-12));
    CHECK(u.p_value(0) == Approx(1.0));
    ranks(0, 0) = 5;
    CHECK_THROWS_WITH(sbc_uniformity(ranks, 4, 2), Catch::Contains("outside 0..4"));
    CHECK_THROWS_WITH(coverage_curve(Vector<double>::Zero(3), Vector<double>::Constant(1, 1.5)),
                      Catch::Contains("levels"));
}

TEST_CASE("CalibrationAccumulator collects coverage, SBC and NLPD inputs",
          "[diagnostics][calibration]") {
    CalibrationAccumulator acc(1, 100);
    CHECK_THROWS_AS(acc.hpd_coverage(coverage_levels()), std::logic_error);
    const double sd = 1.0;
    for (Index t = 0; t < 300; ++t) {
        RandomStream rng(77, static_cast<std::uint64_t>(t));
        // Exact posterior N(mu, 1) with theta ~ N(mu, 1): draws, densities, truth.
        const double mu = 3 * standard_normal(rng);
        Vector<double> theta(1);
        theta << mu + sd * standard_normal(rng);
        Matrix<double> draws(1, 100);
        Vector<double> lq(100);
        for (Index j = 0; j < 100; ++j) {
            draws(0, j) = mu + sd * standard_normal(rng);
            lq(j) = -0.5 * std::pow(draws(0, j) - mu, 2);
        }
        acc.add(draws, lq, theta, -0.5 * std::pow(theta(0) - mu, 2));
    }
    CHECK(acc.num_tests() == 300);
    const CoverageCurve hpd = acc.hpd_coverage(coverage_levels(11));
    CHECK(hpd.max_z_score() < 3.5 + 0.01 / hpd.standard_error(5));
    const CoverageCurve central = acc.central_coverage(0, coverage_levels(11));
    CHECK(central.max_z_score() < 3.5 + 0.01 / central.standard_error(5));
    const SbcUniformity sbc = acc.sbc();
    CHECK(sbc.bins == 15);
    CHECK(sbc.p_value(0) > 1e-3);
    CHECK(acc.true_log_density().size() == 300);
    CHECK_THROWS_WITH(acc.add(Matrix<double>::Zero(1, 99), Vector<double>::Zero(99),
                              Vector<double>::Zero(1), 0.0),
                      Catch::Contains("samples must be 1 x 100"));
}
