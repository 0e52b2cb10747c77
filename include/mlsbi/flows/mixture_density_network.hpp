// SPDX-License-Identifier: MIT
/// \file
/// \brief Mixture density network: K full-covariance Gaussians whose weights, means and
/// Cholesky factors of the precision come from one MLP on the context.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <string>
#include <vector>

#include "mlsbi/flows/conditional_density.hpp"
#include "mlsbi/nn/mlp.hpp"
#include "mlsbi/rng/normal.hpp"

namespace mlsbi::flows {

/// Mixture density network (Bishop 1994), in the form sbi uses for neural likelihood estimation:
/// \f[ q(y \mid c) = \sum_{k=1}^K \pi_k(c)\, \mathcal N\big(y;\ \mu_k(c),\ (L_k(c)
/// L_k(c)^T)^{-1}\big), \f] where \f$\pi = \mathrm{softmax}(a)\f$ and each \f$L_k\f$ is a
/// lower-triangular factor of the component's PRECISION matrix \f$P_k = L_k L_k^T\f$, with diagonal
/// \f$e^{s_{k,i}}\f$ (so it is always invertible) and free strictly-lower entries.
///
/// Why the precision factor (as sbi/pyknos): the log-density needs no triangular solve,
/// \f$\log \mathcal N = \sum_i s_{k,i} - \tfrac12 \lVert z_k \rVert^2 - \tfrac d2 \log 2\pi\f$ with
/// \f$z_k = L_k^T (y - \mu_k)\f$, so training (log_prob + backward) is solve-free; only sampling
/// solves \f$L_k^T x = \varepsilon\f$.
///
/// MLP output layout per column (K components, d = input_dim, T = d(d-1)/2), row index of:
/// - logit \f$a_k\f$: `k`;
/// - mean \f$\mu_{k,i}\f$: `K + k d + i`;
/// - log-diagonal \f$s_{k,i}\f$: `K + K d + k d + i`;
/// - strictly-lower entry \f$(L_k)_{m,i}\f$, m > i: `K + 2 K d + k T + m(m-1)/2 + i`
///   (row-major order of the strict lower triangle).
/// The MLP has K (1 + 2 d + T) outputs.
///
/// Satisfies ConditionalDensity. The toggle-switch experiment of Hikida et al. (2025) uses
/// K = 2, hidden 20-20 (the defaults).
///
/// References: Bishop (1994), Mixture density networks; Papamakarios & Murray (2016), Fast
/// epsilon-free inference (MDN posteriors); Hikida et al. (2025), multilevel neural SBI.
/// \tparam Scalar_ float or double.
template <typename Scalar_>
class MixtureDensityNetwork {
public:
    using Scalar = Scalar_;
    using MatrixType = Matrix<Scalar>;

    /// How the MLP output s_{k,i} becomes the diagonal entry of the precision factor L_k.
    enum class Diagonal {
        exp,       ///< L_ii = e^{s}: log-density linear in s (the default)
        softplus,  ///< L_ii = softplus(s) + diagonal_floor, as sbi/pyknos's MultivariateGaussianMDN
                   ///< (the paper's toggle-switch network): the precision grows only linearly
                   ///< in s, which slows the collapse of a component onto a few points
    };

    /// Architecture. Defaults: 2 components, hidden {20, 20}, ReLU (the toggle-switch network).
    struct Options {
        Index input_dim = 1;                ///< dimension d of y, >= 1
        Index context_dim = 1;              ///< dimension of c, >= 1
        Index components = 2;               ///< number K of mixture components, >= 1
        std::vector<Index> hidden{20, 20};  ///< MLP hidden sizes, each >= 1 (may be empty)
        nn::Activation activation = nn::Activation::relu;  ///< hidden activation (relu or tanh)
        Diagonal diagonal = Diagonal::exp;  ///< parametrisation of the precision diagonal
        double diagonal_floor = 1e-2;       ///< added to softplus(s) (pyknos: 1e-2), > 0

        /// \throws std::invalid_argument naming the first invalid field.
        void validate() const {
            require(input_dim >= 1, "MixtureDensityNetwork::Options: input_dim must be >= 1, got ",
                    input_dim);
            require(context_dim >= 1,
                    "MixtureDensityNetwork::Options: context_dim must be >= 1, got ", context_dim);
            require(components >= 1,
                    "MixtureDensityNetwork::Options: components must be >= 1, got ", components);
            for (std::size_t i = 0; i < hidden.size(); ++i)
                require(hidden[i] >= 1, "MixtureDensityNetwork::Options: hidden[", i,
                        "] must be >= 1, got ", hidden[i]);
            require(std::isfinite(diagonal_floor) && diagonal_floor > 0,
                    "MixtureDensityNetwork::Options: diagonal_floor must be positive, got ",
                    diagonal_floor);
        }
    };

