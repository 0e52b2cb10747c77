// SPDX-License-Identifier: MIT
// Tests for core/serial_eigen.hpp: the guard sets and restores the calling thread's OpenMP
// thread count, and every library path that runs Eigen products (estimator evaluation and
// sampling, NPE sampling, NLE and batched log densities, losses, dataset generation) runs them
// with Eigen on one thread even when OpenMP offers two. A user callback inside each path records
// how many threads Eigen would split a product over there; before SerialEigen most paths saw 2
// (and Eigen split the small products: 40x slower NPE sampling on a loaded machine).
#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "mlsbi/core/serial_eigen.hpp"
#include "mlsbi/distributions/box_uniform.hpp"
#include "mlsbi/flows/conditional_estimator.hpp"
#include "mlsbi/flows/diagonal_gaussian.hpp"
#include "mlsbi/inference/log_density.hpp"
#include "mlsbi/inference/nle_posterior.hpp"
#include "mlsbi/inference/npe_posterior.hpp"
#include "mlsbi/losses/mlmc_loss.hpp"
#include "mlsbi/simulators/function_level.hpp"
#include "mlsbi/simulators/multilevel_dataset.hpp"

using namespace mlsbi;

namespace {

// Largest number of threads Eigen would split a product over, seen by any callback.
std::atomic<int> largest_eigen_threads{0};

// Eigen 3.4 (Parallelizer.h) splits a product over nbThreads() threads unless it runs inside a
// team of more than one thread.
int eigen_split_threads() {
#ifdef _OPENMP
    if (omp_get_num_threads() > 1) return 1;
#endif
    return Eigen::nbThreads();
}

void record_eigen_threads() {
    const int now = eigen_split_threads();
    int seen = largest_eigen_threads.load();
    while (now > seen && !largest_eigen_threads.compare_exchange_weak(seen, now)) {
    }
}

// A fixed context embedding that records Eigen's thread count and passes the context through.
struct RecordingSummary {
    void operator()(const ConstMatrixRef<double>& in, MatrixRef<double> out) const {
        record_eigen_threads();
        out = in;
    }
};

using Embedding = flows::FunctionEmbedding<double, RecordingSummary>;
using Density = flows::DiagonalGaussian<double>;
using Estimator = flows::ConditionalEstimator<Density, Embedding>;

Estimator make_estimator(Index input_dim, Index context_dim) {
    return Estimator(
        Embedding::Options{.input_dim = context_dim, .output_dim = context_dim},
        Density::Options{.input_dim = input_dim, .context_dim = context_dim, .hidden = {8}}, 5);
}

// Runs `path` with OpenMP offering two threads and returns the largest Eigen thread count a
// callback inside it saw.
template <class Path>
int eigen_threads_inside(Path&& path) {
    largest_eigen_threads = 0;
#ifdef _OPENMP
    const int saved = omp_get_max_threads();
    omp_set_num_threads(2);
    path();
    omp_set_num_threads(saved);
#else
    path();
#endif
    return largest_eigen_threads.load();
}

}  // namespace

TEST_CASE("SerialEigen sets and restores the calling thread's OpenMP thread count", "[core]") {
#ifdef _OPENMP
    const int saved = omp_get_max_threads();
    omp_set_num_threads(3);
    CHECK(outer_thread_count() == 3);
    CHECK(outer_thread_count(5) == 5);
    {
        const SerialEigen serial;
        CHECK(omp_get_max_threads() == 1);
        CHECK(Eigen::nbThreads() == 1);
        {
            const SerialEigen nested;
            CHECK(omp_get_max_threads() == 1);
        }
        CHECK(omp_get_max_threads() == 1);
    }
    CHECK(omp_get_max_threads() == 3);
#ifndef EIGEN_DONT_PARALLELIZE
    CHECK(Eigen::nbThreads() == 3);  // Eigen would split products over 3 threads here
#endif
    omp_set_num_threads(saved);
#else
    CHECK(outer_thread_count(5) == 1);
    const SerialEigen serial;
#endif
}

