// SPDX-License-Identifier: MIT
// Tests for simulators/toggle_switch/: the paper's truncated-normal draw against its distribution
// (a normal of sd s / sqrt(2) truncated to (0, inf); Kolmogorov-Smirnov with a fixed seed) and
// against the library's accurate truncated-normal quantile, the simulator against the documented
// noise layout, and the coupling of the three levels (shared path prefix and final uniform,
// bit-exact).
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <numbers>
#include <vector>

#include "mlsbi/distributions/prior.hpp"
#include "mlsbi/rng/truncated_normal.hpp"
#include "mlsbi/simulators.hpp"

using namespace mlsbi;
using namespace mlsbi::simulators;
namespace ts = mlsbi::simulators::toggle_switch;

namespace {

Vector<double> theta_of(double a1, double a2, double b1, double b2, double mu, double sigma,
                        double gamma) {
    Vector<double> t(7);
    t << a1, a2, b1, b2, mu, sigma, gamma;
    return t;
}

double normal_cdf(double z) { return 0.5 * std::erfc(-z / std::numbers::sqrt2); }

// Kolmogorov-Smirnov distance between the sample and N(loc, sd^2) truncated to (0, inf).
double ks_distance(std::vector<double> x, double loc, double sd) {
    std::sort(x.begin(), x.end());
    const double lower_mass = normal_cdf(-loc / sd);
    double distance = 0;
    const double n = double(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) {
        const double f = (normal_cdf((x[i] - loc) / sd) - lower_mass) / (1.0 - lower_mass);
        distance = std::max({distance, std::abs(f - double(i) / n), std::abs(double(i + 1) / n - f)});
    }
    return distance;
}

}  // namespace

TEST_CASE("toggle switch: the paper's TN(loc, s) is a normal of sd s/sqrt(2) truncated to (0, inf)",
          "[toggle_switch]") {
    // (loc, s): the transitions' extreme case loc = -1 (0.97 u - 1 + a1 / (1 + v^b1) >= -1),
    // a moderate truncation, and an observation-like draw far from the bound.
    const std::vector<std::pair<double, double>> cases = {{-1.0, 0.5}, {0.2, 0.5}, {300.0, 80.0}};
    constexpr int n = 20000;
    // KS critical value at level 0.001: 1.95 / sqrt(n) = 0.0138.
    const double critical = 1.95 / std::sqrt(double(n));
    for (const auto& [loc, s] : cases) {
        RandomStream rng(20261201);
        std::vector<double> x(n);
        for (double& xi : x) xi = ts::paper_truncated_normal(rng.uniform(), loc, s);
        INFO("loc " << loc << ", s " << s);
        CHECK(*std::min_element(x.begin(), x.end()) >= 0.0);
        CHECK(ks_distance(x, loc, s / std::numbers::sqrt2) < critical);
        // Power: the same sample is far from the normal of sd s (what the name TN(loc, s) suggests).
        CHECK(ks_distance(x, loc, s) > 5 * critical);
    }
}

TEST_CASE("toggle switch: the paper's TN agrees draw by draw with truncated_normal_quantile",
          "[toggle_switch]") {
    // loc / s >= -3.4 covers the model (transitions: loc >= -1 with s = 0.5; observations: loc >=
    // 250); far below that erf(-loc / s) rounds to 1 and the coded formula overflows.
    RandomStream rng(7);
    for (int i = 0; i < 2000; ++i) {
        const double loc = rng.uniform(-1.0, 40.0);
        const double s = rng.uniform(0.3, 5.0);
        const double w = rng.uniform();
        const double expected =
            truncated_normal_quantile(w, loc, s / std::numbers::sqrt2, 0.0,
                                      std::numeric_limits<double>::infinity());
        INFO("loc " << loc << ", s " << s << ", w " << w);
        // erf_inv near +-1 loses digits to cancellation; 1e-7 relative of the scale is ample.
        CHECK(ts::paper_truncated_normal(w, loc, s) == Approx(expected).margin(1e-7 * (s + std::abs(loc))));
    }
}

TEST_CASE("toggle switch: a level follows the documented noise layout bit for bit",
          "[toggle_switch]") {
    const Vector<double> theta = theta_of(22.0, 12.0, 4.0, 4.5, 325.0, 0.25, 0.15);
    for (Index steps : {1, 50, 300}) {
        const ts::Level level(steps);
        for (std::uint64_t seed : {0u, 3u, 987654u}) {
            RandomStream path(seed, 0);
            ts::State s;
            for (Index t = 0; t < steps; ++t) {
                const double w_u = path.uniform();
                const double w_v = path.uniform();
                s = ts::step(s, theta, w_u, w_v);
            }
            // The state by hand: the published recursion on the old (u, v).
            RandomStream check(seed, 0);
            double u = 10, v = 10;
            for (Index t = 0; t < steps; ++t) {
                const double loc_u = u + theta(0) / (1 + std::pow(v, theta(2))) - (1 + 0.03 * u);
                const double loc_v = v + theta(1) / (1 + std::pow(u, theta(3))) - (1 + 0.03 * v);
                const double w_u = check.uniform();
                const double w_v = check.uniform();
                u = ts::paper_truncated_normal(w_u, loc_u, 0.5);
                v = ts::paper_truncated_normal(w_v, loc_v, 0.5);
            }
            CHECK(s.u == u);
            CHECK(s.v == v);
            const ts::State f = level.final_state(theta, seed);
            CHECK(f.u == s.u);
            CHECK(f.v == s.v);
            Vector<double> x(1);
            level.simulate(theta, seed, x);
            RandomStream observation(seed, ts::observation_stream);
            const double w = observation.uniform();
            const double loc = theta(4) + u, scale = theta(4) * theta(5) / std::pow(u, theta(6));
            CHECK(x(0) == std::min(ts::paper_truncated_normal(w, loc, scale), 2000.0));
        }
    }
}