    /// Buffers of one log_prob call, read by backward; sized on first use, reused after.
    struct Workspace {
        typename nn::Mlp<Scalar>::Workspace net;
        MatrixType log_weights;       ///< K x n: log softmax(a)
        MatrixType responsibilities;  ///< K x n: posterior component probabilities gamma_k
        MatrixType residual;          ///< K d x n: r_k = y - mu_k
        MatrixType whitened;          ///< K d x n: z_k = L_k^T r_k
        MatrixType diagonals;         ///< K d x n: the precision factors' diagonals D = L_ii
        MatrixType log_diagonals;     ///< K d x n: log D
        MatrixType column_max;        ///< 1 x n: a column maximum (log-sum-exp)
        MatrixType weights;           ///< K x n: pi_k (backward)
        MatrixType diagonal_slopes;   ///< K d x n: dD/ds (backward)
        MatrixType grad_out;          ///< MLP output rows x n: dL/d(MLP output)
    };

    /// One context's mixture, in double, for inspection and tests.
    struct Mixture {
        Vector<double> weights;                         ///< K: pi_k
        Matrix<double> means;                           ///< d x K: column k is mu_k
        std::vector<Matrix<double>> precision_factors;  ///< K lower-triangular L_k (d x d)
        std::vector<Matrix<double>> covariances;        ///< K: (L_k L_k^T)^{-1}
    };

    /// Reserves the MLP's parameters in `layout`.
    /// \throws std::invalid_argument if `options` is invalid.
    MixtureDensityNetwork(ParameterLayout& layout, const Options& options)
        : m_options((options.validate(), options)),
          m_net(layout, nn::MlpShape{options.context_dim, options.hidden,
                                     output_rows(options.components, options.input_dim),
                                     options.activation}) {}

    [[nodiscard]] Index input_dim() const { return m_options.input_dim; }
    [[nodiscard]] Index context_dim() const { return m_options.context_dim; }
    [[nodiscard]] Index components() const { return m_options.components; }
    [[nodiscard]] Index parameter_count() const { return m_net.parameter_count(); }
    [[nodiscard]] const Options& options() const { return m_options; }
    [[nodiscard]] const nn::Mlp<Scalar>& net() const { return m_net; }

    /// Number of MLP outputs, K (1 + 2 d + d(d-1)/2).
    [[nodiscard]] static Index output_rows(Index components, Index input_dim) {
        return components * (1 + 2 * input_dim + input_dim * (input_dim - 1) / 2);
    }

    /// Seeded initialisation: PyTorch's default for the MLP, then the rows producing logits and
    /// precision factors shrunk 10x, so the mixture starts near equal weights and unit
    /// covariances (sbi does the same) while the means differ between components.
    void initialize(Scalar* params, RandomStream& rng) const {
        m_net.initialize(params, rng, 1.0);
        const auto& last = m_net.layers().back();
        const Index rows = last.output_dim();
        const Index in = last.input_dim();
        const Index K = components();
        const Index d = input_dim();
        Eigen::Map<MatrixType> w(params + last.offset(), rows, in);
        Eigen::Map<Vector<Scalar>> b(params + last.offset() + rows * in, rows);
        for (Index r = 0; r < rows; ++r) {
            const bool is_mean = r >= K && r < K + K * d;
            if (is_mean) continue;
            w.row(r) *= Scalar(0.1);
            b(r) *= Scalar(0.1);
        }
    }

