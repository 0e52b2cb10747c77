// SPDX-License-Identifier: MIT
// Tests for diagnostics/kl_divergence.hpp: KL between Gaussians against the closed form, on a
// trapezoid grid and on the paper's renormalised discrete grid; edge cases and errors.
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <numbers>

#include "mlsbi/diagnostics/kl_divergence.hpp"

using namespace mlsbi;
using namespace mlsbi::diagnostics;

namespace {
Vector<double> normal_log_pdf(const Vector<double>& x, double mu, double sigma) {
    return (-0.5 * ((x.array() - mu) / sigma).square() - std::log(sigma) -
            0.5 * std::log(2 * std::numbers::pi))
        .matrix();
}
// KL(N(m1, s1^2) || N(m2, s2^2)).
double gaussian_kl(double m1, double s1, double m2, double s2) {
    return std::log(s2 / s1) + (s1 * s1 + (m1 - m2) * (m1 - m2)) / (2 * s2 * s2) - 0.5;
}
}  // namespace

TEST_CASE("Grid KL between Gaussians matches the closed form", "[diagnostics][kl]") {
    const Vector<double> grid = linspace(-15, 15, 3001);
    for (auto [mu, sigma] :
         {std::pair{0.0, 1.0}, std::pair{1.0, 1.0}, std::pair{0.5, 2.0}, std::pair{-2.0, 0.7}}) {
        INFO("q = N(" << mu << ", " << sigma << "^2)");
        const double exact = gaussian_kl(0, 1, mu, sigma);
        const Vector<double> lp = normal_log_pdf(grid, 0, 1);
        const Vector<double> lq = normal_log_pdf(grid, mu, sigma);
        CHECK(forward_kl_trapezoid(grid, lp, lq) == Approx(exact).margin(1e-7));
        // The paper's grid is fine enough (spacing 0.03) for the discrete sum to match too.
        const Vector<double> paper = paper_kl_grid();
        CHECK(forward_kl_discrete(normal_log_pdf(paper, 0, 1), normal_log_pdf(paper, mu, sigma)) ==
              Approx(exact).margin(1e-6));
    }
}

TEST_CASE("Paper grid and discrete KL details", "[diagnostics][kl]") {
    const Vector<double> g = paper_kl_grid();
    REQUIRE(g.size() == 2000);
    CHECK(g(0) == -30.0);
    CHECK(g(1999) == 30.0);
    CHECK(g(1) - g(0) == Approx(60.0 / 1999));
    // Renormalisation: scaling q by a constant changes nothing.
    const Vector<double> lp = normal_log_pdf(g, 0, 1);
    const Vector<double> lq = normal_log_pdf(g, 0.3, 1.2);
    CHECK(forward_kl_discrete(lp, (lq.array() + 5.0).matrix()) ==
          Approx(forward_kl_discrete(lp, lq)).epsilon(1e-12));
    // Identical densities: zero.
    CHECK(forward_kl_discrete(lp, lp) == Approx(0).margin(1e-14));
    // The clip at 1e-20 keeps p's far tail: a q that is -inf there gives +inf.
    Vector<double> lq_hole = lq;
    lq_hole(0) = -std::numeric_limits<double>::infinity();
    CHECK(std::isinf(forward_kl_discrete(lp, lq_hole)));
}

TEST_CASE("Trapezoid KL handles zero densities and rejects bad grids", "[diagnostics][kl]") {
    // p uniform on [0, 1], q uniform on [-1, 2]: KL = log 3, p = 0 outside.
    const Vector<double> grid = linspace(-2, 3, 5001);
    Vector<double> lp(grid.size()), lq(grid.size());
    for (Index i = 0; i < grid.size(); ++i) {
        lp(i) = (grid(i) >= 0 && grid(i) <= 1) ? 0.0 : -std::numeric_limits<double>::infinity();
        lq(i) = (grid(i) >= -1 && grid(i) <= 2) ? -std::log(3.0)
                                                : -std::numeric_limits<double>::infinity();
    }
    CHECK(forward_kl_trapezoid(grid, lp, lq) == Approx(std::log(3.0)).epsilon(2e-3));
    CHECK(std::isinf(forward_kl_trapezoid(grid, lq, lp)));  // q's mass where p = 0: infinite
    Vector<double> bad = grid;
    bad(10) = bad(9);
    CHECK_THROWS_WITH(forward_kl_trapezoid(bad, lp, lq), Catch::Contains("strictly increasing"));
    CHECK_THROWS_WITH(forward_kl_trapezoid(grid, lp.head(10), lq), Catch::Contains("must match"));
    CHECK_THROWS_WITH(linspace(1, 0, 10), Catch::Contains("linspace"));
}
