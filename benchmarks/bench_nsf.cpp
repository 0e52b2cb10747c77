// SPDX-License-Identifier: MIT
// Benchmarks of the neural spline flows: forward + backward (log_prob and the parameter
// gradient) of the 1-D context-only NSF at the paper's g-and-k size (context 4, MLP 50-50 ReLU,
// 10 bins, batch 10,600) and of the coupling NSF with dimension 4 (context 4, batch 1,000),
// float and double, at one thread. The same run measures a GEMM reference: the very GEMMs of
// the flow's networks (same shapes, same count) back to back, so "fraction of GEMM peak" =
// GEMM-reference time / flow time, read off one run; plus a large square GEMM as the machine's
// single-thread peak.
//
// Counters: samples/s (items_per_second), GFLOP/s of the networks' multiply-adds (2 per MAC,
// forward and backward; spline arithmetic not counted), and the FLOP count per iteration.
// Build with -O3 -march=native (cmake -DMLSBI_NATIVE=ON -DCMAKE_BUILD_TYPE=Release).
#include <benchmark/benchmark.h>

#include <vector>

#include "mlsbi/flows/context_spline_flow.hpp"
#include "mlsbi/flows/neural_spline_flow.hpp"

using namespace mlsbi;

namespace {

constexpr Index kContext = 4;
constexpr Index kHidden = 50;
constexpr Index kBins = 10;
constexpr Index kBatch1d = 10600;  // ML-NLE g-and-k: 10^4 + 2 x 300 per epoch
constexpr Index kDim = 4;
constexpr Index kBatch4d = 1000;

template <typename Scalar>
Matrix<Scalar> uniform_matrix(Index rows, Index cols, std::uint64_t seed, double lo, double hi) {
    RandomStream rng(seed);
    Matrix<Scalar> m(rows, cols);
    for (Index j = 0; j < cols; ++j)
        for (Index i = 0; i < rows; ++i) m(i, j) = static_cast<Scalar>(rng.uniform(lo, hi));
    return m;
}

void single_thread() { Eigen::setNbThreads(1); }

// Multiply-adds x 2 of the 1-D NSF's MLP per sample: forward W1 c, W2 h1, W3 h2; backward the
// three weight gradients and the two hidden-input gradients (no context gradient).
constexpr double kFlops1d = 2.0 * (kContext * kHidden + kHidden * kHidden + kHidden * (3 * kBins - 1)) +
                            2.0 * (2 * kHidden * (3 * kBins - 1) + 2 * kHidden * kHidden + kHidden * kContext);

void set_flop_counters(benchmark::State& state, double flops_per_sample, Index batch) {
    const double flops = flops_per_sample * static_cast<double>(batch);
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * batch);
    state.counters["GFLOP/s"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
    state.counters["MFLOP/iter"] = flops * 1e-6;
}

template <typename Scalar>
void BM_ContextSplineFlow_ForwardBackward(benchmark::State& state) {
    single_thread();
    using Flow = flows::ContextSplineFlow<Scalar>;
    ParameterLayout layout;
    Flow flow(layout, typename Flow::Options{.context_dim = kContext, .hidden = {kHidden, kHidden},
                                             .bins = kBins, .tail_bound = 7.0});
    Vector<Scalar> params(layout.size()), grad(layout.size());
    RandomStream rng(1);
    flow.initialize(params.data(), rng);
    const Index n = state.range(0);
    const Matrix<Scalar> y = uniform_matrix<Scalar>(1, n, 2, -4, 4);
    const Matrix<Scalar> c = uniform_matrix<Scalar>(kContext, n, 3, -2, 2);
    const Vector<Scalar> weights = Vector<Scalar>::Constant(n, Scalar(-1) / static_cast<Scalar>(n));
    Vector<Scalar> out(n);
    typename Flow::Workspace ws;
    for (auto _ : state) {
        flow.log_prob(params.data(), y, c, out, ws);
        grad.setZero();
        flow.backward(params.data(), y, c, weights, ws, grad.data(), nullptr);
        benchmark::DoNotOptimize(grad.data());
        benchmark::ClobberMemory();
    }
    set_flop_counters(state, kFlops1d, n);
}

template <typename Scalar>
void BM_ContextSplineFlow_LogProb(benchmark::State& state) {
    single_thread();
    using Flow = flows::ContextSplineFlow<Scalar>;
    ParameterLayout layout;
    Flow flow(layout, typename Flow::Options{.context_dim = kContext, .hidden = {kHidden, kHidden},
                                             .bins = kBins, .tail_bound = 7.0});
    Vector<Scalar> params(layout.size());
    RandomStream rng(1);
    flow.initialize(params.data(), rng);
    const Index n = state.range(0);
    const Matrix<Scalar> y = uniform_matrix<Scalar>(1, n, 2, -4, 4);
    const Matrix<Scalar> c = uniform_matrix<Scalar>(kContext, n, 3, -2, 2);
    Vector<Scalar> out(n);
    typename Flow::Workspace ws;
    for (auto _ : state) {
        flow.log_prob(params.data(), y, c, out, ws);
        benchmark::DoNotOptimize(out.data());
    }
    set_flop_counters(state, 2.0 * (kContext * kHidden + kHidden * kHidden + kHidden * (3 * kBins - 1)), n);
}

// The MCMC fast path: sum of log q over m = 100 iid observations at each of 64 contexts (one
// log-likelihood evaluation per context, as a batch of chains would ask for).
template <typename Scalar>
void BM_ContextSplineFlow_LogProbRepeated(benchmark::State& state) {
    single_thread();
    using Flow = flows::ContextSplineFlow<Scalar>;
    ParameterLayout layout;
    Flow flow(layout, typename Flow::Options{.context_dim = kContext, .hidden = {kHidden, kHidden},
                                             .bins = kBins, .tail_bound = 7.0});
    Vector<Scalar> params(layout.size());
    RandomStream rng(1);
    flow.initialize(params.data(), rng);
    const Index m = 100, n = state.range(0);
    const Matrix<Scalar> y = uniform_matrix<Scalar>(1, m, 2, -4, 4);
    const Matrix<Scalar> c = uniform_matrix<Scalar>(kContext, n, 3, -2, 2);
    Vector<Scalar> out(n);
    typename Flow::Workspace ws;
    for (auto _ : state) {
        flow.log_prob_repeated(params.data(), y, c, out, ws);
        benchmark::DoNotOptimize(out.data());
    }
    state.counters["evaluations/s"] = benchmark::Counter(static_cast<double>(n), benchmark::Counter::kIsIterationInvariantRate);
}

// The spline alone (forward + backward), same size: its share of the flow's time.
template <typename Scalar>
void BM_Spline_ForwardBackward(benchmark::State& state) {
    flows::RationalQuadraticSpline<Scalar> spline(
        flows::RationalQuadraticSplineOptions{.bins = kBins, .tail_bound = 7.0, .logit_scale = 0.14});
    const Index n = state.range(0);
    const Index R = spline.parameter_count();
    // Sample-contiguous parameters (n x R, passed transposed), the layout the flows use.
    const Matrix<Scalar> p = uniform_matrix<Scalar>(n, R, 4, -2, 2);
    const Matrix<Scalar> x = uniform_matrix<Scalar>(1, n, 5, -8, 8);
    Matrix<Scalar> y(1, n), gp(n, R), gx(1, n);
    Vector<Scalar> lad(n);
    const Vector<Scalar> gl = Vector<Scalar>::Ones(n);
    for (auto _ : state) {
        lad.setZero();
        spline.forward(p.transpose(), x, y, lad);
        spline.backward(p.transpose(), x, y, gl, gp.transpose(), gx);
        benchmark::DoNotOptimize(gp.data());
        benchmark::ClobberMemory();
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * n);
}

// GEMM reference: exactly the GEMMs of one 1-D NSF forward + backward on the full batch.
template <typename Scalar>
void BM_GemmReference_1d(benchmark::State& state) {
    single_thread();
    const Index n = state.range(0), H = kHidden, C = kContext, R = 3 * kBins - 1;
    const Matrix<Scalar> W1 = uniform_matrix<Scalar>(H, C, 1, -1, 1), W2 = uniform_matrix<Scalar>(H, H, 2, -1, 1),
                         W3 = uniform_matrix<Scalar>(R, H, 3, -1, 1), c = uniform_matrix<Scalar>(C, n, 4, -1, 1),
                         G3 = uniform_matrix<Scalar>(R, n, 5, -1, 1);
    Matrix<Scalar> h1(H, n), h2(H, n), p(R, n), g2(H, n), g1(H, n), gW1(H, C), gW2(H, H), gW3(R, H);
    for (auto _ : state) {
        h1.noalias() = W1 * c;
        h2.noalias() = W2 * h1;
        p.noalias() = W3 * h2;
        gW3.noalias() = G3 * h2.transpose();
        g2.noalias() = W3.transpose() * G3;
        gW2.noalias() = g2 * h1.transpose();
        g1.noalias() = W2.transpose() * g2;
        gW1.noalias() = g1 * c.transpose();
        benchmark::DoNotOptimize(gW1.data());
        benchmark::DoNotOptimize(p.data());
        benchmark::ClobberMemory();
    }
    set_flop_counters(state, kFlops1d, n);
}

// The same GEMMs with samples along the rows (activations stored n x hidden), the layout the
// 1-D flow uses: Eigen's register blocks then tile the long batch dimension, not hidden = 50.
template <typename Scalar>
void BM_GemmReference_1d_SamplesAlongRows(benchmark::State& state) {
    single_thread();
    const Index n = state.range(0), H = kHidden, C = kContext, R = 3 * kBins - 1;
    const Matrix<Scalar> W1 = uniform_matrix<Scalar>(H, C, 1, -1, 1), W2 = uniform_matrix<Scalar>(H, H, 2, -1, 1),
                         W3 = uniform_matrix<Scalar>(R, H, 3, -1, 1), c = uniform_matrix<Scalar>(n, C, 4, -1, 1),
                         G3 = uniform_matrix<Scalar>(n, R, 5, -1, 1);
    Matrix<Scalar> h1(n, H), h2(n, H), p(n, R), g2(n, H), g1(n, H), gW1(H, C), gW2(H, H), gW3(R, H);
    for (auto _ : state) {
        h1.noalias() = c * W1.transpose();
        h2.noalias() = h1 * W2.transpose();
        p.noalias() = h2 * W3.transpose();
        gW3.noalias() = G3.transpose() * h2;
        g2.noalias() = G3 * W3;
        gW2.noalias() = g2.transpose() * h1;
        g1.noalias() = g2 * W2;
        gW1.noalias() = g1.transpose() * c;
        benchmark::DoNotOptimize(gW1.data());
        benchmark::DoNotOptimize(p.data());
        benchmark::ClobberMemory();
    }
    set_flop_counters(state, kFlops1d, n);
}

// The machine's single-thread GEMM peak with Eigen: a square product.
template <typename Scalar>
void BM_GemmSquare(benchmark::State& state) {
    single_thread();
    const Index s = state.range(0);
    const Matrix<Scalar> a = uniform_matrix<Scalar>(s, s, 1, -1, 1), b = uniform_matrix<Scalar>(s, s, 2, -1, 1);
    Matrix<Scalar> c(s, s);
    for (auto _ : state) {
        c.noalias() = a * b;
        benchmark::DoNotOptimize(c.data());
        benchmark::ClobberMemory();
    }
    state.counters["GFLOP/s"] = benchmark::Counter(2.0 * s * s * s * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

// ---- coupling NSF, dimension 4 ---------------------------------------------------------------

template <typename Scalar>
using Nsf4 = flows::NeuralSplineFlow<Scalar>;

// The library defaults, i.e. the paper's g-and-k NPE network: 3 couplings, 3 bins, tail bound
// 3, residual nets 32 wide with 2 blocks, LU layers between.
template <typename Scalar>
typename Nsf4<Scalar>::Options nsf4_options() {
    return typename Nsf4<Scalar>::Options{.input_dim = kDim, .context_dim = kContext};
}

// Multiply-adds x 2 per sample of the coupling NSF's conditioners (forward, weight gradients
// and input gradients) and of the LU layers, computed from its options.
template <typename Scalar>
double nsf4_flops_per_sample(const typename Nsf4<Scalar>::Options& o) {
    const double H = static_cast<double>(o.hidden), C = static_cast<double>(o.context_dim),
                 D = static_cast<double>(o.input_dim), R = static_cast<double>(3 * o.bins - 1);
    double macs = 0;
    for (Index t = 0; t < o.transforms; ++t) {
        const double id = static_cast<double>(t % 2 == 0 ? o.input_dim / 2 : o.input_dim - o.input_dim / 2);
        const double tf = D - id;
        const double fwd = (id + C) * H + o.blocks * (C * H + 2 * H * H) + H * tf * R;
        // forward, weight gradients, input gradients (none for the context: not requested)
        macs += 3 * fwd - C * H * (1 + static_cast<double>(o.blocks));
        macs += 3 * D * D;         // LU layer forward, weight gradient, input gradient
    }
    return 2 * macs;
}

template <typename Scalar>
void BM_NeuralSplineFlow4_ForwardBackward(benchmark::State& state) {
    single_thread();
    ParameterLayout layout;
    const auto o = nsf4_options<Scalar>();
    Nsf4<Scalar> flow(layout, o);
    Vector<Scalar> params(layout.size()), grad(layout.size());
    RandomStream rng(1);
    flow.initialize(params.data(), rng);
    const Index n = state.range(0);
    const Matrix<Scalar> y = uniform_matrix<Scalar>(kDim, n, 2, -2, 2);
    const Matrix<Scalar> c = uniform_matrix<Scalar>(kContext, n, 3, -2, 2);
    const Vector<Scalar> weights = Vector<Scalar>::Constant(n, Scalar(-1) / static_cast<Scalar>(n));
    Vector<Scalar> out(n);
    typename Nsf4<Scalar>::Workspace ws;
    for (auto _ : state) {
        flow.log_prob(params.data(), y, c, out, ws);
        grad.setZero();
        flow.backward(params.data(), y, c, weights, ws, grad.data(), nullptr);
        benchmark::DoNotOptimize(grad.data());
        benchmark::ClobberMemory();
    }
    set_flop_counters(state, nsf4_flops_per_sample<Scalar>(o), n);
}

}  // namespace

BENCHMARK_TEMPLATE(BM_ContextSplineFlow_ForwardBackward, float)->Arg(kBatch1d)->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(BM_ContextSplineFlow_ForwardBackward, double)->Arg(kBatch1d)->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(BM_ContextSplineFlow_LogProb, float)->Arg(kBatch1d)->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(BM_ContextSplineFlow_LogProb, double)->Arg(kBatch1d)->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(BM_ContextSplineFlow_LogProbRepeated, float)->Arg(64)->Unit(benchmark::kMicrosecond);
BENCHMARK_TEMPLATE(BM_ContextSplineFlow_LogProbRepeated, double)->Arg(64)->Unit(benchmark::kMicrosecond);
BENCHMARK_TEMPLATE(BM_Spline_ForwardBackward, float)->Arg(kBatch1d)->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(BM_Spline_ForwardBackward, double)->Arg(kBatch1d)->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(BM_GemmReference_1d, float)->Arg(kBatch1d)->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(BM_GemmReference_1d, double)->Arg(kBatch1d)->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(BM_GemmReference_1d_SamplesAlongRows, float)->Arg(kBatch1d)->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(BM_GemmReference_1d_SamplesAlongRows, double)->Arg(kBatch1d)->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(BM_GemmSquare, float)->Arg(512)->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(BM_GemmSquare, double)->Arg(512)->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(BM_NeuralSplineFlow4_ForwardBackward, float)->Arg(kBatch4d)->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(BM_NeuralSplineFlow4_ForwardBackward, double)->Arg(kBatch4d)->Unit(benchmark::kMillisecond);