    /// log q(y_j | c_j) for every column j, computed stably (log-softmax and log-sum-exp with the
    /// maximum subtracted). Records in `ws` what backward needs.
    /// \param y input_dim x n; \param c context_dim x n; \param out n entries.
    /// \throws std::invalid_argument on a shape mismatch.
    void log_prob(const Scalar* params, const ConstMatrixRef<Scalar>& y,
                  const ConstMatrixRef<Scalar>& c, VectorRef<Scalar> out, Workspace& ws) const {
        const Index n = c.cols();
        const Index K = components();
        const Index d = input_dim();
        require_shape(c, context_dim(), -1, "MixtureDensityNetwork::log_prob: c");
        require_shape(y, d, n, "MixtureDensityNetwork::log_prob: y");
        require(out.size() == n, "MixtureDensityNetwork::log_prob: out has size ", out.size(),
                ", expected ", n);
        const MatrixType& o = m_net.forward(params, c, ws.net);
        ws.log_weights.resize(K, n);
        ws.responsibilities.resize(K, n);
        ws.residual.resize(K * d, n);
        ws.whitened.resize(K * d, n);
        // The transcendental functions run over whole rows (Eigen's vectorised exp/log), not
        // per sample: they were a quarter of a training epoch as scalar libm calls.
        const auto s_rows = o.middleRows(K + K * d, K * d).array();
        if (m_options.diagonal == Diagonal::exp) {
            ws.diagonals = s_rows.exp().matrix();
            ws.log_diagonals = s_rows.matrix();
        } else {  // softplus(s) = max(s, 0) + log1p(e^{-|s|}), stable for any s
            ws.diagonals = (s_rows.max(Scalar(0)) + (-s_rows.abs()).exp().log1p() +
                            static_cast<Scalar>(m_options.diagonal_floor))
                               .matrix();
            ws.log_diagonals = ws.diagonals.array().log().matrix();
        }
        log_sum_exp_columns(o.topRows(K), ws.column_max);
        ws.log_weights = (o.topRows(K).array().rowwise() - ws.column_max.row(0).array()).matrix();
        const Scalar log_norm =
            static_cast<Scalar>(0.5 * static_cast<double>(d) * std::log(2 * std::numbers::pi));
        for (Index j = 0; j < n; ++j) {
            const Scalar* oj = o.data() + j * o.rows();
            const Scalar* log_w = ws.log_weights.data() + j * K;
            Scalar* joint = ws.responsibilities.data() + j * K;  // log pi_k + log N_k, then gamma
            const Scalar* diag_j = ws.diagonals.data() + j * K * d;
            const Scalar* log_diag_j = ws.log_diagonals.data() + j * K * d;
            for (Index k = 0; k < K; ++k) {
                Scalar* r = ws.residual.data() + j * K * d + k * d;
                Scalar* z = ws.whitened.data() + j * K * d + k * d;
                const Scalar* mu = oj + K + k * d;
                const Scalar* diag = diag_j + k * d;
                const Scalar* log_diag = log_diag_j + k * d;
                const Scalar* off = oj + K + 2 * K * d + k * (d * (d - 1) / 2);
                for (Index i = 0; i < d; ++i) r[i] = y(i, j) - mu[i];
                Scalar quad(0);
                Scalar log_det(0);
                for (Index i = 0; i < d; ++i) {
                    // z_i = sum_{m >= i} L_{m i} r_m (column i of L dotted with r).
                    Scalar zi = diag[i] * r[i];
                    for (Index m = i + 1; m < d; ++m) zi += off[m * (m - 1) / 2 + i] * r[m];
                    z[i] = zi;
                    quad += zi * zi;
                    log_det += log_diag[i];
                }
                joint[k] = log_w[k] + log_det - Scalar(0.5) * quad - log_norm;
            }
        }
        // log q_j = logsumexp_k joint; gamma = exp(joint - log q).
        log_sum_exp_columns(ws.responsibilities, ws.column_max);
        out = ws.column_max.row(0).transpose();
        ws.responsibilities =
            (ws.responsibilities.array().rowwise() - ws.column_max.row(0).array()).exp().matrix();
    }

