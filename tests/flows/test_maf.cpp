// SPDX-License-Identifier: MIT
// Tests for flows/maf.hpp: the ConditionalDensity contract; finite-difference gradients of a
// weighted sum of log-probs (params and context), float and double, batch 1 and 7, input_dim 1
// and 3; log|det| against a numerical Jacobian; invertibility; normalisation (1-D by quadrature,
// 2-D on a grid); seeded sampling; permutations; error messages; and fitting tests ([fit]):
// Adam-trained on a 1-D heteroscedastic law and a 2-D conditional banana, the held-out NLL comes
// within a stated tolerance of the true conditional entropy.
#include <Eigen/LU>
#include <catch2/catch.hpp>
#include <chrono>
#include <cmath>
#include <numbers>
#include <sstream>

#include "mlsbi/flows/conditional_estimator.hpp"
#include "mlsbi/flows/maf.hpp"
#include "mlsbi/io/estimator_file.hpp"
#include "mlsbi/optimizers/adam.hpp"
#include "mlsbi/testing/gradient_check.hpp"

using namespace mlsbi;
using flows::MaskedAutoregressiveFlow;

namespace {

// Eigen's OpenMP-parallel GEMM spins on these small products on a loaded machine; the tests
// run Eigen on one thread.
[[maybe_unused]] const bool eigen_single_threaded = (Eigen::setNbThreads(1), true);

template <typename Scalar>
Matrix<Scalar> random_matrix(Index rows, Index cols, RandomStream& rng, double scale = 1.0) {
    Matrix<Scalar> m(rows, cols);
    for (Index j = 0; j < cols; ++j)
        for (Index i = 0; i < rows; ++i) m(i, j) = static_cast<Scalar>(rng.uniform(-scale, scale));
    return m;
}

// A flow with its parameters, initialised from a seed.
template <typename Scalar>
struct Model {
    ParameterLayout layout;
    MaskedAutoregressiveFlow<Scalar> flow;
    Vector<Scalar> params;

    explicit Model(const typename MaskedAutoregressiveFlow<Scalar>::Options& options,
                   std::uint64_t seed = 1)
        : flow(layout, options), params(layout.size()) {
        RandomStream rng(seed);
        flow.initialize(params.data(), rng);
    }

    Vector<Scalar> log_prob(const Matrix<Scalar>& y, const Matrix<Scalar>& c) const {
        typename MaskedAutoregressiveFlow<Scalar>::Workspace ws;
        Vector<Scalar> out(y.cols());
        flow.log_prob(params.data(), y, c, out, ws);
        return out;
    }
};

constexpr double log_2pi = 1.8378770664093453;  // log(2 pi)

}  // namespace

static_assert(flows::ConditionalDensity<MaskedAutoregressiveFlow<float>>);
static_assert(flows::ConditionalDensity<MaskedAutoregressiveFlow<double>>);

