// SPDX-License-Identifier: MIT
/// \file
/// \brief One-dimensional conditional neural spline flow whose spline parameters come from an
/// MLP on the context alone (sbi's ContextSplineMap; the g-and-k NLE estimator of the paper).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numbers>
#include <string>
#include <utility>
#include <vector>

#include "mlsbi/flows/conditional_density.hpp"
#include "mlsbi/flows/detail/row_gemm.hpp"
#include "mlsbi/flows/rational_quadratic_spline.hpp"
#include "mlsbi/nn/mlp.hpp"
#include "mlsbi/rng/normal.hpp"

namespace mlsbi::flows {

/// q(y | c) for scalar y: z = g_T(... g_1(y; theta_1(c)) ...; theta_T(c)), z ~ N(0, 1), each
/// g_t a rational-quadratic spline with identity tails outside [-B, B] whose 3K - 1 parameters
/// are theta_t(c) = MLP_t(c), one MLP per transform, on the context only.
///
/// This is what sbi builds for `nsf` with a one-dimensional y (nflows' coupling transform with
/// the dummy mask [1] and `ContextSplineMap` as the conditioner; no linear layers between
/// transforms): widths and heights are divided by sqrt(hidden) before the softmax, as nflows
/// does for conditioners with `hidden_features`. The defaults are the paper's g-and-k NLE network
/// (the g-and-k NLE experiment of Hikida et al. 2025): context-50-ReLU-50-ReLU-29, 10 bins, tail bound 7, one transform; the
/// PyTorch reference is `NSF1D` in ../shared/bench/torch_reference/gnk_reference.py.
/// For y of dimension >= 2 use NeuralSplineFlow (coupling layers).
///
/// Satisfies ConditionalDensity. Parameters: the transforms' MLPs in order (nn::Mlp layout).
/// Also offers `log_prob_repeated` (m iid observations under each of n contexts, one MLP pass
/// per context) and value-only `transform` / `inverse_transform`.
///
/// Performance: log_prob and backward run over fixed chunks of `chunk` samples, so each chunk's
/// activations and gradients stay in cache between the products and the spline; activations
/// are stored with the samples along the rows and multiplied by register-blocked kernels
/// (detail::row_gemm) with the bias and ReLU fused into their store. No heap allocation once
/// the Workspace has grown to the batch size. On the 2-vCPU Zen 4 test machine, one thread,
/// forward + backward of the paper's network at batch 10,600 takes about 3.5 ms in float
/// (74 GFLOP/s, ~85% of Eigen's square-GEMM rate) and 8 ms in double (benchmarks/bench_nsf).
/// Results do not depend on the thread count; they depend on the batch split only in the last
/// bits (chunk boundaries are fixed, but weight-gradient partial sums are per SIMD lane).
///
/// References: Durkan, Bekasov, Murray, Papamakarios (2019) "Neural spline flows";
/// Hikida et al. (2025) "Multilevel neural simulation-based inference" (g-and-k experiment).
/// \tparam Scalar_ float or double.
template <typename Scalar_>
class ContextSplineFlow {
public:
    using Scalar = Scalar_;
    using MatrixType = Matrix<Scalar>;
    using VectorType = Vector<Scalar>;

    /// Architecture; defaults reproduce the paper's g-and-k NLE network (set context_dim).
    struct Options {
        Index input_dim = 1;                ///< dimension of y; must be 1 (else NeuralSplineFlow)
        Index context_dim = 1;              ///< dimension of c, >= 1
        Index transforms = 1;               ///< stacked context-only splines, >= 1
        std::vector<Index> hidden{50, 50};  ///< hidden sizes of each transform's MLP
        Index bins = 10;                    ///< K, bins per spline, in [1, 64]
        double tail_bound = 7.0;            ///< B: splines act on [-B, B] (standardised y)
        nn::Activation activation = nn::Activation::relu;  ///< hidden activation

