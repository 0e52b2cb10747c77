// SPDX-License-Identifier: MIT
// Tests for flows/spline_coupling.hpp: nflows' alternating masks, identity features passing
// through, agreement with the conditioner + a plain spline re-implementation, the
// log-determinant against a finite-difference Jacobian, invertibility, and finite-difference
// gradients with respect to parameters, inputs and context (inside and outside the tail bound,
// float and double, batch 1 and larger).
#include <catch2/catch.hpp>

#include <Eigen/LU>

#include "mlsbi/flows/spline_coupling.hpp"
#include "nsf_test_support.hpp"

using namespace mlsbi;
using flows::SplineCoupling;
using flows::SplineCouplingOptions;
using nsf_test::random_matrix;

namespace {

template <typename Scalar>
struct BuiltCoupling {
    ParameterLayout layout;
    SplineCoupling<Scalar> coupling;
    Vector<Scalar> params;
    BuiltCoupling(const SplineCouplingOptions& o, std::uint64_t seed, double scale = 1.0)
        : coupling(layout, o), params(layout.size()) {
        RandomStream rng(seed);
        coupling.initialize(params.data(), rng);
        params *= static_cast<Scalar>(scale);  // larger weights: visibly non-trivial splines
    }
};

}  // namespace

TEST_CASE("SplineCoupling uses nflows' alternating masks", "[flows][coupling]") {
    ParameterLayout layout;
    SplineCoupling<double> even(layout, {.input_dim = 4, .context_dim = 2, .even = true});
    CHECK(even.transformed_features() == std::vector<Index>{0, 2});
    CHECK(even.identity_features() == std::vector<Index>{1, 3});
    SplineCoupling<double> odd(layout, {.input_dim = 3, .context_dim = 2, .even = false});
    CHECK(odd.transformed_features() == std::vector<Index>{1});
    CHECK(odd.identity_features() == std::vector<Index>{0, 2});
    CHECK(odd.conditioner().input_dim() == 2);
    CHECK(odd.conditioner().output_dim() == 1 * (3 * 10 - 1));
    CHECK(layout.size() == even.parameter_count() + odd.parameter_count());
    CHECK_THROWS_WITH(SplineCoupling<double>(layout, {.input_dim = 1}), Catch::Contains("input_dim"));
}

TEST_CASE("SplineCoupling agrees with its conditioner and a plain spline", "[flows][coupling]") {
    const SplineCouplingOptions o{.input_dim = 3, .context_dim = 2, .even = true, .hidden = 12,
                                  .blocks = 1, .bins = 5, .tail_bound = 2.0};
    BuiltCoupling<double> b(o, 3, 2.0);
    RandomStream rng(4);
    const Index n = 50;
    const Matrix<double> x = random_matrix<double>(3, n, rng, -3, 3);
    const Matrix<double> c = random_matrix<double>(2, n, rng, -1, 1);
    Matrix<double> z(3, n);
    Vector<double> logdet = Vector<double>::Zero(n);
    SplineCoupling<double>::Workspace ws;
    b.coupling.forward(b.params.data(), x, c, z, logdet.data(), ws);
    CHECK(z.row(1) == x.row(1));  // identity feature
    typename nn::ResidualNet<double>::Workspace nws;
    const Matrix<double> xa = x.row(1);
    const Matrix<double> theta = b.coupling.conditioner().forward(b.params.data(), xa, c, nws);
    const flows::RationalQuadraticSplineOptions so{.bins = 5, .tail_bound = 2.0,
                                                   .logit_scale = 1.0 / std::sqrt(12.0)};
    for (Index j = 0; j < n; ++j) {
        double lad = 0;
        for (Index a = 0; a < 2; ++a) {
            const Index f = 2 * a;
            const auto r = nsf_test::naive_spline(x(f, j), theta.col(j).data() + a * 14, so);
            CHECK(z(f, j) == Approx(r.y).epsilon(1e-12));
            lad += r.lad;
        }
        CHECK(logdet(j) == Approx(lad).epsilon(1e-11).margin(1e-12));
    }
}