TEMPLATE_TEST_CASE("MAF backward matches finite differences", "[flows][maf]", float, double) {
    using Scalar = TestType;
    using Flow = MaskedAutoregressiveFlow<Scalar>;
    for (Index d : {Index(1), Index(3)}) {
        for (Index batch : {Index(1), Index(7)}) {
            INFO("input_dim " << d << ", batch " << batch);
            const Index ctx = 2;
            Model<Scalar> m(typename Flow::Options{
                .input_dim = d, .context_dim = ctx, .transforms = 3, .hidden = 8, .blocks = 2});
            REQUIRE(m.flow.parameter_count() == m.layout.size());
            RandomStream rng(77);
            // Move the parameters away from the initial point so every term matters.
            for (Index i = 0; i < m.params.size(); ++i)
                m.params(i) += static_cast<Scalar>(rng.uniform(-0.3, 0.3));
            const Matrix<Scalar> y = random_matrix<Scalar>(d, batch, rng, 2.0);
            const Matrix<Scalar> c = random_matrix<Scalar>(ctx, batch, rng, 2.0);
            const Vector<Scalar> w =
                random_matrix<Scalar>(batch, 1, rng);  // weights of either sign

            typename Flow::Workspace ws;
            Vector<Scalar> lp(batch);
            m.flow.log_prob(m.params.data(), y, c, lp, ws);
            Vector<Scalar> grad = Vector<Scalar>::Zero(m.params.size());
            Matrix<Scalar> grad_c;
            m.flow.backward(m.params.data(), y, c, w, ws, grad.data(), &grad_c);
            REQUIRE(grad_c.rows() == ctx);
            REQUIRE(grad_c.cols() == batch);

            auto loss = [&](const Vector<Scalar>& p, const Matrix<Scalar>& cv) {
                typename Flow::Workspace w2;
                Vector<Scalar> out(batch);
                m.flow.log_prob(p.data(), y, cv, out, w2);
                return static_cast<double>(out.dot(w));
            };
            testing::GradientCheckOptions options;
            if constexpr (std::is_same_v<Scalar, float>)
                options.step = 1e-2;  // rounding ~ eps |L| / h
            const auto by_params = testing::check_gradient<Scalar>(
                [&](const Vector<Scalar>& p) { return loss(p, c); }, m.params, grad, options);
            INFO(by_params.report());
            CHECK(by_params.passed);
            const auto by_context = testing::check_gradient<Scalar>(
                [&](const Vector<Scalar>& v) { return loss(m.params, v.reshaped(ctx, batch)); },
                Vector<Scalar>(c.reshaped()), Vector<Scalar>(grad_c.reshaped()), options);
            INFO(by_context.report());
            CHECK(by_context.passed);

            // backward accumulates into grad_params and handles null outputs.
            Vector<Scalar> twice = grad;
            m.flow.backward(m.params.data(), y, c, w, ws, twice.data(), nullptr);
            CHECK((twice - 2 * grad).cwiseAbs().maxCoeff() <=
                  Scalar(1e-4) * (1 + grad.cwiseAbs().maxCoeff()));
        }
    }
}

TEST_CASE("MAF log|det| equals the log-determinant of the numerical Jacobian", "[flows][maf]") {
    using Flow = MaskedAutoregressiveFlow<double>;
    const Index d = 3, ctx = 2;
    Model<double> m(
        Flow::Options{.input_dim = d, .context_dim = ctx, .transforms = 4, .hidden = 12});
    RandomStream rng(8);
    for (Index i = 0; i < m.params.size(); ++i) m.params(i) += rng.uniform(-0.3, 0.3);
    const Matrix<double> y = random_matrix<double>(d, 4, rng, 2.0);
    const Matrix<double> c = random_matrix<double>(ctx, 4, rng, 2.0);
    Matrix<double> z(d, 4);
    Vector<double> lad(4);
    m.flow.forward_transform(m.params.data(), y, c, z, lad);
    const double h = 1e-6;
    for (Index j = 0; j < 4; ++j) {
        Matrix<double> jac(d, d);
        for (Index k = 0; k < d; ++k) {
            Matrix<double> yp = y.col(j), ym = y.col(j);
            yp(k) += h;
            ym(k) -= h;
            Matrix<double> zp(d, 1), zm(d, 1);
            Vector<double> l(1);
            m.flow.forward_transform(m.params.data(), yp, c.col(j), zp, l);
            m.flow.forward_transform(m.params.data(), ym, c.col(j), zm, l);
            jac.col(k) = (zp - zm) / (2 * h);
        }
        CHECK(std::log(std::abs(jac.determinant())) == Approx(lad(j)).epsilon(1e-6).margin(1e-6));
    }
    // log_prob = log N(z) + log|det|.
    const Vector<double> lp = m.log_prob(y, c);
    for (Index j = 0; j < 4; ++j)
        CHECK(lp(j) ==
              Approx(-0.5 * z.col(j).squaredNorm() - 0.5 * d * log_2pi + lad(j)).epsilon(1e-12));
}

