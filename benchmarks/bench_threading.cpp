// SPDX-License-Identifier: MIT
// Threading benchmark: the library's paths at 1 and 2 OpenMP threads in a build like a user's
// OpenMP project (-fopenmp, no EIGEN_DONT_PARALLELIZE, Eigen's own thread count untouched).
// Two threads must never be slower than one: Eigen would otherwise split every small product
// over the threads (NPE sampling of 10^4 draws took 1.6-2.3 s at 2 threads against 0.03-0.05 s at
// 1 before core/serial_eigen.hpp). Paths:
//   BM_NpeSample        NpePosterior::sample(10^4) on a small MAF (serial in the library; must
//                       cost the same at 2 threads)
//   BM_NleLogDensity    NlePosterior on 2048 thetas, 10 observations (chunks in parallel)
//   BM_TrainingEpoch    one training::train epoch of the MLMC loss, 2 mini-batches
// `->Arg(t)` sets omp_set_num_threads(t) for the run, as a user's OMP_NUM_THREADS would.
// Wall clock (UseRealTime) with the process's CPU time as counter `cpu_s` (the parallel paths
// run threads the main-thread clock does not see); BM_*Ratio interleave 1- and 2-thread runs and
// report time(2 threads) / time(1 thread) from the same run, which cancels most of a loaded
// machine's drift.
//   cmake --build build --target bench_threading && build/benchmarks/bench_threading
#include <benchmark/benchmark.h>

#include <chrono>
#include <ctime>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "mlsbi/distributions/box_uniform.hpp"
#include "mlsbi/flows/conditional_estimator.hpp"
#include "mlsbi/flows/maf.hpp"
#include "mlsbi/inference/nle_posterior.hpp"
#include "mlsbi/inference/npe_posterior.hpp"
#include "mlsbi/losses/mlmc_loss.hpp"
#include "mlsbi/simulators/function_level.hpp"
#include "mlsbi/simulators/multilevel_dataset.hpp"
#include "mlsbi/training/standardization.hpp"
#include "mlsbi/training/trainer.hpp"

using namespace mlsbi;

namespace {

using Maf = flows::MaskedAutoregressiveFlow<float>;
using Estimator = flows::ConditionalEstimator<Maf>;

// A small MAF q(y | c), y and c 2-D: 3 transforms, hidden 32, one block.
Estimator small_maf() {
    return Estimator(
        Maf::Options{.input_dim = 2, .context_dim = 2, .transforms = 3, .hidden = 32, .blocks = 1},
        7);
}

// Sets OpenMP's default thread count for a benchmark's lifetime.
class Threads {
public:
    explicit Threads(int count) {
#ifdef _OPENMP
        m_saved = omp_get_max_threads();
        omp_set_num_threads(count);
#else
        (void)count;
#endif
    }
    ~Threads() {
#ifdef _OPENMP
        omp_set_num_threads(m_saved);
#endif
    }
    Threads(const Threads&) = delete;
    Threads& operator=(const Threads&) = delete;

private:
    int m_saved = 1;
};

double process_cpu_seconds() {
    std::timespec t{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

double wall_seconds() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

// The three workloads, built once each.
struct NpeSampling {
    Estimator estimator = small_maf();
    distributions::BoxUniform prior{{-5.0, -5.0}, {5.0, 5.0}};
    inference::NpePosterior<Estimator, distributions::BoxUniform> posterior{
        estimator, prior, Vector<double>::Zero(2)};
    std::uint64_t seed = 0;
    void run() { benchmark::DoNotOptimize(posterior.sample(10000, ++seed).samples.data()); }
};

struct NleEvaluation {
    Estimator estimator = small_maf();
    distributions::BoxUniform prior{{-3.0, -3.0}, {3.0, 3.0}};
    inference::NlePosterior<Estimator, distributions::BoxUniform> posterior{
        estimator, prior, Matrix<double>::Random(2, 10), {.chunk_size = 64}};
    Matrix<double> thetas = 2.0 * Matrix<double>::Random(2, 2048);
    Vector<double> out = Vector<double>(2048);
    void run() {
        posterior(thetas, out);
        benchmark::DoNotOptimize(out.data());
    }
};

simulators::MultilevelDataset two_level_data() {
    auto level = [](double bias) {
        return simulators::make_level(
            2, [bias](const ConstVectorRef<double>& theta, RandomStream& rng, VectorRef<double> x) {
                x(0) = theta(0) + 0.3 * standard_normal(rng) + bias;
                x(1) = theta(1) * theta(0) + 0.3 * standard_normal(rng);
            });
    };
    const simulators::MultilevelSimulator model(level(0.1), level(0.0));
    const distributions::BoxUniform prior({-1.0, -1.0}, {1.0, 1.0});
    return simulators::generate_multilevel_dataset(
        model, prior, {.samples_per_level = {8000, 1000}, .seed = 3, .threads = 1});
}

struct TrainingEpoch {
    simulators::MultilevelDataset data = two_level_data();
    Estimator estimator = small_maf();
    losses::MlmcLoss<Estimator> loss{estimator, data, losses::Task::nle, {}};
    training::TrainingOptions options = [] {
        training::TrainingOptions o;
        o.max_epochs = 1;
        o.batches_per_epoch = 2;
        o.progress = false;
        return o;
    }();
    TrainingEpoch() { training::fit_standardization(estimator, data, losses::Task::nle); }
    void run() { benchmark::DoNotOptimize(training::train(estimator, loss, options).steps); }
};

template <class Workload>
void BM_Path(benchmark::State& state) {
    Workload work;
    const Threads threads(static_cast<int>(state.range(0)));
    work.run();  // warm-up: buffers sized, threads started
    const double cpu0 = process_cpu_seconds();
    for (auto _ : state) work.run();
    state.counters["cpu_s"] =
        benchmark::Counter(process_cpu_seconds() - cpu0, benchmark::Counter::kAvgIterations);
}

// Alternates one run at 1 thread and one at 2, `rounds` times per iteration; reports the ratio
// of the summed wall times (2 threads / 1 thread) and of the CPU times.
template <class Workload>
void BM_Ratio(benchmark::State& state) {
    Workload work;
    double wall[2] = {0, 0}, cpu[2] = {0, 0};
    for (int t : {1, 2}) {  // warm-up at both counts
        const Threads threads(t);
        work.run();
    }
    for (auto _ : state) {
        for (int k = 0; k < 2; ++k) {
            const Threads threads(k + 1);
            const double w0 = wall_seconds(), c0 = process_cpu_seconds();
            work.run();
            wall[k] += wall_seconds() - w0;
            cpu[k] += process_cpu_seconds() - c0;
        }
    }
    state.counters["wall_2_over_1"] = wall[1] / wall[0];
    state.counters["cpu_2_over_1"] = cpu[1] / cpu[0];
    state.counters["ms_1_thread"] = 1e3 * wall[0] / static_cast<double>(state.iterations());
    state.counters["ms_2_threads"] = 1e3 * wall[1] / static_cast<double>(state.iterations());
}

}  // namespace

BENCHMARK_TEMPLATE(BM_Path, NpeSampling)
    ->Arg(1)
    ->Arg(2)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(BM_Path, NleEvaluation)
    ->Arg(1)
    ->Arg(2)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(BM_Path, TrainingEpoch)
    ->Arg(1)
    ->Arg(2)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(BM_Ratio, NpeSampling)
    ->Iterations(20)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(BM_Ratio, NleEvaluation)
    ->Iterations(20)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(BM_Ratio, TrainingEpoch)
    ->Iterations(10)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