        /// \throws std::invalid_argument naming the first invalid field.
        void validate() const {
            require(input_dim == 1, "ContextSplineFlow::Options: input_dim must be 1, got ",
                    input_dim, " (use NeuralSplineFlow for dimension >= 2)");
            require(context_dim >= 1, "ContextSplineFlow::Options: context_dim must be >= 1, got ",
                    context_dim);
            require(bins >= 1 && bins <= 64,
                    "ContextSplineFlow::Options: bins must be in [1, 64], got ", bins);
            require(std::isfinite(tail_bound) && tail_bound > 0,
                    "ContextSplineFlow::Options: tail_bound must be positive, got ", tail_bound);
            require(transforms >= 1, "ContextSplineFlow::Options: transforms must be >= 1, got ",
                    transforms);
            for (std::size_t i = 0; i < hidden.size(); ++i)
                require(hidden[i] >= 1, "ContextSplineFlow::Options: hidden[", i,
                        "] must be >= 1, got ", hidden[i]);
        }
    };

    /// Buffers of one log_prob/backward pair (sized on first use, reused after).
    struct Workspace {
        std::vector<std::vector<MatrixType>> hidden;  ///< [t][l]: layer l output, n x hidden
        std::vector<std::vector<MatrixType>> pre;     ///< pre-activations (SiLU only), n x hidden
        /// [t]: n x (3K-1), the spline parameters in the sample-contiguous layout (the last
        /// layer is computed transposed, so the spline reads them without a transposition)
        std::vector<MatrixType> spline_params;
        MatrixType u;              ///< (T+1) x n: row t enters spline t, row T is z
        VectorType logdet;         ///< sum of log|dg_t/du| per sample
        MatrixType grad_p;         ///< chunk x (3K-1), same layout
        MatrixType grad_a, grad_b; ///< chunk x hidden
        VectorType grad_u, grad_l; ///< chunk
        VectorType obs_u, obs_l;   ///< log_prob_repeated: m
        VectorType column;         ///< log_prob_repeated: one context's spline parameters
        MatrixType ct;             ///< chunk x context_dim: a chunk of c, transposed
        std::vector<std::vector<VectorType>> partial;  ///< [t][l]: lane-wise dL/dW partial sums
    };

    /// Columns per chunk of the fused forward/backward passes (fixed, so results do not depend
    /// on the batch split).
    static constexpr Index chunk = 512;

    /// \throws std::invalid_argument if the options are invalid.
    ContextSplineFlow(ParameterLayout& layout, const Options& options)
        : m_options((options.validate(), options)),
          m_spline(RationalQuadraticSplineOptions{
              .bins = options.bins,
              .tail_bound = options.tail_bound,
              .logit_scale = options.hidden.empty()
                                 ? 1.0
                                 : 1.0 / std::sqrt(static_cast<double>(options.hidden.back()))}) {
        for (Index t = 0; t < options.transforms; ++t)
            m_nets.emplace_back(layout, nn::MlpShape{options.context_dim, options.hidden,
                                                     3 * options.bins - 1, options.activation});
    }

    [[nodiscard]] Index input_dim() const { return 1; }
    [[nodiscard]] Index context_dim() const { return m_options.context_dim; }
    [[nodiscard]] const Options& options() const { return m_options; }
    [[nodiscard]] const RationalQuadraticSpline<Scalar>& spline() const { return m_spline; }
    [[nodiscard]] const std::vector<nn::Mlp<Scalar>>& networks() const { return m_nets; }
    [[nodiscard]] Index parameter_count() const {
        Index n = 0;
        for (const auto& net : m_nets) n += net.parameter_count();
        return n;
    }

    /// PyTorch's default initialisation of every layer (as sbi's ContextSplineMap).
    void initialize(Scalar* params, RandomStream& rng) const {
        for (const auto& net : m_nets) net.initialize(params, rng);
    }