TEMPLATE_TEST_CASE("MAF is invertible", "[flows][maf]", float, double) {
    using Scalar = TestType;
    using Flow = MaskedAutoregressiveFlow<Scalar>;
    const double tol = std::is_same_v<Scalar, double> ? 1e-6 : 2e-3;
    for (Index d : {Index(1), Index(2), Index(4)}) {
        for (auto perm : {flows::MafPermutation::random, flows::MafPermutation::reverse}) {
            INFO("input_dim " << d << ", permutation " << flows::to_string(perm));
            Model<Scalar> m(typename Flow::Options{
                .input_dim = d, .context_dim = 3, .permutation = perm, .permutation_seed = 5});
            RandomStream rng(13);
            for (Index i = 0; i < m.params.size(); ++i)
                m.params(i) += static_cast<Scalar>(rng.uniform(-0.1, 0.1));
            const Index n = 50;
            const Matrix<Scalar> y = random_matrix<Scalar>(d, n, rng, 3.0);
            const Matrix<Scalar> c = random_matrix<Scalar>(3, n, rng, 2.0);
            Matrix<Scalar> z(d, n), back(d, n);
            Vector<Scalar> lad(n);
            m.flow.forward_transform(m.params.data(), y, c, z, lad);
            m.flow.inverse_transform(m.params.data(), z, c, back);
            CHECK((back - y).cwiseAbs().maxCoeff() <= tol * (1 + y.cwiseAbs().maxCoeff()));
            // And the other way round.
            const Matrix<Scalar> z2 = random_matrix<Scalar>(d, n, rng, 2.0);
            Matrix<Scalar> y2(d, n), z2_back(d, n);
            m.flow.inverse_transform(m.params.data(), z2, c, y2);
            m.flow.forward_transform(m.params.data(), y2, c, z2_back, lad);
            CHECK((z2_back - z2).cwiseAbs().maxCoeff() <= tol * (1 + z2.cwiseAbs().maxCoeff()));
        }
    }
}

TEST_CASE("MAF sampling is seeded per column and inverts the flow", "[flows][maf]") {
    using Flow = MaskedAutoregressiveFlow<double>;
    const Index d = 3, n = 6;
    Model<double> m(Flow::Options{.input_dim = d, .context_dim = 2, .transforms = 3, .hidden = 16});
    RandomStream rng(3);
    const Matrix<double> c = random_matrix<double>(2, n, rng);
    Matrix<double> s1(d, n), s2(d, n), s3(d, n);
    m.flow.sample(m.params.data(), c, 99, s1);
    m.flow.sample(m.params.data(), c, 99, s2);
    m.flow.sample(m.params.data(), c, 100, s3);
    CHECK(s1 == s2);
    CHECK((s1 - s3).cwiseAbs().minCoeff() > 0);
    // Column j is the inverse flow of the normals of RandomStream(99, j).
    Matrix<double> z(d, n);
    Vector<double> lad(n);
    m.flow.forward_transform(m.params.data(), s1, c, z, lad);
    for (Index j = 0; j < n; ++j) {
        RandomStream col(99, static_cast<std::uint64_t>(j));
        for (Index i = 0; i < d; ++i) CHECK(z(i, j) == Approx(standard_normal(col)).margin(1e-8));
    }
    Matrix<double> wrong(d, n + 1);
    CHECK_THROWS_WITH(m.flow.sample(m.params.data(), c, 1, wrong),
                      Catch::Contains("MaskedAutoregressiveFlow::sample"));
}

TEST_CASE("MAF 1-D density integrates to 1", "[flows][maf]") {
    using Flow = MaskedAutoregressiveFlow<double>;
    Model<double> m(Flow::Options{.input_dim = 1, .context_dim = 2});
    RandomStream rng(21);
    for (Index i = 0; i < m.params.size(); ++i) m.params(i) += rng.uniform(-0.3, 0.3);
    for (int trial = 0; trial < 4; ++trial) {
        const Matrix<double> c0 = random_matrix<double>(2, 1, rng, 2.0);
        // Locate the mass from samples, then integrate on a box 12 sample-sds wide around it.
        Matrix<double> s(1, 400);
        m.flow.sample(m.params.data(), c0.replicate(1, 400), 5, s);
        const double mean = s.mean();
        const double sd = std::sqrt((s.array() - mean).square().mean());
        const Index g = 2001;
        const double lo = mean - 12 * sd, hi = mean + 12 * sd, step = (hi - lo) / double(g - 1);
        Matrix<double> y(1, g);
        for (Index i = 0; i < g; ++i) y(0, i) = lo + step * double(i);
        const Vector<double> p = m.log_prob(y, c0.replicate(1, g)).array().exp();
        // Simpson's rule.
        double integral = p(0) + p(g - 1);
        for (Index i = 1; i + 1 < g; ++i) integral += (i % 2 == 1 ? 4.0 : 2.0) * p(i);
        integral *= step / 3;
        INFO("context " << c0.transpose() << ", integral " << integral);
        CHECK(std::abs(integral - 1) < 1e-3);
    }
}

