// SPDX-License-Identifier: MIT
// Tests for nn/residual_block.hpp and nn/residual_net.hpp: forward equals nflows' formula written
// out by hand; finite-difference gradients (params, input, context), float and double, batch 1 and
// 7, with and without context, context-only nets; nflows' near-zero initialisation of linear_1.
#include <catch2/catch.hpp>

#include "mlsbi/nn/residual_net.hpp"
#include "mlsbi/testing/gradient_check.hpp"

using namespace mlsbi;

namespace {

template <typename Scalar>
Matrix<Scalar> random_matrix(Index rows, Index cols, RandomStream& rng, double scale = 1.0) {
    Matrix<Scalar> m(rows, cols);
    for (Index j = 0; j < cols; ++j)
        for (Index i = 0; i < rows; ++i) m(i, j) = static_cast<Scalar>(rng.uniform(-scale, scale));
    return m;
}

template <typename Scalar>
testing::GradientCheckOptions check_options(nn::Activation act = nn::Activation::tanh) {
    testing::GradientCheckOptions o;
    // ReLU keeps the default step: a larger one would cross its kink too often.
    if constexpr (std::is_same_v<Scalar, float>)
        o.step = act == nn::Activation::relu ? 0 : 1e-2;  // rounding error ~ eps |L| / h
    return o;
}

// Overwrites every parameter with U(-0.5, 0.5) so the near-zero linear_1 does not hide errors.
template <typename Scalar>
void randomize(Vector<Scalar>& params, RandomStream& rng) {
    for (Index i = 0; i < params.size(); ++i)
        params(i) = static_cast<Scalar>(rng.uniform(-0.5, 0.5));
}

}  // namespace

TEST_CASE("ResidualNet forward equals nflows' formula", "[nn][residual_net]") {
    const Index in = 3, ctx = 2, hidden = 5, out = 4, n = 6;
    ParameterLayout layout;
    nn::ResidualNet<double> net(
        layout, nn::ResidualNetShape{in, ctx, hidden, 2, out, nn::Activation::tanh});
    REQUIRE(net.parameter_count() == layout.size());
    // initial (hidden x (in+ctx) + hidden), 2 blocks x (context + 2 linear), final.
    REQUIRE(layout.size() == hidden * (in + ctx) + hidden +
                                 2 * ((hidden * ctx + hidden) + 2 * (hidden * hidden + hidden)) +
                                 out * hidden + out);
    Vector<double> params(layout.size());
    RandomStream rng(11);
    randomize(params, rng);
    const Matrix<double> x = random_matrix<double>(in, n, rng, 2.0);
    const Matrix<double> c = random_matrix<double>(ctx, n, rng, 2.0);
    typename nn::ResidualNet<double>::Workspace ws;
    const Matrix<double> y = net.forward(params.data(), x, c, ws);

    // The same by hand, reading the flat vector in nflows' registration order.
    Index offset = 0;
    auto take = [&](Index rows, Index cols) {
        Matrix<double> m = Eigen::Map<const Matrix<double>>(params.data() + offset, rows, cols);
        offset += rows * cols;
        return m;
    };
    Matrix<double> xc(in + ctx, n);
    xc << x, c;
    const Matrix<double> w_in = take(hidden, in + ctx);
    const Vector<double> b_in = take(hidden, 1);
    Matrix<double> h = (w_in * xc).colwise() + b_in;
    for (int b = 0; b < 2; ++b) {
        const Matrix<double> v = take(hidden, ctx);
        const Vector<double> bv = take(hidden, 1);
        const Matrix<double> w0 = take(hidden, hidden);
        const Vector<double> b0 = take(hidden, 1);
        const Matrix<double> w1 = take(hidden, hidden);
        const Vector<double> b1 = take(hidden, 1);
        Matrix<double> t = (w0 * h.array().tanh().matrix()).colwise() + b0;
        t = (w1 * t.array().tanh().matrix()).colwise() + b1;
        const Matrix<double> gate_pre = (v * c).colwise() + bv;
        const Matrix<double> gate = (1.0 / (1.0 + (-gate_pre.array()).exp())).matrix();
        h = h + t.cwiseProduct(gate);
    }
    const Matrix<double> w_out = take(out, hidden);
    const Vector<double> b_out = take(out, 1);
    REQUIRE(offset == layout.size());
    const Matrix<double> expected = (w_out * h).colwise() + b_out;
    CHECK((y - expected).cwiseAbs().maxCoeff() < 1e-12);
}

