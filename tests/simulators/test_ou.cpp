// SPDX-License-Identifier: MIT
// Tests for simulators/ou/: the Euler and stationary levels against their recursions written out
// independently, the coupling of the two levels (same seed => same eps_i), the stationary law
// of the Euler chain, and the exact likelihood of the recursion observed at a subset of steps
// (one-step case against the transition density, k-step moments against simulation, and a
// posterior-mode recovery).
#include <catch2/catch.hpp>
#include <cmath>
#include <numbers>
#include <vector>

#include "mlsbi/rng/normal.hpp"
#include "mlsbi/simulators.hpp"

using namespace mlsbi;
using namespace mlsbi::simulators;

namespace {
Vector<double> theta_of(double gamma, double mu, double sigma) {
    Vector<double> t(3);
    t << gamma, mu, sigma;
    return t;
}
}  // namespace

TEST_CASE("ou: the levels follow their recursions on the stream's normals", "[ou]") {
    const auto model = ou::make_multilevel();
    const Vector<double> theta = theta_of(0.4, 1.5, 0.3);
    Vector<double> high(100), low(100);
    model.simulate(1, theta, 77, high);
    model.simulate(0, theta, 77, low);
    RandomStream rng(77);
    double x = 2.0;
    for (Index i = 0; i < 100; ++i) {
        const double eps = standard_normal(rng);
        x = x + 0.4 * (1.5 - x) * 0.1 + 0.3 * std::sqrt(0.1) * eps;
        INFO("step " << i);
        CHECK(high(i) == Approx(x).epsilon(1e-14));
        CHECK(low(i) == Approx(1.5 + 0.3 / std::sqrt(0.8) * eps).epsilon(1e-14));
    }
}

TEST_CASE("ou: seed-matched levels share their noise; different seeds do not", "[ou]") {
    const auto model = ou::make_multilevel();
    const Vector<double> theta = theta_of(0.7, 0.5, 0.2);
    Vector<double> high(100), low(100), other(100);
    model.simulate(1, theta, 5, high);
    model.simulate(0, theta, 5, low);
    model.simulate(1, theta, 6, other);
    // Recover eps from each level; they must agree for the same seed.
    const double scale = 0.2 / std::sqrt(1.4);
    double previous = 2.0;
    double max_gap = 0;
    for (Index i = 0; i < 100; ++i) {
        const double eps_high =
            (high(i) - previous - 0.7 * (0.5 - previous) * 0.1) / (0.2 * std::sqrt(0.1));
        const double eps_low = (low(i) - 0.5) / scale;
        max_gap = std::max(max_gap, std::abs(eps_high - eps_low));
        previous = high(i);
    }
    CHECK(max_gap < 1e-9);
    CHECK((high - other).cwiseAbs().maxCoeff() > 0.1);
    Vector<double> again(100);
    model.simulate(1, theta, 5, again);
    CHECK(again == high);  // deterministic
}

TEST_CASE("ou: x_0 as a parameter moves only the Euler level", "[ou]") {
    const ou::Settings s{.infer_x0 = true};
    const auto model = ou::make_multilevel(s);
    Vector<double> theta(4), theta2(4);
    theta << 1.0, 1.0, 0.3, 0.0;
    theta2 << 1.0, 1.0, 0.3, 4.0;
    Vector<double> a(100), b(100), la(100), lb(100);
    model.simulate(1, theta, 3, a);
    model.simulate(1, theta2, 3, b);
    model.simulate(0, theta, 3, la);
    model.simulate(0, theta2, 3, lb);
    CHECK(b(0) - a(0) == Approx(4.0 * (1 - 0.1)).epsilon(1e-12));  // x_1 moves by (1 - g dt) dx_0
    CHECK(la == lb);
    CHECK(ou::prior_with_x0().dim() == 4);
    CHECK_THROWS_AS(model.simulate(1, theta_of(1, 1, 0.3), 3, a), std::invalid_argument);
}

TEST_CASE("ou: bad input throws naming the function", "[ou]") {
    const ou::EulerLevel euler;
    Vector<double> x(100);
    CHECK_THROWS_WITH(euler.simulate(Vector<double>::Ones(2), 1, x),
                      Catch::StartsWith("ou::EulerLevel::simulate: theta has 2"));
    CHECK_THROWS_WITH(euler.simulate(theta_of(-1, 1, 1), 1, x),
                      Catch::StartsWith("ou::EulerLevel::simulate: gamma and sigma"));
    CHECK_THROWS_AS(ou::Settings{.steps = 0}.validate(), std::invalid_argument);
    const std::vector<Index> unsorted{3, 1};
    CHECK_THROWS_WITH(
        ou::euler_log_likelihood(unsorted, Vector<double>::Zero(2), theta_of(0.5, 1, 0.3)),
        Catch::StartsWith("ou::euler_log_likelihood: indices must be sorted"));
}

