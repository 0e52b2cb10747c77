// SPDX-License-Identifier: MIT
// Benchmark of the masked autoregressive flow: forward (log_prob) + backward (parameter
// gradient of the mean NLL) at input_dim 4, context_dim 4, batch 1000, default architecture
// (5 transforms, hidden 50, 2 blocks, tanh), float and double; and reference GEMMs of the MADE's
// shapes in the same run, so the fraction of GEMM peak can be read off the FLOPS counters.
//
// Single thread: Eigen's own OpenMP parallelism is switched off for comparable figures.
// Run: bench_maf --benchmark_min_time=1s   (build with -DMLSBI_BUILD_BENCHMARKS=ON, and
// -DMLSBI_NATIVE=ON to let Eigen use the machine's vector units).
#include <benchmark/benchmark.h>

#include "mlsbi/flows/maf.hpp"

using namespace mlsbi;

namespace {

const bool single_thread = (Eigen::setNbThreads(1), true);

constexpr Index dim = 4, context = 4, batch = 1000, hidden = 50, blocks = 2, transforms = 5;

// Matrix-product FLOPs (2 per multiply-add) of one forward + backward of the benchmarked call:
// per transform the forward products are the MADE's layers (initial D->H, context C->H, blocks
// H->H, final H->2D); backward does each again for the weight gradients and again for the input
// gradients, except the context input (no context gradient requested) and the first
// transform's data input (its gradient is not needed).
double maf_gemm_flops() {
    const double n = batch, d = dim, c = context, h = hidden, b = blocks;
    const double forward = 2 * n * (h * d + h * c + b * h * h + 2 * d * h);
    const double input_grads_all = 2 * n * (h * d + b * h * h + 2 * d * h);
    const double first_input = 2 * n * h * d;
    return transforms * (forward + forward) + transforms * input_grads_all - first_input;
}

template <typename Scalar>
void BM_MafForwardBackward(benchmark::State& state) {
    (void)single_thread;
    using Flow = flows::MaskedAutoregressiveFlow<Scalar>;
    ParameterLayout layout;
    Flow flow(layout, typename Flow::Options{.input_dim = dim,
                                             .context_dim = context,
                                             .transforms = transforms,
                                             .hidden = hidden,
                                             .blocks = blocks});
    Vector<Scalar> params(layout.size());
    RandomStream rng(1);
    flow.initialize(params.data(), rng);
    Matrix<Scalar> y(dim, batch), c(context, batch);
    for (Index j = 0; j < batch; ++j) {
        for (Index i = 0; i < dim; ++i) y(i, j) = static_cast<Scalar>(standard_normal(rng));
        for (Index i = 0; i < context; ++i) c(i, j) = static_cast<Scalar>(standard_normal(rng));
    }
    typename Flow::Workspace ws;
    Vector<Scalar> lp(batch);
    Vector<Scalar> grad(layout.size());
    const Vector<Scalar> g = Vector<Scalar>::Constant(batch, Scalar(-1) / Scalar(batch));
    for (auto _ : state) {
        flow.log_prob(params.data(), y, c, lp, ws);
        grad.setZero();
        flow.backward(params.data(), y, c, g, ws, grad.data(), nullptr);
        benchmark::DoNotOptimize(grad.data());
        benchmark::ClobberMemory();
    }
    state.SetItemsProcessed(state.iterations() * batch);
    state.counters["FLOPS"] = benchmark::Counter(
        maf_gemm_flops() * static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
    state.counters["params"] = static_cast<double>(layout.size());
}

// Forward only (log_prob), for the split of the time.
template <typename Scalar>
void BM_MafLogProb(benchmark::State& state) {
    (void)single_thread;
    using Flow = flows::MaskedAutoregressiveFlow<Scalar>;
    ParameterLayout layout;
    Flow flow(layout, typename Flow::Options{.input_dim = dim,
                                             .context_dim = context,
                                             .transforms = transforms,
                                             .hidden = hidden,
                                             .blocks = blocks});
    Vector<Scalar> params(layout.size());
    RandomStream rng(1);
    flow.initialize(params.data(), rng);
    Matrix<Scalar> y(dim, batch), c(context, batch);
    for (Index j = 0; j < batch; ++j) {
        for (Index i = 0; i < dim; ++i) y(i, j) = static_cast<Scalar>(standard_normal(rng));
        for (Index i = 0; i < context; ++i) c(i, j) = static_cast<Scalar>(standard_normal(rng));
    }
    typename Flow::Workspace ws;
    Vector<Scalar> lp(batch);
    for (auto _ : state) {
        flow.log_prob(params.data(), y, c, lp, ws);
        benchmark::DoNotOptimize(lp.data());
    }
    state.SetItemsProcessed(state.iterations() * batch);
}

// Reference: C (m x n) = A (m x k) B (k x n), the MADE's hidden-layer product (50 x 50 x 1000).
template <typename Scalar>
void BM_GemmHidden(benchmark::State& state) {
    (void)single_thread;
    const Index m = hidden, k = hidden, n = batch;
    const Matrix<Scalar> a = Matrix<Scalar>::Random(m, k), b = Matrix<Scalar>::Random(k, n);
    Matrix<Scalar> out(m, n);
    for (auto _ : state) {
        out.noalias() = a * b;
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    state.counters["FLOPS"] = benchmark::Counter(
        2.0 * double(m) * double(k) * double(n) * static_cast<double>(state.iterations()),
        benchmark::Counter::kIsRate);
}

// Reference: the weight-gradient product G (50 x 1000) X^T (1000 x 50) of the same layer.
template <typename Scalar>
void BM_GemmWeightGradient(benchmark::State& state) {
    (void)single_thread;
    const Index m = hidden, k = batch, n = hidden;
    const Matrix<Scalar> g = Matrix<Scalar>::Random(m, k), x = Matrix<Scalar>::Random(n, k);
    Matrix<Scalar> out(m, n);
    for (auto _ : state) {
        out.noalias() = g * x.transpose();
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    state.counters["FLOPS"] = benchmark::Counter(
        2.0 * double(m) * double(k) * double(n) * static_cast<double>(state.iterations()),
        benchmark::Counter::kIsRate);
}

}  // namespace

BENCHMARK_TEMPLATE(BM_MafForwardBackward, float)->Unit(benchmark::kMicrosecond);
BENCHMARK_TEMPLATE(BM_MafForwardBackward, double)->Unit(benchmark::kMicrosecond);
BENCHMARK_TEMPLATE(BM_MafLogProb, float)->Unit(benchmark::kMicrosecond);
BENCHMARK_TEMPLATE(BM_MafLogProb, double)->Unit(benchmark::kMicrosecond);
BENCHMARK_TEMPLATE(BM_GemmHidden, float)->Unit(benchmark::kMicrosecond);
BENCHMARK_TEMPLATE(BM_GemmHidden, double)->Unit(benchmark::kMicrosecond);
BENCHMARK_TEMPLATE(BM_GemmWeightGradient, float)->Unit(benchmark::kMicrosecond);
BENCHMARK_TEMPLATE(BM_GemmWeightGradient, double)->Unit(benchmark::kMicrosecond);
