// SPDX-License-Identifier: MIT
// Tests for inference/nle_posterior.hpp: with an estimator whose likelihood is an exact Gaussian
// (a linear DiagonalGaussian), the NLE posterior equals the conjugate posterior up to a
// constant, slice sampling on it recovers the analytic mean and covariance, the prior support is
// respected, and results do not depend on the thread count.
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "conjugate_gaussian.hpp"
#include "mlsbi/distributions/box_uniform.hpp"
#include "mlsbi/distributions/gaussian.hpp"
#include "mlsbi/flows/conditional_estimator.hpp"
#include "mlsbi/flows/diagonal_gaussian.hpp"
#include "mlsbi/inference/nle_posterior.hpp"
#include "mlsbi/inference/slice_sampler.hpp"

using namespace mlsbi;
using namespace mlsbi::inference;

namespace {

// q(x | theta) = N(x; theta, sigma^2 I_d): a DiagonalGaussian without hidden layers whose single
// Dense layer maps theta to [mu; log sigma] = [I; 0] theta + [0; log sigma].
template <typename Scalar>
flows::ConditionalEstimator<flows::DiagonalGaussian<Scalar>> exact_gaussian_likelihood(
    Index d, double sigma) {
    typename flows::DiagonalGaussian<Scalar>::Options options;
    options.input_dim = d;
    options.context_dim = d;
    options.hidden = {};
    flows::ConditionalEstimator<flows::DiagonalGaussian<Scalar>> estimator(options, 1);
    auto& params = estimator.parameters();
    REQUIRE(params.size() == 2 * d * d + 2 * d);
    params.setZero();
    Eigen::Map<Matrix<Scalar>> w(params.data(), 2 * d, d);  // W (2d x d), then b (2d)
    for (Index i = 0; i < d; ++i) w(i, i) = Scalar(1);
    params.tail(d).setConstant(static_cast<Scalar>(std::log(sigma)));
    return estimator;
}

}  // namespace

TEST_CASE("NLE posterior of an exact likelihood is the conjugate posterior", "[inference][nle]") {
    const auto model = test::make_conjugate_3d();
    const Matrix<double> noise = 0.25 * Matrix<double>::Identity(3, 3);
    const test::ConjugateGaussian exact(model.prior_mean, model.prior_cov, noise,
                                        model.observations);
    const auto estimator = exact_gaussian_likelihood<double>(3, 0.5);
    const distributions::Gaussian prior(exact.prior_mean, exact.prior_cov);
    const NlePosterior posterior(estimator, prior, exact.observations);
    REQUIRE(posterior.dim() == 3);
    REQUIRE(posterior.num_observations() == 5);

    // Equal up to one constant at every theta.
    const Matrix<double> thetas = exact.prior_draws(20, 4);
    Vector<double> values(20);
    posterior(thetas, values);
    const double offset = values(0) - exact.log_posterior(thetas.col(0));
    for (Index j = 0; j < 20; ++j)
        CHECK(values(j) - exact.log_posterior(thetas.col(j)) == Approx(offset).epsilon(1e-10));
    CHECK(posterior.log_density(thetas.col(7)) == Approx(values(7)).epsilon(1e-12));

    const McmcResult r =
        slice_sample(posterior, exact.prior_draws(8, 9),
                     McmcOptions{.draws_per_chain = 800, .warmup = 200, .seed = 3});
    INFO("max R-hat " << r.max_rhat());
    CHECK(r.max_rhat() < 1.01);
    for (Index i = 0; i < 3; ++i) {
        const Matrix<double> d = r.parameter_draws(i);
        INFO("theta_" << i << " " << d.mean() << " vs " << exact.posterior_mean(i));
        CHECK(std::abs(d.mean() - exact.posterior_mean(i)) < 4 * mcse_mean(d));
        const Matrix<double> y = (d.array() - exact.posterior_mean(i)).square().matrix();
        CHECK(std::abs(y.mean() - exact.posterior_cov(i, i)) < 4 * mcse_mean(y));
    }
}

TEST_CASE("NLE posterior is -inf outside the prior support", "[inference][nle]") {
    const auto estimator = exact_gaussian_likelihood<float>(2, 1.0);
    const distributions::BoxUniform prior({0.0, 0.0}, {1.0, 1.0});
    Matrix<double> x(2, 3);
    x << 0.2, 0.4, 0.6, 0.5, 0.5, 0.7;
    const NlePosterior posterior(estimator, prior, x, NlePosteriorOptions{.chunk_size = 2});
    Matrix<double> thetas(2, 5);
    thetas << 0.5, -0.1, 0.3, 2.0, 0.9, 0.5, 0.5, 0.3, 0.5, 0.1;
    Vector<double> out(5);
    posterior(thetas, out);
    CHECK(out(1) == -std::numeric_limits<double>::infinity());
    CHECK(out(3) == -std::numeric_limits<double>::infinity());
    // Inside: log N(x_j; theta, I) summed (float estimator, so a float tolerance).
    auto exact = [&](Index j) {
        double s = 0;
        for (Index k = 0; k < 3; ++k)
            s += -0.5 * (x.col(k) - thetas.col(j)).squaredNorm() - std::log(2 * std::numbers::pi);
        return s;
    };
    for (Index j : {Index(0), Index(2), Index(4)}) CHECK(out(j) == Approx(exact(j)).epsilon(1e-5));
    CHECK_THROWS_WITH(NlePosterior(estimator, prior, Matrix<double>::Zero(3, 2)),
                      Catch::Contains("observations have 3 rows"));
    CHECK_THROWS_WITH(NlePosterior(estimator, distributions::BoxUniform({0.0}, {1.0}), x),
                      Catch::Contains("prior dimension"));
}

TEST_CASE("NLE posterior evaluation does not depend on the thread count", "[inference][nle]") {
    const auto estimator = exact_gaussian_likelihood<float>(2, 0.7);
    const distributions::Gaussian prior = distributions::Gaussian::standard(2);
    Matrix<double> x(2, 4);
    x << 0.1, -0.3, 0.5, 0.2, 1.0, 0.8, 1.2, 0.9;
    const NlePosterior posterior(estimator, prior, x, NlePosteriorOptions{.chunk_size = 3});
    const Matrix<double> thetas = Matrix<double>::Random(2, 37);
    Vector<double> one(37), two(37);
#ifdef _OPENMP
    const int threads = omp_get_max_threads();
    omp_set_num_threads(1);
#endif
    posterior(thetas, one);
#ifdef _OPENMP
    omp_set_num_threads(2);
#endif
    posterior(thetas, two);
#ifdef _OPENMP
    omp_set_num_threads(threads);
#endif
    CHECK(one == two);
    // A column's value does not depend on the batch it is in.
    Vector<double> single(1);
    posterior(thetas.col(20), single);
    CHECK(single(0) == one(20));
}
