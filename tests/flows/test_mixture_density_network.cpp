// SPDX-License-Identifier: MIT
// Tests for flows/mixture_density_network.hpp: finite-difference gradients (parameters and
// context, float and double, batch 1 and 7, d = 1..3, K = 1 and 3), normalisation by quadrature,
// sample moments against the mixture's mean and covariance, the 1 + d uniforms sampling contract,
// errors, and Adam fits of a bimodal 1-D law and a correlated 2-D Gaussian ([fit]).
#include <catch2/catch.hpp>

#include <cmath>
#include <numbers>

#include <sstream>

#include "density_test_support.hpp"
#include "mlsbi/flows/conditional_estimator.hpp"
#include "mlsbi/flows/mixture_density_network.hpp"
#include "mlsbi/io/estimator_file.hpp"

using namespace mlsbi;
using test_support::Model;

static_assert(flows::ConditionalDensity<flows::MixtureDensityNetwork<float>>);
static_assert(flows::ConditionalDensity<flows::MixtureDensityNetwork<double>>);

namespace {

template <typename Scalar>
using Mdn = flows::MixtureDensityNetwork<Scalar>;

template <typename Scalar>
typename Mdn<Scalar>::Options mdn_options(Index d, Index context, Index k,
                                          nn::Activation act = nn::Activation::tanh,
                                          std::vector<Index> hidden = {8, 6}) {
    typename Mdn<Scalar>::Options o;
    o.input_dim = d;
    o.context_dim = context;
    o.components = k;
    o.hidden = std::move(hidden);
    o.activation = act;
    return o;
}

// Mean and covariance of a Gaussian mixture: sum pi_k mu_k and sum pi_k (S_k + mu_k mu_k^T) - m m^T.
void mixture_moments(const Mdn<double>::Mixture& mix, Vector<double>& mean, Matrix<double>& cov) {
    const Index d = mix.means.rows();
    mean = mix.means * mix.weights;
    cov = Matrix<double>::Zero(d, d);
    for (Index k = 0; k < mix.weights.size(); ++k)
        cov += mix.weights(k) * (mix.covariances[static_cast<std::size_t>(k)] +
                                 mix.means.col(k) * mix.means.col(k).transpose());
    cov -= mean * mean.transpose();
}

template <typename Scalar>
Mdn<double>::Mixture mixture_in_double(const Model<Mdn<Scalar>>& m, const Vector<Scalar>& context) {
    const auto mix = m.density.mixture(m.params.data(), context);
    return {mix.weights, mix.means, mix.precision_factors, mix.covariances};
}

}  // namespace

TEMPLATE_TEST_CASE("MixtureDensityNetwork backward matches finite differences", "[flows][mdn]",
                   float, double) {
    using Scalar = TestType;
    for (Index d : {Index(1), Index(2), Index(3)})
        for (Index k : {Index(1), Index(3)})
            for (Index batch : {Index(1), Index(7)}) {
                INFO("d " << d << ", K " << k << ", batch " << batch);
                const std::uint64_t seed = static_cast<std::uint64_t>(100 * d + 10 * k + batch);
                Model<Mdn<Scalar>> m(mdn_options<Scalar>(d, 2, k), seed, 0.3);
                REQUIRE(m.density.parameter_count() == m.layout.size());
                RandomStream rng(seed + 1);
                const Matrix<Scalar> y = test_support::uniform_matrix<Scalar>(d, batch, rng, -2, 2);
                const Matrix<Scalar> c = test_support::uniform_matrix<Scalar>(2, batch, rng, -2, 2);
                test_support::check_gradients(m, y, c, seed + 2);
            }
}

