// SPDX-License-Identifier: MIT
// Tests for inference/slice_sampler.hpp: recovery of a conjugate Gaussian posterior (mean and
// covariance within Monte Carlo standard errors, R-hat < 1.01), respect of a hard support,
// determinism across thread counts and seeds, option validation.
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "conjugate_gaussian.hpp"
#include "mlsbi/inference/slice_sampler.hpp"

using namespace mlsbi;
using namespace mlsbi::inference;

namespace {

// Checks every posterior mean and covariance entry against the analytic values with a tolerance
// of 4 Monte Carlo standard errors (MCSE from the ESS of the relevant series).
void check_recovers(const McmcResult& r, const test::ConjugateGaussian& model) {
    const Index p = r.dim();
    for (Index i = 0; i < p; ++i) {
        const Matrix<double> d = r.parameter_draws(i);
        const double mean = d.mean();
        const double se = mcse_mean(d);
        INFO("mean of theta_" << i << ": " << mean << " vs " << model.posterior_mean(i) << ", mcse "
                              << se);
        CHECK(std::abs(mean - model.posterior_mean(i)) < 4 * se);
        for (Index k = 0; k <= i; ++k) {
            const Matrix<double> dk = r.parameter_draws(k);
            const Matrix<double> y =
                ((d.array() - model.posterior_mean(i)) * (dk.array() - model.posterior_mean(k)))
                    .matrix();
            const double cov = y.mean();
            const double cov_se = mcse_mean(y);
            INFO("cov(" << i << "," << k << "): " << cov << " vs " << model.posterior_cov(i, k)
                        << ", mcse " << cov_se);
            CHECK(std::abs(cov - model.posterior_cov(i, k)) < 4 * cov_se);
        }
    }
}

}  // namespace

TEST_CASE("Slice sampling recovers a conjugate Gaussian posterior", "[inference][slice]") {
    const auto model = test::make_conjugate_3d();
    auto log_density = batch_over_columns(
        [&](const ConstVectorRef<double>& theta) { return model.log_posterior(theta); });
    const Matrix<double> init = model.prior_draws(8, 5);
    const McmcResult r = slice_sample(
        log_density, init, McmcOptions{.draws_per_chain = 1000, .warmup = 200, .seed = 1});
    INFO("max R-hat " << r.max_rhat() << ", min bulk ESS " << r.min_ess_bulk());
    REQUIRE(r.samples.rows() == 3);
    REQUIRE(r.samples.cols() == 8000);
    CHECK(r.status == McmcStatus::converged);
    CHECK(r.max_rhat() < 1.01);
    CHECK(r.min_ess_bulk() > 2000);  // slice sampling mixes well on a Gaussian
    CHECK(r.limit_hits == 0);
    check_recovers(r, model);
    // The stored log densities are those of the stored draws.
    for (Index j : {Index(0), Index(4321), Index(7999)})
        CHECK(r.log_density(j) == Approx(model.log_posterior(r.samples.col(j))));
    // Evaluations: the initial batch plus every round; a round has at most one per chain.
    CHECK(r.evaluations >= r.batch_calls);
    CHECK(r.evaluations <= 8 * r.batch_calls);
    CHECK(r.warmup_evaluations < r.evaluations);
}

TEST_CASE("Slice sampling respects a hard support and thinning", "[inference][slice]") {
    // Uniform on the unit square times a Gaussian bump: the density is zero outside [0, 1]^2.
    auto log_density = batch_over_columns([](const ConstVectorRef<double>& t) {
        if (t(0) < 0 || t(0) > 1 || t(1) < 0 || t(1) > 1)
            return -std::numeric_limits<double>::infinity();
        return -0.5 * (t(0) - 0.3) * (t(0) - 0.3) / 0.04;
    });
    Matrix<double> init(2, 4);
    init << 0.1, 0.5, 0.9, 0.4, 0.2, 0.8, 0.5, 0.1;
    const McmcResult r = slice_sample(
        log_density, init, McmcOptions{.draws_per_chain = 500, .warmup = 100, .thin = 2, .seed = 9},
        SliceSamplerOptions{.initial_width = 0.5});
    CHECK(r.samples.cols() == 2000);
    CHECK(r.samples.minCoeff() >= 0);
    CHECK(r.samples.maxCoeff() <= 1);
    CHECK(r.log_density.allFinite());
    // theta_1 is uniform on [0, 1]: mean 1/2 within 4 MCSE.
    const Matrix<double> d1 = r.parameter_draws(1);
    CHECK(std::abs(d1.mean() - 0.5) < 4 * mcse_mean(d1));
}

