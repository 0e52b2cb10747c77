// SPDX-License-Identifier: MIT
// Tests for flows/context_spline_flow.hpp: the ConditionalDensity contract, agreement with the
// PyTorch reference NSF1D and with a plain re-implementation, finite-difference gradients
// (parameters and context, y inside and outside the tail bound, float and double, batch 1 and
// larger, several chunks), invertibility, normalisation by quadrature, the repeated-observation
// fast path, sampling, and a fit of a known conditional law ([fit]).
#include <catch2/catch.hpp>

#include <cmath>
#include <numbers>

#include "mlsbi/flows/context_spline_flow.hpp"
#include "mlsbi/optimizers/adam.hpp"
#include "nsf_test_support.hpp"

using namespace mlsbi;
using flows::ContextSplineFlow;
using nsf_test::random_matrix;

static_assert(flows::ConditionalDensity<ContextSplineFlow<float>>);
static_assert(flows::ConditionalDensity<ContextSplineFlow<double>>);

namespace {

template <typename Scalar>
struct Built {
    ParameterLayout layout;
    ContextSplineFlow<Scalar> flow;
    Vector<Scalar> params;
    explicit Built(const typename ContextSplineFlow<Scalar>::Options& o, std::uint64_t seed = 1)
        : flow(layout, o), params(layout.size()) {
        RandomStream rng(seed);
        flow.initialize(params.data(), rng);
    }
};

// Deterministic weights shared with the PyTorch script that produced the reference numbers:
// W_l[a][b] = 0.8 sin(1.3 a - 0.7 b + l), b_l[a] = 0.3 cos(a + 2 l).
template <typename Scalar>
void set_reference_weights(const ContextSplineFlow<Scalar>& flow, Vector<Scalar>& params) {
    const auto& layers = flow.networks()[0].layers();
    for (std::size_t l = 0; l < layers.size(); ++l) {
        const Index off = layers[l].offset();
        const Index out = layers[l].output_dim(), in = layers[l].input_dim();
        for (Index a = 0; a < out; ++a) {
            for (Index b = 0; b < in; ++b)
                params(off + b * out + a) = static_cast<Scalar>(
                    0.8 * std::sin(1.3 * static_cast<double>(a) - 0.7 * static_cast<double>(b) +
                                   static_cast<double>(l)));
            params(off + out * in + a) = static_cast<Scalar>(
                0.3 * std::cos(static_cast<double>(a) + 2.0 * static_cast<double>(l)));
        }
    }
}

}  // namespace

TEMPLATE_TEST_CASE("ContextSplineFlow matches the PyTorch NSF1D reference", "[flows][nsf1d]",
                   float, double) {
    using Scalar = TestType;
    // NSF1D(context_dim=2, hidden=5, num_bins=4, tail_bound=3), torch 1.13 float64.
    Built<Scalar> b({.context_dim = 2, .hidden = {5, 5}, .bins = 4, .tail_bound = 3.0});
    set_reference_weights(b.flow, b.params);
    Matrix<Scalar> y(1, 5), c(2, 5);
    y << -2.5, 0.3, 1.7, 4.2, -0.9;
    c << 0.5, 1.2, -0.7, 0.0, 2.5,  //
        -1.0, 0.4, 2.0, 0.0, -1.5;
    const double expected[] = {-3.6919218232667634, -0.71648881795311503, -1.4999993119362294,
                               -9.7389385332046725, -2.715694348857502};
    typename ContextSplineFlow<Scalar>::Workspace ws;
    Vector<Scalar> out(5);
    b.flow.log_prob(b.params.data(), y, c, out, ws);
    const double tol = std::is_same_v<Scalar, double> ? 1e-12 : 2e-5;
    for (int j = 0; j < 5; ++j) CHECK(static_cast<double>(out(j)) == Approx(expected[j]).epsilon(tol));
}

