// SPDX-License-Identifier: MIT
// Tests for flows/diagonal_gaussian.hpp: finite-difference gradients (parameters and context,
// float and double, batch 1 and 7, d = 1..3), normalisation by quadrature, sample moments and
// the one-uniform-per-coordinate sampling contract, errors, and an Adam fit of
// y | c ~ N(sin c, (0.1 + 0.2 |c|)^2) against its exact conditional entropy ([fit]).
#include <catch2/catch.hpp>

#include <cmath>
#include <numbers>

#include "density_test_support.hpp"
#include "mlsbi/flows/diagonal_gaussian.hpp"

using namespace mlsbi;
using test_support::Model;

static_assert(flows::ConditionalDensity<flows::DiagonalGaussian<float>>);
static_assert(flows::ConditionalDensity<flows::DiagonalGaussian<double>>);

namespace {

template <typename Scalar>
using Gaussian = flows::DiagonalGaussian<Scalar>;

template <typename Scalar>
typename Gaussian<Scalar>::Options gaussian_options(Index d, Index context,
                                                    nn::Activation act = nn::Activation::tanh,
                                                    std::vector<Index> hidden = {8, 6}) {
    typename Gaussian<Scalar>::Options o;
    o.input_dim = d;
    o.context_dim = context;
    o.hidden = std::move(hidden);
    o.activation = act;
    return o;
}

// [mu; s] at one context, in double.
template <typename Scalar>
Vector<double> net_output(const Model<Gaussian<Scalar>>& m, const Vector<Scalar>& context) {
    typename nn::Mlp<Scalar>::Workspace ws;
    const Matrix<Scalar> c = context;
    return m.density.net().forward(m.params.data(), c, ws).col(0).template cast<double>();
}

}  // namespace

TEMPLATE_TEST_CASE("DiagonalGaussian backward matches finite differences", "[flows][gaussian]",
                   float, double) {
    using Scalar = TestType;
    for (Index d : {Index(1), Index(2), Index(3)})
        for (Index batch : {Index(1), Index(7)})
            for (nn::Activation act : {nn::Activation::tanh, nn::Activation::relu}) {
                INFO("d " << d << ", batch " << batch << ", " << nn::to_string(act));
                const auto seed = static_cast<std::uint64_t>(10 * d + batch);
                Model<Gaussian<Scalar>> m(gaussian_options<Scalar>(d, 3, act), seed, 0.3);
                REQUIRE(m.density.parameter_count() == m.layout.size());
                RandomStream rng(seed + 1);
                const Matrix<Scalar> y = test_support::uniform_matrix<Scalar>(d, batch, rng, -2, 2);
                const Matrix<Scalar> c = test_support::uniform_matrix<Scalar>(3, batch, rng, -2, 2);
                test_support::check_gradients(m, y, c, seed + 2);
            }
}

TEMPLATE_TEST_CASE("DiagonalGaussian log_prob is the Gaussian log-density", "[flows][gaussian]",
                   float, double) {
    using Scalar = TestType;
    Model<Gaussian<Scalar>> m(gaussian_options<Scalar>(2, 1), 3, 0.5);
    const Vector<Scalar> context = Vector<Scalar>::Constant(1, Scalar(0.4));
    const Vector<double> o = net_output(m, context);
    Matrix<Scalar> y(2, 1);
    y << Scalar(0.3), Scalar(-1.2);
    double expected = 0;
    for (Index i = 0; i < 2; ++i) {
        const double sd = std::exp(o(2 + i));
        const double z = (static_cast<double>(y(i, 0)) - o(i)) / sd;
        expected += -0.5 * z * z - std::log(sd) - 0.5 * std::log(2 * std::numbers::pi);
    }
    const double tol = std::is_same_v<Scalar, float> ? 1e-5 : 1e-12;
    CHECK(static_cast<double>(m.log_prob(y, context)(0)) == Approx(expected).epsilon(tol));
}

TEMPLATE_TEST_CASE("DiagonalGaussian integrates to one", "[flows][gaussian]", float, double) {
    using Scalar = TestType;
    SECTION("d = 1 by quadrature, within 1e-3") {
        Model<Gaussian<Scalar>> m(gaussian_options<Scalar>(1, 2), 11, 0.5);
        for (double cv : {-1.5, 0.0, 2.0}) {
            const Vector<Scalar> context = Vector<Scalar>::Constant(2, static_cast<Scalar>(cv));
            const Vector<double> o = net_output(m, context);
            const double sd = std::exp(o(1));
            const double integral = test_support::integrate_1d(m, context, o(0) - 12 * sd,
                                                                o(0) + 12 * sd, 241);
            INFO("context " << cv << ", mean " << o(0) << ", sd " << sd);
            CHECK(std::abs(integral - 1.0) < 1e-3);
        }
    }
    SECTION("d = 2 on a grid, within 1e-2") {
        Model<Gaussian<Scalar>> m(gaussian_options<Scalar>(2, 2), 12, 0.5);
        const Vector<Scalar> context = Vector<Scalar>::Constant(2, Scalar(0.7));
        const Vector<double> o = net_output(m, context);
        const double s0 = std::exp(o(2)), s1 = std::exp(o(3));
        const double integral = test_support::integrate_2d(m, context, o(0) - 8 * s0, o(0) + 8 * s0,
                                                           o(1) - 8 * s1, o(1) + 8 * s1, 161);
        CHECK(std::abs(integral - 1.0) < 1e-2);
    }
}

