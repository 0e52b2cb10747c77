// SPDX-License-Identifier: MIT
// Tests for rng/truncated_normal.hpp: support, quantile residuals in both tails, one uniform per
// draw, mean and variance against the closed forms within standard errors, the toggle-switch form.
#include <boost/math/special_functions/erf.hpp>
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <numbers>

#include "mlsbi/rng.hpp"

using namespace mlsbi;

namespace {

constexpr double inf = std::numeric_limits<double>::infinity();

double phi(double x) {
    return std::isinf(x) ? 0.0 : std::exp(-0.5 * x * x) / std::sqrt(2.0 * std::numbers::pi);
}
double cdf(double x) { return 0.5 * std::erfc(-x / std::numbers::sqrt2); }

}  // namespace

TEST_CASE("truncated normal: quantile residual, support and monotonicity", "[rng][truncated]") {
    struct Case {
        double a, b;
    };
    for (const Case c : {Case{-1.0, 2.0}, Case{3.0, inf}, Case{-inf, -4.0}, Case{-0.1, 0.1},
                         Case{8.0, 9.0}, Case{-12.0, -11.5}, Case{-inf, inf}, Case{0.5, inf}}) {
        double previous = -inf;
        for (double u : {1e-15, 1e-6, 0.01, 0.3, 0.5, 0.7, 0.99, 1 - 1e-6, 1 - 1e-15}) {
            INFO("[" << c.a << ", " << c.b << "], u = " << u);
            const double x = truncated_standard_normal_quantile(u, c.a, c.b);
            REQUIRE(x >= c.a);
            REQUIRE(x <= c.b);
            REQUIRE(x >= previous);
            previous = x;
            // Residual in the better-conditioned tail: compare tail masses relative to each other.
            if (c.a >= 0.0) {
                const double qa = 0.5 * std::erfc(c.a / std::numbers::sqrt2);
                const double qb =
                    std::isinf(c.b) ? 0.0 : 0.5 * std::erfc(c.b / std::numbers::sqrt2);
                const double qx = 0.5 * std::erfc(x / std::numbers::sqrt2);
                CHECK(std::abs((qa - qx) / (qa - qb) - u) < 1e-9);
            } else {
                const double lower = std::isinf(c.a) ? 0.0 : cdf(c.a);
                CHECK(std::abs((cdf(x) - lower) / (cdf(c.b) - lower) - u) < 1e-9);
            }
        }
    }
}

TEST_CASE("truncated normal: far tails beyond erfc's range", "[rng][truncated]") {
    // [40, inf): mass ~ 1e-350 underflows a double, so erfc-based inversion cannot work.
    for (double u : {1e-12, 0.25, 0.5, 0.9, 1 - 1e-12}) {
        const double x = truncated_standard_normal_quantile(u, 40.0, inf);
        INFO("u = " << u << ", x = " << x);
        REQUIRE(std::isfinite(x));
        REQUIRE(x >= 40.0);
        // log Q(x) - log Q(40) = log(1 - u): check the residual in log space.
        CHECK(std::abs(detail::log_normal_sf(x) - detail::log_normal_sf(40.0) - std::log1p(-u)) <
              1e-9);
        const double y = truncated_standard_normal_quantile(u, -inf, -40.0);
        CHECK(std::abs(y + truncated_standard_normal_quantile(1.0 - u, 40.0, inf)) < 1e-9);
    }
    // Approximately a + E / a with E ~ Exp(1): the median is 40 + log(2) / 40 to O(1/a^3).
    CHECK(std::abs(truncated_standard_normal_quantile(0.5, 40.0, inf) -
                   (40.0 + std::log(2.0) / 40.0)) < 1e-4);
    // The log-space Q agrees with erfc where both work.
    for (double x : {29.0, 30.0, 31.0, 35.0})
        CHECK(std::abs(detail::log_normal_sf(x) -
                       std::log(0.5 * std::erfc(x / std::numbers::sqrt2))) < 1e-10);
}

