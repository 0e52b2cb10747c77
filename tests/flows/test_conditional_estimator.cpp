// SPDX-License-Identifier: MIT
// Tests for flows/conditional_estimator.hpp, flows/standardizer.hpp and flows/embedding.hpp:
// z-scoring enters log_prob with its Jacobian, gradients through every embedding kind match
// finite differences, log_likelihood_sum equals the sum of log_probs, sampling is seeded.
#include <catch2/catch.hpp>

#include <cmath>

#include "mlsbi/flows/conditional_estimator.hpp"
#include "mlsbi/flows/diagonal_gaussian.hpp"
#include "mlsbi/testing/gradient_check.hpp"

using namespace mlsbi;

namespace {

template <typename Scalar>
Matrix<Scalar> random_matrix(Index rows, Index cols, std::uint64_t seed, double low, double high) {
    RandomStream rng(seed);
    Matrix<Scalar> m(rows, cols);
    for (Index j = 0; j < cols; ++j)
        for (Index i = 0; i < rows; ++i) m(i, j) = static_cast<Scalar>(rng.uniform(low, high));
    return m;
}

struct Summary {
    // Two summaries of a 3-D context: sum and product of the first two entries.
    template <typename Scalar>
    void operator()(const ConstMatrixRef<Scalar>& raw, MatrixRef<Scalar> out) const {
        out.row(0) = raw.colwise().sum();
        out.row(1) = raw.row(0).cwiseProduct(raw.row(1));
    }
};

template <class Estimator>
void check_weighted_gradient(Estimator& est, const Matrix<typename Estimator::Scalar>& y,
                             const Matrix<typename Estimator::Scalar>& c) {
    using Scalar = typename Estimator::Scalar;
    const Index n = y.cols();
    Vector<Scalar> w(n);
    for (Index i = 0; i < n; ++i) w(i) = static_cast<Scalar>(i % 2 == 0 ? -1.0 / n : 0.5 / n);
    typename Estimator::Workspace ws;
    Vector<Scalar> grad = Vector<Scalar>::Zero(est.parameter_count());
    const Scalar s = est.log_prob_gradient(y, c, w, grad, ws);
    CHECK(static_cast<double>(s) == Approx(static_cast<double>(w.dot(est.log_prob(y, c)))).epsilon(1e-5));
    const Vector<Scalar> p0 = est.parameters();
    auto value = [&](const Vector<Scalar>& p) {
        Estimator copy = est;
        copy.parameters() = p;
        return static_cast<double>(w.dot(copy.log_prob(y, c)));
    };
    const auto result = testing::check_gradient<Scalar>(value, p0, grad);
    INFO(result.report());
    CHECK(result.passed);
}

}  // namespace

TEMPLATE_TEST_CASE("ConditionalEstimator includes the z-score Jacobian", "[flows][estimator]", float, double) {
    using Scalar = TestType;
    using Density = flows::DiagonalGaussian<Scalar>;
    flows::ConditionalEstimator<Density> est(typename Density::Options{.input_dim = 2, .context_dim = 3}, 5);
    const Matrix<Scalar> y = random_matrix<Scalar>(2, 50, 1, 10, 20);
    const Matrix<Scalar> c = random_matrix<Scalar>(3, 50, 2, -100, 100);
    est.fit_standardization(y, c);
    // Direct evaluation of the core on standardised data plus -sum log scale.
    Matrix<Scalar> ys, cs;
    est.input_standardizer().apply(y, ys);
    est.context_standardizer().apply(c, cs);
    REQUIRE(std::abs(static_cast<double>(ys.row(0).mean())) < 1e-4);
    typename Density::Workspace dws;
    Vector<Scalar> core(50);
    est.density().log_prob(est.parameters().data(), ys, cs, core, dws);
    const Vector<Scalar> lp = est.log_prob(y, c);
    const double jac = -std::log(static_cast<double>(est.input_standardizer().scale()(0))) -
                       std::log(static_cast<double>(est.input_standardizer().scale()(1)));
    for (Index i = 0; i < 50; ++i)
        CHECK(static_cast<double>(lp(i)) == Approx(static_cast<double>(core(i)) + jac).epsilon(1e-5));
}

TEMPLATE_TEST_CASE("ConditionalEstimator gradients for every embedding kind", "[flows][estimator]", float, double) {
    using Scalar = TestType;
    using Density = flows::DiagonalGaussian<Scalar>;
    for (Index n : {Index(1), Index(6)}) {
        INFO("batch " << n);
        const Matrix<Scalar> y = random_matrix<Scalar>(2, n, 3, -2, 2);
        const Matrix<Scalar> c = random_matrix<Scalar>(3, n, 4, -1, 1);
        SECTION("no embedding") {
            flows::ConditionalEstimator<Density> est(typename Density::Options{.input_dim = 2, .context_dim = 3, .hidden = {8}}, 1);
            check_weighted_gradient(est, y, c);
        }
        SECTION("trainable MLP embedding") {
            using Est = flows::ConditionalEstimator<Density, flows::MlpEmbedding<Scalar>>;
            Est est(nn::MlpShape{3, {7}, 4, nn::Activation::tanh},
                    typename Density::Options{.input_dim = 2, .context_dim = 4, .hidden = {8}}, 2);
            check_weighted_gradient(est, y, c);
        }
        SECTION("fixed function embedding") {
            using Emb = flows::FunctionEmbedding<Scalar, Summary>;
            using Est = flows::ConditionalEstimator<Density, Emb>;
            Est est(typename Emb::Options{.input_dim = 3, .output_dim = 2, .function = {}, .name = "sum_prod"},
                    typename Density::Options{.input_dim = 2, .context_dim = 2, .hidden = {8}}, 3);
            CHECK(est.context_dim() == 3);
            check_weighted_gradient(est, y, c);
        }
    }
}