TEMPLATE_TEST_CASE("DiagonalGaussian samples have the right mean and variance",
                   "[flows][gaussian]", float, double) {
    using Scalar = TestType;
    const Index d = 3;
    Model<Gaussian<Scalar>> m(gaussian_options<Scalar>(d, 2), 21, 0.4);
    Vector<Scalar> context(2);
    context << Scalar(-0.3), Scalar(1.1);
    const Index n = 20000;
    Matrix<Scalar> samples(d, n);
    m.density.sample(m.params.data(), context.replicate(1, n), 5, samples);
    const Vector<double> o = net_output(m, context);
    const auto est = test_support::sample_moments(samples);
    for (Index i = 0; i < d; ++i) {
        const double var = std::exp(2 * o(d + i));
        INFO("coordinate " << i);
        CHECK(std::abs(est.mean(i) - o(i)) < 4 * est.mean_se(i));
        CHECK(std::abs(est.covariance(i, i) - var) < 4 * est.covariance_se(i, i));
        for (Index j = 0; j < i; ++j) CHECK(std::abs(est.covariance(i, j)) < 4 * est.covariance_se(i, j));
    }

    // Column j is mu + e^s eps with eps the first d normals of RandomStream(seed, j).
    const Matrix<Scalar> c2 = context.replicate(1, 4);
    Matrix<Scalar> small(d, 4);
    m.density.sample(m.params.data(), c2, 77, small);
    RandomStream rng(77, 3);
    for (Index i = 0; i < d; ++i) {
        const double expected = o(i) + std::exp(o(d + i)) * standard_normal(rng);
        CHECK(static_cast<double>(small(i, 3)) ==
              Approx(expected).epsilon(std::is_same_v<Scalar, float> ? 1e-5 : 1e-12));
    }
}

TEST_CASE("DiagonalGaussian rejects bad options and shapes", "[flows][gaussian]") {
    ParameterLayout layout;
    CHECK_THROWS_WITH(Gaussian<double>(layout, gaussian_options<double>(0, 2)),
                      Catch::Contains("input_dim"));
    CHECK_THROWS_WITH(Gaussian<double>(layout, gaussian_options<double>(1, 0)),
                      Catch::Contains("context_dim"));
    CHECK_THROWS_WITH(Gaussian<double>(layout, gaussian_options<double>(1, 1, nn::Activation::relu, {3, 0})),
                      Catch::Contains("hidden[1]"));

    Model<Gaussian<double>> m(gaussian_options<double>(2, 3), 1);
    test_support::check_shape_errors(m, "DiagonalGaussian");
    CHECK(m.density.describe() ==
          "DiagonalGaussian(input_dim=2, context_dim=3, hidden=[8,6], activation=tanh)");
}

TEMPLATE_TEST_CASE("DiagonalGaussian fits y | c ~ N(sin c, (0.1 + 0.2|c|)^2)",
                   "[flows][gaussian][fit][slow]", float, double) {
    using Scalar = TestType;
    // c ~ U(-3, 3). H(Y | C) = log(2 pi e)/2 + E log(0.1 + 0.2 |c|), and with u = 0.1 + 0.2 t,
    // E log(0.1 + 0.2|c|) = (1/3) int_0^3 log(0.1 + 0.2 t) dt = [u log u - u]_{0.1}^{0.7} / 0.6.
    auto antiderivative = [](double u) { return u * std::log(u) - u; };
    const double entropy = 0.5 * std::log(2 * std::numbers::pi * std::numbers::e) +
                           (antiderivative(0.7) - antiderivative(0.1)) / 0.6;
    RandomStream rng(3);
    auto draw = [&](Index n, Matrix<Scalar>& y, Matrix<Scalar>& c, Vector<double>& log_p) {
        y.resize(1, n);
        c.resize(1, n);
        log_p.resize(n);
        for (Index j = 0; j < n; ++j) {
            const double cj = rng.uniform(-3.0, 3.0);
            const double sd = 0.1 + 0.2 * std::abs(cj);
            c(0, j) = static_cast<Scalar>(cj);
            y(0, j) = static_cast<Scalar>(std::sin(cj) + sd * standard_normal(rng));
            const double z = (static_cast<double>(y(0, j)) - std::sin(cj)) / sd;
            log_p(j) = -0.5 * z * z - std::log(sd) - 0.5 * std::log(2 * std::numbers::pi);
        }
    };
    Matrix<Scalar> y_train, c_train, y_test, c_test;
    Vector<double> lp_train, lp_test;
    draw(4000, y_train, c_train, lp_train);
    draw(4000, y_test, c_test, lp_test);

    Model<Gaussian<Scalar>> m(gaussian_options<Scalar>(1, 1, nn::Activation::tanh, {32, 32}), 9);
    const double train_loss = test_support::fit(m, y_train, c_train, 150, 100,
                                                optimizers::AdamOptions{.learning_rate = 3e-3});
    const auto h = test_support::held_out(m, y_test, c_test, lp_test);
    INFO("train loss " << train_loss << ", held-out NLL " << h.nll << " (se " << h.nll_se
                       << "), true entropy " << entropy << ", paired KL " << h.kl << " (se "
                       << h.kl_se << ")");
    // Tolerance 0.03 nats (plus 3 standard errors) on the NLL and on the paired KL estimate.
    CHECK(std::abs(h.nll - entropy) < 0.03 + 3 * h.nll_se);
    CHECK(h.kl < 0.03 + 3 * h.kl_se);
    CHECK(h.kl > -3 * h.kl_se);
}