TEMPLATE_TEST_CASE("MixtureDensityNetwork gradients with ReLU and the default architecture",
                   "[flows][mdn]", float, double) {
    using Scalar = TestType;
    // The toggle-switch shape (d = 1, context 7, K = 2, hidden 20-20, ReLU) and a 2-D variant.
    for (Index d : {Index(1), Index(2)}) {
        INFO("d " << d);
        Model<Mdn<Scalar>> m(mdn_options<Scalar>(d, 7, 2, nn::Activation::relu, {20, 20}), 7 + d, 0.1);
        RandomStream rng(17);
        const Matrix<Scalar> y = test_support::uniform_matrix<Scalar>(d, 7, rng, -2, 2);
        const Matrix<Scalar> c = test_support::uniform_matrix<Scalar>(7, 7, rng, -2, 2);
        test_support::check_gradients(m, y, c, 23);
    }
}

TEST_CASE("MixtureDensityNetwork log_prob is stable far from every component", "[flows][mdn]") {
    // Components separated by hundreds of standard deviations: a naive sum of exp underflows to
    // log(0); the log-sum-exp stays finite and equals the closest component's log-density.
    Model<Mdn<double>> m(mdn_options<double>(1, 1, 3), 3, 0.5);
    Matrix<double> y(1, 2);
    y << 60.0, -80.0;
    const Matrix<double> c = Matrix<double>::Constant(1, 2, 0.3);
    const Vector<double> lp = m.log_prob(y, c);
    CHECK(std::isfinite(lp(0)));
    CHECK(std::isfinite(lp(1)));
    const auto mix = m.density.mixture(m.params.data(), Vector<double>::Constant(1, 0.3));
    double best = -std::numeric_limits<double>::infinity();
    for (Index k = 0; k < 3; ++k) {
        const double sd = std::sqrt(mix.covariances[static_cast<std::size_t>(k)](0, 0));
        const double z = (60.0 - mix.means(0, k)) / sd;
        best = std::max(best, std::log(mix.weights(k)) - 0.5 * z * z - std::log(sd) -
                                  0.5 * std::log(2 * std::numbers::pi));
    }
    CHECK(lp(0) == Approx(best).epsilon(1e-6));
    // Gradients stay finite there too.
    Model<Mdn<float>> mf(mdn_options<float>(1, 1, 3), 3, 0.5);
    typename Mdn<float>::Workspace ws;
    Vector<float> out(2);
    const Matrix<float> yf = y.cast<float>();
    const Matrix<float> cf = c.cast<float>();
    mf.density.log_prob(mf.params.data(), yf, cf, out, ws);
    Vector<float> grad = Vector<float>::Zero(mf.params.size());
    mf.density.backward(mf.params.data(), yf, cf, Vector<float>::Ones(2), ws, grad.data(), nullptr);
    CHECK(out.allFinite());
    CHECK(grad.allFinite());
}

TEMPLATE_TEST_CASE("MixtureDensityNetwork integrates to one", "[flows][mdn]", float, double) {
    using Scalar = TestType;
    SECTION("d = 1 by quadrature, within 1e-3") {
        Model<Mdn<Scalar>> m(mdn_options<Scalar>(1, 2, 3), 11, 0.5);
        for (double cv : {-1.5, 0.0, 2.0}) {
            const Vector<Scalar> context = Vector<Scalar>::Constant(2, static_cast<Scalar>(cv));
            const auto mix = mixture_in_double(m, context);
            double low = 1e300, high = -1e300, sd_min = 1e300;
            for (Index k = 0; k < 3; ++k) {
                const double sd = std::sqrt(mix.covariances[static_cast<std::size_t>(k)](0, 0));
                low = std::min(low, mix.means(0, k) - 12 * sd);
                high = std::max(high, mix.means(0, k) + 12 * sd);
                sd_min = std::min(sd_min, sd);
            }
            const auto points = static_cast<Index>((high - low) / (sd_min / 10)) + 2;
            const double integral = test_support::integrate_1d(m, context, low, high, points);
            INFO("context " << cv << ", range [" << low << ", " << high << "], " << points
                            << " points");
            CHECK(std::abs(integral - 1.0) < 1e-3);
        }
    }
    SECTION("d = 2 on a grid, within 1e-2") {
        Model<Mdn<Scalar>> m(mdn_options<Scalar>(2, 2, 3), 12, 0.3);
        for (double cv : {-1.0, 1.0}) {
            const Vector<Scalar> context = Vector<Scalar>::Constant(2, static_cast<Scalar>(cv));
            const auto mix = mixture_in_double(m, context);
            Vector<double> low = Vector<double>::Constant(2, 1e300);
            Vector<double> high = Vector<double>::Constant(2, -1e300);
            for (Index k = 0; k < 3; ++k)
                for (Index i = 0; i < 2; ++i) {
                    const double sd = std::sqrt(mix.covariances[static_cast<std::size_t>(k)](i, i));
                    low(i) = std::min(low(i), mix.means(i, k) - 9 * sd);
                    high(i) = std::max(high(i), mix.means(i, k) + 9 * sd);
                }
            const double integral =
                test_support::integrate_2d(m, context, low(0), high(0), low(1), high(1), 400);
            INFO("context " << cv);
            CHECK(std::abs(integral - 1.0) < 1e-2);
        }
    }
}

