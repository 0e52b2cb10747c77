// SPDX-License-Identifier: MIT
// Tests for optimizers/gradient_adjustment.hpp: Algorithm 1 on constructed vectors — rescale
// algebra, symmetric projection (orthogonality to the other original), no projection without a
// conflict, the switches, diagnostics and bad input.
#include <catch2/catch.hpp>

#include "mlsbi/optimizers/gradient_adjustment.hpp"
#include "mlsbi/rng/random_stream.hpp"

using namespace mlsbi;
using optimizers::GradientAdjustment;
using optimizers::GradientAdjustmentOptions;

namespace {

template <typename Scalar>
Vector<Scalar> random_vector(Index n, RandomStream& rng) {
    Vector<Scalar> v(n);
    for (Index i = 0; i < n; ++i) v(i) = static_cast<Scalar>(rng.uniform(-1, 1));
    return v;
}

template <typename Scalar>
double tol() {
    return std::is_same_v<Scalar, double> ? 1e-12 : 1e-5;
}

}  // namespace

TEMPLATE_TEST_CASE("Rescaling gives each g_l^- the norm of g_l^+", "[optimizers][adjustment]",
                   float, double) {
    using Scalar = TestType;
    RandomStream rng(7);
    const Index p = 9;
    const Index levels = 3;
    Matrix<Scalar> terms(p, 2 * levels + 1);
    for (Index k = 0; k < terms.cols(); ++k) terms.col(k) = random_vector<Scalar>(p, rng);
    terms.col(2) *= Scalar(40);    // a g_1^- much longer than g_1^+
    terms.col(6) *= Scalar(0.01);  // a g_3^- much shorter than g_3^+
    terms.col(0).setZero();        // no base gradient: g = g_c exactly, no projection

    GradientAdjustment<Scalar> adjust(GradientAdjustmentOptions{.project = false});
    Vector<Scalar> g(p);
    const auto& d = adjust.adjust(terms, g);

    Vector<double> expected = Vector<double>::Zero(p);
    for (Index l = 1; l <= levels; ++l) {
        const Vector<double> plus = terms.col(2 * l - 1).template cast<double>();
        const Vector<double> minus = terms.col(2 * l).template cast<double>();
        const double factor = plus.norm() / (minus.norm() + 1e-8);
        expected += plus + factor * minus;
        const auto k = static_cast<std::size_t>(l - 1);
        INFO("level " << l);
        CHECK(d.norm_plus[k] == Approx(plus.norm()));
        CHECK(d.norm_minus[k] == Approx(minus.norm()));
        CHECK(d.rescale_factor[k] == Approx(factor));
        CHECK((factor * minus).norm() == Approx(plus.norm()).epsilon(1e-6));
    }
    CHECK((g.template cast<double>() - expected).norm() <= tol<Scalar>() * expected.norm());
    CHECK(d.norm_correction == Approx(expected.norm()));
    CHECK(d.norm_base == 0.0);
    CHECK(d.cosine == 0.0);
    CHECK_FALSE(d.conflict);
    CHECK_FALSE(d.projected);

    SECTION("rescale off: plain sum") {
        GradientAdjustment<Scalar> plain(
            GradientAdjustmentOptions{.rescale = false, .project = false});
        const auto& e = plain.adjust(terms, g);
        Vector<Scalar> sum = terms.rowwise().sum();
        CHECK((g - sum).norm() <= Scalar(tol<Scalar>()) * sum.norm());
        for (double f : e.rescale_factor) CHECK(f == 1.0);
    }
}

TEST_CASE("With rescale ratios each g_l^- gets ratio_l times the norm of g_l^+",
          "[optimizers][adjustment]") {
    RandomStream rng(9);
    const Index p = 7;
    Matrix<double> terms(p, 5);
    for (Index k = 0; k < terms.cols(); ++k) terms.col(k) = random_vector<double>(p, rng);
    terms.col(0).setZero();
    GradientAdjustment<double> adjust(GradientAdjustmentOptions{.project = false});
    adjust.set_rescale_ratios({0.5, 0.0});
    Vector<double> g(p);
    const auto& d = adjust.adjust(terms, g);
    CHECK((d.rescale_factor[0] * terms.col(2)).norm() == Approx(0.5 * terms.col(1).norm()));
    CHECK(d.rescale_factor[1] == 0.0);
    const Vector<double> expected =
        terms.col(1) + d.rescale_factor[0] * terms.col(2) + terms.col(3);
    CHECK((g - expected).norm() <= 1e-12 * expected.norm());
    CHECK_THROWS_WITH(adjust.set_rescale_ratios({-1.0}), Catch::Contains("set_rescale_ratios"));
}