TEST_CASE("Every library path runs Eigen on one thread whatever OpenMP offers", "[core]") {
#ifdef EIGEN_DONT_PARALLELIZE
    WARN("built with EIGEN_DONT_PARALLELIZE: Eigen never splits products, nothing to observe");
#endif
#if defined(_OPENMP) && !defined(EIGEN_DONT_PARALLELIZE)
    // The probe itself: outside a guard the callback sees what Eigen would use.
    CHECK(eigen_threads_inside([] { record_eigen_threads(); }) == 2);
#endif
    const Estimator npe = make_estimator(1, 2);  // q(theta | x), theta 1-D, x 2-D
    const Matrix<double> c = Matrix<double>::Random(2, 300);
    const Matrix<double> y = Matrix<double>::Random(1, 300);
    SECTION("estimator log_prob, gradient and sampling") {
        CHECK(eigen_threads_inside([&] {
                  Estimator::Workspace ws;
                  Vector<double> out(300), grad = Vector<double>::Zero(npe.parameter_count());
                  npe.log_prob(y, c, out, ws);
                  (void)npe.log_prob_gradient(y, c, Vector<double>::Ones(300), grad, ws);
                  (void)npe.sample(c, 1);
              }) == 1);
    }
    SECTION("NPE posterior sampling and density") {
        const distributions::BoxUniform prior({-10.0}, {10.0});
        const inference::NpePosterior posterior(npe, prior, Vector<double>::Zero(2),
                                                {.batch_size = 256});
        CHECK(eigen_threads_inside([&] {
                  (void)posterior.sample(1000, 2);
                  Vector<double> out(300);
                  posterior.log_density(y.array() * 3, out);
              }) == 1);
    }
    SECTION("NLE posterior and batched per-point densities (MCMC evaluation)") {
        const Estimator nle = make_estimator(2, 1);  // q(x | theta)
        const distributions::BoxUniform prior({-2.0}, {2.0});
        const inference::NlePosterior posterior(nle, prior, Matrix<double>::Random(2, 3),
                                                {.chunk_size = 4});
        auto per_point = inference::batch_over_columns(
            [](const ConstVectorRef<double>& theta) {
                record_eigen_threads();
                return -theta.squaredNorm();
            },
            2);
        CHECK(eigen_threads_inside([&] {
                  const Matrix<double> thetas = Matrix<double>::Random(1, 64);
                  Vector<double> out(64);
                  posterior(thetas, out);
                  per_point(thetas, out);
                  per_point(thetas.leftCols(1), out.head(1));  // the serial path too
              }) == 1);
    }
    SECTION("losses, on the serial and the parallel path") {
        simulators::MultilevelDataset data;
        for (Index level = 0; level < 2; ++level) {
            simulators::LevelData l;
            l.theta = Matrix<double>::Random(1, 400);
            l.x_fine = Matrix<double>::Random(2, 400);
            if (level > 0) l.x_coarse = Matrix<double>::Random(2, 400);
            data.levels.push_back(std::move(l));
        }
        for (Index chunk : {Index(4096), Index(16)}) {
            losses::MlmcLoss<Estimator> loss(npe, data, losses::Task::npe,
                                             {.chunk_size = chunk, .threads = 2});
            Matrix<double> g(npe.parameter_count(), loss.term_count());
            std::vector<double> values;
            CHECK(eigen_threads_inside([&] { (void)loss.evaluate(npe, g, values); }) == 1);
        }
    }
    SECTION("dataset generation calls the simulators with Eigen serial") {
        auto level = simulators::make_level(
            1, [](const ConstVectorRef<double>& theta, RandomStream& rng, VectorRef<double> x) {
                record_eigen_threads();
                x(0) = theta(0) + rng.uniform();
            });
        const simulators::MultilevelSimulator model(level, level);
        const distributions::BoxUniform prior({0.0}, {1.0});
        for (int threads : {1, 2}) {
            CHECK(eigen_threads_inside([&] {
                      (void)simulators::generate_multilevel_dataset(
                          model, prior, {.samples_per_level = {50, 20}, .threads = threads});
                  }) == 1);
        }
    }
}