    /// out_j = log q(y_j | c_j) = log N(z_j; 0, 1) + sum_t log|dg_t/du|.
    /// \param y 1 x n; \param c context_dim x n; \param out n.
    /// \throws std::invalid_argument on a shape mismatch.
    void log_prob(const Scalar* params, const ConstMatrixRef<Scalar>& y,
                  const ConstMatrixRef<Scalar>& c, VectorRef<Scalar> out, Workspace& ws) const {
        check_batch("log_prob", y, c);
        require(out.size() == y.cols(), "ContextSplineFlow::log_prob: out has size ", out.size(),
                ", expected ", y.cols());
        const Index n = y.cols();
        forward_all(params, y, c, ws);
        const Scalar half_log_2pi = static_cast<Scalar>(0.5 * std::log(2 * std::numbers::pi));
        const Index T = transforms();
        for (Index j = 0; j < n; ++j) {
            const Scalar z = ws.u(T, j);
            out(j) = ws.logdet(j) - Scalar(0.5) * z * z - half_log_2pi;
        }
    }

    /// Backward of the last log_prob on `ws` (same y, c) with G_j = dL/d log q_j: accumulates
    /// dL/dparams into grad_params (if not null) and writes dL/dc into grad_context (if not null).
    ///
    /// Derivation: d log q / dz = -z, d log q / d logdet = 1; each spline's backward turns these
    /// into dL/dtheta_t and dL/du_t (the upstream of the spline below); dL/dtheta_t goes back
    /// through MLP_t (G_in = W^T (G_out o a'), dL/dW += G_out a_in^T), chunk by chunk.
    void backward(const Scalar* params, const ConstMatrixRef<Scalar>& y,
                  const ConstMatrixRef<Scalar>& c, const ConstVectorRef<Scalar>& grad_log_prob,
                  Workspace& ws, Scalar* grad_params, MatrixType* grad_context) const {
        const Index n = y.cols();
        require(grad_log_prob.size() == n && c.cols() == n && ws.u.cols() == n,
                "ContextSplineFlow::backward: grad_log_prob, y and c must match the last log_prob "
                "batch of ", ws.u.cols(), " columns");
        const Index T = transforms();
        const Index R = m_spline.parameter_count();
        if (grad_context != nullptr) grad_context->setZero(context_dim(), n);
        ws.grad_u.resize(chunk);
        ws.grad_l.resize(chunk);
        ws.grad_p.resize(chunk, R);
        // Lane-wise partial sums of the weight gradients, reduced once after the last chunk.
        constexpr Index lanes = detail::row_gemm_lanes<Scalar>();
        ws.partial.resize(static_cast<std::size_t>(T));
        for (std::size_t t = 0; t < static_cast<std::size_t>(T); ++t) {
            const auto& layers = m_nets[t].layers();
            ws.partial[t].resize(layers.size());
            for (std::size_t l = 0; l < layers.size(); ++l)
                ws.partial[t][l].setZero(layers[l].output_dim() * layers[l].input_dim() * lanes);
        }
        for (Index j0 = 0; j0 < n; j0 += chunk) {
            const Index cols = std::min(chunk, n - j0);
            for (Index j = 0; j < cols; ++j) {
                ws.grad_l(j) = grad_log_prob(j0 + j);
                ws.grad_u(j) = -ws.u(T, j0 + j) * grad_log_prob(j0 + j);
            }
            for (Index t = T; t-- > 0;) {
                m_spline.backward(cols, params_block(ws, t, j0), u_row(ws, t, j0),
                                  {ws.grad_u.data(), 1}, ws.grad_l.data(),
                                  {ws.grad_p.data(), chunk, 1}, {ws.grad_u.data(), 1});
                network_backward(params, t, c, j0, cols, ws, grad_params, grad_context);
            }
        }
        if (grad_params != nullptr)
            for (std::size_t t = 0; t < static_cast<std::size_t>(T); ++t) {
                const auto& layers = m_nets[t].layers();
                for (std::size_t l = 0; l < layers.size(); ++l)
                    detail::row_gemm_tn_finish<Scalar>(layers[l].output_dim(), layers[l].input_dim(),
                                                       ws.partial[t][l].data(),
                                                       grad_params + layers[l].offset(),
                                                       layers[l].output_dim());
            }
    }