    /// Backward of the last log_prob on `ws` (same y, c) with G_j = dL/d log q_j.
    /// With gamma_k the responsibilities, pi = softmax(a), l_k = log pi_k + log N_k:
    /// dlogq/da_k = gamma_k - pi_k; dlogq/dmu_k = gamma_k L_k z_k (since d(-|L^T r|^2/2)/dr = -L
    /// z); dlogq/dL_{m,i} = -gamma_k r_m z_i (m > i); dlogq/dD_i = gamma_k (1 / D_i - r_i z_i) for
    /// the diagonal D_i = L_ii, times dD_i/ds_i (e^{s_i} for exp, sigmoid(s_i) for softplus). These
    /// G-weighted output gradients then go back through the MLP (params and context). \throws
    /// std::invalid_argument if grad_log_prob does not have one entry per column.
    void backward(const Scalar* params, const ConstMatrixRef<Scalar>& /*y*/,
                  const ConstMatrixRef<Scalar>& c, const ConstVectorRef<Scalar>& grad_log_prob,
                  Workspace& ws, Scalar* grad_params, MatrixType* grad_context) const {
        const Index n = c.cols();
        const Index K = components();
        const Index d = input_dim();
        require(grad_log_prob.size() == n,
                "MixtureDensityNetwork::backward: grad_log_prob has size ", grad_log_prob.size(),
                ", expected ", n);
        require_state(ws.responsibilities.cols() == n && ws.residual.rows() == K * d,
                      "MixtureDensityNetwork::backward: the workspace does not hold a log_prob "
                      "of this batch");
        const MatrixType& o = ws.net.output();
        ws.grad_out.resize(o.rows(), n);
        ws.weights = ws.log_weights.array().exp().matrix();
        const bool exp_diagonal = m_options.diagonal == Diagonal::exp;
        if (!exp_diagonal)  // d softplus(s) / ds = sigmoid(s)
            ws.diagonal_slopes =
                (Scalar(1) / (Scalar(1) + (-o.middleRows(K + K * d, K * d).array()).exp()))
                    .matrix();
        for (Index j = 0; j < n; ++j) {
            const Scalar g = grad_log_prob(j);
            const Scalar* oj = o.data() + j * o.rows();
            Scalar* go = ws.grad_out.data() + j * o.rows();
            const Scalar* pi = ws.weights.data() + j * K;
            const Scalar* gamma = ws.responsibilities.data() + j * K;
            for (Index k = 0; k < K; ++k) {
                go[k] = g * (gamma[k] - pi[k]);
                const Scalar gk = g * gamma[k];
                const Scalar* r = ws.residual.data() + j * K * d + k * d;
                const Scalar* z = ws.whitened.data() + j * K * d + k * d;
                const Scalar* diag = ws.diagonals.data() + j * K * d + k * d;
                const Scalar* slope =
                    exp_diagonal ? nullptr : ws.diagonal_slopes.data() + j * K * d + k * d;
                const Scalar* off = oj + K + 2 * K * d + k * (d * (d - 1) / 2);
                Scalar* g_mu = go + K + k * d;
                Scalar* g_s = go + K + K * d + k * d;
                Scalar* g_off = go + K + 2 * K * d + k * (d * (d - 1) / 2);
                for (Index m = 0; m < d; ++m) {
                    // (L z)_m = e^{s_m} z_m + sum_{i < m} L_{m i} z_i.
                    Scalar lz = diag[m] * z[m];
                    for (Index i = 0; i < m; ++i) {
                        lz += off[m * (m - 1) / 2 + i] * z[i];
                        g_off[m * (m - 1) / 2 + i] = -gk * r[m] * z[i];
                    }
                    g_mu[m] = gk * lz;
                    g_s[m] = exp_diagonal ? gk * (Scalar(1) - diag[m] * r[m] * z[m])
                                          : gk * (Scalar(1) / diag[m] - r[m] * z[m]) * slope[m];
                }
            }
        }
        m_net.backward(params, c, ws.grad_out, ws.net, grad_params, grad_context);
    }

    /// Column j of `out` (input_dim x n) is a draw from q(. | c_j) made from
    /// RandomStream(seed, j) alone: one uniform picks the component (inverse CDF of pi), then d
    /// standard normals eps (one uniform each) give y = mu_k + x with L_k^T x = eps, so
    /// Cov(x) = (L_k L_k^T)^{-1}. Always 1 + d uniforms per draw.
    /// \throws std::invalid_argument on a shape mismatch.
    void sample(const Scalar* params, const ConstMatrixRef<Scalar>& c, std::uint64_t seed,
                MatrixRef<Scalar> out) const {
        const Index n = c.cols();
        const Index K = components();
        const Index d = input_dim();
        require_shape(c, context_dim(), -1, "MixtureDensityNetwork::sample: c");
        require_shape(out, d, n, "MixtureDensityNetwork::sample: out");
        typename nn::Mlp<Scalar>::Workspace ws;
        const MatrixType& o = m_net.forward(params, c, ws);
        for (Index j = 0; j < n; ++j) {
            const Scalar* oj = o.data() + j * o.rows();
            RandomStream rng(seed, static_cast<std::uint64_t>(j));
            const Index k = pick_component(oj, rng.uniform());
            const Scalar* mu = oj + K + k * d;
            const Scalar* s = oj + K + K * d + k * d;
            const Scalar* off = oj + K + 2 * K * d + k * (d * (d - 1) / 2);
            for (Index i = 0; i < d; ++i) out(i, j) = static_cast<Scalar>(standard_normal(rng));
            // Back substitution for the upper-triangular L^T, in place (x_m, m > i, already set).
            for (Index i = d; i-- > 0;) {
                Scalar acc = out(i, j);
                for (Index m = i + 1; m < d; ++m) acc -= off[m * (m - 1) / 2 + i] * out(m, j);
                out(i, j) = acc / diagonal(s[i]);
            }
            for (Index i = 0; i < d; ++i) out(i, j) += mu[i];
        }
    }

