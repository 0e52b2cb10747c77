// SPDX-License-Identifier: MIT
// Tests for simulators/gnk/: the simulator against the published formula, coupling of the two
// levels, the exact density (normalisation, root accuracy, agreement with a histogram of 10^5
// simulations, and that the low level does not fit it), the quantile grid and the summaries.
#include <algorithm>
#include <boost/math/special_functions/erf.hpp>
#include <catch2/catch.hpp>
#include <cmath>
#include <numbers>
#include <vector>

#include "mlsbi/simulators.hpp"

using namespace mlsbi;
using namespace mlsbi::simulators;

namespace {

Vector<double> theta_of(double a, double b, double g, double k) {
    Vector<double> t(4);
    t << a, b, g, k;
    return t;
}

// The published formula, written independently: exponential ratio, pow, erf_inv.
double published(double u, const Vector<double>& t, bool high) {
    const double v = 2.0 * u - 1.0;
    const double z = high ? std::numbers::sqrt2 * boost::math::erf_inv(v)
                          : std::numbers::sqrt2 * (std::numbers::pi / 2) *
                                (v + (std::numbers::pi / 12) * v * v * v);
    const double e = std::exp(-t(2) * z);
    return t(0) + t(1) * (1 + 0.8 * (1 - e) / (1 + e)) * std::pow(1 + z * z, std::log(t(3))) * z;
}

double trapezoid(const Vector<double>& y, const Vector<double>& x) {
    double total = 0;
    for (Index i = 0; i + 1 < x.size(); ++i) total += 0.5 * (y(i) + y(i + 1)) * (x(i + 1) - x(i));
    return total;
}

const std::vector<Vector<double>>& test_thetas() {
    static const std::vector<Vector<double>> thetas = {
        theta_of(3, 1, 2, std::exp(0.5)), theta_of(0, 0.2, 0, std::exp(0.5)),
        theta_of(1.5, 2.5, 3, 3), theta_of(0.3, 0.05, 0.7, 2.0), theta_of(2, 3, 0.01, 1.0)};
    return thetas;
}

}  // namespace

TEST_CASE("g-and-k levels follow the published formula and are coupled", "[gnk]") {
    const auto model = gnk::make_multilevel(5);
    const Vector<double> t = theta_of(3, 1, 2, std::exp(0.5));
    Vector<double> low(5), high(5);
    for (std::uint64_t seed : {0u, 1u, 12345u}) {
        model.simulate(0, t, seed, low);
        model.simulate(1, t, seed, high);
        RandomStream rng(seed);  // the documented noise: the first m uniforms of the seed's stream
        for (Index j = 0; j < 5; ++j) {
            const double u = rng.uniform();
            INFO("seed " << seed << ", draw " << j << ", u " << u);
            CHECK(low(j) == Approx(published(u, t, false)).epsilon(1e-13));
            CHECK(high(j) == Approx(published(u, t, true)).epsilon(1e-12));
        }
    }
    SECTION("the pair is comonotone in u and meets at v = 0") {
        // For fixed theta both levels are increasing functions of the same u, so seed-matched
        // draws have rank correlation 1; at u = 1/2 both give x = A exactly.
        CHECK(gnk::quantile(gnk::z_low(0.5), t) == 3.0);
        CHECK(gnk::quantile(gnk::z_high(0.5), t) == 3.0);
        std::vector<std::pair<double, double>> pairs;
        const auto single = gnk::make_multilevel(1);
        Vector<double> a(1), b(1);
        for (std::uint64_t s = 0; s < 500; ++s) {
            single.simulate(0, t, s, a);
            single.simulate(1, t, s, b);
            pairs.emplace_back(a(0), b(0));
        }
        std::sort(pairs.begin(), pairs.end());
        CHECK(std::is_sorted(pairs.begin(), pairs.end(),
                             [](const auto& p, const auto& q) { return p.second < q.second; }));
        // Near v = 0 the published series is sqrt(pi) times the exact z (its leading coefficient
        // is pi/2, not sqrt(pi)/2): the levels agree in sign and order, not in scale.
        for (double u : {0.45, 0.49, 0.499, 0.51}) {
            INFO("u " << u);
            CHECK(gnk::z_low(u) / gnk::z_high(u) ==
                  Approx(std::sqrt(std::numbers::pi)).epsilon(0.02));
        }
    }
    CHECK_THROWS_WITH(model.simulate(0, theta_of(1, 1, 1, 1).head(3), 1, low),
                      Catch::Contains("gnk::Level::simulate: theta has 3 entries"));
    CHECK(gnk::prior().log_density(theta_of(1, 1, 1, 1.7)) ==
          Approx(-std::log(27.0 * (3.0 - std::exp(0.5)))));
    CHECK_FALSE(gnk::prior().in_support(theta_of(1, 1, 1, 1.6)));  // k >= e^0.5 = 1.6487
}