TEST_CASE("Slice sampling is deterministic across thread counts and seeds", "[inference][slice]") {
    const auto model = test::make_conjugate_3d();
    auto log_density = batch_over_columns(
        [&](const ConstVectorRef<double>& theta) { return model.log_posterior(theta); }, 2);
    const Matrix<double> init = model.prior_draws(6, 3);
    const McmcOptions options{.draws_per_chain = 20, .warmup = 10, .seed = 77};
#ifdef _OPENMP
    const int threads = omp_get_max_threads();
    omp_set_num_threads(1);
#endif
    const McmcResult one = slice_sample(log_density, init, options);
#ifdef _OPENMP
    omp_set_num_threads(2);
#endif
    const McmcResult two = slice_sample(log_density, init, options);
#ifdef _OPENMP
    omp_set_num_threads(threads);
#endif
    CHECK(one.samples == two.samples);
    CHECK(one.log_density == two.log_density);
    CHECK(one.evaluations == two.evaluations);
    McmcOptions other = options;
    other.seed = 78;
    const McmcResult different = slice_sample(log_density, init, other);
    CHECK(one.samples != different.samples);
}

TEST_CASE("Slice sampler rejects bad input with clear messages", "[inference][slice]") {
    auto flat = [](const ConstMatrixRef<double>& t, VectorRef<double> out) {
        for (Index j = 0; j < t.cols(); ++j)
            out(j) = t(0, j) > 0 ? 0.0 : -std::numeric_limits<double>::infinity();
    };
    Matrix<double> init(1, 2);
    init << 0.5, -1.0;
    CHECK_THROWS_WITH(slice_sample(flat, init), Catch::Contains("initial point 1"));
    init(0, 1) = 0.2;
    CHECK_THROWS_WITH(slice_sample(flat, init, McmcOptions{.draws_per_chain = 2}),
                      Catch::Contains("draws_per_chain"));
    CHECK_THROWS_WITH(slice_sample(flat, init, McmcOptions{.thin = 0}), Catch::Contains("thin"));
    CHECK_THROWS_WITH(slice_sample(flat, init, {}, SliceSamplerOptions{.max_step_out = 0}),
                      Catch::Contains("max_step_out"));
    CHECK_THROWS_WITH(slice_sample(flat, init, {}, SliceSamplerOptions{.initial_width = -1}),
                      Catch::Contains("initial_width"));
}

TEST_CASE("Slice sampler reports a non-reproducible density", "[inference][slice]") {
    // A density that is -inf everywhere except exactly at the start: shrinkage cannot succeed
    // away from the start, and the cap must stop it.
    auto spike = [](const ConstMatrixRef<double>& t, VectorRef<double> out) {
        for (Index j = 0; j < t.cols(); ++j)
            out(j) = t(0, j) == 0.25 ? 0.0 : -std::numeric_limits<double>::infinity();
    };
    Matrix<double> init = Matrix<double>::Constant(1, 2, 0.25);
    const McmcResult r = slice_sample(spike, init, McmcOptions{.draws_per_chain = 4, .warmup = 0},
                                      SliceSamplerOptions{.initial_width = 1.0, .max_shrink = 10});
    CHECK(r.status == McmcStatus::evaluation_limit);
    CHECK(r.limit_hits > 0);
    CHECK((r.samples.array() == 0.25).all());
}