TEST_CASE("MAF 2-D density integrates to 1 on a grid", "[flows][maf]") {
    using Flow = MaskedAutoregressiveFlow<double>;
    Model<double> m(Flow::Options{.input_dim = 2, .context_dim = 1, .transforms = 3, .hidden = 16});
    RandomStream rng(31);
    // Larger weights make the density clearly non-Gaussian.
    for (Index i = 0; i < m.params.size(); ++i) m.params(i) *= 2.0;
    for (double context : {-1.0, 0.5}) {
        const Matrix<double> c1 = Matrix<double>::Constant(1, 1, context);
        Matrix<double> s(2, 2000);
        m.flow.sample(m.params.data(), c1.replicate(1, 2000), 17, s);
        const Vector<double> mean = s.rowwise().mean();
        const Vector<double> sd = ((s.colwise() - mean).array().square().rowwise().mean()).sqrt();
        const Index g = 201;
        Vector<double> lo(2), step(2);
        for (int k = 0; k < 2; ++k) {
            lo(k) = mean(k) - 10 * sd(k);
            step(k) = 20 * sd(k) / double(g - 1);
        }
        Matrix<double> y(2, g * g);
        for (Index a = 0; a < g; ++a)
            for (Index b = 0; b < g; ++b) {
                y(0, a * g + b) = lo(0) + step(0) * double(a);
                y(1, a * g + b) = lo(1) + step(1) * double(b);
            }
        const Vector<double> p = m.log_prob(y, c1.replicate(1, g * g)).array().exp();
        // Trapezoid weights on both axes.
        double integral = 0;
        for (Index a = 0; a < g; ++a)
            for (Index b = 0; b < g; ++b) {
                const double wa = (a == 0 || a == g - 1) ? 0.5 : 1.0;
                const double wb = (b == 0 || b == g - 1) ? 0.5 : 1.0;
                integral += wa * wb * p(a * g + b);
            }
        integral *= step(0) * step(1);
        INFO("context " << context << ", box sd " << sd.transpose() << ", integral " << integral);
        CHECK(std::abs(integral - 1) < 1e-2);
    }
}

TEST_CASE("MAF permutations: seeded random, reverse, and y_0 never first in every step",
          "[flows][maf]") {
    using Flow = MaskedAutoregressiveFlow<double>;
    auto perms = [](Flow::Options o) {
        ParameterLayout layout;
        Flow f(layout, o);
        std::vector<std::vector<Index>> out;
        for (Index k = 0; k < f.transforms(); ++k) out.push_back(f.permutation(k));
        return out;
    };
    const auto a = perms({.input_dim = 6, .context_dim = 1, .permutation_seed = 4});
    const auto b = perms({.input_dim = 6, .context_dim = 1, .permutation_seed = 4});
    const auto c = perms({.input_dim = 6, .context_dim = 1, .permutation_seed = 5});
    CHECK(a == b);
    CHECK(a != c);
    for (const auto& p : a) {
        std::vector<Index> sorted = p;
        std::sort(sorted.begin(), sorted.end());
        CHECK(sorted == std::vector<Index>{0, 1, 2, 3, 4, 5});
    }
    const auto r =
        perms({.input_dim = 3, .context_dim = 1, .permutation = flows::MafPermutation::reverse});
    for (const auto& p : r) CHECK(p == std::vector<Index>{2, 1, 0});
    // For dimension 2 many seeds would leave y_0 first in every step; none does.
    for (std::uint64_t seed = 0; seed < 64; ++seed) {
        const auto p =
            perms({.input_dim = 2, .context_dim = 1, .transforms = 3, .permutation_seed = seed});
        CHECK_FALSE((p[0][0] == 0 && p[1][0] == 0));
    }
}

