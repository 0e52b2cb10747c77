// SPDX-License-Identifier: MIT
// Tests for optimizers/adam.hpp: the first three steps against values computed by hand with
// PyTorch's update rule, convergence on an ill-conditioned quadratic, reset, and bad input.
#include <catch2/catch.hpp>

#include "mlsbi/optimizers/adam.hpp"

using namespace mlsbi;
using optimizers::Adam;
using optimizers::AdamOptions;

TEMPLATE_TEST_CASE("Adam matches PyTorch's update for the first three steps", "[optimizers][adam]",
                   float, double) {
    using Scalar = TestType;
    // Reference values: the torch.optim.Adam recurrence evaluated in double (Python floats),
    // lr 0.1, betas (0.85, 0.999), eps 1e-8.
    const double expected[3][2] = {{0.900000002, -1.900000001},
                                   {0.821274365266526, -1.9393089052513433},
                                   {0.8046261995454475, -1.9687450215908908}};
    const double gradients[3][2] = {{0.5, -1.0}, {0.1, 2.0}, {-0.3, 0.0}};
    const double tolerance = std::is_same_v<Scalar, double> ? 1e-12 : 2e-6;

    Adam<Scalar> adam(2, AdamOptions{.learning_rate = 0.1});
    Vector<Scalar> p(2);
    p << Scalar(1), Scalar(-2);
    for (int t = 0; t < 3; ++t) {
        Vector<Scalar> g(2);
        g << static_cast<Scalar>(gradients[t][0]), static_cast<Scalar>(gradients[t][1]);
        adam.step(p, g);
        INFO("step " << t + 1);
        CHECK(adam.steps() == t + 1);
        CHECK(static_cast<double>(p(0)) == Approx(expected[t][0]).margin(tolerance));
        CHECK(static_cast<double>(p(1)) == Approx(expected[t][1]).margin(tolerance));
    }
}

TEMPLATE_TEST_CASE("Adam converges on an ill-conditioned quadratic", "[optimizers][adam]", float,
                   double) {
    using Scalar = TestType;
    // L(p) = 1/2 sum_i a_i (p_i - c_i)^2 with curvatures spanning four decades.
    const Index n = 5;
    Vector<Scalar> a(n), c(n);
    a << Scalar(100), Scalar(10), Scalar(1), Scalar(0.1), Scalar(0.01);
    c << Scalar(1), Scalar(-2), Scalar(0.5), Scalar(3), Scalar(-1);
    Vector<Scalar> p = Vector<Scalar>::Zero(n);
    Adam<Scalar> adam(n, AdamOptions{.learning_rate = 1e-2});
    Vector<Scalar> g(n);
    for (int t = 0; t < 5000; ++t) {
        g = a.cwiseProduct(p - c);
        adam.step(p, g);
    }
    // Adam's steps are ~lr in size whatever the curvature, so it settles within a few lr.
    CHECK(static_cast<double>((p - c).template lpNorm<Eigen::Infinity>()) < 0.05);
}

TEST_CASE("Adam reset forgets the moments", "[optimizers][adam]") {
    Adam<double> adam(1, AdamOptions{.learning_rate = 0.1});
    Vector<double> p = Vector<double>::Zero(1);
    Vector<double> g = Vector<double>::Constant(1, 3.0);
    adam.step(p, g);
    const double first = p(0);
    adam.step(p, g);
    adam.reset();
    CHECK(adam.steps() == 0);
    Vector<double> q = Vector<double>::Zero(1);
    adam.step(q, g);
    CHECK(q(0) == first);                        // bit-identical to a fresh optimizer's first step
    CHECK(first == Approx(-0.1).epsilon(1e-6));  // the first step has size lr
}

TEST_CASE("Adam rejects bad options and sizes", "[optimizers][adam]") {
    CHECK_THROWS_WITH(Adam<double>(3, AdamOptions{.learning_rate = 0}),
                      Catch::Contains("learning_rate"));
    CHECK_THROWS_WITH(Adam<double>(3, AdamOptions{.beta1 = 1.0}), Catch::Contains("beta1"));
    CHECK_THROWS_WITH(Adam<double>(3, AdamOptions{.beta2 = -0.1}), Catch::Contains("beta2"));
    CHECK_THROWS_WITH(Adam<double>(3, AdamOptions{.epsilon = -1}), Catch::Contains("epsilon"));
    CHECK_THROWS_WITH(Adam<double>(-1), Catch::Contains("parameter_count"));
    Adam<double> adam(3);
    Vector<double> p = Vector<double>::Zero(3);
    Vector<double> g = Vector<double>::Zero(2);
    CHECK_THROWS_WITH(adam.step(p, g), Catch::StartsWith("Adam::step: gradient has size 2"));
}