    /// out_j = sum_i log q(y_obs_i | c_j) for m observations (y_obs 1 x m) and n contexts
    /// (c context_dim x n): each MLP runs once per context and the spline knots are built once
    /// per context (the MCMC fast path for m iid observations).
    void log_prob_repeated(const Scalar* params, const ConstMatrixRef<Scalar>& y_obs,
                           const ConstMatrixRef<Scalar>& c, VectorRef<Scalar> out,
                           Workspace& ws) const {
        require(y_obs.rows() == 1, "ContextSplineFlow::log_prob_repeated: y_obs must be 1 x m, got ",
                y_obs.rows(), " rows");
        require(c.rows() == context_dim(), "ContextSplineFlow::log_prob_repeated: c has ", c.rows(),
                " rows, expected ", context_dim());
        require(out.size() == c.cols(), "ContextSplineFlow::log_prob_repeated: out has size ",
                out.size(), ", expected ", c.cols());
        const Index n = c.cols();
        const Index m = y_obs.cols();
        const Index T = transforms();
        const Index R = m_spline.parameter_count();
        prepare(ws, n, false);
        for (Index j0 = 0; j0 < n; j0 += chunk)
            for (Index t = 0; t < T; ++t)
                network_forward(params, t, c, j0, std::min(chunk, n - j0), ws);
        const Scalar half_log_2pi = static_cast<Scalar>(0.5 * std::log(2 * std::numbers::pi));
        ws.obs_u.resize(m);
        ws.obs_l.resize(m);
        ws.column.resize(R);
        for (Index j = 0; j < n; ++j) {
            for (Index i = 0; i < m; ++i) ws.obs_u(i) = y_obs(0, i);
            ws.obs_l.setZero();
            for (Index t = 0; t < T; ++t) {
                // The shared path wants one contiguous column: gather row j of the n x R block.
                const MatrixType& P = ws.spline_params[static_cast<std::size_t>(t)];
                for (Index r = 0; r < R; ++r) ws.column(r) = P(j, r);
                m_spline.forward_shared(ws.column.data(), m, {ws.obs_u.data(), 1},
                                        {ws.obs_u.data(), 1}, ws.obs_l.data());
            }
            Scalar sum = 0;
            for (Index i = 0; i < m; ++i)
                sum += ws.obs_l(i) - Scalar(0.5) * ws.obs_u(i) * ws.obs_u(i);
            out(j) = sum - static_cast<Scalar>(m) * half_log_2pi;
        }
    }

    /// Value-only flow map y -> z with z written to `z` (1 x n) and sum_t log|dg_t/du| added to
    /// `logdet` (n).
    void transform(const Scalar* params, const ConstMatrixRef<Scalar>& y,
                   const ConstMatrixRef<Scalar>& c, MatrixRef<Scalar> z,
                   VectorRef<Scalar> logdet) const {
        check_batch("transform", y, c);
        require(z.rows() == 1 && z.cols() == y.cols() && logdet.size() == y.cols(),
                "ContextSplineFlow::transform: z must be 1 x n and logdet n");
        Workspace ws;
        forward_all(params, y, c, ws);
        z = ws.u.row(transforms());
        logdet += ws.logdet;
    }

