// SPDX-License-Identifier: MIT
// Tests for nn/mlp.hpp and nn/dense.hpp: finite-difference gradients for every activation,
// float and double, batch sizes 1 and 7, with respect to parameters and inputs.
#include <catch2/catch.hpp>

#include "mlsbi/nn/mlp.hpp"
#include "mlsbi/testing/gradient_check.hpp"

using namespace mlsbi;

namespace {

// L = sum(R .* MLP(x)) for a fixed random R, so dL/dy = R.
template <typename Scalar>
struct MlpProbe {
    nn::Mlp<Scalar> net;
    Matrix<Scalar> x;
    Matrix<Scalar> upstream;
};

template <typename Scalar>
Matrix<Scalar> random_matrix(Index rows, Index cols, RandomStream& rng, double scale = 1.0) {
    Matrix<Scalar> m(rows, cols);
    for (Index j = 0; j < cols; ++j)
        for (Index i = 0; i < rows; ++i) m(i, j) = static_cast<Scalar>(rng.uniform(-scale, scale));
    return m;
}

}  // namespace

TEMPLATE_TEST_CASE("Mlp backward matches finite differences", "[nn][mlp]", float, double) {
    using Scalar = TestType;
    for (nn::Activation act : {nn::Activation::identity, nn::Activation::relu, nn::Activation::tanh,
                               nn::Activation::elu, nn::Activation::silu}) {
        for (Index batch : {Index(1), Index(7)}) {
            INFO("activation " << nn::to_string(act) << ", batch " << batch);
            ParameterLayout layout;
            nn::Mlp<Scalar> net(layout, nn::MlpShape{3, {6, 5}, 2, act});
            REQUIRE(net.parameter_count() == layout.size());
            REQUIRE(layout.size() == 3 * 6 + 6 + 6 * 5 + 5 + 5 * 2 + 2);
            RandomStream rng(42);
            Vector<Scalar> params(layout.size());
            net.initialize(params.data(), rng);
            const Matrix<Scalar> x = random_matrix<Scalar>(3, batch, rng, 2.0);
            const Matrix<Scalar> r = random_matrix<Scalar>(2, batch, rng);

            typename nn::Mlp<Scalar>::Workspace ws;
            net.forward(params.data(), x, ws);
            Vector<Scalar> grad = Vector<Scalar>::Zero(layout.size());
            Matrix<Scalar> grad_x;
            net.backward(params.data(), x, r, ws, grad.data(), &grad_x);

            auto loss_params = [&](const Vector<Scalar>& p) {
                typename nn::Mlp<Scalar>::Workspace w;
                return static_cast<double>((net.forward(p.data(), x, w).array() * r.array()).sum());
            };
            const auto by_params = testing::check_gradient<Scalar>(loss_params, params, grad);
            INFO(by_params.report());
            CHECK(by_params.passed);

            const Vector<Scalar> x_flat = x.reshaped();
            const Vector<Scalar> grad_x_flat = grad_x.reshaped();
            auto loss_input = [&](const Vector<Scalar>& xv) {
                typename nn::Mlp<Scalar>::Workspace w;
                const Matrix<Scalar> xm = xv.reshaped(3, batch);
                return static_cast<double>((net.forward(params.data(), xm, w).array() * r.array()).sum());
            };
            const auto by_input = testing::check_gradient<Scalar>(loss_input, x_flat, grad_x_flat);
            INFO(by_input.report());
            CHECK(by_input.passed);
        }
    }
}

TEST_CASE("Mlp rejects bad shapes with a clear message", "[nn][mlp]") {
    ParameterLayout layout;
    CHECK_THROWS_WITH(nn::Mlp<double>(layout, nn::MlpShape{0, {4}, 1}),
                      Catch::Contains("input_dim"));
    CHECK_THROWS_WITH(nn::Mlp<double>(layout, nn::MlpShape{2, {4, 0}, 1}),
                      Catch::Contains("hidden[1]"));
    nn::Mlp<double> net(layout, nn::MlpShape{2, {4}, 1});
    Vector<double> params = Vector<double>::Zero(layout.size());
    typename nn::Mlp<double>::Workspace ws;
    const Matrix<double> wrong(3, 5);
    CHECK_THROWS_WITH(net.forward(params.data(), wrong, ws), Catch::Contains("3 rows"));
}

TEST_CASE("Mlp initialisation is seeded", "[nn][mlp]") {
    ParameterLayout layout;
    nn::Mlp<double> net(layout, nn::MlpShape{4, {50, 50}, 29});
    Vector<double> a(layout.size()), b(layout.size()), c(layout.size());
    RandomStream r1(7), r2(7), r3(8);
    net.initialize(a.data(), r1);
    net.initialize(b.data(), r2);
    net.initialize(c.data(), r3);
    CHECK(a == b);
    CHECK(a != c);
}