TEMPLATE_TEST_CASE("MixtureDensityNetwork samples have the mixture's mean and covariance",
                   "[flows][mdn]", float, double) {
    using Scalar = TestType;
    for (Index d : {Index(1), Index(3)}) {
        INFO("d " << d);
        Model<Mdn<Scalar>> m(mdn_options<Scalar>(d, 2, 3), 31 + d, 0.4);
        Vector<Scalar> context(2);
        context << Scalar(0.5), Scalar(-1);
        const Index n = 20000;
        Matrix<Scalar> samples(d, n);
        m.density.sample(m.params.data(), context.replicate(1, n), 99, samples);
        const auto mix = mixture_in_double(m, context);
        Vector<double> mean;
        Matrix<double> cov;
        mixture_moments(mix, mean, cov);
        const auto est = test_support::sample_moments(samples);
        for (Index i = 0; i < d; ++i) {
            INFO("mean " << i << ": sample " << est.mean(i) << ", exact " << mean(i) << ", se "
                         << est.mean_se(i));
            CHECK(std::abs(est.mean(i) - mean(i)) < 4 * est.mean_se(i));
            for (Index j = 0; j <= i; ++j) {
                INFO("cov " << i << "," << j << ": sample " << est.covariance(i, j) << ", exact "
                            << cov(i, j) << ", se " << est.covariance_se(i, j));
                CHECK(std::abs(est.covariance(i, j) - cov(i, j)) < 4 * est.covariance_se(i, j));
            }
        }
    }
}

TEST_CASE("MixtureDensityNetwork sampling uses 1 + d uniforms of stream (seed, j)", "[flows][mdn]") {
    const Index d = 3;
    Model<Mdn<double>> m(mdn_options<double>(d, 2, 3), 5, 0.4);
    RandomStream crng(8);
    const Matrix<double> c = test_support::uniform_matrix<double>(2, 9, crng, -1, 1);
    const std::uint64_t seed = 2024;
    Matrix<double> all(d, 9);
    m.density.sample(m.params.data(), c, seed, all);

    // Rebuild column 4 by hand: one uniform chooses the component, d normals then y = mu + L^{-T} eps.
    const Index j = 4;
    const auto mix = m.density.mixture(m.params.data(), c.col(j));
    RandomStream rng(seed, j);
    const double u = rng.uniform();
    Index k = 0;
    double cumulative = mix.weights(0);
    while (k + 1 < 3 && u >= cumulative) cumulative += mix.weights(++k);
    Vector<double> eps(d);
    for (Index i = 0; i < d; ++i) eps(i) = standard_normal(rng);
    const Matrix<double>& L = mix.precision_factors[static_cast<std::size_t>(k)];
    const Vector<double> expected =
        mix.means.col(k) + L.transpose().triangularView<Eigen::Upper>().solve(eps);
    CHECK((all.col(j) - expected).norm() < 1e-10);
    CHECK(RandomStream(seed, j).position() == 0);
    CHECK(rng.position() == static_cast<std::uint64_t>(1 + d));

    // Batching does not change draws: the first columns of a batch are the same on their own (up
    // to the last bits: Eigen's GEMM rounds differently for different batch widths), and the
    // same seed reproduces bit for bit.
    Matrix<double> head(d, 5);
    m.density.sample(m.params.data(), c.leftCols(5), seed, head);
    CHECK((head - all.leftCols(5)).cwiseAbs().maxCoeff() < 1e-12);
    Matrix<double> again(d, 9);
    m.density.sample(m.params.data(), c, seed, again);
    CHECK(again == all);
    m.density.sample(m.params.data(), c, seed + 1, again);
    CHECK(again != all);
}