TEST_CASE("ContextSplineFlow agrees with a plain MLP + spline re-implementation", "[flows][nsf1d]") {
    for (Index transforms : {Index(1), Index(3)}) {
        Built<double> b({.context_dim = 3, .transforms = transforms, .hidden = {7, 6}, .bins = 5,
                         .tail_bound = 2.0, .activation = nn::Activation::tanh},
                        4);
        RandomStream rng(8);
        const Index n = 600;  // two chunks
        const Matrix<double> y = random_matrix<double>(1, n, rng, -3, 3);
        const Matrix<double> c = random_matrix<double>(3, n, rng, -2, 2);
        Vector<double> out(n);
        ContextSplineFlow<double>::Workspace ws;
        b.flow.log_prob(b.params.data(), y, c, out, ws);
        flows::RationalQuadraticSplineOptions so{.bins = 5, .tail_bound = 2.0,
                                                 .logit_scale = 1.0 / std::sqrt(6.0)};
        for (Index j = 0; j < n; j += 37) {
            double u = y(0, j), lad = 0;
            for (Index t = 0; t < transforms; ++t) {
                Vector<double> a = c.col(j);
                const auto& layers = b.flow.networks()[static_cast<std::size_t>(t)].layers();
                for (std::size_t l = 0; l < layers.size(); ++l) {
                    Vector<double> z = layers[l].weight(b.params.data()) * a +
                                       Vector<double>(layers[l].bias(b.params.data()));
                    if (l + 1 < layers.size()) z = z.array().tanh().matrix();
                    a = z;
                }
                const auto r = nsf_test::naive_spline(u, a.data(), so);
                u = r.y;
                lad += r.lad;
            }
            const double expected = lad - 0.5 * u * u - 0.5 * std::log(2 * std::numbers::pi);
            INFO("transforms " << transforms << ", sample " << j);
            CHECK(out(j) == Approx(expected).epsilon(1e-11));
        }
    }
}

TEMPLATE_TEST_CASE("ContextSplineFlow backward matches finite differences", "[flows][nsf1d]",
                   float, double) {
    using Scalar = TestType;
    for (nn::Activation act : {nn::Activation::relu, nn::Activation::tanh, nn::Activation::silu}) {
        for (Index transforms : {Index(1), Index(2)}) {
            for (Index n : {Index(1), Index(9)}) {
                INFO("activation " << nn::to_string(act) << ", transforms " << transforms
                                   << ", n " << n);
                const typename ContextSplineFlow<Scalar>::Options o{
                    .context_dim = 3, .transforms = transforms, .hidden = {8, 8}, .bins = 4,
                    .tail_bound = 2.5, .activation = act};
                Built<Scalar> b(o, static_cast<std::uint64_t>(n + 10 * transforms));
                ParameterLayout twin_layout;
                const ContextSplineFlow<double> twin(
                    twin_layout, {.context_dim = 3, .transforms = transforms, .hidden = {8, 8}, .bins = 4,
                                  .tail_bound = 2.5, .activation = act});
                RandomStream rng(31);
                Matrix<Scalar> y = random_matrix<Scalar>(1, n, rng, -2.3, 2.3);
                if (n > 1) {
                    y(0, 0) = Scalar(3.4);   // outside the tail bound
                    y(0, 1) = Scalar(-2.9);
                }
                const Matrix<Scalar> c = random_matrix<Scalar>(3, n, rng, -1.5, 1.5);
                const Vector<Scalar> r = random_matrix<Scalar>(n, 1, rng, -1, 1);
                const auto [by_params, by_context] =
                    nsf_test::check_density_gradients(b.flow, twin, b.params, y, c, r);
                INFO(by_params.report());
                CHECK(by_params.passed);
                INFO(by_context.report());
                CHECK(by_context.passed);
            }
        }
    }
}