TEST_CASE("truncated normal: draws match the closed-form mean and variance", "[rng][truncated]") {
    struct Case {
        double mean, sd, lower, upper;
    };
    constexpr int n = 100000;
    for (const Case c :
         {Case{0.5, 2.0, -1.0, 3.0}, Case{0.0, 1.0, 3.0, inf}, Case{10.0, 0.5, -inf, 8.0},
          Case{-2.0, 3.0, 0.0, inf}, Case{0.0, 1.0, 40.0, inf}}) {
        INFO("N(" << c.mean << ", " << c.sd << "^2) on [" << c.lower << ", " << c.upper << "]");
        const double a = (c.lower - c.mean) / c.sd, b = (c.upper - c.mean) / c.sd;
        double expected_mean = 0.0, expected_var = 0.0;
        if (a >= 35.0) {  // ratio phi/Q from the asymptotic log Q; variance ~ 1/a^2
            const double ratio =
                std::exp(-0.5 * a * a - detail::log_sqrt_2pi - detail::log_normal_sf(a));
            expected_mean = c.mean + c.sd * ratio;
            expected_var = c.sd * c.sd * (1.0 + a * ratio - ratio * ratio);
        } else {
            const double z = cdf(b) - cdf(a);
            const double r = (phi(a) - phi(b)) / z;
            const double ta = std::isinf(a) ? 0.0 : a * phi(a),
                         tb = std::isinf(b) ? 0.0 : b * phi(b);
            expected_mean = c.mean + c.sd * r;
            expected_var = c.sd * c.sd * (1.0 + (ta - tb) / z - r * r);
        }
        RandomStream rng(77);
        double s = 0, ss = 0;
        for (int i = 0; i < n; ++i) {
            const double x = truncated_normal(rng, c.mean, c.sd, c.lower, c.upper);
            REQUIRE(x >= c.lower);
            REQUIRE(x <= c.upper);
            s += x;
            ss += x * x;
        }
        CHECK(rng.position() == static_cast<std::uint64_t>(n));  // one uniform per draw
        const double mean = s / n, var = ss / n - mean * mean;
        INFO("mean " << mean << " vs " << expected_mean << ", var " << var << " vs "
                     << expected_var);
        CHECK(std::abs(mean - expected_mean) < 4.0 * std::sqrt(expected_var / n));
        // SE of a variance estimate <= sqrt(2 / n) * var * sqrt(1 + excess kurtosis / 2) ; the
        // truncated laws here have |excess kurtosis| < 7.
        CHECK(std::abs(var - expected_var) < 4.0 * expected_var * std::sqrt(4.5 / n) + 1e-12);
    }
}

TEST_CASE("truncated normal: the toggle-switch TN(loc, s) is N(loc, s^2/2) truncated at 0",
          "[rng][truncated]") {
    const double s = 0.5;
    for (double loc : {-1.0, -0.2, 0.0, 1.5, 20.0}) {
        for (double w : {0.001, 0.3, 0.77, 0.999}) {
            const double phi_a = std::erf(-loc / s);
            const double paper = loc + s * boost::math::erf_inv(phi_a + w * (1.0 - phi_a));
            const double ours =
                truncated_normal_quantile(w, loc, s / std::numbers::sqrt2, 0.0, inf);
            INFO("loc " << loc << ", w " << w);
            CHECK(std::abs(paper - ours) < 1e-9 * (1.0 + std::abs(loc)));
        }
    }
    // Where the published formula breaks down (erf(-loc / s) rounds to 1, erf_inv overflows and
    // the research code maps the result to 0), the inversion here stays finite and in the tail.
    const double far = truncated_normal_quantile(0.5, -3.0, s / std::numbers::sqrt2, 0.0, inf);
    CHECK(std::isfinite(far));
    CHECK(far > 0.0);
    CHECK(far < 0.05);
}

TEST_CASE("truncated normal: bad arguments are rejected", "[rng][truncated]") {
    RandomStream rng(1);
    CHECK_THROWS_WITH(truncated_normal(rng, 0.0, 0.0, 0.0), Catch::Contains("sd > 0"));
    CHECK_THROWS_WITH(truncated_normal(rng, 0.0, 1.0, 1.0, 1.0), Catch::Contains("lower < upper"));
    CHECK_THROWS_WITH(truncated_standard_normal_quantile(1.5, 0.0, 1.0),
                      Catch::Contains("u must be in [0, 1]"));
}
