// SPDX-License-Identifier: MIT
// Benchmarks of posterior sampling for the g-and-k ML-NLE setting (m = 100 iid observations at
// theta = (3, 1, 2, e^0.5), prior U[0,3]^3 x U[e^0.5, 3]), at one thread:
// - NLE log-posterior evaluations per second (NlePosterior over the paper's 1-D context-only NSF,
//   4-50-50-29, 10 bins, tail bound 7; float and double; batches of 1, 10 and 100 thetas);
// - wall time of 10^4 posterior draws (10 chains x 1000, started by SIR from 2000 prior draws,
//   after 200 warm-up iterations) by slice
//   sampling and by adaptive Metropolis on that posterior (issue target: under 2 s at one
//   thread), and by slice sampling on the exact g-and-k likelihood for comparison.
// The estimator is randomly initialised with z-scoring fitted to simulated data: the cost per
// evaluation does not depend on the weights; only the number of evaluations per draw does a
// little (the trained posterior is narrower). Counters: evals/s (items_per_second), and for the
// samplers the warm-up and sampling seconds, evaluations, min bulk ESS and max R-hat.
#include <benchmark/benchmark.h>

#include <cmath>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "mlsbi/flows/conditional_estimator.hpp"
#include "mlsbi/flows/context_spline_flow.hpp"
#include "mlsbi/inference.hpp"
#include "mlsbi/simulators/gnk/exact_density.hpp"
#include "mlsbi/simulators/gnk/simulator.hpp"

using namespace mlsbi;

namespace {

void single_thread() {
    Eigen::setNbThreads(1);
#ifdef _OPENMP
    omp_set_num_threads(1);
#endif
}

Vector<double> true_theta() {
    Vector<double> t(4);
    t << 3.0, 1.0, 2.0, std::exp(0.5);
    return t;
}

// m = 100 high-fidelity observations at the true theta (1 x 100).
Matrix<double> observations() {
    const simulators::gnk::HighLevel level(100);
    Vector<double> x(100);
    level.simulate(true_theta(), 2025, x);
    return x.transpose();
}

// The paper's g-and-k NLE estimator, z-scoring fitted to 2000 prior simulations.
template <typename Scalar>
flows::ConditionalEstimator<flows::ContextSplineFlow<Scalar>> make_estimator() {
    typename flows::ContextSplineFlow<Scalar>::Options options;
    options.context_dim = 4;
    flows::ConditionalEstimator<flows::ContextSplineFlow<Scalar>> estimator(options, 7);
    const auto prior = simulators::gnk::prior();
    const Matrix<double> thetas = distributions::sample_prior(prior, 1, 2000);
    const simulators::gnk::HighLevel level(1);
    Matrix<double> x(1, 2000);
    Vector<double> xj(1);
    for (Index j = 0; j < 2000; ++j) {
        level.simulate(thetas.col(j), derive_seed(3, static_cast<std::uint64_t>(j)), xj);
        x(0, j) = xj(0);
    }
    estimator.fit_standardization(x.template cast<Scalar>(), thetas.template cast<Scalar>());
    return estimator;
}

template <typename Scalar>
void BM_NleLogPosterior(benchmark::State& state) {
    single_thread();
    const auto estimator = make_estimator<Scalar>();
    const inference::NlePosterior posterior(estimator, simulators::gnk::prior(), observations(),
                                            {.chunk_size = 128});
    const Index batch = state.range(0);
    const Matrix<double> thetas = distributions::sample_prior(simulators::gnk::prior(), 5, batch);
    Vector<double> out(batch);
    for (auto _ : state) {
        posterior(thetas, out);
        benchmark::DoNotOptimize(out.data());
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * batch);
    state.SetLabel("m = 100 observations");
}

void report(benchmark::State& state, const inference::McmcResult& r) {
    state.counters["warmup_s"] = r.warmup_seconds;
    state.counters["sampling_s"] = r.sampling_seconds;
    state.counters["evals"] = static_cast<double>(r.evaluations);
    state.counters["evals_per_draw"] = static_cast<double>(r.evaluations - r.warmup_evaluations) /
                                       static_cast<double>(r.samples.cols());
    state.counters["min_ess_bulk"] = r.min_ess_bulk();
    state.counters["max_rhat"] = r.max_rhat();
}

constexpr Index kChains = 10;
const inference::McmcOptions kRun{.draws_per_chain = 1000, .warmup = 200, .seed = 1};

template <typename Scalar, bool slice>
void BM_NleSample10k(benchmark::State& state) {
    single_thread();
    const auto estimator = make_estimator<Scalar>();
    const inference::NlePosterior posterior(estimator, simulators::gnk::prior(), observations());
    inference::McmcResult r;
    for (auto _ : state) {
        // Chains start by SIR from 2000 prior candidates (part of the timed work).
        const auto init = inference::sir_initialize_from_prior(posterior, simulators::gnk::prior(),
                                                               2000, kChains, 9);
        r = slice ? inference::slice_sample(posterior, init.points, kRun)
                  : inference::adaptive_metropolis(posterior, init.points, kRun);
        benchmark::DoNotOptimize(r.samples.data());
    }
    report(state, r);
}

void BM_ExactSliceSample10k(benchmark::State& state) {
    single_thread();
    const Matrix<double> x = observations();
    const auto prior = simulators::gnk::prior();
    auto log_posterior = inference::batch_over_columns([&](const ConstVectorRef<double>& theta) {
        const double lp = prior.log_density(theta);
        if (!std::isfinite(lp)) return lp;
        return lp + simulators::gnk::exact_log_likelihood(x.row(0).transpose(), theta);
    });
    inference::McmcResult r;
    for (auto _ : state) {
        const auto init =
            inference::sir_initialize_from_prior(log_posterior, prior, 2000, kChains, 9);
        r = inference::slice_sample(log_posterior, init.points, kRun);
        benchmark::DoNotOptimize(r.samples.data());
    }
    report(state, r);
}

}  // namespace

BENCHMARK_TEMPLATE(BM_NleLogPosterior, float)->Arg(1)->Arg(10)->Arg(100);
BENCHMARK_TEMPLATE(BM_NleLogPosterior, double)->Arg(1)->Arg(10)->Arg(100);
BENCHMARK_TEMPLATE(BM_NleSample10k, float, true)
    ->Name("BM_NleSlice10k<float>")
    ->Unit(benchmark::kMillisecond)
    ->Iterations(1);
BENCHMARK_TEMPLATE(BM_NleSample10k, double, true)
    ->Name("BM_NleSlice10k<double>")
    ->Unit(benchmark::kMillisecond)
    ->Iterations(1);
BENCHMARK_TEMPLATE(BM_NleSample10k, float, false)
    ->Name("BM_NleMetropolis10k<float>")
    ->Unit(benchmark::kMillisecond)
    ->Iterations(1);
BENCHMARK(BM_ExactSliceSample10k)->Unit(benchmark::kMillisecond)->Iterations(1);