TEST_CASE("ContextSplineFlow backward over several chunks equals the sum of its parts",
          "[flows][nsf1d]") {
    Built<double> b({.context_dim = 2, .hidden = {10, 10}, .bins = 6, .tail_bound = 3.0});
    RandomStream rng(2);
    const Index n = 1300;  // three chunks, the last partial
    const Matrix<double> y = random_matrix<double>(1, n, rng, -4, 4);
    const Matrix<double> c = random_matrix<double>(2, n, rng, -2, 2);
    const Vector<double> r = random_matrix<double>(n, 1, rng, -1, 1);
    ContextSplineFlow<double>::Workspace ws;
    Vector<double> out(n), grad = Vector<double>::Zero(b.params.size());
    Matrix<double> gc;
    b.flow.log_prob(b.params.data(), y, c, out, ws);
    b.flow.backward(b.params.data(), y, c, r, ws, grad.data(), &gc);
    Vector<double> grad_parts = Vector<double>::Zero(b.params.size());
    for (Index j0 = 0; j0 < n; j0 += 100) {
        Vector<double> o(100);
        Matrix<double> gcp;
        b.flow.log_prob(b.params.data(), y.middleCols(j0, 100), c.middleCols(j0, 100), o, ws);
        CHECK((o - out.segment(j0, 100)).cwiseAbs().maxCoeff() < 1e-12);
        b.flow.backward(b.params.data(), y.middleCols(j0, 100), c.middleCols(j0, 100),
                        r.segment(j0, 100), ws, grad_parts.data(), &gcp);
        CHECK((gcp - gc.middleCols(j0, 100)).cwiseAbs().maxCoeff() < 1e-12);
    }
    CHECK((grad - grad_parts).cwiseAbs().maxCoeff() < 1e-9 * std::max(1.0, grad.cwiseAbs().maxCoeff()));
}

TEST_CASE("ContextSplineFlow inverse_transform undoes transform to 1e-6", "[flows][nsf1d]") {
    Built<double> b({.context_dim = 2, .transforms = 3, .bins = 8, .tail_bound = 3.0}, 5);
    RandomStream rng(4);
    const Index n = 700;
    const Matrix<double> y = random_matrix<double>(1, n, rng, -5, 5);
    const Matrix<double> c = random_matrix<double>(2, n, rng, -2, 2);
    Matrix<double> z(1, n), back(1, n);
    Vector<double> logdet = Vector<double>::Zero(n);
    b.flow.transform(b.params.data(), y, c, z, logdet);
    b.flow.inverse_transform(b.params.data(), z, c, back);
    CHECK((back - y).cwiseAbs().maxCoeff() < 1e-6);
    // log q = log N(z) + logdet
    Vector<double> out(n);
    ContextSplineFlow<double>::Workspace ws;
    b.flow.log_prob(b.params.data(), y, c, out, ws);
    const Vector<double> expected =
        (logdet.array() - 0.5 * z.row(0).transpose().array().square() -
         0.5 * std::log(2 * std::numbers::pi)).matrix();
    CHECK((out - expected).cwiseAbs().maxCoeff() < 1e-12);
}

TEMPLATE_TEST_CASE("ContextSplineFlow integrates to one", "[flows][nsf1d]", float, double) {
    using Scalar = TestType;
    // Larger initial weights than the default make the density visibly non-Gaussian.
    Built<Scalar> b({.context_dim = 2, .transforms = 2, .hidden = {16, 16}, .bins = 10,
                     .tail_bound = 3.0});
    b.params *= Scalar(3);
    const Index grid = 40001;  // Simpson on [-13, 13]; outside, q is N(0, 1)-like tails
    const double lo = -13, hi = 13, h = (hi - lo) / static_cast<double>(grid - 1);
    Matrix<Scalar> y(1, grid);
    for (Index i = 0; i < grid; ++i) y(0, i) = static_cast<Scalar>(lo + h * static_cast<double>(i));
    for (double c0 : {-1.5, 0.0, 0.8, 2.0}) {
        Matrix<Scalar> c(2, grid);
        c.row(0).setConstant(static_cast<Scalar>(c0));
        c.row(1).setConstant(static_cast<Scalar>(0.5 - c0));
        Vector<Scalar> lp(grid);
        typename ContextSplineFlow<Scalar>::Workspace ws;
        b.flow.log_prob(b.params.data(), y, c, lp, ws);
        double integral = 0;
        for (Index i = 0; i < grid; ++i) {
            const double wgt = (i == 0 || i == grid - 1) ? 1 : (i % 2 == 1 ? 4 : 2);
            integral += wgt * std::exp(static_cast<double>(lp(i)));
        }
        integral *= h / 3;
        INFO("context " << c0 << ": integral " << integral);
        CHECK(integral == Approx(1.0).margin(1e-3));
    }
}