TEST_CASE("MAF with input_dim 1 is a conditional affine map (Gaussian in y)", "[flows][maf]") {
    using Flow = MaskedAutoregressiveFlow<double>;
    Model<double> m(Flow::Options{.input_dim = 1, .context_dim = 2, .transforms = 3, .hidden = 8});
    RandomStream rng(2);
    const Matrix<double> c = random_matrix<double>(2, 1, rng).replicate(1, 3);
    Matrix<double> y(1, 3);
    y << -1.0, 0.5, 2.0;
    const Vector<double> lp = m.log_prob(y, c);
    // Each step is affine in y given c, so log q is quadratic in y: the quadratic through three
    // points predicts a fourth.
    Matrix<double> y4(1, 1);
    y4 << 3.5;
    const double lp4 = m.log_prob(y4, c.leftCols(1))(0);
    // Lagrange interpolation of the quadratic through (y_i, lp_i) at 3.5.
    double q = 0;
    for (int i = 0; i < 3; ++i) {
        double l = 1;
        for (int k = 0; k < 3; ++k)
            if (k != i) l *= (3.5 - y(0, k)) / (y(0, i) - y(0, k));
        q += l * lp(i);
    }
    CHECK(lp4 == Approx(q).epsilon(1e-9));
}

TEST_CASE("MAF rejects bad options and shapes with clear messages", "[flows][maf]") {
    using Flow = MaskedAutoregressiveFlow<double>;
    ParameterLayout layout;
    CHECK_THROWS_WITH(Flow(layout, Flow::Options{.input_dim = 0}), Catch::Contains("input_dim"));
    CHECK_THROWS_WITH(Flow(layout, Flow::Options{.context_dim = 0}),
                      Catch::Contains("context_dim"));
    CHECK_THROWS_WITH(Flow(layout, Flow::Options{.transforms = 0}), Catch::Contains("transforms"));
    CHECK_THROWS_WITH(Flow(layout, Flow::Options{.hidden = 0}), Catch::Contains("hidden"));
    CHECK_THROWS_WITH(Flow(layout, Flow::Options{.blocks = -1}), Catch::Contains("blocks"));
    Model<double> m(Flow::Options{.input_dim = 2, .context_dim = 3, .transforms = 2, .hidden = 4});
    Flow::Workspace ws;
    Vector<double> out(5);
    CHECK_THROWS_WITH(
        m.flow.log_prob(m.params.data(), Matrix<double>(3, 5), Matrix<double>(3, 5), out, ws),
        Catch::Contains("MaskedAutoregressiveFlow::log_prob") && Catch::Contains("y has 3 rows"));
    CHECK_THROWS_WITH(
        m.flow.log_prob(m.params.data(), Matrix<double>(2, 5), Matrix<double>(3, 4), out, ws),
        Catch::Contains("context is 3 x 4"));
    Flow::Workspace fresh;
    Vector<double> g = Vector<double>::Zero(5);
    Vector<double> grad = Vector<double>::Zero(m.params.size());
    CHECK_THROWS_AS(m.flow.backward(m.params.data(), Matrix<double>::Zero(2, 5),
                                    Matrix<double>::Zero(3, 5), g, fresh, grad.data(), nullptr),
                    std::logic_error);
    CHECK(m.flow.describe() ==
          "MaskedAutoregressiveFlow(input_dim=2, context_dim=3, transforms=2, hidden=4, blocks=2, "
          "activation=tanh, permutation=random, permutation_seed=0)");
}

TEST_CASE("MAF inside ConditionalEstimator: weighted gradient, save and load", "[flows][maf]") {
    using Flow = MaskedAutoregressiveFlow<double>;
    const Flow::Options options{
        .input_dim = 3, .context_dim = 2, .transforms = 3, .hidden = 10, .permutation_seed = 7};
    flows::ConditionalEstimator<Flow> est(options, 4);
    RandomStream rng(6);
    const Matrix<double> y = random_matrix<double>(3, 9, rng, 3.0);
    const Matrix<double> c = random_matrix<double>(2, 9, rng, 3.0);
    est.fit_standardization(y, c);
    const Vector<double> w = random_matrix<double>(9, 1, rng);
    typename flows::ConditionalEstimator<Flow>::Workspace ws;
    Vector<double> grad = Vector<double>::Zero(est.parameter_count());
    const double value = est.log_prob_gradient(y, c, w, grad, ws);
    CHECK(value == Approx(w.dot(est.log_prob(y, c))).epsilon(1e-12));
    const Vector<double> p0 = est.parameters();
    const auto by_params = testing::check_gradient<double>(
        [&](const Vector<double>& p) {
            est.parameters() = p;
            const double v = w.dot(est.log_prob(y, c));
            est.parameters() = p0;
            return v;
        },
        p0, grad);
    INFO(by_params.report());
    CHECK(by_params.passed);

    std::stringstream file;
    io::save_estimator(est, file);
    flows::ConditionalEstimator<Flow> loaded(options, 99);
    io::load_estimator(loaded, file);
    CHECK(loaded.log_prob(y, c) == est.log_prob(y, c));
    // Same parameter count, different permutations: the weights would be meaningless.
    Flow::Options other = options;
    other.permutation_seed = 8;
    flows::ConditionalEstimator<Flow> mismatched(other, 1);
    std::stringstream again;
    io::save_estimator(est, again);
    CHECK_THROWS_WITH(io::load_estimator(mismatched, again),
                      Catch::Contains("architecture mismatch"));
}