TEST_CASE("g-and-k exact density: roots, normalisation, errors", "[gnk][density]") {
    SECTION("invert_quantile inverts Q to rounding") {
        for (const auto& t : test_thetas())
            for (double z : {-8.0, -3.0, -0.5, 0.0, 1e-3, 1.0, 4.0, 8.0, 25.0}) {
                INFO("theta " << t.transpose() << ", z " << z);
                CHECK(gnk::invert_quantile(gnk::quantile(z, t), t) ==
                      Approx(z).epsilon(1e-12).margin(1e-12));
            }
    }
    SECTION("agrees with plain bisection (the PyTorch reference's method) on a grid") {
        const Vector<double> t = theta_of(1.5, 2.5, 3, 3);
        const Vector<double> grid = gnk::quantile_grid(t, 1e-4, 1 - 1e-4, 301);
        const Vector<double> lp = gnk::exact_log_density(grid, t);
        for (Index i = 0; i < grid.size(); i += 10) {
            double lo = -10, hi = 10;
            for (int it = 0; it < 200; ++it) {
                const double mid = 0.5 * (lo + hi);
                (gnk::quantile(mid, t) < grid(i) ? lo : hi) = mid;
            }
            const double z = 0.5 * (lo + hi);
            const auto q = gnk::quantile_and_derivative(z, t(0), t(1), t(2), t(3));
            const double expected =
                -0.5 * z * z - 0.5 * std::log(2 * std::numbers::pi) - std::log(q.derivative);
            CHECK(lp(i) == Approx(expected).epsilon(1e-10));
            CHECK(gnk::exact_log_density(grid(i), t) == Approx(expected).epsilon(1e-10));
        }
    }
    SECTION("integrates to 1 - 2e-7 over the 1e-7 .. 1 - 1e-7 quantile range") {
        for (const auto& t : test_thetas()) {
            const Vector<double> grid = gnk::quantile_grid(t, 1e-7, 1 - 1e-7, 100001);
            const Vector<double> density = gnk::exact_log_density(grid, t).array().exp();
            const double mass = trapezoid(density, grid);
            INFO("theta " << t.transpose() << ", mass - (1 - 2e-7) = " << mass - (1 - 2e-7));
            CHECK(std::abs(mass - (1 - 2e-7)) < 1e-8);  // measured ~1e-14
            // The KL range of the metric holds 0.998 of the mass.
            const Vector<double> kl_grid = gnk::quantile_grid(t);
            CHECK(kl_grid.size() == 4001);
            CHECK(std::abs(trapezoid(gnk::exact_log_density(kl_grid, t).array().exp(), kl_grid) -
                           0.998) < 1e-4);
        }
    }
    SECTION("log-likelihood of iid observations is the sum; far points and errors") {
        const Vector<double> t = theta_of(3, 1, 2, std::exp(0.5));
        Vector<double> x(3);
        x << 2.0, 3.5, 7.0;
        CHECK(gnk::exact_log_likelihood(x, t) ==
              Approx(gnk::exact_log_density(x, t).sum()).epsilon(1e-14));
        // Far outside the reference's [-10, 10] bracket the density stays finite in log space.
        const double far = gnk::exact_log_density(1e6, t);
        CHECK(std::isfinite(far));
        CHECK(far < -100);
        CHECK(gnk::exact_log_density(std::numeric_limits<double>::infinity(), t) ==
              -std::numeric_limits<double>::infinity());
        CHECK_THROWS_WITH(gnk::exact_log_density(1.0, theta_of(0, 0, 1, 2)),
                          Catch::Contains("B > 0"));
        CHECK_THROWS_WITH(gnk::exact_log_density(1.0, theta_of(0, 1, 1, 0.5)),
                          Catch::Contains("k >= 1"));
        CHECK_THROWS_WITH(gnk::exact_log_density(std::nan(""), t), Catch::Contains("x is NaN"));
        CHECK_THROWS_WITH(gnk::quantile_grid(t, 0.5, 0.4),
                          Catch::Contains("0 < u_low < u_high < 1"));
    }
}