TEMPLATE_TEST_CASE("ContextSplineFlow log_prob_repeated sums the tiled log_prob", "[flows][nsf1d]",
                   float, double) {
    using Scalar = TestType;
    Built<Scalar> b({.context_dim = 4, .transforms = 2}, 6);
    RandomStream rng(12);
    const Index m = 45, n = 13;
    const Matrix<Scalar> y = random_matrix<Scalar>(1, m, rng, -8, 8);
    const Matrix<Scalar> c = random_matrix<Scalar>(4, n, rng, -2, 2);
    Vector<Scalar> fast(n);
    typename ContextSplineFlow<Scalar>::Workspace ws;
    b.flow.log_prob_repeated(b.params.data(), y, c, fast, ws);
    for (Index j = 0; j < n; ++j) {
        Matrix<Scalar> cj = c.col(j).replicate(1, m);
        Vector<Scalar> lp(m);
        b.flow.log_prob(b.params.data(), y, cj, lp, ws);
        const double tol = std::is_same_v<Scalar, double> ? 1e-10 : 1e-3;
        CHECK(static_cast<double>(fast(j)) ==
              Approx(static_cast<double>(lp.sum())).epsilon(tol).margin(tol));
    }
}

TEST_CASE("ContextSplineFlow samples follow q and are reproducible", "[flows][nsf1d]") {
    Built<double> b({.context_dim = 1, .hidden = {12, 12}, .bins = 6, .tail_bound = 3.0}, 3);
    b.params *= 2.5;
    const Index n = 20000;
    const Matrix<double> c = Matrix<double>::Constant(1, n, 0.7);
    Matrix<double> s(1, n);
    b.flow.sample(b.params.data(), c, 99, s);
    // Same seed, fewer columns: the same leading draws (up to the last bits of the network's
    // GEMMs, whose kernels depend on the batch width).
    Matrix<double> s_small(1, 10), s_again(1, n);
    b.flow.sample(b.params.data(), c.leftCols(10), 99, s_small);
    CHECK((s_small - s.leftCols(10)).cwiseAbs().maxCoeff() < 1e-12);
    b.flow.sample(b.params.data(), c, 99, s_again);
    CHECK(s_again == s);
    // Mean and P(y < 0) against quadrature of q.
    const Index grid = 20001;
    const double lo = -12, h = 24.0 / (grid - 1);
    Matrix<double> yg(1, grid);
    for (Index i = 0; i < grid; ++i) yg(0, i) = lo + h * static_cast<double>(i);
    Vector<double> lp(grid);
    ContextSplineFlow<double>::Workspace ws;
    b.flow.log_prob(b.params.data(), yg, Matrix<double>::Constant(1, grid, 0.7), lp, ws);
    double mean = 0, second = 0, below = 0;
    for (Index i = 0; i < grid; ++i) {
        const double p = std::exp(lp(i)) * h;
        mean += p * yg(0, i);
        second += p * yg(0, i) * yg(0, i);
        if (yg(0, i) < 0) below += p;
    }
    const double sd = std::sqrt(second - mean * mean);
    const double sample_mean = s.mean();
    const double sample_below = (s.array() < 0).cast<double>().mean();
    CHECK(std::abs(sample_mean - mean) < 4 * sd / std::sqrt(double(n)));
    CHECK(std::abs(sample_below - below) < 4 * std::sqrt(below * (1 - below) / double(n)));
}