// ---------------------------------------------------------------------------------------------
// Fitting tests: minibatch Adam on -mean log q (gradient: backward with G = -1/m per sample).

namespace {

struct FitResult {
    double nll = 0;     // held-out mean -log q
    double nll_se = 0;  // its standard error
    double kl = 0;      // held-out mean (log p - log q), an estimate of E_c KL(p || q)
    double kl_se = 0;
    double seconds = 0;
};

// Trains `m` on (y, c) and evaluates on (y_test, c_test) with the true log-density lp_true.
template <typename Scalar>
FitResult fit(Model<Scalar>& m, const Matrix<Scalar>& y, const Matrix<Scalar>& c,
              const Matrix<Scalar>& y_test, const Matrix<Scalar>& c_test,
              const Vector<double>& lp_true, int epochs, Index batch, double lr) {
    using Flow = MaskedAutoregressiveFlow<Scalar>;
    const auto start = std::chrono::steady_clock::now();
    optimizers::Adam<Scalar> adam(m.params.size(),
                                  optimizers::AdamOptions{.learning_rate = lr, .beta1 = 0.9});
    typename Flow::Workspace ws;
    Vector<Scalar> grad(m.params.size());
    Vector<Scalar> lp(batch);
    const Vector<Scalar> g = Vector<Scalar>::Constant(batch, Scalar(-1) / Scalar(batch));
    const Index n = y.cols();
    const int steps_per_epoch = static_cast<int>(n / batch);
    for (int e = 0; e < epochs; ++e) {
        for (int s = 0; s < steps_per_epoch; ++s) {
            const auto yb = y.middleCols(s * batch, batch);
            const auto cb = c.middleCols(s * batch, batch);
            m.flow.log_prob(m.params.data(), yb, cb, lp, ws);
            grad.setZero();
            m.flow.backward(m.params.data(), yb, cb, g, ws, grad.data(), nullptr);
            adam.step(m.params, grad);
        }
    }
    FitResult r;
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const Vector<double> lq = m.log_prob(y_test, c_test).template cast<double>();
    const double nt = double(lq.size());
    r.nll = -lq.mean();
    r.nll_se = std::sqrt((lq.array() + r.nll).square().sum() / (nt - 1) / nt);
    const Vector<double> diff = lp_true - lq;
    r.kl = diff.mean();
    r.kl_se = std::sqrt((diff.array() - r.kl).square().sum() / (nt - 1) / nt);
    return r;
}

}  // namespace