TEST_CASE("g-and-k exact density matches a histogram of 10^5 high-fidelity simulations",
          "[gnk][density][histogram]") {
    constexpr Index n = 100000;
    constexpr int bins = 40;
    for (const auto& t : {theta_of(3, 1, 2, std::exp(0.5)), theta_of(0.5, 2.0, 0.5, 2.5)}) {
        // Bins of equal width between the 0.005 and 0.995 quantiles; two tail bins beyond.
        const Vector<double> edges = gnk::quantile_grid(t, 0.005, 0.995, bins + 1);
        auto bin_probability = [&](double lo, double hi) {  // Simpson on the exact density
            const int m = 64;
            Vector<double> x = Vector<double>::LinSpaced(m + 1, lo, hi);
            const Vector<double> p = gnk::exact_log_density(x, t).array().exp();
            double s = p(0) + p(m);
            for (int i = 1; i < m; ++i) s += (i % 2 ? 4.0 : 2.0) * p(i);
            return s * (hi - lo) / (3.0 * m);
        };
        std::vector<double> expected(bins);
        double inside = 0;
        for (int b = 0; b < bins; ++b)
            inside += expected[b] = bin_probability(edges(b), edges(b + 1));
        INFO("theta " << t.transpose());
        CHECK(inside == Approx(0.99).epsilon(1e-6));

        for (const bool high : {true, false}) {
            const gnk::HighLevel high_level;
            const gnk::LowLevel low_level;
            std::vector<double> counts(bins, 0.0);
            Vector<double> x(1);
            for (Index i = 0; i < n; ++i) {
                if (high)
                    high_level.simulate(t, derive_seed(2025, 0, static_cast<std::uint64_t>(i)), x);
                else
                    low_level.simulate(t, derive_seed(2025, 0, static_cast<std::uint64_t>(i)), x);
                const double* upper = std::upper_bound(edges.data(), edges.data() + bins + 1, x(0));
                const long b = upper - edges.data() - 1;
                if (b >= 0 && b < bins) counts[static_cast<std::size_t>(b)] += 1;
            }
            double chi2 = 0, worst = 0;
            for (int b = 0; b < bins; ++b) {
                const double e = n * expected[b];
                chi2 += (counts[b] - e) * (counts[b] - e) / e;
                worst = std::max(worst, std::abs(counts[b] - e) / std::sqrt(e * (1 - expected[b])));
            }
            INFO((high ? "high" : "low") << " fidelity: chi2 " << chi2 << " (df " << bins
                                         << "), worst bin " << worst << " binomial SEs");
            if (high) {
                CHECK(chi2 < bins + 6 * std::sqrt(2.0 * bins));  // ~6 sd above the mean of chi2_40
                CHECK(worst < 4.5);
            } else {
                CHECK(chi2 > 10 * bins);  // the low level is a different law: the test can fail
            }
        }
    }
}

TEST_CASE("g-and-k octile summaries follow NumPy's linear-interpolation quantiles",
          "[gnk][summaries]") {
    Vector<double> draws(9);
    draws << 5, 1, 9, 3, 7, 2, 8, 4, 6;  // shuffled 1..9: octiles at order statistics 2..8
    Vector<double> s(4);
    gnk::octile_summaries(draws, s);
    CHECK(s(0) == 5.0);
    CHECK(s(1) == 4.0);
    CHECK(s(2) == 0.0);
    CHECK(s(3) == 1.0);

    Vector<double> squares(5);
    squares << 16, 0, 9, 1, 4;  // E = 0.5, 1, 2.5, 4, 6.5, 9, 12.5
    gnk::octile_summaries(squares, s);
    CHECK(s(0) == Approx(4.0));
    CHECK(s(1) == Approx(8.0));
    CHECK(s(2) == Approx(0.25));
    CHECK(s(3) == Approx(1.0));

    Matrix<double> batch(5, 2);
    batch.col(0) = squares;
    batch.col(1) = squares.array() + 1.0;
    const Matrix<double> out = gnk::octile_summaries(batch);
    CHECK(out.col(0) == s);
    CHECK(out(0, 1) == Approx(5.0));  // location shifts, the rest is invariant
    CHECK(out.col(1).tail(3) == s.tail(3));
    CHECK_THROWS_WITH(gnk::octile_summaries(draws.head(1), s), Catch::Contains("at least 2 draws"));

    // SummaryLevel = summaries of the plain level's draws on the same seed (coupling kept).
    const auto npe = gnk::make_summary_multilevel(200);
    const gnk::HighLevel plain(200);
    const Vector<double> t = theta_of(3, 1, 2, std::exp(0.5));
    Vector<double> raw(200), direct(4), via(4);
    plain.simulate(t, 77, raw);
    gnk::octile_summaries(raw, direct);
    npe.simulate(1, t, 77, via);
    CHECK(via == direct);
    CHECK(npe.output_dim(0) == 4);
}