TEST_CASE("MixtureDensityNetwork rejects bad options and shapes", "[flows][mdn]") {
    ParameterLayout layout;
    auto bad = mdn_options<double>(1, 2, 0);
    CHECK_THROWS_WITH(Mdn<double>(layout, bad), Catch::Contains("components"));
    bad = mdn_options<double>(0, 2, 2);
    CHECK_THROWS_WITH(Mdn<double>(layout, bad), Catch::Contains("input_dim"));
    bad = mdn_options<double>(1, 0, 2);
    CHECK_THROWS_WITH(Mdn<double>(layout, bad), Catch::Contains("context_dim"));
    bad = mdn_options<double>(1, 2, 2, nn::Activation::relu, {4, 0});
    CHECK_THROWS_WITH(Mdn<double>(layout, bad), Catch::Contains("hidden[1]"));

    Model<Mdn<double>> m(mdn_options<double>(2, 3, 2), 1);
    test_support::check_shape_errors(m, "MixtureDensityNetwork");

    CHECK(Mdn<double>::output_rows(2, 1) == 6);
    CHECK(Mdn<double>::output_rows(3, 3) == 3 * (1 + 6 + 3));
    const auto toggle = mdn_options<float>(1, 7, 2, nn::Activation::relu, {20, 20});
    Model<Mdn<float>> t(toggle, 0);
    CHECK(t.density.describe() ==
          "MixtureDensityNetwork(input_dim=1, context_dim=7, components=2, hidden=[20,20], "
          "activation=relu)");
    CHECK(t.density.parameter_count() == 7 * 20 + 20 + 20 * 20 + 20 + 20 * 6 + 6);
}

TEST_CASE("MixtureDensityNetwork starts near equal weights and unit covariances", "[flows][mdn]") {
    Model<Mdn<double>> m(mdn_options<double>(2, 3, 2, nn::Activation::relu, {20, 20}), 4);
    const auto mix = m.density.mixture(m.params.data(), Vector<double>::Constant(3, 0.7));
    CHECK(std::abs(mix.weights(0) - 0.5) < 0.05);
    for (const auto& cov : mix.covariances)
        CHECK((cov - Matrix<double>::Identity(2, 2)).cwiseAbs().maxCoeff() < 0.3);
    CHECK((mix.means.col(0) - mix.means.col(1)).norm() > 1e-3);  // symmetry already broken
}

