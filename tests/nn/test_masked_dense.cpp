// SPDX-License-Identifier: MIT
// Tests for nn/masked_dense.hpp: finite-difference gradients (params, input, context), float and
// double, batch 1 and 7, with and without a context term; masked weights have no effect and no
// gradient; bad masks are rejected.
#include <catch2/catch.hpp>

#include "mlsbi/nn/masked_dense.hpp"
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

// A lower-triangular-ish 0/1 mask with some empty rows and columns.
template <typename Scalar>
Matrix<Scalar> test_mask(Index out, Index in) {
    Matrix<Scalar> m(out, in);
    for (Index j = 0; j < in; ++j)
        for (Index i = 0; i < out; ++i) m(i, j) = (i % 3) >= (j % 3) ? Scalar(1) : Scalar(0);
    return m;
}

template <typename Scalar>
testing::GradientCheckOptions check_options() {
    testing::GradientCheckOptions o;
    if constexpr (std::is_same_v<Scalar, float>) o.step = 1e-2;  // rounding error ~ eps |L| / h
    return o;
}

}  // namespace

TEMPLATE_TEST_CASE("MaskedDense backward matches finite differences", "[nn][masked_dense]", float,
                   double) {
    using Scalar = TestType;
    const Index in = 4, out = 6;
    for (Index context_dim : {Index(0), Index(3)}) {
        for (nn::Activation act :
             {nn::Activation::identity, nn::Activation::tanh, nn::Activation::silu}) {
            if (context_dim == 0 && act != nn::Activation::identity) continue;
            for (Index batch : {Index(1), Index(7)}) {
                INFO("context_dim " << context_dim << ", context activation " << nn::to_string(act)
                                    << ", batch " << batch);
                ParameterLayout layout;
                nn::MaskedDense<Scalar> layer(layout, test_mask<Scalar>(out, in), context_dim, act);
                REQUIRE(layer.parameter_count() == layout.size());
                REQUIRE(layout.size() ==
                        out * in + out + (context_dim > 0 ? out * context_dim + out : 0));
                RandomStream rng(3);
                Vector<Scalar> params(layout.size());
                layer.initialize(params.data(), rng);
                // Give masked weights non-zero values: they must still have no effect.
                for (Index i = 0; i < out * in; ++i)
                    if (params(i) == Scalar(0)) params(i) = static_cast<Scalar>(rng.uniform(-1, 1));
                const Matrix<Scalar> x = random_matrix<Scalar>(in, batch, rng, 2.0);
                const Matrix<Scalar> c = random_matrix<Scalar>(context_dim, batch, rng, 2.0);
                const Matrix<Scalar> r = random_matrix<Scalar>(out, batch, rng);

                auto loss = [&](const Vector<Scalar>& p, const Matrix<Scalar>& xv,
                                const Matrix<Scalar>& cv) {
                    typename nn::MaskedDense<Scalar>::Workspace w;
                    Matrix<Scalar> y(out, batch);
                    layer.forward(p.data(), xv, cv, y, w);
                    return static_cast<double>((y.array() * r.array()).sum());
                };
                typename nn::MaskedDense<Scalar>::Workspace ws;
                Matrix<Scalar> y(out, batch);
                layer.forward(params.data(), x, c, y, ws);
                Vector<Scalar> grad = Vector<Scalar>::Zero(layout.size());
                Matrix<Scalar> grad_x, grad_c;
                layer.backward(params.data(), x, c, r, ws, grad.data(), &grad_x, &grad_c);

                // Masked entries get exactly zero gradient.
                const Eigen::Map<const Matrix<Scalar>> gw(grad.data(), out, in);
                CHECK((gw.array() * (Scalar(1) - layer.mask().array())).abs().maxCoeff() ==
                      Scalar(0));

                const auto by_params = testing::check_gradient<Scalar>(
                    [&](const Vector<Scalar>& p) { return loss(p, x, c); }, params, grad,
                    check_options<Scalar>());
                INFO(by_params.report());
                CHECK(by_params.passed);
                const auto by_input = testing::check_gradient<Scalar>(
                    [&](const Vector<Scalar>& v) { return loss(params, v.reshaped(in, batch), c); },
                    Vector<Scalar>(x.reshaped()), Vector<Scalar>(grad_x.reshaped()),
                    check_options<Scalar>());
                INFO(by_input.report());
                CHECK(by_input.passed);
                if (context_dim > 0) {
                    REQUIRE(grad_c.rows() == context_dim);
                    const auto by_context = testing::check_gradient<Scalar>(
                        [&](const Vector<Scalar>& v) {
                            return loss(params, x, v.reshaped(context_dim, batch));
                        },
                        Vector<Scalar>(c.reshaped()), Vector<Scalar>(grad_c.reshaped()),
                        check_options<Scalar>());
                    INFO(by_context.report());
                    CHECK(by_context.passed);
                }
            }
        }
    }
}

TEST_CASE("MaskedDense: masked weights have no effect and are zeroed at initialisation",
          "[nn][masked_dense]") {
    const Index in = 5, out = 4;
    ParameterLayout layout;
    nn::MaskedDense<double> layer(layout, test_mask<double>(out, in));
    Vector<double> params(layout.size());
    RandomStream rng(9);
    layer.initialize(params.data(), rng);
    const Eigen::Map<const Matrix<double>> w(params.data(), out, in);
    CHECK((w.array() * (1.0 - layer.mask().array())).abs().maxCoeff() == 0.0);
    CHECK((w.array() != 0.0).count() == (layer.mask().array() == 1.0).count());

    const Matrix<double> x = random_matrix<double>(in, 3, rng);
    const Matrix<double> none(0, 3);
    typename nn::MaskedDense<double>::Workspace ws;
    Matrix<double> y1(out, 3), y2(out, 3);
    layer.forward(params.data(), x, none, y1, ws);
    Vector<double> perturbed = params;
    for (Index j = 0; j < in; ++j)
        for (Index i = 0; i < out; ++i)
            if (layer.mask()(i, j) == 0.0) perturbed(j * out + i) = 100.0;
    layer.forward(perturbed.data(), x, none, y2, ws);
    CHECK(y1 == y2);
    // And the same as a dense product with the masked matrix.
    const Matrix<double> expected = (w.cwiseProduct(layer.mask()) * x).colwise() +
                                    Eigen::Map<const Vector<double>>(params.data() + out * in, out);
    CHECK((y1 - expected).norm() < 1e-12);
}

TEST_CASE("MaskedDense rejects bad masks with a clear message", "[nn][masked_dense]") {
    ParameterLayout layout;
    Matrix<double> bad = Matrix<double>::Ones(3, 2);
    bad(1, 1) = 0.5;
    CHECK_THROWS_WITH(nn::MaskedDense<double>(layout, bad),
                      Catch::Contains("MaskedDense") && Catch::Contains("0 or 1"));
    CHECK_THROWS_WITH(nn::MaskedDense<double>(layout, Matrix<double>(0, 2)),
                      Catch::Contains("non-empty"));
    CHECK_THROWS_WITH(nn::MaskedDense<double>(layout, Matrix<double>::Ones(2, 2), -1),
                      Catch::Contains("context_dim"));
}