TEMPLATE_TEST_CASE("Conflicting gradients are projected symmetrically", "[optimizers][adjustment]",
                   float, double) {
    using Scalar = TestType;
    // g_0 = (1, 0, 0); g_1^+ = (-1, 1, 0); g_1^- = (-0.5, 0, 0.5): g_c = (-1.5, 1, 0.5) after
    // rescaling by sqrt(2) / sqrt(0.5) = 2 -> g_c = (-2, 1, 1), <g_0, g_c> = -2 < 0.
    Matrix<Scalar> terms(3, 3);
    terms.col(0) << Scalar(1), Scalar(0), Scalar(0);
    terms.col(1) << Scalar(-1), Scalar(1), Scalar(0);
    terms.col(2) << Scalar(-0.5), Scalar(0), Scalar(0.5);
    GradientAdjustment<Scalar> adjust;
    Vector<Scalar> g(3);
    const auto& d = adjust.adjust(terms, g);
    REQUIRE(d.conflict);
    REQUIRE(d.projected);
    CHECK(d.rescale_factor[0] == Approx(2.0).epsilon(1e-7));
    CHECK(d.norm_correction == Approx(std::sqrt(6.0)));
    CHECK(d.cosine == Approx(-2.0 / std::sqrt(6.0)));
    // g_c' = g_c - (-2/1) g_0 = (0, 1, 1); g_0' = g_0 - (-2/6) g_c = (1/3, 1/3, 1/3).
    Vector<double> expected(3);
    expected << 1.0 / 3.0, 4.0 / 3.0, 4.0 / 3.0;
    CHECK((g.template cast<double>() - expected).norm() < 1e-6);
    CHECK(d.norm_output == Approx(expected.norm()));

    SECTION("projection off: conflict reported, plain sum returned") {
        GradientAdjustment<Scalar> off(GradientAdjustmentOptions{.project = false});
        const auto& e = off.adjust(terms, g);
        CHECK(e.conflict);
        CHECK_FALSE(e.projected);
        Vector<double> sum(3);
        sum << -1.0, 1.0, 1.0;
        CHECK((g.template cast<double>() - sum).norm() < 1e-6);
    }
}

TEMPLATE_TEST_CASE("Projected vectors are orthogonal to the other original",
                   "[optimizers][adjustment]", float, double) {
    using Scalar = TestType;
    RandomStream rng(11);
    const Index p = 50;
    int conflicts = 0;
    for (int trial = 0; trial < 40; ++trial) {
        INFO("trial " << trial);
        // Two-level terms; the correction is pushed against g_0 in half of the trials.
        Matrix<Scalar> terms(p, 5);
        for (Index k = 0; k < 5; ++k) terms.col(k) = random_vector<Scalar>(p, rng);
        if (trial % 2 == 0) terms.col(1) -= Scalar(3) * terms.col(0);

        // g_c as the adjuster builds it (rescale on).
        Vector<Scalar> gc = Vector<Scalar>::Zero(p);
        for (Index l = 1; l <= 2; ++l) {
            const Scalar f = terms.col(2 * l - 1).norm() / (terms.col(2 * l).norm() + Scalar(1e-8));
            gc += terms.col(2 * l - 1) + f * terms.col(2 * l);
        }
        const Vector<Scalar> g0 = terms.col(0);
        Vector<Scalar> g0p(p), gcp(p);
        const bool projected = optimizers::symmetric_projection<Scalar>(g0, gc, g0p, gcp);
        const double dot = g0.template cast<double>().dot(gc.template cast<double>());
        CHECK(projected == (dot < 0));
        if (projected) {
            ++conflicts;
            const double scale =
                g0.template cast<double>().norm() * gc.template cast<double>().norm();
            CHECK(std::abs(g0p.template cast<double>().dot(gc.template cast<double>())) <=
                  1e-5 * scale);
            CHECK(std::abs(gcp.template cast<double>().dot(g0.template cast<double>())) <=
                  1e-5 * scale);
        } else {
            CHECK(g0p == g0);
            CHECK(gcp == gc);
        }
        GradientAdjustment<Scalar> adjust;
        Vector<Scalar> g(p);
        const auto& d = adjust.adjust(terms, g);
        CHECK(d.projected == projected);
        const Vector<double> sum = (g0p + gcp).template cast<double>();
        CHECK((g.template cast<double>() - sum).norm() <= 1e-5 * sum.norm());
    }
    CHECK(conflicts >= 15);  // both branches were exercised
    CHECK(conflicts <= 30);
}

TEST_CASE("No projection when the inner product is zero or positive", "[optimizers][adjustment]") {
    Matrix<double> terms(2, 3);
    terms.col(0) << 1, 0;
    terms.col(1) << 0, 2;  // orthogonal to g_0
    terms.col(2) << 0, -1;
    GradientAdjustment<double> adjust;
    Vector<double> g(2);
    const auto& d = adjust.adjust(terms, g);
    // rescale: g_1^- -> (0, -2) * 2/(1 + 1e-8); g_c ~ (0, 0) up to 1e-8: dot exactly 0.
    CHECK_FALSE(d.conflict);
    CHECK_FALSE(d.projected);
    CHECK(g(0) == 1.0);
    CHECK(std::abs(g(1)) < 1e-7);

    terms.col(1) << 0.5, 2;  // positive inner product
    const auto& e = adjust.adjust(terms, g);
    CHECK_FALSE(e.conflict);
    CHECK(e.cosine > 0);
    CHECK(g(0) == Approx(1.5));
}

TEST_CASE("A single-level (MC) term list passes g_0 through", "[optimizers][adjustment]") {
    Matrix<double> terms(3, 1);
    terms.col(0) << 1, -2, 3;
    GradientAdjustment<double> adjust;
    Vector<double> g(3);
    const auto& d = adjust.adjust(terms, g);
    CHECK(g == terms.col(0));
    CHECK(d.norm_plus.empty());
    CHECK_FALSE(d.projected);
}

TEST_CASE("GradientAdjustment rejects bad input", "[optimizers][adjustment]") {
    GradientAdjustment<double> adjust;
    Matrix<double> terms = Matrix<double>::Zero(3, 4);
    Vector<double> g(3);
    CHECK_THROWS_WITH(adjust.adjust(terms, g), Catch::Contains("2L + 1 columns"));
    Matrix<double> ok = Matrix<double>::Zero(3, 3);
    Vector<double> small(2);
    CHECK_THROWS_WITH(adjust.adjust(ok, small),
                      Catch::StartsWith("GradientAdjustment::adjust: out"));
    CHECK_THROWS_WITH(GradientAdjustment<double>(GradientAdjustmentOptions{.rescale_epsilon = -1}),
                      Catch::Contains("rescale_epsilon"));
}