TEMPLATE_TEST_CASE("MixtureDensityNetwork inside ConditionalEstimator: gradients and save/load",
                   "[flows][mdn]", float, double) {
    using Scalar = TestType;
    using Estimator = flows::ConditionalEstimator<Mdn<Scalar>>;
    const auto options = mdn_options<Scalar>(2, 3, 2, nn::Activation::tanh, {10, 10});
    Estimator est(options, 42);
    RandomStream rng(6);
    const Matrix<Scalar> y = test_support::uniform_matrix<Scalar>(2, 7, rng, 5, 9);
    const Matrix<Scalar> c = test_support::uniform_matrix<Scalar>(3, 7, rng, -20, 30);
    est.fit_standardization(y, c);
    const Vector<Scalar> w = test_support::uniform_matrix<Scalar>(7, 1, rng, -1, 1);
    typename Estimator::Workspace ws;
    Vector<Scalar> grad = Vector<Scalar>::Zero(est.parameter_count());
    est.log_prob_gradient(y, c, w, grad, ws);
    const Vector<Scalar> p0 = est.parameters();
    auto value = [&](const Vector<Scalar>& p) {
        Estimator copy = est;
        copy.parameters() = p;
        return w.template cast<double>().dot(copy.log_prob(y, c).template cast<double>());
    };
    const auto result = testing::check_gradient<Scalar>(value, p0, grad);
    INFO(result.report());
    CHECK(result.passed);

    std::stringstream file;
    io::save_estimator(est, file);
    Estimator loaded(options, 7);
    io::load_estimator(loaded, file);
    CHECK(loaded.log_prob(y, c) == est.log_prob(y, c));
    auto other = options;
    other.components = 3;
    flows::ConditionalEstimator<Mdn<Scalar>> mismatched(other, 7);
    std::stringstream again;
    io::save_estimator(est, again);
    CHECK_THROWS_WITH(io::load_estimator(mismatched, again), Catch::Contains("architecture mismatch"));
}

// ---- Fits ------------------------------------------------------------------------------------

namespace {

double log_normal_pdf(double y, double mean, double sd) {
    const double z = (y - mean) / sd;
    return -0.5 * z * z - std::log(sd) - 0.5 * std::log(2 * std::numbers::pi);
}

// y | c ~ 0.5 N(c, 0.3^2) + 0.5 N(-c, 0.3^2).
double bimodal_log_p(double y, double c) {
    const double a = log_normal_pdf(y, c, 0.3);
    const double b = log_normal_pdf(y, -c, 0.3);
    const double top = std::max(a, b);
    return top + std::log(0.5 * std::exp(a - top) + 0.5 * std::exp(b - top));
}

// H(Y | C) for c ~ U(1, 2): Simpson in c (101 nodes), trapezoid in y (spectrally accurate for
// this smooth, fast-decaying integrand). Accurate to far below the fit tolerance.
double bimodal_entropy() {
    const int nc = 101;
    double total = 0;
    for (int a = 0; a < nc; ++a) {
        const double c = 1.0 + a / double(nc - 1);
        const double low = -c - 3.0, high = c + 3.0;
        const int ny = 4001;
        const double h = (high - low) / (ny - 1);
        double inner = 0;
        for (int b = 0; b < ny; ++b) {
            const double lp = bimodal_log_p(low + h * b, c);
            inner += (b == 0 || b == ny - 1 ? 0.5 : 1.0) * -lp * std::exp(lp);
        }
        const double simpson = (a == 0 || a == nc - 1) ? 1.0 : (a % 2 == 1 ? 4.0 : 2.0);
        total += simpson * inner * h;
    }
    return total / (3.0 * (nc - 1));
}

}  // namespace