TEST_CASE("ConditionalEstimator log_likelihood_sum equals the sum of log_probs", "[flows][estimator]") {
    using Density = flows::DiagonalGaussian<double>;
    flows::ConditionalEstimator<Density> est(Density::Options{.input_dim = 1, .context_dim = 2}, 9);
    const Matrix<double> obs = random_matrix<double>(1, 5, 5, -1, 1);
    const Matrix<double> thetas = random_matrix<double>(2, 4, 6, -1, 1);
    flows::ConditionalEstimator<Density>::Workspace ws;
    Vector<double> sums(4);
    est.log_likelihood_sum(obs, thetas, sums, ws);
    for (Index j = 0; j < 4; ++j) {
        const Matrix<double> c = thetas.col(j).replicate(1, 5);
        CHECK(sums(j) == Approx(est.log_prob(obs, c).sum()).epsilon(1e-12));
    }
}

TEST_CASE("ConditionalEstimator rejects bad shapes naming the argument", "[flows][estimator]") {
    using Density = flows::DiagonalGaussian<double>;
    flows::ConditionalEstimator<Density> est(Density::Options{.input_dim = 2, .context_dim = 3}, 0);
    CHECK_THROWS_WITH(est.log_prob(Matrix<double>(3, 4), Matrix<double>(3, 4)), Catch::Contains("y has 3 rows"));
    CHECK_THROWS_WITH(est.log_prob(Matrix<double>(2, 4), Matrix<double>(2, 4)), Catch::Contains("c has 2 rows"));
    CHECK_THROWS_WITH(est.log_prob(Matrix<double>(2, 4), Matrix<double>(3, 5)), Catch::Contains("columns"));
    CHECK_THROWS_WITH(est.fit_standardization(Matrix<double>::Zero(2, 1), Matrix<double>::Zero(3, 1)),
                      Catch::Contains("at least 2 samples"));
    using Emb = flows::MlpEmbedding<double>;
    CHECK_THROWS_WITH((flows::ConditionalEstimator<Density, Emb>(nn::MlpShape{3, {4}, 5},
                                                                 Density::Options{.input_dim = 2, .context_dim = 3})),
                      Catch::Contains("embedding output_dim"));
}

TEST_CASE("ConditionalEstimator sampling is seeded per column and matches the standardisation", "[flows][estimator]") {
    using Density = flows::DiagonalGaussian<double>;
    flows::ConditionalEstimator<Density> est(Density::Options{.input_dim = 1, .context_dim = 1}, 0);
    const Matrix<double> y = random_matrix<double>(1, 200, 7, 100, 104);
    const Matrix<double> c = random_matrix<double>(1, 200, 8, -1, 1);
    est.fit_standardization(y, c);
    const Matrix<double> c0 = Matrix<double>::Zero(1, 4000);
    const Matrix<double> a = est.sample(c0, 11);
    const Matrix<double> b = est.sample(c0.leftCols(10), 11);
    CHECK(a.leftCols(10) == b);
    // With a near-zero initial network the draws are ~ N(mean_y, sd_y^2) in user units.
    const double mean = a.mean();
    CHECK(std::abs(mean - est.input_standardizer().mean()(0)) < 5 * est.input_standardizer().scale()(0) / std::sqrt(4000.0) + 0.5 * est.input_standardizer().scale()(0));
}

TEST_CASE("A float estimator takes double data at its boundary, converted once", "[flows][estimator]") {
    using Density = flows::DiagonalGaussian<float>;
    const Density::Options options{.input_dim = 2, .context_dim = 3, .hidden = {8}};
    flows::ConditionalEstimator<Density> from_double(options, 5);
    flows::ConditionalEstimator<Density> from_float(options, 5);
    const Matrix<double> y = random_matrix<double>(2, 50, 21, -3, 5);
    const Matrix<double> c = random_matrix<double>(3, 50, 22, -1, 2);
    from_double.fit_standardization(y, c);
    from_float.fit_standardization(Matrix<float>(y.cast<float>()), Matrix<float>(c.cast<float>()));
    CHECK(from_double.input_standardizer().mean() == from_float.input_standardizer().mean());
    CHECK(from_double.context_standardizer().scale() == from_float.context_standardizer().scale());

    const Vector<double> lp = from_double.log_prob(y, c);
    const Vector<float> lp_float =
        from_float.log_prob(Matrix<float>(y.cast<float>()), Matrix<float>(c.cast<float>()));
    REQUIRE(lp.size() == 50);
    CHECK(lp == lp_float.cast<double>());

    const Matrix<double> draws = from_double.sample(c, 9);
    const Matrix<float> draws_float = from_float.sample(Matrix<float>(c.cast<float>()), 9);
    CHECK(draws == draws_float.cast<double>());
}
