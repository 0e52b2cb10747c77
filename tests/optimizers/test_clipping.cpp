// SPDX-License-Identifier: MIT
// Tests for optimizers/clipping.hpp: global-norm clipping as torch's clip_grad_norm_.
#include <catch2/catch.hpp>
#include <limits>

#include "mlsbi/optimizers/clipping.hpp"

using namespace mlsbi;

TEMPLATE_TEST_CASE("clip_by_global_norm scales only long gradients", "[optimizers][clipping]",
                   float, double) {
    using Scalar = TestType;
    Vector<Scalar> g(2);
    g << Scalar(3), Scalar(4);  // norm 5
    SECTION("below the bound: untouched") {
        const Vector<Scalar> before = g;
        CHECK(optimizers::clip_by_global_norm<Scalar>(g, 5.01) == Approx(5.0));
        CHECK(g == before);
        CHECK(optimizers::clip_by_global_norm<Scalar>(g, 10.0) == Approx(5.0));
        CHECK(g == before);
    }
    SECTION("above the bound: scaled to max_norm * N / (N + 1e-6)") {
        const double norm = optimizers::clip_by_global_norm<Scalar>(g, 1.0);
        CHECK(norm == Approx(5.0));
        CHECK(static_cast<double>(g.norm()) == Approx(5.0 / (5.0 + 1e-6)).epsilon(1e-6));
        CHECK(static_cast<double>(g(0) / g(1)) == Approx(0.75));  // direction kept
    }
    SECTION("non-finite: returned and untouched") {
        g(1) = std::numeric_limits<Scalar>::infinity();
        CHECK(std::isinf(optimizers::clip_by_global_norm<Scalar>(g)));
        CHECK(g(0) == Scalar(3));
    }
    SECTION("float sums of squares do not overflow") {
        g << Scalar(3e20), Scalar(4e20);
        CHECK(optimizers::clip_by_global_norm<Scalar>(g) == Approx(5e20));
        CHECK(static_cast<double>(g.norm()) == Approx(5.0).epsilon(1e-5));
    }
    CHECK_THROWS_WITH(optimizers::clip_by_global_norm<Scalar>(g, 0.0),
                      Catch::StartsWith("clip_by_global_norm: max_norm"));
}