    /// Inverse flow map z -> y (1 x n), by closed-form spline inversion.
    void inverse_transform(const Scalar* params, const ConstMatrixRef<Scalar>& z,
                           const ConstMatrixRef<Scalar>& c, MatrixRef<Scalar> y) const {
        check_batch("inverse_transform", z, c);
        require(y.rows() == 1 && y.cols() == z.cols(),
                "ContextSplineFlow::inverse_transform: y must be 1 x n");
        const Index n = z.cols();
        Workspace ws;
        prepare(ws, n, false);
        for (Index j0 = 0; j0 < n; j0 += chunk)
            for (Index t = 0; t < transforms(); ++t)
                network_forward(params, t, c, j0, std::min(chunk, n - j0), ws);
        VectorType u = z.row(0).transpose();
        for (Index t = transforms(); t-- > 0;)
            m_spline.inverse(n, params_block(ws, t, 0), {u.data(), 1}, {u.data(), 1}, nullptr);
        y.row(0) = u.transpose();
    }

    /// Column j of out (1 x n) is y = g^{-1}(z; c_j) with z ~ N(0, 1) from RandomStream(seed, j).
    void sample(const Scalar* params, const ConstMatrixRef<Scalar>& c, std::uint64_t seed,
                MatrixRef<Scalar> out) const {
        require(c.rows() == context_dim() && out.rows() == 1 && out.cols() == c.cols(),
                "ContextSplineFlow::sample: c must be ", context_dim(), " x n and out 1 x n");
        MatrixType z(1, c.cols());
        for (Index j = 0; j < c.cols(); ++j) {
            RandomStream rng(seed, static_cast<std::uint64_t>(j));
            z(0, j) = static_cast<Scalar>(standard_normal(rng));
        }
        inverse_transform(params, z, c, out);
    }

    [[nodiscard]] std::string describe() const {
        return message("ContextSplineFlow(input_dim=1, context_dim=", context_dim(),
                       ", hidden=", nn::describe_hidden(m_options.hidden), ", bins=",
                       m_options.bins, ", tail_bound=", m_options.tail_bound, ", transforms=",
                       m_options.transforms, ", activation=", nn::to_string(m_options.activation),
                       ")");
    }

private:
    [[nodiscard]] Index transforms() const { return m_options.transforms; }

    void check_batch(const char* fn, const ConstMatrixRef<Scalar>& y,
                     const ConstMatrixRef<Scalar>& c) const {
        require(y.rows() == 1, "ContextSplineFlow::", fn, ": y must have 1 row, got ", y.rows());
        require(c.rows() == context_dim() && c.cols() == y.cols(), "ContextSplineFlow::", fn,
                ": c is ", c.rows(), " x ", c.cols(), ", expected ", context_dim(), " x ",
                y.cols());
    }

    /// Rows a chunk of `cols` samples occupies in the activation buffers: rounded up to whole
    /// SIMD vectors (the buffers hold padded(n) rows), so the kernels never run scalar tails.
    /// Padding rows see a zero context and get zero upstream gradients: they add nothing.
    [[nodiscard]] static Index padded(Index cols) {
        constexpr Index lanes = detail::row_gemm_lanes<Scalar>();
        return (cols + lanes - 1) / lanes * lanes;
    }

    void prepare(Workspace& ws, Index n_samples, bool with_u) const {
        const Index n = padded(n_samples);
        const Index T = transforms();
        const std::size_t L = m_options.hidden.size();
        const bool keep_pre = !nn::derivative_from_output(m_options.activation);
        ws.hidden.resize(static_cast<std::size_t>(T));
        ws.pre.resize(static_cast<std::size_t>(T));
        ws.spline_params.resize(static_cast<std::size_t>(T));
        for (std::size_t t = 0; t < static_cast<std::size_t>(T); ++t) {
            ws.hidden[t].resize(L);
            ws.pre[t].resize(keep_pre ? L : 0);
            for (std::size_t l = 0; l < L; ++l) {
                ws.hidden[t][l].resize(n, m_options.hidden[l]);
                if (keep_pre) ws.pre[t][l].resize(n, m_options.hidden[l]);
            }
            ws.spline_params[t].resize(n, m_spline.parameter_count());
        }
        if (with_u) {
            ws.u.resize(T + 1, n_samples);
            ws.logdet.setZero(n_samples);
        }
    }