TEMPLATE_TEST_CASE("MAF fits y | c ~ N(sin c, (0.1 + 0.2|c|)^2)", "[flows][maf][fit][slow]", float,
                   double) {
    using Scalar = TestType;
    using Flow = MaskedAutoregressiveFlow<Scalar>;
    auto draw = [](Index n, std::uint64_t seed, Matrix<Scalar>& y, Matrix<Scalar>& c,
                   Vector<double>& lp) {
        y.resize(1, n);
        c.resize(1, n);
        lp.resize(n);
        for (Index j = 0; j < n; ++j) {
            RandomStream rng(seed, static_cast<std::uint64_t>(j));
            const double cj = rng.uniform(-2, 2);
            const double sd = 0.1 + 0.2 * std::abs(cj);
            const double e = standard_normal(rng);
            c(0, j) = static_cast<Scalar>(cj);
            y(0, j) = static_cast<Scalar>(std::sin(cj) + sd * e);
            lp(j) = -0.5 * e * e - std::log(sd) - 0.5 * log_2pi;
        }
    };
    Matrix<Scalar> y, c, yt, ct;
    Vector<double> lp_train, lp_test;
    draw(4096, 1, y, c, lp_train);
    draw(4000, 2, yt, ct, lp_test);
    // True conditional entropy: E_c[log(sd(c))] + log(2 pi e)/2, with |c| ~ U(0, 2):
    // E log(0.1 + 0.2 a) = 2.5 [t log t - t]_{0.1}^{0.5}.
    auto antiderivative = [](double t) { return t * std::log(t) - t; };
    const double entropy = 0.5 * (log_2pi + 1) + 2.5 * (antiderivative(0.5) - antiderivative(0.1));
    REQUIRE(entropy == Approx(0.12815).margin(1e-4));

    Model<Scalar> m(typename Flow::Options{
        .input_dim = 1, .context_dim = 1, .transforms = 2, .hidden = 32, .blocks = 1});
    const FitResult r = fit(m, y, c, yt, ct, lp_test, 30, 128, 5e-3);
    INFO("held-out NLL " << r.nll << " +- " << r.nll_se << ", true entropy " << entropy
                         << ", KL estimate " << r.kl << " +- " << r.kl_se << ", training "
                         << r.seconds << " s");
    // Stated tolerance: 0.05 nats plus 3 standard errors of the held-out mean.
    CHECK(std::abs(r.nll - entropy) < 0.05 + 3 * r.nll_se);
    CHECK(r.kl < 0.05 + 3 * r.kl_se);
}

TEMPLATE_TEST_CASE("MAF fits a 2-D conditional banana", "[flows][maf][fit][slow]", float, double) {
    using Scalar = TestType;
    using Flow = MaskedAutoregressiveFlow<Scalar>;
    // c ~ U(-1, 1); y1 | c ~ N(c, 1); y2 | y1, c ~ N(0.5 y1^2 + c, 0.5^2).
    auto draw = [](Index n, std::uint64_t seed, Matrix<Scalar>& y, Matrix<Scalar>& c,
                   Vector<double>& lp) {
        y.resize(2, n);
        c.resize(1, n);
        lp.resize(n);
        for (Index j = 0; j < n; ++j) {
            RandomStream rng(seed, static_cast<std::uint64_t>(j));
            const double cj = rng.uniform(-1, 1);
            const double e1 = standard_normal(rng), e2 = standard_normal(rng);
            const double y1 = cj + e1;
            const double y2 = 0.5 * y1 * y1 + cj + 0.5 * e2;
            c(0, j) = static_cast<Scalar>(cj);
            y(0, j) = static_cast<Scalar>(y1);
            y(1, j) = static_cast<Scalar>(y2);
            lp(j) = -0.5 * e1 * e1 - 0.5 * e2 * e2 - std::log(0.5) - log_2pi;
        }
    };
    Matrix<Scalar> y, c, yt, ct;
    Vector<double> lp_train, lp_test;
    draw(8192, 3, y, c, lp_train);
    draw(4000, 4, yt, ct, lp_test);
    const double entropy = (log_2pi + 1) + std::log(0.5);  // two Gaussians, sds 1 and 0.5

    Model<Scalar> m(typename Flow::Options{.input_dim = 2,
                                           .context_dim = 1,
                                           .transforms = 3,
                                           .hidden = 32,
                                           .blocks = 1,
                                           .permutation = flows::MafPermutation::reverse});
    const FitResult r = fit(m, y, c, yt, ct, lp_test, 20, 128, 5e-3);
    INFO("held-out NLL " << r.nll << " +- " << r.nll_se << ", true entropy " << entropy
                         << ", KL estimate " << r.kl << " +- " << r.kl_se << ", training "
                         << r.seconds << " s");
    // Stated tolerance: 0.05 nats plus 3 standard errors of the held-out mean.
    CHECK(std::abs(r.nll - entropy) < 0.05 + 3 * r.nll_se);
    CHECK(r.kl < 0.05 + 3 * r.kl_se);
}
