// SPDX-License-Identifier: MIT
// Tests for nn/detail/tanh.hpp: the vectorised double tanh agrees with std::tanh to a few ulp on
// a dense grid (through apply_activation, so the packet path and the scalar tail both run),
// keeps odd symmetry, and handles 0, +-inf and NaN.
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>

#include "mlsbi/nn/activation.hpp"

using namespace mlsbi;

TEST_CASE("TanhDouble matches std::tanh to a few ulp", "[nn][tanh]") {
    // 200003 points (not a multiple of any packet size) on [-30, 30], plus tiny values.
    const Index n = 200003;
    Matrix<double> x(1, n + 4);
    for (Index i = 0; i < n; ++i) x(0, i) = -30.0 + 60.0 * double(i) / double(n - 1);
    x(0, n) = 1e-300;
    x(0, n + 1) = -1e-20;
    x(0, n + 2) = 0.625;
    x(0, n + 3) = -0.6250000000000001;
    Matrix<double> y(1, n + 4);
    nn::apply_activation<double>(nn::Activation::tanh, x, y);
    double worst = 0;
    for (Index i = 0; i < x.cols(); ++i) {
        const double t = std::tanh(x(0, i));
        const double err = t == 0 ? std::abs(y(0, i)) : std::abs(y(0, i) - t) / std::abs(t);
        worst = std::max(worst, err);
    }
    INFO("worst relative error " << worst);
    CHECK(worst < 4 * std::numeric_limits<double>::epsilon());
    // A column-major block with several columns, in place (out aliases in).
    Matrix<double> m = x.leftCols(n - 3).reshaped(20, (n - 3) / 20);
    const Matrix<double> expected = m.array().tanh().matrix();
    nn::apply_activation<double>(nn::Activation::tanh, m, m);
    CHECK((m - expected).cwiseAbs().maxCoeff() < 4 * std::numeric_limits<double>::epsilon());
}

TEST_CASE("TanhDouble special values", "[nn][tanh]") {
    const double inf = std::numeric_limits<double>::infinity();
    Matrix<double> x(1, 16);
    x << 0.0, -0.0, inf, -inf, std::numeric_limits<double>::quiet_NaN(), 800.0, -800.0, 19.0, -19.0,
        1e-8, -1e-8, 0.5, -0.5, 3.0, -3.0, 40.0;
    Matrix<double> y(1, 16);
    nn::apply_activation<double>(nn::Activation::tanh, x, y);
    CHECK(y(0, 0) == 0.0);
    CHECK(y(0, 1) == 0.0);
    CHECK(y(0, 2) == 1.0);
    CHECK(y(0, 3) == -1.0);
    CHECK(std::isnan(y(0, 4)));
    CHECK(y(0, 5) == 1.0);
    CHECK(y(0, 6) == -1.0);
    for (Index i = 7; i < 15; i += 2) CHECK(y(0, i) == -y(0, i + 1));
    CHECK(y(0, 9) == Approx(1e-8).epsilon(1e-15));
    CHECK(y(0, 15) == 1.0);
}