    /// Networks and splines over the whole batch, chunk by chunk.
    void forward_all(const Scalar* params, const ConstMatrixRef<Scalar>& y,
                     const ConstMatrixRef<Scalar>& c, Workspace& ws) const {
        const Index n = y.cols();
        const Index T = transforms();
        prepare(ws, n, true);
        ws.u.row(0) = y.row(0);
        for (Index j0 = 0; j0 < n; j0 += chunk) {
            const Index cols = std::min(chunk, n - j0);
            for (Index t = 0; t < T; ++t) {
                network_forward(params, t, c, j0, cols, ws);
                m_spline.forward(cols, params_block(ws, t, j0), u_row(ws, t, j0),
                                 u_row(ws, t + 1, j0), ws.logdet.data() + j0);
            }
        }
    }

    [[nodiscard]] ParameterBlock<const Scalar> params_block(const Workspace& ws, Index t,
                                                           Index j0) const {
        const MatrixType& P = ws.spline_params[static_cast<std::size_t>(t)];
        return {P.data() + j0, P.outerStride(), 1};
    }
    [[nodiscard]] static Strided<Scalar> u_row(Workspace& ws, Index t, Index j0) {
        return {&ws.u(t, j0), ws.u.outerStride()};
    }

    /// MLP_t on samples [j0, j0 + cols). Activations are stored with the samples along the rows
    /// (n x hidden), so every product is a detail::row_gemm over contiguous runs of samples with
    /// the bias and ReLU fused into its single store, and the last layer lands directly in the
    /// spline's sample-contiguous parameter layout.
    void network_forward(const Scalar* params, Index t, const ConstMatrixRef<Scalar>& c, Index j0,
                         Index cols, Workspace& ws) const {
        const auto& layers = m_nets[static_cast<std::size_t>(t)].layers();
        const std::size_t L = layers.size();
        auto& hidden = ws.hidden[static_cast<std::size_t>(t)];
        auto& pre = ws.pre[static_cast<std::size_t>(t)];
        transpose_context(c, j0, cols, ws);
        const bool relu = m_options.activation == nn::Activation::relu;
        const Index rows = padded(cols);
        for (std::size_t l = 0; l < L; ++l) {
            const bool last = l + 1 == L;
            const Dense& layer = layers[l];
            MatrixType& target = last ? ws.spline_params[static_cast<std::size_t>(t)] : hidden[l];
            const Scalar* a = l == 0 ? ws.ct.data() : hidden[l - 1].data() + j0;
            const Index lda = l == 0 ? ws.ct.outerStride() : hidden[l - 1].outerStride();
            // B[r, o] = W[o, r]: W is output x input, column-major.
            detail::row_gemm<Scalar>(rows, layer.output_dim(), layer.input_dim(), a, lda,
                                     layer.weight(params).data(), layer.output_dim(), 1,
                                     layer.bias(params).data(), !last && relu, nullptr, 0,
                                     target.data() + j0, target.outerStride());
            if (!last && !relu) {
                auto out = target.middleRows(j0, rows);
                if (!pre.empty()) pre[l].middleRows(j0, rows) = out;
                nn::apply_activation<Scalar>(m_options.activation, out, out);
            }
        }
    }

    /// ws.ct = c[:, j0:j0+cols]^T, the first layer's input with the samples along the rows.
    void transpose_context(const ConstMatrixRef<Scalar>& c, Index j0, Index cols,
                           Workspace& ws) const {
        ws.ct.resize(chunk, context_dim());
        const Index rows = padded(cols);
        for (Index r = 0; r < context_dim(); ++r) {
            for (Index i = 0; i < cols; ++i) ws.ct(i, r) = c(r, j0 + i);
            for (Index i = cols; i < rows; ++i) ws.ct(i, r) = Scalar(0);
        }
    }