TEST_CASE("SplineCoupling log-determinant equals log|det| of the Jacobian; inverse to 1e-6",
          "[flows][coupling]") {
    for (bool even : {true, false}) {
        const SplineCouplingOptions o{.input_dim = 4, .context_dim = 3, .even = even, .hidden = 10,
                                      .blocks = 2, .bins = 6, .tail_bound = 2.5};
        BuiltCoupling<double> b(o, even ? 5 : 6, 2.0);
        RandomStream rng(7);
        const Index n = 40;
        const Matrix<double> x = random_matrix<double>(4, n, rng, -3.5, 3.5);
        const Matrix<double> c = random_matrix<double>(3, n, rng, -1, 1);
        Matrix<double> z(4, n), back(4, n);
        Vector<double> logdet = Vector<double>::Zero(n), inv = Vector<double>::Zero(n);
        SplineCoupling<double>::Workspace ws;
        b.coupling.forward(b.params.data(), x, c, z, logdet.data(), ws);
        b.coupling.inverse(b.params.data(), z, c, back, inv.data(), ws);
        INFO("even = " << even);
        CHECK((back - x).cwiseAbs().maxCoeff() < 1e-6);
        CHECK((logdet + inv).cwiseAbs().maxCoeff() < 1e-9);
        for (Index j = 0; j < 5; ++j) {
            Matrix<double> J(4, 4);
            const double h = 1e-6;
            for (Index k = 0; k < 4; ++k) {
                Matrix<double> xp = x.col(j), xm = x.col(j);
                xp(k) += h;
                xm(k) -= h;
                Matrix<double> zp(4, 1), zm(4, 1);
                Vector<double> l(1);
                b.coupling.forward(b.params.data(), xp, c.col(j), zp, l.data(), ws);
                b.coupling.forward(b.params.data(), xm, c.col(j), zm, l.data(), ws);
                J.col(k) = (zp - zm) / (2 * h);
            }
            CHECK(std::log(std::abs(J.partialPivLu().determinant())) ==
                  Approx(logdet(j)).epsilon(1e-6).margin(1e-6));
        }
    }
}

TEMPLATE_TEST_CASE("SplineCoupling backward matches finite differences", "[flows][coupling]", float,
                   double) {
    using Scalar = TestType;
    for (Index n : {Index(1), Index(7)}) {
        for (bool even : {true, false}) {
            INFO("n = " << n << ", even = " << even);
            const SplineCouplingOptions o{.input_dim = 3, .context_dim = 2, .even = even,
                                          .hidden = 8, .blocks = 1, .bins = 4, .tail_bound = 2.0,
                                          .activation = nn::Activation::tanh};
            BuiltCoupling<Scalar> b(o, 9 + n, 1.5);
            ParameterLayout twin_layout;
            const SplineCoupling<double> twin(twin_layout, o);
            RandomStream rng(static_cast<std::uint64_t>(n + 100));
            Matrix<Scalar> x = random_matrix<Scalar>(3, n, rng, -1.8, 1.8);
            if (n > 1) {
                x(0, 1) = Scalar(2.7);   // outside the tail bound
                x(1, 2) = Scalar(-2.4);
            }
            const Matrix<Scalar> c = random_matrix<Scalar>(2, n, rng, -1, 1);
            const Matrix<Scalar> r = random_matrix<Scalar>(3, n, rng, -1, 1);
            const Vector<Scalar> g = random_matrix<Scalar>(n, 1, rng, -1, 1);
            // L = sum(r o z) + sum_j g_j logdet_j, finite differences on the double twin.
            auto loss = [&](const Vector<Scalar>& p, const Matrix<Scalar>& xx, const Matrix<Scalar>& cc) {
                typename SplineCoupling<double>::Workspace w;
                Matrix<double> z(3, n);
                Vector<double> ld = Vector<double>::Zero(n);
                const Vector<double> pd = p.template cast<double>();
                twin.forward(pd.data(), xx.template cast<double>(), cc.template cast<double>(), z,
                             ld.data(), w);
                return (z.array() * r.template cast<double>().array()).sum() +
                       ld.dot(g.template cast<double>());
            };
            typename SplineCoupling<Scalar>::Workspace ws;
            Matrix<Scalar> z(3, n), gx;
            Vector<Scalar> ld = Vector<Scalar>::Zero(n);
            b.coupling.forward(b.params.data(), x, c, z, ld.data(), ws);
            Vector<Scalar> grad = Vector<Scalar>::Zero(b.params.size());
            Matrix<Scalar> gc = Matrix<Scalar>::Zero(2, n);
            b.coupling.backward(b.params.data(), x, c, r, g.data(), ws, grad.data(), gx, &gc);
            testing::GradientCheckOptions opt;
            if (std::is_same_v<Scalar, float>) opt.step = 1e-3;
            const auto by_params = testing::check_gradient<Scalar>(
                [&](const Vector<Scalar>& v) { return loss(v, x, c); }, b.params, grad, opt);
            INFO(by_params.report());
            CHECK(by_params.passed);
            const Vector<Scalar> x_flat = x.reshaped(), gx_flat = gx.reshaped();
            const auto by_x = testing::check_gradient<Scalar>(
                [&](const Vector<Scalar>& v) { return loss(b.params, v.reshaped(3, n), c); },
                x_flat, gx_flat, opt);
            INFO(by_x.report());
            CHECK(by_x.passed);
            const Vector<Scalar> c_flat = c.reshaped(), gc_flat = gc.reshaped();
            const auto by_c = testing::check_gradient<Scalar>(
                [&](const Vector<Scalar>& v) { return loss(b.params, x, v.reshaped(2, n)); },
                c_flat, gc_flat, opt);
            INFO(by_c.report());
            CHECK(by_c.passed);
        }
    }
}
