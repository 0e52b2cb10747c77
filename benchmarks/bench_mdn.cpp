// SPDX-License-Identifier: MIT
// Forward + backward of the toggle-switch mixture density network (d = 1, context 7, K = 2,
// hidden 20-20 ReLU, batch 10,000), float and double, one thread: samples/s and the MLP's
// GFLOP/s (dense-layer multiply-adds only; the mixture head is not counted).
#include <benchmark/benchmark.h>

#include "mlsbi/flows/mixture_density_network.hpp"

using namespace mlsbi;

namespace {

constexpr Index kBatch = 10000;
constexpr Index kContext = 7;

template <typename Scalar>
struct Setup {
    ParameterLayout layout;
    flows::MixtureDensityNetwork<Scalar> mdn;
    Vector<Scalar> params;
    Vector<Scalar> grad;
    Matrix<Scalar> y;
    Matrix<Scalar> c;
    Vector<Scalar> out;
    Vector<Scalar> weights;
    typename flows::MixtureDensityNetwork<Scalar>::Workspace ws;

    Setup()
        : mdn(layout, {.input_dim = 1, .context_dim = kContext, .components = 2, .hidden = {20, 20}}),
          params(layout.size()),
          grad(layout.size()),
          y(1, kBatch),
          c(kContext, kBatch),
          out(kBatch),
          weights(Vector<Scalar>::Constant(kBatch, Scalar(-1) / Scalar(kBatch))) {
        RandomStream rng(1);
        mdn.initialize(params.data(), rng);
        for (Index j = 0; j < kBatch; ++j) {
            y(0, j) = static_cast<Scalar>(standard_normal(rng));
            for (Index i = 0; i < kContext; ++i) c(i, j) = static_cast<Scalar>(standard_normal(rng));
        }
    }
};

// Multiply-adds of the dense layers: forward 2 m k n per layer; backward 2 m k n for dW and, for
// every layer but the first (no context gradient requested), 2 m k n for dX.
double mlp_flops(const nn::Mlp<float>& /*unused*/, Index n) {
    const Index sizes[] = {kContext, 20, 20, 6};
    double flops = 0;
    for (int l = 0; l < 3; ++l) {
        const double mk = static_cast<double>(sizes[l] * sizes[l + 1]);
        flops += 2 * mk * static_cast<double>(n) * (l == 0 ? 2 : 3);
    }
    return flops;
}

template <typename Scalar>
void forward_backward(benchmark::State& state) {
    Eigen::setNbThreads(1);
    Setup<Scalar> s;
    for (auto _ : state) {
        s.mdn.log_prob(s.params.data(), s.y, s.c, s.out, s.ws);
        s.grad.setZero();
        s.mdn.backward(s.params.data(), s.y, s.c, s.weights, s.ws, s.grad.data(), nullptr);
        benchmark::DoNotOptimize(s.grad.data());
        benchmark::ClobberMemory();
    }
    state.SetItemsProcessed(state.iterations() * kBatch);
    state.counters["MLP_GFLOP/s"] = benchmark::Counter(
        mlp_flops({}, kBatch) * static_cast<double>(state.iterations()) * 1e-9,
        benchmark::Counter::kIsRate);
}

template <typename Scalar>
void forward_only(benchmark::State& state) {
    Eigen::setNbThreads(1);
    Setup<Scalar> s;
    for (auto _ : state) {
        s.mdn.log_prob(s.params.data(), s.y, s.c, s.out, s.ws);
        benchmark::DoNotOptimize(s.out.data());
        benchmark::ClobberMemory();
    }
    state.SetItemsProcessed(state.iterations() * kBatch);
}

}  // namespace

BENCHMARK_TEMPLATE(forward_backward, float)->Name("mdn_toggle_forward_backward/float")->Unit(benchmark::kMicrosecond);
BENCHMARK_TEMPLATE(forward_backward, double)->Name("mdn_toggle_forward_backward/double")->Unit(benchmark::kMicrosecond);
BENCHMARK_TEMPLATE(forward_only, float)->Name("mdn_toggle_forward/float")->Unit(benchmark::kMicrosecond);
BENCHMARK_TEMPLATE(forward_only, double)->Name("mdn_toggle_forward/double")->Unit(benchmark::kMicrosecond);
