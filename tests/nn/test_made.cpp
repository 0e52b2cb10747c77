// SPDX-License-Identifier: MIT
// Tests for nn/made.hpp: degrees and masks equal nflows' (hand-computed cases), the autoregressive
// property of the whole network (output of dimension i does not move when inputs >= i move),
// input_dim 1 (context only), and finite-difference gradients (params, input, context), float and
// double, batch 1 and 7.
#include <catch2/catch.hpp>

#include "mlsbi/nn/made.hpp"
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

// Float central differences need a larger step than the checker's default when the derivative is
// small next to the value (rounding error ~ eps |L| / h).
template <typename Scalar>
testing::GradientCheckOptions check_options(nn::Activation act = nn::Activation::tanh) {
    testing::GradientCheckOptions o;
    // ReLU keeps the default step: a larger one would cross its kink too often.
    if constexpr (std::is_same_v<Scalar, float>) o.step = act == nn::Activation::relu ? 0 : 1e-2;
    return o;
}

}  // namespace

TEST_CASE("made_masks equal nflows' deterministic masks", "[nn][made]") {
    // nflows, features 3, hidden 4, 1 block: hidden degrees k % 2 + 1 = [1, 2, 1, 2].
    CHECK(nn::made_hidden_degrees(3, 4) == std::vector<Index>{1, 2, 1, 2});
    const auto masks = nn::made_masks<double>(3, 4, 1);
    REQUIRE(masks.size() == 3);
    Matrix<double> initial(4, 3), block(4, 4), final_mask(6, 4);
    initial << 1, 0, 0,  //
        1, 1, 0,         //
        1, 0, 0,         //
        1, 1, 0;
    block << 1, 0, 1, 0,  //
        1, 1, 1, 1,       //
        1, 0, 1, 0,       //
        1, 1, 1, 1;
    final_mask << 0, 0, 0, 0,  // dimension 0 (scale, shift) sees nothing
        0, 0, 0, 0,            //
        1, 0, 1, 0,            // dimension 1 sees degree-1 units
        1, 0, 1, 0,            //
        1, 1, 1, 1,            // dimension 2 sees all
        1, 1, 1, 1;
    CHECK(masks[0] == initial);
    CHECK(masks[1] == block);
    CHECK(masks[2] == final_mask);

    // Features 1: hidden degrees all 0, data mask zero, output mask one.
    const auto one = nn::made_masks<float>(1, 5, 2);
    REQUIRE(one.size() == 4);
    CHECK(one[0].isZero());
    CHECK(one[1].isOnes());
    CHECK(one[3].rows() == 2);
    CHECK(one[3].isOnes());
    CHECK_THROWS_WITH(nn::made_masks<double>(0, 4, 1), Catch::Contains("features"));
    CHECK_THROWS_WITH(nn::made_masks<double>(2, 4, -1), Catch::Contains("num_blocks"));
}

TEMPLATE_TEST_CASE("Made is autoregressive", "[nn][made]", float, double) {
    using Scalar = TestType;
    const Index d = 5, ctx = 2, n = 4;
    ParameterLayout layout;
    nn::Made<Scalar> made(layout, nn::MadeShape{d, ctx, 16, 2, 2, nn::Activation::tanh});
    Vector<Scalar> params(layout.size());
    RandomStream rng(17);
    made.initialize(params.data(), rng);
    const Matrix<Scalar> x = random_matrix<Scalar>(d, n, rng, 2.0);
    const Matrix<Scalar> c = random_matrix<Scalar>(ctx, n, rng, 2.0);
    typename nn::Made<Scalar>::Workspace ws;
    const Matrix<Scalar> base = made.forward(params.data(), x, c, ws);
    for (Index i = 0; i < d; ++i) {
        Matrix<Scalar> xp = x;
        xp.row(i).array() += Scalar(0.7);
        const Matrix<Scalar> moved = made.forward(params.data(), xp, c, ws);
        for (Index j = 0; j < d; ++j) {
            const Scalar change =
                (moved.middleRows(2 * j, 2) - base.middleRows(2 * j, 2)).cwiseAbs().maxCoeff();
            INFO("perturbed input " << i << ", output dimension " << j);
            if (j <= i)
                CHECK(change == Scalar(0));
            else
                CHECK(change > Scalar(0));  // generic weights: later outputs do depend on x_i
        }
    }
    // The context reaches every output but those of dimension 0, which (as in nflows) see no
    // hidden unit: they are the final layer's bias.
    Matrix<Scalar> cp = c;
    cp.array() += Scalar(0.5);
    const Matrix<Scalar> moved = made.forward(params.data(), x, cp, ws);
    for (Index j = 0; j < 2 * d; ++j) {
        const Scalar change = (moved.row(j) - base.row(j)).cwiseAbs().maxCoeff();
        if (j < 2)
            CHECK(change == Scalar(0));
        else
            CHECK(change > Scalar(0));
    }
}