TEMPLATE_TEST_CASE("MixtureDensityNetwork fits a bimodal conditional law", "[flows][mdn][fit][slow]",
                   float, double) {
    using Scalar = TestType;
    RandomStream rng(7);
    auto draw = [&](Index n, Matrix<Scalar>& y, Matrix<Scalar>& c, Vector<double>& log_p) {
        y.resize(1, n);
        c.resize(1, n);
        log_p.resize(n);
        for (Index j = 0; j < n; ++j) {
            const double cj = rng.uniform(1.0, 2.0);
            const double sign = rng.uniform() < 0.5 ? 1.0 : -1.0;
            const double yj = sign * cj + 0.3 * standard_normal(rng);
            c(0, j) = static_cast<Scalar>(cj);
            y(0, j) = static_cast<Scalar>(yj);
            log_p(j) = bimodal_log_p(static_cast<double>(y(0, j)), static_cast<double>(c(0, j)));
        }
    };
    Matrix<Scalar> y_train, c_train, y_test, c_test;
    Vector<double> lp_train, lp_test;
    draw(4000, y_train, c_train, lp_train);
    draw(4000, y_test, c_test, lp_test);

    Model<Mdn<Scalar>> m(mdn_options<Scalar>(1, 1, 2, nn::Activation::relu, {20, 20}), 3);
    const double train_loss = test_support::fit(m, y_train, c_train, 150, 100,
                                                optimizers::AdamOptions{.learning_rate = 3e-3});
    const auto h = test_support::held_out(m, y_test, c_test, lp_test);
    const double entropy = bimodal_entropy();
    INFO("train loss " << train_loss << ", held-out NLL " << h.nll << " (se " << h.nll_se
                       << "), true entropy " << entropy << ", paired KL " << h.kl << " (se "
                       << h.kl_se << ")");
    // Tolerance 0.03 nats on the NLL (plus 3 standard errors of the held-out mean) and on the
    // paired KL estimate (plus 3 of its standard errors).
    CHECK(std::abs(h.nll - entropy) < 0.03 + 3 * h.nll_se);
    CHECK(h.kl < 0.03 + 3 * h.kl_se);
    CHECK(h.kl > -3 * h.kl_se);
}

TEMPLATE_TEST_CASE("MixtureDensityNetwork fits a correlated 2-D Gaussian with a moving mean",
                   "[flows][mdn][fit][slow]", float, double) {
    using Scalar = TestType;
    // y | c ~ N((sin 2c, c^2 - 0.5), S), S = [[0.25, 0.12], [0.12, 0.09]] (correlation 0.8),
    // c ~ U(-1, 1). H(Y | C) = log(2 pi e) + log det(S) / 2 exactly.
    const double s00 = 0.25, s01 = 0.12, s11 = 0.09;
    const double l00 = std::sqrt(s00), l10 = s01 / l00, l11 = std::sqrt(s11 - l10 * l10);
    const double log_det = std::log(s00 * s11 - s01 * s01);
    const double entropy = std::log(2 * std::numbers::pi * std::numbers::e) + 0.5 * log_det;
    RandomStream rng(11);
    auto draw = [&](Index n, Matrix<Scalar>& y, Matrix<Scalar>& c, Vector<double>& log_p) {
        y.resize(2, n);
        c.resize(1, n);
        log_p.resize(n);
        for (Index j = 0; j < n; ++j) {
            const double cj = rng.uniform(-1.0, 1.0);
            const double e0 = standard_normal(rng), e1 = standard_normal(rng);
            const double m0 = std::sin(2 * cj), m1 = cj * cj - 0.5;
            c(0, j) = static_cast<Scalar>(cj);
            y(0, j) = static_cast<Scalar>(m0 + l00 * e0);
            y(1, j) = static_cast<Scalar>(m1 + l10 * e0 + l11 * e1);
            // log p from the rounded values actually stored.
            const double r0 = static_cast<double>(y(0, j)) - m0, r1 = static_cast<double>(y(1, j)) - m1;
            const double z0 = r0 / l00, z1 = (r1 - l10 * z0) / l11;
            log_p(j) = -0.5 * (z0 * z0 + z1 * z1) - 0.5 * log_det - std::log(2 * std::numbers::pi);
        }
    };
    Matrix<Scalar> y_train, c_train, y_test, c_test;
    Vector<double> lp_train, lp_test;
    draw(4000, y_train, c_train, lp_train);
    draw(4000, y_test, c_test, lp_test);

    Model<Mdn<Scalar>> m(mdn_options<Scalar>(2, 1, 2, nn::Activation::relu, {20, 20}), 5);
    const double train_loss = test_support::fit(m, y_train, c_train, 150, 100,
                                                optimizers::AdamOptions{.learning_rate = 3e-3});
    const auto h = test_support::held_out(m, y_test, c_test, lp_test);
    INFO("train loss " << train_loss << ", held-out NLL " << h.nll << " (se " << h.nll_se
                       << "), true entropy " << entropy << ", paired KL " << h.kl << " (se "
                       << h.kl_se << ")");
    CHECK(std::abs(h.nll - entropy) < 0.03 + 3 * h.nll_se);
    CHECK(h.kl < 0.03 + 3 * h.kl_se);
    CHECK(h.kl > -3 * h.kl_se);
}

