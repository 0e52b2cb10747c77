// SPDX-License-Identifier: MIT
// Tests for testing/gradient_check.hpp: the checker rejects deliberately wrong gradients (an MLP
// backward scaled by 1.01 or with one wrong component), and its error measure and default
// tolerances are the documented ones.
#include <catch2/catch.hpp>

#include "mlsbi/nn/mlp.hpp"
#include "mlsbi/testing/gradient_check.hpp"

using namespace mlsbi;

namespace {

// L(params) = sum(R .* MLP(x)) for fixed random x and R, and its analytic gradient.
template <typename Scalar>
struct MlpLoss {
    ParameterLayout layout;
    nn::Mlp<Scalar> net{layout, nn::MlpShape{3, {6, 5}, 2, nn::Activation::tanh}};
    Vector<Scalar> params;
    Matrix<Scalar> x, r;

    MlpLoss() {
        RandomStream rng(7);
        params.resize(layout.size());
        net.initialize(params.data(), rng);
        x.resize(3, 5);
        r.resize(2, 5);
        for (Index i = 0; i < x.size(); ++i) x(i) = static_cast<Scalar>(rng.uniform(-2, 2));
        for (Index i = 0; i < r.size(); ++i) r(i) = static_cast<Scalar>(rng.uniform(-1, 1));
    }
    double operator()(const Vector<Scalar>& p) const {
        typename nn::Mlp<Scalar>::Workspace ws;
        return static_cast<double>((net.forward(p.data(), x, ws).array() * r.array()).sum());
    }
    [[nodiscard]] Vector<Scalar> gradient() const {
        typename nn::Mlp<Scalar>::Workspace ws;
        net.forward(params.data(), x, ws);
        Vector<Scalar> g = Vector<Scalar>::Zero(params.size());
        net.backward(params.data(), x, r, ws, g.data(), nullptr);
        return g;
    }
};

}  // namespace

TEMPLATE_TEST_CASE("The gradient checker rejects a wrong backward", "[testing][gradient_check]",
                   float, double) {
    using Scalar = TestType;
    const MlpLoss<Scalar> loss;
    const Vector<Scalar> right = loss.gradient();
    const auto ok = testing::check_gradient<Scalar>(loss, loss.params, right);
    INFO(ok.report());
    REQUIRE(ok.passed);

    SECTION("the whole gradient scaled by a few percent") {
        // Default tolerance 1e-5 (double) / 3e-2 (float): 1% must fail in double, 5% in float.
        const double factor = std::is_same_v<Scalar, double> ? 1.01 : 1.05;
        const Vector<Scalar> scaled = right * static_cast<Scalar>(factor);
        const auto bad = testing::check_gradient<Scalar>(loss, loss.params, scaled);
        INFO(bad.report());
        CHECK_FALSE(bad.passed);
        // Every direction is off by (factor - 1) / factor relative to the analytic value.
        CHECK(bad.worst_error == Approx((factor - 1) / factor).epsilon(0.05));
    }
    SECTION("one wrong component outside the coordinate checks") {
        // The largest entry past the first coordinate_checks ones, with its sign flipped: only
        // the random directions can see it.
        Index k = 5;
        for (Index i = 5; i < right.size(); ++i)
            if (std::abs(right(i)) > std::abs(right(k))) k = i;
        Vector<Scalar> wrong = right;
        wrong(k) = -wrong(k);
        const auto bad = testing::check_gradient<Scalar>(loss, loss.params, wrong);
        INFO("component " << k << ": " << bad.report());
        CHECK_FALSE(bad.passed);
        CHECK(bad.worst_direction >= 5);  // a random direction, not a coordinate axis
    }
}

TEST_CASE("The gradient checker's error measure and tolerances are the documented ones",
          "[testing][gradient_check]") {
    // f(x) = a.x: the central difference is exact up to rounding, so the errors are known.
    const Vector<double> a = (Vector<double>(2) << 1.0, 1e-3).finished();
    const auto f = [&](const Vector<double>& x) { return a.dot(x); };
    const Vector<double> x = Vector<double>::Zero(2);
    const testing::GradientCheckOptions coordinates{.directions = 0, .coordinate_checks = 2};
    SECTION("a small component is judged against a tenth of the gradient's scale") {
        // Direction e_1: |1e-3 - 2e-3| / max(0.1 * 1, 1e-3, 2e-3) = 1e-2.
        const Vector<double> g = (Vector<double>(2) << 1.0, 2e-3).finished();
        const auto r = testing::check_gradient<double>(f, x, g, coordinates);
        CHECK(r.worst_direction == 1);
        CHECK(r.worst_error == Approx(1e-2).epsilon(1e-6));
        CHECK_FALSE(r.passed);
    }
    SECTION("double: relative errors up to 1e-5 pass") {
        const Vector<double> b = Vector<double>::Ones(2);
        const auto g = [&](const Vector<double>& v) { return b.dot(v); };
        const Vector<double> close = (Vector<double>(2) << 1.0, 1 + 5e-6).finished();
        const Vector<double> off = (Vector<double>(2) << 1.0, 1 + 2e-5).finished();
        CHECK(testing::check_gradient<double>(g, x, close, coordinates).passed);
        CHECK_FALSE(testing::check_gradient<double>(g, x, off, coordinates).passed);
    }
    SECTION("float: relative errors up to 3e-2 pass") {
        const Vector<float> b = Vector<float>::Ones(2);
        const auto g = [&](const Vector<float>& v) { return static_cast<double>(b.dot(v)); };
        const Vector<float> xf = Vector<float>::Zero(2);
        const Vector<float> close = (Vector<float>(2) << 1.0f, 1.02f).finished();
        const Vector<float> off = (Vector<float>(2) << 1.0f, 1.05f).finished();
        CHECK(testing::check_gradient<float>(g, xf, close, coordinates).passed);
        CHECK_FALSE(testing::check_gradient<float>(g, xf, off, coordinates).passed);
    }
    SECTION("a non-finite value fails") {
        const Vector<double> g =
            (Vector<double>(2) << 1.0, std::numeric_limits<double>::quiet_NaN()).finished();
        CHECK_FALSE(testing::check_gradient<double>(f, x, g, coordinates).passed);
    }
}
