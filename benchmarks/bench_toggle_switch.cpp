// SPDX-License-Identifier: MIT
// The toggle-switch experiment's hot parts (Hikida et al. 2025, Sec. 5; issue 10 item 5):
// - BM_Simulate/steps:T: simulations per second of one level (T = 50, 80, 300), one thread;
//   the ratio of the three is the real cost ratio behind the paper's cost model C_l = T_l.
// - BM_MlNleEpoch/threads:t: one full-batch ML-NLE epoch of the paper's MDN (K = 2, hidden
//   20-20 ReLU, float) on option A's seed-matched data n = (10^4, 500, 100), timed through
//   training::train itself (the 5 loss terms h_0, zeta_1^+-, zeta_2^+- each with its own
//   gradient, rescale + projection, clip at 5, Adam), 20 epochs per iteration, reported per
//   epoch; at 1 and 2 threads. Chunk size `kChunk` is fixed, so the result is bit-identical for
//   any thread count. benchmarks/torch_mdn_epoch.py times the same epoch in PyTorch.
// - BM_McNleEpoch/threads:t: the equal-cost baseline's epoch on 2010 T = 300 simulations
//   (1809 trained, 201 validated), for the ML/MC per-epoch ratio.
// Timing is wall clock (UseManualTime) plus the process CPU time per epoch (cpu_ms/epoch, all
// threads); see benchmarks/README.md for load caveats.
//   cmake --build build --target bench_toggle_switch && build/benchmarks/bench_toggle_switch
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>
#include <ctime>

#include "mlsbi/flows/conditional_estimator.hpp"
#include "mlsbi/flows/mixture_density_network.hpp"
#include "mlsbi/losses/mlmc_loss.hpp"
#include "mlsbi/simulators/multilevel_dataset.hpp"
#include "mlsbi/simulators/toggle_switch.hpp"
#include "mlsbi/training/baselines.hpp"
#include "mlsbi/training/trainer.hpp"

using namespace mlsbi;
namespace ts = mlsbi::simulators::toggle_switch;

namespace {

using Mdn = flows::MixtureDensityNetwork<float>;
using Estimator = flows::ConditionalEstimator<Mdn>;
constexpr Index kChunk = 1024;  // the example's LossOptions::chunk_size
constexpr int kEpochs = 20;

Mdn::Options mdn_options() {
    return {.input_dim = 1, .context_dim = 7, .components = 2, .hidden = {20, 20},
            .diagonal = Mdn::Diagonal::softplus};  // the example's (pyknos's) network
}

void BM_Simulate(benchmark::State& state) {
    const ts::Level level(state.range(0));
    const Matrix<double> thetas = distributions::sample_prior(ts::prior(), 1, 256);
    Vector<double> x(1);
    std::uint64_t seed = 0;
    for (auto _ : state) {
        const Index j = static_cast<Index>(seed % 256);
        level.simulate(thetas.col(j), seed++, x);
        benchmark::DoNotOptimize(x.data());
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

const simulators::MultilevelDataset& option_a() {
    static const auto data = simulators::generate_multilevel_dataset(
        ts::make_multilevel(), ts::prior(), {.samples_per_level = {10000, 500, 100}, .seed = 42});
    return data;
}

training::TrainingOptions paper_recipe() {
    training::TrainingOptions o;
    o.max_epochs = kEpochs;
    o.batches_per_epoch = 1;
    o.adam = {.learning_rate = 1e-4, .beta1 = 0.85, .beta2 = 0.999};
    o.adjustment = {.rescale = true, .project = true};
    o.max_gradient_norm = 5.0;
    o.progress = false;
    return o;
}

template <class Loss, class Validation>
void time_epochs(benchmark::State& state, Estimator& q, Loss& loss, Validation* validation,
                 training::TrainingOptions options) {
    (void)training::train(q, loss, validation, options);  // warm-up: grows the workspaces
    const std::clock_t cpu_start = std::clock();
    for (auto _ : state) {
        const auto start = std::chrono::steady_clock::now();
        const auto summary = training::train(q, loss, validation, options);
        benchmark::DoNotOptimize(summary.steps);
        state.SetIterationTime(
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() /
            kEpochs);
    }
    // Process CPU time (all threads) per epoch: on a loaded machine the better one-thread figure.
    state.counters["cpu_ms/epoch"] = 1e3 * double(std::clock() - cpu_start) / CLOCKS_PER_SEC /
                                     (double(state.iterations()) * kEpochs);
}

void BM_MlNleEpoch(benchmark::State& state) {
    Estimator q(mdn_options(), 7);
    const losses::LossOptions loss_options{.chunk_size = kChunk,
                                           .threads = static_cast<int>(state.range(0))};
    training::fit_standardization(q, option_a(), losses::Task::nle);
    losses::MlmcLoss<Estimator> loss(q, option_a(), losses::Task::nle, loss_options);
    time_epochs(state, q, loss, static_cast<training::NoValidation*>(nullptr), paper_recipe());
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * (10000 + 1000 + 200));
}

void BM_McNleEpoch(benchmark::State& state) {
    static const auto high =
        simulators::generate_dataset(ts::Level(300), ts::prior(), 2010, 43);
    const auto split = training::split_indices(2010, 0.1, 5);
    const Matrix<double> theta_train = high.theta(Eigen::all, split.train);
    const Matrix<double> x_train = high.x(Eigen::all, split.train);
    const Matrix<double> theta_val = high.theta(Eigen::all, split.validation);
    const Matrix<double> x_val = high.x(Eigen::all, split.validation);
    Estimator q(mdn_options(), 7);
    const losses::LossOptions loss_options{.chunk_size = kChunk,
                                           .threads = static_cast<int>(state.range(0))};
    training::fit_standardization(q, theta_train, x_train, losses::Task::nle);
    losses::McLoss<Estimator> loss(q, theta_train, x_train, losses::Task::nle, loss_options);
    losses::McLoss<Estimator> validation(q, theta_val, x_val, losses::Task::nle, loss_options);
    time_epochs(state, q, loss, &validation, paper_recipe());
}

}  // namespace

BENCHMARK(BM_Simulate)->ArgName("steps")->Arg(50)->Arg(80)->Arg(300);
BENCHMARK(BM_MlNleEpoch)->ArgName("threads")->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseManualTime();
BENCHMARK(BM_McNleEpoch)->ArgName("threads")->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseManualTime();