TEST_CASE("Made with one feature depends on the context only", "[nn][made]") {
    ParameterLayout layout;
    nn::Made<double> made(layout, nn::MadeShape{1, 3, 8, 2});
    Vector<double> params(layout.size());
    RandomStream rng(5);
    made.initialize(params.data(), rng);
    const Matrix<double> c = random_matrix<double>(3, 6, rng);
    const Matrix<double> x1 = random_matrix<double>(1, 6, rng);
    const Matrix<double> x2 = random_matrix<double>(1, 6, rng, 10.0);
    typename nn::Made<double>::Workspace ws;
    const Matrix<double> a = made.forward(params.data(), x1, c, ws);
    const Matrix<double> b = made.forward(params.data(), x2, c, ws);
    CHECK(a == b);
}

TEMPLATE_TEST_CASE("Made backward matches finite differences", "[nn][made]", float, double) {
    using Scalar = TestType;
    for (nn::Activation act : {nn::Activation::tanh, nn::Activation::relu, nn::Activation::silu}) {
        for (Index d : {Index(1), Index(3)}) {
            for (Index batch : {Index(1), Index(7)}) {
                INFO("activation " << nn::to_string(act) << ", features " << d << ", batch "
                                   << batch);
                const Index ctx = 2;
                ParameterLayout layout;
                nn::Made<Scalar> made(layout, nn::MadeShape{d, ctx, 6, 2, 2, act});
                REQUIRE(made.parameter_count() == layout.size());
                RandomStream rng(21);
                Vector<Scalar> params(layout.size());
                made.initialize(params.data(), rng);
                const Matrix<Scalar> x = random_matrix<Scalar>(d, batch, rng, 2.0);
                const Matrix<Scalar> c = random_matrix<Scalar>(ctx, batch, rng, 2.0);
                const Matrix<Scalar> r = random_matrix<Scalar>(2 * d, batch, rng);
                auto loss = [&](const Vector<Scalar>& p, const Matrix<Scalar>& xv,
                                const Matrix<Scalar>& cv) {
                    typename nn::Made<Scalar>::Workspace w;
                    return static_cast<double>(
                        (made.forward(p.data(), xv, cv, w).array() * r.array()).sum());
                };
                typename nn::Made<Scalar>::Workspace ws;
                made.forward(params.data(), x, c, ws);
                Vector<Scalar> grad = Vector<Scalar>::Zero(layout.size());
                Matrix<Scalar> grad_x, grad_c;
                made.backward(params.data(), x, c, r, ws, grad.data(), &grad_x, &grad_c);
                const auto by_params = testing::check_gradient<Scalar>(
                    [&](const Vector<Scalar>& p) { return loss(p, x, c); }, params, grad,
                    check_options<Scalar>(act));
                INFO(by_params.report());
                CHECK(by_params.passed);
                const auto by_input = testing::check_gradient<Scalar>(
                    [&](const Vector<Scalar>& v) { return loss(params, v.reshaped(d, batch), c); },
                    Vector<Scalar>(x.reshaped()), Vector<Scalar>(grad_x.reshaped()),
                    check_options<Scalar>(act));
                INFO(by_input.report());
                if (d == 1)
                    CHECK(grad_x.isZero());
                else
                    CHECK(by_input.passed);
                const auto by_context = testing::check_gradient<Scalar>(
                    [&](const Vector<Scalar>& v) {
                        return loss(params, x, v.reshaped(ctx, batch));
                    },
                    Vector<Scalar>(c.reshaped()), Vector<Scalar>(grad_c.reshaped()),
                    check_options<Scalar>(act));
                INFO(by_context.report());
                CHECK(by_context.passed);
            }
        }
    }
}

TEST_CASE("MadeShape validation names the field", "[nn][made]") {
    ParameterLayout layout;
    CHECK_THROWS_WITH(nn::Made<double>(layout, nn::MadeShape{0, 1}), Catch::Contains("features"));
    CHECK_THROWS_WITH(nn::Made<double>(layout, nn::MadeShape{2, -1}),
                      Catch::Contains("context_dim"));
    CHECK_THROWS_WITH(nn::Made<double>(layout, nn::MadeShape{2, 1, 0}), Catch::Contains("hidden"));
    CHECK_THROWS_WITH(nn::Made<double>(layout, nn::MadeShape{2, 1, 4, -1}),
                      Catch::Contains("num_blocks"));
}