TEMPLATE_TEST_CASE("MixtureDensityNetwork with the softplus diagonal (pyknos): gradients, "
                   "normalisation and sampling",
                   "[flows][mdn]", float, double) {
    using Scalar = TestType;
    SECTION("backward matches finite differences") {
        for (Index d : {Index(1), Index(2)})
            for (Index batch : {Index(1), Index(7)}) {
                INFO("d " << d << ", batch " << batch);
                auto o = mdn_options<Scalar>(d, 3, 2);
                o.diagonal = Mdn<Scalar>::Diagonal::softplus;
                const std::uint64_t seed = static_cast<std::uint64_t>(500 + 10 * d + batch);
                Model<Mdn<Scalar>> m(o, seed, 0.5);
                RandomStream rng(seed + 1);
                const Matrix<Scalar> y = test_support::uniform_matrix<Scalar>(d, batch, rng, -2, 2);
                const Matrix<Scalar> c = test_support::uniform_matrix<Scalar>(3, batch, rng, -2, 2);
                test_support::check_gradients(m, y, c, seed + 2);
            }
    }
    SECTION("the precision factor's diagonal is softplus(s) + floor; d = 1 integrates to one") {
        auto o = mdn_options<Scalar>(1, 2, 3);
        o.diagonal = Mdn<Scalar>::Diagonal::softplus;
        o.diagonal_floor = 0.05;
        Model<Mdn<Scalar>> m(o, 41, 0.5);
        const Vector<Scalar> context = Vector<Scalar>::Constant(2, Scalar(0.7));
        const auto mix = mixture_in_double(m, context);
        double low = 1e300, high = -1e300, sd_min = 1e300;
        for (Index k = 0; k < 3; ++k) {
            const double sd = std::sqrt(mix.covariances[static_cast<std::size_t>(k)](0, 0));
            // softplus(s) + 0.05 > 0.05: the standard deviation is below 1 / 0.05 = 20.
            CHECK(mix.precision_factors[static_cast<std::size_t>(k)](0, 0) > 0.05);
            low = std::min(low, mix.means(0, k) - 12 * sd);
            high = std::max(high, mix.means(0, k) + 12 * sd);
            sd_min = std::min(sd_min, sd);
        }
        const auto points = static_cast<Index>((high - low) / (sd_min / 10)) + 2;
        CHECK(std::abs(test_support::integrate_1d(m, context, low, high, points) - 1.0) < 1e-3);
        // Samples match the mixture's moments.
        const Index n = 20000;
        Matrix<Scalar> samples(1, n);
        m.density.sample(m.params.data(), context.replicate(1, n), 5, samples);
        Vector<double> mean;
        Matrix<double> cov;
        mixture_moments(mix, mean, cov);
        const auto est = test_support::sample_moments(samples);
        CHECK(std::abs(est.mean(0) - mean(0)) < 4 * est.mean_se(0));
        CHECK(std::abs(est.covariance(0, 0) - cov(0, 0)) < 4 * est.covariance_se(0, 0));
        // The two parametrisations give different densities from the same weights.
        auto o_exp = o;
        o_exp.diagonal = Mdn<Scalar>::Diagonal::exp;
        Model<Mdn<Scalar>> m_exp(o_exp, 41, 0.5);
        CHECK(mixture_in_double(m_exp, context).precision_factors[0](0, 0) !=
              Approx(mix.precision_factors[0](0, 0)));
        auto bad = o;
        bad.diagonal_floor = 0;
        CHECK_THROWS_AS(bad.validate(), std::invalid_argument);
    }
}