TEST_CASE("toggle switch: level pairs share the path prefix and the final uniform (bit-exact)",
          "[toggle_switch]") {
    const auto model = ts::make_multilevel();
    const auto prior = ts::prior();
    const Matrix<double> thetas = distributions::sample_prior(prior, 11, 50);
    Vector<double> x50(1), x80(1), x300(1);
    for (Index j = 0; j < thetas.cols(); ++j) {
        const Vector<double> theta = thetas.col(j);
        const std::uint64_t seed = derive_seed(5, static_cast<std::uint64_t>(j));
        // Run the 300-step chain once, recording the states at T = 50 and T = 80.
        RandomStream path(seed, 0);
        ts::State s, at50, at80;
        for (Index t = 0; t < 300; ++t) {
            const double w_u = path.uniform();
            const double w_v = path.uniform();
            s = ts::step(s, theta, w_u, w_v);
            if (t + 1 == 50) at50 = s;
            if (t + 1 == 80) at80 = s;
        }
        const double w = RandomStream(seed, ts::observation_stream).uniform();
        model.simulate(0, theta, seed, x50);
        model.simulate(1, theta, seed, x80);
        model.simulate(2, theta, seed, x300);
        INFO("theta " << j);
        CHECK(x50(0) == ts::observe(at50, theta, w));
        CHECK(x80(0) == ts::observe(at80, theta, w));
        CHECK(x300(0) == ts::observe(s, theta, w));
        CHECK(model.level<0>().final_state(theta, seed).u == at50.u);
        CHECK(model.level<1>().final_state(theta, seed).v == at80.v);
    }

    // Seed-matched dataset pairs are exactly (G_{l-1}, G_l) of their recorded seed.
    const auto data = generate_multilevel_dataset(model, prior, {.samples_per_level = {4, 3, 3}, .seed = 9});
    for (std::size_t l = 1; l < 3; ++l) {
        const auto& level = data.levels[l];
        for (Index i = 0; i < level.size(); ++i) {
            Vector<double> coarse(1), fine(1);
            const Vector<double> theta = level.theta.col(i);
            model.simulate(l - 1, theta, level.seeds[static_cast<std::size_t>(i)], coarse);
            model.simulate(l, theta, level.seeds[static_cast<std::size_t>(i)], fine);
            CHECK(level.x_coarse(0, i) == coarse(0));
            CHECK(level.x_fine(0, i) == fine(0));
        }
    }
}

TEST_CASE("toggle switch: the coupling makes the level differences small", "[toggle_switch]") {
    // Var[G_l - G_{l-1}] under shared noise is far below its value under independent noise
    // (which is Var G_l + Var G_{l-1}): the point of seed matching (Hikida et al. 2025, Eq. (3)).
    const auto model = ts::make_multilevel();
    const Matrix<double> thetas = distributions::sample_prior(ts::prior(), 12, 1000);
    for (std::size_t l = 1; l < 3; ++l) {
        double matched = 0, independent = 0;
        Vector<double> a(1), b(1), c(1);
        for (Index j = 0; j < thetas.cols(); ++j) {
            const auto seed = static_cast<std::uint64_t>(j);
            model.simulate(l - 1, thetas.col(j), seed, a);
            model.simulate(l, thetas.col(j), seed, b);
            model.simulate(l, thetas.col(j), seed + 100000, c);
            matched += (b(0) - a(0)) * (b(0) - a(0));
            independent += (c(0) - a(0)) * (c(0) - a(0));
        }
        INFO("level " << l << ": matched " << matched << ", independent " << independent);
        CHECK(matched < 0.5 * independent);
    }
}

TEST_CASE("toggle switch: outputs are finite, in [0, 2000], and bad input is rejected",
          "[toggle_switch]") {
    const auto model = ts::make_multilevel();
    const Matrix<double> thetas = distributions::sample_prior(ts::prior(), 13, 500);
    Vector<double> x(1);
    for (Index j = 0; j < thetas.cols(); ++j) {
        model.simulate(2, thetas.col(j), static_cast<std::uint64_t>(j), x);
        CHECK(std::isfinite(x(0)));
        CHECK(x(0) >= 0.0);
        CHECK(x(0) <= 2000.0);
    }
    // A state whose observation overflows maps to 0 (the paper's rule for non-finite outputs).
    const Vector<double> theta = theta_of(22.0, 12.0, 4.0, 4.5, 325.0, 0.25, 0.15);
    CHECK(ts::observe(ts::State{0.0, 1.0}, theta, 0.5) == 0.0);
    CHECK_THROWS_AS(ts::Level(0), std::invalid_argument);
    CHECK_THROWS_AS(model.simulate(0, Vector<double>::Zero(6), 0, x), std::invalid_argument);
    CHECK_THROWS_AS(ts::make_multilevel({50, 50, 300}), std::invalid_argument);
    CHECK(ts::prior().dim() == 7);
}