TEST_CASE("ou: full-path likelihood is the product of one-step transition densities", "[ou]") {
    const ou::EulerLevel euler;
    const Vector<double> theta = theta_of(0.6, 2.0, 0.4);
    Vector<double> x(100);
    euler.simulate(theta, 11, x);
    std::vector<Index> all(100);
    for (Index i = 0; i < 100; ++i) all[static_cast<std::size_t>(i)] = i;
    double expected = 0, previous = 2.0;
    const double sd = 0.4 * std::sqrt(0.1);
    for (Index i = 0; i < 100; ++i) {
        const double r = x(i) - (previous + 0.6 * (2.0 - previous) * 0.1);
        expected += -0.5 * r * r / (sd * sd) - std::log(sd * std::sqrt(2 * std::numbers::pi));
        previous = x(i);
    }
    CHECK(ou::euler_log_likelihood(all, x, theta) == Approx(expected).epsilon(1e-12));
    CHECK(ou::euler_log_likelihood(all, x, theta_of(0, 2, 0.4)) ==
          -std::numeric_limits<double>::infinity());
}

TEST_CASE("ou: k-step transition moments match simulated Euler paths", "[ou]") {
    // x at output indices 0, 3, 9, 31, 99 (the NPE context): the likelihood's Gaussian marginal
    // of x_100 | x_0 = 2 (one observed index) must match the mean and variance of 20000 paths.
    const ou::EulerLevel euler;
    const Vector<double> theta = theta_of(0.3, 1.0, 0.5);
    const Index n = 20000;
    double sum = 0, sum2 = 0;
    Vector<double> x(100);
    for (Index r = 0; r < n; ++r) {
        euler.simulate(theta, static_cast<std::uint64_t>(1000 + r), x);
        sum += x(31);
        sum2 += x(31) * x(31);
    }
    const double mean = sum / n, var = sum2 / n - mean * mean;
    const double a = 1 - 0.03, k = 32;
    const double model_mean = std::pow(a, k) * 2.0 + 0.03 * (1 - std::pow(a, k)) / (1 - a);
    const double model_var = 0.25 * 0.1 * (1 - std::pow(a, 2 * k)) / (1 - a * a);
    CHECK(std::abs(mean - model_mean) < 4 * std::sqrt(model_var / n));
    CHECK(std::abs(var - model_var) < 4 * model_var * std::sqrt(2.0 / n));
    // And the likelihood of one observed index is exactly that Gaussian.
    Vector<double> value(1);
    value << 1.3;
    const double z = (1.3 - model_mean) / std::sqrt(model_var);
    CHECK(ou::euler_log_likelihood({31}, value, theta) ==
          Approx(-0.5 * z * z - 0.5 * std::log(2 * std::numbers::pi * model_var)).epsilon(1e-12));
}

TEST_CASE("ou: the likelihood of many paths peaks near the true parameters", "[ou]") {
    // 200 independent full paths: the maximum of the summed log-likelihood on a grid around the
    // truth recovers (gamma, mu, sigma) to within a few standard errors.
    const ou::EulerLevel euler;
    const Vector<double> truth = theta_of(0.5, 1.5, 0.3);
    std::vector<Vector<double>> paths(200, Vector<double>(100));
    for (std::size_t r = 0; r < paths.size(); ++r) euler.simulate(truth, 500 + r, paths[r]);
    std::vector<Index> all(100);
    for (Index i = 0; i < 100; ++i) all[static_cast<std::size_t>(i)] = i;
    double best = -std::numeric_limits<double>::infinity();
    Vector<double> arg = truth;
    for (double g = 0.3; g <= 0.71; g += 0.04)
        for (double m = 1.3; m <= 1.71; m += 0.04)
            for (double s = 0.27; s <= 0.331; s += 0.01) {
                double total = 0;
                for (const auto& p : paths) total += ou::euler_log_likelihood(all, p, theta_of(g, m, s));
                if (total > best) best = total, arg = theta_of(g, m, s);
            }
    CHECK(arg(0) == Approx(0.5).margin(0.06));
    CHECK(arg(1) == Approx(1.5).margin(0.06));
    CHECK(arg(2) == Approx(0.3).margin(0.01));
}