TEMPLATE_TEST_CASE("ResidualNet backward matches finite differences", "[nn][residual_net]", float,
                   double) {
    using Scalar = TestType;
    struct Case {
        Index in, ctx, blocks;
    };
    for (Case cs : {Case{3, 2, 2}, Case{3, 0, 1}, Case{0, 4, 2}, Case{2, 3, 0}}) {
        for (nn::Activation act :
             {nn::Activation::relu, nn::Activation::tanh, nn::Activation::silu}) {
            for (Index batch : {Index(1), Index(7)}) {
                INFO("input " << cs.in << ", context " << cs.ctx << ", blocks " << cs.blocks
                              << ", activation " << nn::to_string(act) << ", batch " << batch);
                const Index hidden = 6, out = 3;
                ParameterLayout layout;
                nn::ResidualNet<Scalar> net(
                    layout, nn::ResidualNetShape{cs.in, cs.ctx, hidden, cs.blocks, out, act});
                RandomStream rng(29);
                Vector<Scalar> params(layout.size());
                randomize(params, rng);
                const Matrix<Scalar> x = random_matrix<Scalar>(cs.in, batch, rng, 2.0);
                const Matrix<Scalar> c = random_matrix<Scalar>(cs.ctx, batch, rng, 2.0);
                const Matrix<Scalar> r = random_matrix<Scalar>(out, batch, rng);
                auto loss = [&](const Vector<Scalar>& p, const Matrix<Scalar>& xv,
                                const Matrix<Scalar>& cv) {
                    typename nn::ResidualNet<Scalar>::Workspace w;
                    return static_cast<double>(
                        (net.forward(p.data(), xv, cv, w).array() * r.array()).sum());
                };
                typename nn::ResidualNet<Scalar>::Workspace ws;
                net.forward(params.data(), x, c, ws);
                Vector<Scalar> grad = Vector<Scalar>::Zero(layout.size());
                Matrix<Scalar> grad_x, grad_c;
                net.backward(params.data(), x, c, r, ws, grad.data(), &grad_x, &grad_c);
                REQUIRE(grad_x.rows() == cs.in);
                REQUIRE(grad_c.rows() == cs.ctx);
                const auto by_params = testing::check_gradient<Scalar>(
                    [&](const Vector<Scalar>& p) { return loss(p, x, c); }, params, grad,
                    check_options<Scalar>(act));
                INFO(by_params.report());
                CHECK(by_params.passed);
                if (cs.in > 0) {
                    const auto by_input = testing::check_gradient<Scalar>(
                        [&](const Vector<Scalar>& v) {
                            return loss(params, v.reshaped(cs.in, batch), c);
                        },
                        Vector<Scalar>(x.reshaped()), Vector<Scalar>(grad_x.reshaped()),
                        check_options<Scalar>(act));
                    INFO(by_input.report());
                    CHECK(by_input.passed);
                }
                if (cs.ctx > 0) {
                    const auto by_context = testing::check_gradient<Scalar>(
                        [&](const Vector<Scalar>& v) {
                            return loss(params, x, v.reshaped(cs.ctx, batch));
                        },
                        Vector<Scalar>(c.reshaped()), Vector<Scalar>(grad_c.reshaped()),
                        check_options<Scalar>(act));
                    INFO(by_context.report());
                    CHECK(by_context.passed);
                }
                // Without gradient outputs, backward still accumulates the same parameter gradient.
                Vector<Scalar> grad2 = Vector<Scalar>::Zero(layout.size());
                net.forward(params.data(), x, c, ws);
                net.backward(params.data(), x, c, r, ws, grad2.data(), nullptr, nullptr);
                CHECK((grad2 - grad).cwiseAbs().maxCoeff() <=
                      Scalar(1e-5) * (Scalar(1) + grad.cwiseAbs().maxCoeff()));
            }
        }
    }
}