TEST_CASE("ContextSplineFlow rejects bad options and shapes", "[flows][nsf1d]") {
    ParameterLayout layout;
    using F = ContextSplineFlow<double>;
    CHECK_THROWS_WITH(F(layout, F::Options{.input_dim = 2}), Catch::Contains("NeuralSplineFlow"));
    CHECK_THROWS_WITH(F(layout, F::Options{.context_dim = 0}), Catch::Contains("context_dim"));
    CHECK_THROWS_WITH(F(layout, F::Options{.bins = 0}), Catch::Contains("bins"));
    CHECK_THROWS_WITH(F(layout, F::Options{.tail_bound = 0}), Catch::Contains("tail_bound"));
    CHECK_THROWS_WITH(F(layout, F::Options{.transforms = 0}), Catch::Contains("transforms"));
    CHECK_THROWS_WITH(F(layout, F::Options{.hidden = {4, 0}}), Catch::Contains("hidden[1]"));
    Built<double> b({.context_dim = 2});
    F::Workspace ws;
    Vector<double> out(3);
    CHECK_THROWS_WITH(b.flow.log_prob(b.params.data(), Matrix<double>::Zero(1, 3),
                                      Matrix<double>::Zero(3, 3), out, ws),
                      Catch::Contains("expected 2 x 3"));
    CHECK(b.flow.describe() ==
          "ContextSplineFlow(input_dim=1, context_dim=2, hidden=[50,50], bins=10, tail_bound=7, "
          "transforms=1, activation=relu)");
    CHECK(b.flow.parameter_count() == 2 * 50 + 50 + 50 * 50 + 50 + 50 * 29 + 29);
}

TEST_CASE("ContextSplineFlow fits y | c ~ N(sin c, (0.1 + 0.2|c|)^2)", "[flows][nsf1d][fit][slow]") {
    // Train with Adam on 4000 draws, c ~ U(-2, 2); compare the held-out mean NLL with the mean
    // true conditional NLL on the same held-out draws (their difference estimates E KL >= 0).
    using Scalar = float;
    Built<Scalar> b({.context_dim = 1, .hidden = {32, 32}, .bins = 8, .tail_bound = 3.0}, 17);
    RandomStream rng(2024);
    auto draw = [&](Index n, Matrix<Scalar>& y, Matrix<Scalar>& c, Vector<double>& true_nll) {
        y.resize(1, n);
        c.resize(1, n);
        true_nll.resize(n);
        for (Index j = 0; j < n; ++j) {
            const double cj = rng.uniform(-2, 2);
            const double sd = 0.1 + 0.2 * std::abs(cj);
            const double e = standard_normal(rng);
            c(0, j) = static_cast<Scalar>(cj);
            y(0, j) = static_cast<Scalar>(std::sin(cj) + sd * e);
            true_nll(j) = 0.5 * e * e + std::log(sd) + 0.5 * std::log(2 * std::numbers::pi);
        }
    };
    Matrix<Scalar> y, c, yv, cv;
    Vector<double> nll_train, nll_true;
    draw(4000, y, c, nll_train);
    draw(4000, yv, cv, nll_true);
    optimizers::Adam<Scalar> adam(b.params.size(), {.learning_rate = 3e-3, .beta1 = 0.9});
    ContextSplineFlow<Scalar>::Workspace ws;
    const Index batch = 250;
    Vector<Scalar> out(batch), weights = Vector<Scalar>::Constant(batch, Scalar(-1.0 / batch));
    Vector<Scalar> grad(b.params.size());
    for (int epoch = 0; epoch < 120; ++epoch)
        for (Index j0 = 0; j0 < 4000; j0 += batch) {
            b.flow.log_prob(b.params.data(), y.middleCols(j0, batch), c.middleCols(j0, batch), out, ws);
            grad.setZero();
            b.flow.backward(b.params.data(), y.middleCols(j0, batch), c.middleCols(j0, batch),
                            weights, ws, grad.data(), nullptr);
            adam.step(b.params, grad);
        }
    Vector<Scalar> lp(4000);
    b.flow.log_prob(b.params.data(), yv, cv, lp, ws);
    const double model_nll = -lp.cast<double>().mean();
    const double true_nll = nll_true.mean();
    const Vector<double> diff = -lp.cast<double>() - nll_true;
    const double se = std::sqrt((diff.array() - diff.mean()).square().sum() / (4000.0 * 3999.0));
    INFO("held-out NLL " << model_nll << ", true " << true_nll << ", difference se " << se);
    // Tolerance: 0.05 nats of KL (a well-fitted 1-D flow gets ~0.01-0.02 here) plus 3 se.
    CHECK(model_nll - true_nll < 0.05 + 3 * se);
    CHECK(model_nll - true_nll > -3 * se - 0.01);
}