    /// The mixture at one context (context_dim entries), in double.
    /// \throws std::invalid_argument on a size mismatch.
    [[nodiscard]] Mixture mixture(const Scalar* params,
                                  const ConstVectorRef<Scalar>& context) const {
        require(context.size() == context_dim(),
                "MixtureDensityNetwork::mixture: context has size ", context.size(), ", expected ",
                context_dim());
        const Index K = components();
        const Index d = input_dim();
        typename nn::Mlp<Scalar>::Workspace ws;
        const MatrixType c = context;
        const Vector<double> o = m_net.forward(params, c, ws).col(0).template cast<double>();
        Mixture result;
        const double top = o.head(K).maxCoeff();
        result.weights = (o.head(K).array() - top).exp().matrix();
        result.weights /= result.weights.sum();
        result.means.resize(d, K);
        for (Index k = 0; k < K; ++k) {
            result.means.col(k) = o.segment(K + k * d, d);
            Matrix<double> L = Matrix<double>::Zero(d, d);
            for (Index m = 0; m < d; ++m) {
                L(m, m) =
                    static_cast<double>(diagonal(static_cast<Scalar>(o(K + K * d + k * d + m))));
                for (Index i = 0; i < m; ++i)
                    L(m, i) = o(K + 2 * K * d + k * (d * (d - 1) / 2) + m * (m - 1) / 2 + i);
            }
            // (L L^T)^{-1} = L^{-T} L^{-1}; a triangular solve keeps this within Eigen/Core.
            const Matrix<double> l_inv =
                L.triangularView<Eigen::Lower>().solve(Matrix<double>::Identity(d, d));
            result.covariances.push_back(l_inv.transpose() * l_inv);
            result.precision_factors.push_back(std::move(L));
        }
        return result;
    }

    /// One-line architecture, saved with the weights.
    [[nodiscard]] std::string describe() const {
        return message("MixtureDensityNetwork(input_dim=", input_dim(),
                       ", context_dim=", context_dim(), ", components=", components(),
                       ", hidden=", nn::describe_hidden(m_options.hidden),
                       ", activation=", nn::to_string(m_options.activation),
                       m_options.diagonal == Diagonal::softplus
                           ? message(", diagonal=softplus+", m_options.diagonal_floor)
                           : std::string(),
                       ")");
    }

private:
    /// The precision factor's diagonal entry from the MLP output s.
    [[nodiscard]] Scalar diagonal(Scalar s) const {
        if (m_options.diagonal == Diagonal::exp) return std::exp(s);
        // softplus(s) = max(s, 0) + log1p(e^{-|s|}), stable for any s.
        return std::max(s, Scalar(0)) + std::log1p(std::exp(-std::abs(s))) +
               static_cast<Scalar>(m_options.diagonal_floor);
    }
    /// out(0, j) = log sum_k exp(x(k, j)), with each column's maximum subtracted (vectorised over
    /// the columns; `out` is a 1 x n buffer reused across calls).
    static void log_sum_exp_columns(const ConstMatrixRef<Scalar>& x, MatrixType& out) {
        out = x.colwise().maxCoeff();
        out.array() += (x.array().rowwise() - out.row(0).array()).exp().colwise().sum().log();
    }

    /// Smallest k with u < pi_1 + ... + pi_k (the last component if rounding leaves a gap).
    [[nodiscard]] Index pick_component(const Scalar* logits, double u) const {
        const Index K = components();
        double top = static_cast<double>(logits[0]);
        for (Index k = 1; k < K; ++k) top = std::max(top, static_cast<double>(logits[k]));
        double total = 0;
        for (Index k = 0; k < K; ++k) total += std::exp(static_cast<double>(logits[k]) - top);
        double cumulative = 0;
        const double threshold = u * total;
        for (Index k = 0; k + 1 < K; ++k) {
            cumulative += std::exp(static_cast<double>(logits[k]) - top);
            if (threshold < cumulative) return k;
        }
        return K - 1;
    }

    Options m_options;
    nn::Mlp<Scalar> m_net;
};

}  // namespace mlsbi::flows