TEMPLATE_TEST_CASE("ResidualBlock alone matches finite differences", "[nn][residual_net]", float,
                   double) {
    using Scalar = TestType;
    for (Index ctx : {Index(0), Index(3)}) {
        for (Index batch : {Index(1), Index(7)}) {
            INFO("context " << ctx << ", batch " << batch);
            const Index f = 5;
            ParameterLayout layout;
            nn::ResidualBlock<Scalar> block(layout, f, ctx, nn::Activation::elu);
            REQUIRE(block.parameter_count() == layout.size());
            RandomStream rng(4);
            Vector<Scalar> params(layout.size());
            randomize(params, rng);
            const Matrix<Scalar> x = random_matrix<Scalar>(f, batch, rng, 2.0);
            const Matrix<Scalar> c = random_matrix<Scalar>(ctx, batch, rng, 2.0);
            const Matrix<Scalar> r = random_matrix<Scalar>(f, batch, rng);
            auto loss = [&](const Vector<Scalar>& p, const Matrix<Scalar>& xv,
                            const Matrix<Scalar>& cv) {
                typename nn::ResidualBlock<Scalar>::Workspace w;
                Matrix<Scalar> y(f, batch);
                block.forward(p.data(), xv, cv, y, w);
                return static_cast<double>((y.array() * r.array()).sum());
            };
            typename nn::ResidualBlock<Scalar>::Workspace ws;
            Matrix<Scalar> y(f, batch);
            block.forward(params.data(), x, c, y, ws);
            Vector<Scalar> grad = Vector<Scalar>::Zero(layout.size());
            Matrix<Scalar> grad_x, grad_c;
            block.backward(params.data(), x, c, r, ws, grad.data(), &grad_x, &grad_c);
            const auto by_params = testing::check_gradient<Scalar>(
                [&](const Vector<Scalar>& p) { return loss(p, x, c); }, params, grad,
                check_options<Scalar>(nn::Activation::elu));
            INFO(by_params.report());
            CHECK(by_params.passed);
            const auto by_input = testing::check_gradient<Scalar>(
                [&](const Vector<Scalar>& v) { return loss(params, v.reshaped(f, batch), c); },
                Vector<Scalar>(x.reshaped()), Vector<Scalar>(grad_x.reshaped()),
                check_options<Scalar>(nn::Activation::elu));
            INFO(by_input.report());
            CHECK(by_input.passed);
            if (ctx > 0) {
                const auto by_context = testing::check_gradient<Scalar>(
                    [&](const Vector<Scalar>& v) {
                        return loss(params, x, v.reshaped(ctx, batch));
                    },
                    Vector<Scalar>(c.reshaped()), Vector<Scalar>(grad_c.reshaped()),
                    check_options<Scalar>(nn::Activation::elu));
                INFO(by_context.report());
                CHECK(by_context.passed);
            }
        }
    }
}

TEST_CASE("ResidualNet initialisation: linear_1 near zero, blocks near identity, seeded",
          "[nn][residual_net]") {
    const Index hidden = 32;
    ParameterLayout layout;
    nn::ResidualBlock<double> block(layout, hidden, 4);
    Vector<double> params(layout.size());
    RandomStream rng(1);
    block.initialize(params.data(), rng);
    // Order: context (hidden x 4 + hidden), linear_0, linear_1.
    const Index linear1 = hidden * 4 + hidden + hidden * hidden + hidden;
    const auto l1 = params.segment(linear1, hidden * hidden + hidden);
    CHECK(l1.cwiseAbs().maxCoeff() <= 1e-3);
    CHECK(l1.cwiseAbs().maxCoeff() > 5e-4);
    const auto l0 = params.segment(hidden * 4 + hidden, hidden * hidden);
    CHECK(l0.cwiseAbs().maxCoeff() <= 1.0 / std::sqrt(double(hidden)));
    CHECK(l0.cwiseAbs().maxCoeff() > 0.5 / std::sqrt(double(hidden)));

    ParameterLayout l2;
    nn::ResidualNet<double> net(l2, nn::ResidualNetShape{2, 3, 8, 2, 4});
    Vector<double> a(l2.size()), b(l2.size());
    RandomStream r1(5), r2(5);
    net.initialize(a.data(), r1);
    net.initialize(b.data(), r2);
    CHECK(a == b);
}

TEST_CASE("ResidualNet rejects bad shapes and inputs with clear messages", "[nn][residual_net]") {
    ParameterLayout layout;
    CHECK_THROWS_WITH(nn::ResidualNet<double>(layout, nn::ResidualNetShape{0, 0, 4, 1, 1}),
                      Catch::Contains("input_dim + context_dim"));
    CHECK_THROWS_WITH(nn::ResidualNet<double>(layout, nn::ResidualNetShape{1, 1, 0, 1, 1}),
                      Catch::Contains("hidden"));
    CHECK_THROWS_WITH(nn::ResidualNet<double>(layout, nn::ResidualNetShape{1, 1, 4, -1, 1}),
                      Catch::Contains("num_blocks"));
    CHECK_THROWS_WITH(nn::ResidualNet<double>(layout, nn::ResidualNetShape{1, 1, 4, 1, 0}),
                      Catch::Contains("output_dim"));
    nn::ResidualNet<double> net(layout, nn::ResidualNetShape{2, 3, 4, 1, 1});
    Vector<double> params = Vector<double>::Zero(layout.size());
    typename nn::ResidualNet<double>::Workspace ws;
    CHECK_THROWS_WITH(net.forward(params.data(), Matrix<double>(3, 5), Matrix<double>(3, 5), ws),
                      Catch::Contains("ResidualNet::forward") && Catch::Contains("3 rows"));
    CHECK_THROWS_WITH(net.forward(params.data(), Matrix<double>(2, 5), Matrix<double>(3, 4), ws),
                      Catch::Contains("context"));
}