    /// Backward of MLP_t on one chunk given ws.grad_p = dL/dtheta_t, cols x (3K-1) (samples
    /// along the rows, like the activations): dL/dW += G^T A_in (detail::row_gemm_tn) and the
    /// input gradient (G W) o a'(A_in) (detail::row_gemm with the ReLU mask fused).
    void network_backward(const Scalar* params, Index t, const ConstMatrixRef<Scalar>& c, Index j0,
                          Index cols, Workspace& ws, Scalar* grad_params,
                          MatrixType* grad_context) const {
        const auto& layers = m_nets[static_cast<std::size_t>(t)].layers();
        const std::size_t L = layers.size();
        const auto& hidden = ws.hidden[static_cast<std::size_t>(t)];
        const auto& pre = ws.pre[static_cast<std::size_t>(t)];
        const bool relu = m_options.activation == nn::Activation::relu;
        if (grad_params != nullptr || grad_context != nullptr) transpose_context(c, j0, cols, ws);
        const Index rows = padded(cols);
        ws.grad_p.middleRows(cols, rows - cols).setZero();  // padding rows: no gradient
        // G = dL/d(pre-activation output of layer l), `rows` rows (the padding ones zero).
        MatrixType* cur = &ws.grad_p;
        for (std::size_t l = L; l-- > 0;) {
            const auto G = cur->topRows(rows);
            const Dense& layer = layers[l];
            if (grad_params != nullptr) {
                Eigen::Map<MatrixType> gW(grad_params + layer.offset(), layer.output_dim(),
                                          layer.input_dim());
                Eigen::Map<VectorType> gb(
                    grad_params + layer.offset() + layer.output_dim() * layer.input_dim(),
                    layer.output_dim());
                const Scalar* a = l == 0 ? ws.ct.data() : hidden[l - 1].data() + j0;
                const Index lda = l == 0 ? ws.ct.outerStride() : hidden[l - 1].outerStride();
                detail::row_gemm_tn<Scalar>(rows, layer.output_dim(), layer.input_dim(), G.data(),
                                            cur->outerStride(), a, lda, gW.data(),
                                            layer.output_dim(),
                                            ws.partial[static_cast<std::size_t>(t)][l].data());
                gb += G.colwise().sum().transpose();
            }
            if (l == 0) {
                if (grad_context != nullptr)
                    grad_context->middleCols(j0, cols).noalias() +=
                        layer.weight(params).transpose() * G.topRows(cols).transpose();
                break;
            }
            MatrixType* next = cur == &ws.grad_a ? &ws.grad_b : &ws.grad_a;
            next->resize(chunk, layer.input_dim());
            const MatrixType& h = hidden[l - 1];
            // next = (G W) o a'(h); B[r, o] = W[r, o].
            detail::row_gemm<Scalar>(rows, layer.input_dim(), layer.output_dim(), G.data(),
                                     cur->outerStride(), layer.weight(params).data(), 1,
                                     layer.output_dim(), nullptr, false,
                                     relu ? h.data() + j0 : nullptr, h.outerStride(),
                                     next->data(), next->outerStride());
            if (!relu) {
                auto nb = next->topRows(rows);
                const auto hb = h.middleRows(j0, rows);
                if (pre.empty())
                    nn::multiply_activation_derivative<Scalar>(m_options.activation, hb, hb, nb);
                else
                    nn::multiply_activation_derivative<Scalar>(
                        m_options.activation, pre[l - 1].middleRows(j0, rows), hb, nb);
            }
            cur = next;
        }
    }

    using Dense = nn::Dense<Scalar>;

    Options m_options;
    RationalQuadraticSpline<Scalar> m_spline;
    std::vector<nn::Mlp<Scalar>> m_nets;
};

}  // namespace mlsbi::flows
