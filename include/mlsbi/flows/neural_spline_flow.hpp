// SPDX-License-Identifier: MIT
/// \file
/// \brief Conditional neural spline flow for y of dimension >= 2: rational-quadratic spline
/// coupling transforms with residual-net conditioners and LU-linear layers between them, as sbi
/// builds its "nsf" density estimator.
#pragma once

#include <cmath>
#include <cstdint>
#include <numbers>
#include <string>
#include <vector>

#include "mlsbi/flows/conditional_density.hpp"
#include "mlsbi/flows/lu_linear.hpp"
#include "mlsbi/flows/spline_coupling.hpp"
#include "mlsbi/rng/normal.hpp"

namespace mlsbi::flows {

/// q(y | c) for y in R^D, D >= 2: z = f_T(... f_1(y) ...), z ~ N(0, I_D), with
///   f_t = LU_t o Coupling_t,
/// Coupling_t a SplineCoupling whose alternating mask transforms the even features when t is
/// even and the odd ones when t is odd (nflows' create_alternating_binary_mask), conditioned
/// on the untouched features and the context c through a residual net, and LU_t an LuLinear
/// layer (identity at initialisation). This is sbi's `build_nsf` for D >= 2 (without its
/// standardising layer, which ConditionalEstimator provides). log q = log N(z) + sum of the
/// log-determinants. Sampling inverts each layer in closed form.
///
/// For one-dimensional y use ContextSplineFlow (the context-only spline sbi builds in that case);
/// constructing a NeuralSplineFlow with input_dim 1 throws and says so.
///
/// Defaults are the paper's g-and-k NPE network (Hikida et al. 2025): 3 coupling transforms, 3
/// bins, tail bound 3, conditioner width 32 with 2 residual blocks. Satisfies ConditionalDensity.
/// Parameters: per transform, the coupling's conditioner then the LU layer.
///
/// References: Durkan, Bekasov, Murray, Papamakarios (2019) "Neural spline flows"; Dinh et al.
/// (2017) "Density estimation using Real NVP" (coupling layers); Kingma & Dhariwal (2018)
/// "Glow" (LU-parametrised linear layers).
/// \tparam Scalar_ float or double.
/// \tparam Conditioner see SplineCoupling (default nn::ResidualNet).
template <typename Scalar_, typename Conditioner = nn::ResidualNet<Scalar_>>
class NeuralSplineFlow {
public:
    using Scalar = Scalar_;
    using MatrixType = Matrix<Scalar>;
    using VectorType = Vector<Scalar>;
    using Coupling = SplineCoupling<Scalar, Conditioner>;

    /// Architecture; defaults reproduce the paper's g-and-k NPE network (set the dimensions).
    struct Options {
        Index input_dim = 2;      ///< D, dimension of y, >= 2 (1: use ContextSplineFlow)
        Index context_dim = 1;    ///< dimension of c, >= 1
        Index transforms = 3;     ///< coupling transforms (each followed by an LU layer), >= 1
        Index hidden = 32;        ///< residual-net width
        Index blocks = 2;         ///< residual blocks per conditioner
        Index bins = 3;           ///< K, bins per spline, in [1, 64] (sbi's default is 10)
        double tail_bound = 3.0;  ///< B: splines act on [-B, B]
        nn::Activation activation = nn::Activation::relu;

        /// \throws std::invalid_argument naming the first invalid field.
        void validate() const {
            require(input_dim >= 2, "NeuralSplineFlow::Options: input_dim must be >= 2, got ",
                    input_dim, " (for one-dimensional y use ContextSplineFlow)");
            require(context_dim >= 1, "NeuralSplineFlow::Options: context_dim must be >= 1, got ",
                    context_dim);
            require(transforms >= 1, "NeuralSplineFlow::Options: transforms must be >= 1, got ",
                    transforms);
            require(bins >= 1 && bins <= 64,
                    "NeuralSplineFlow::Options: bins must be in [1, 64], got ", bins);
            require(std::isfinite(tail_bound) && tail_bound > 0,
                    "NeuralSplineFlow::Options: tail_bound must be positive, got ", tail_bound);
            require(hidden >= 1, "NeuralSplineFlow::Options: hidden must be >= 1, got ", hidden);
            require(blocks >= 0, "NeuralSplineFlow::Options: blocks must be >= 0, got ", blocks);
        }
    };

    /// Buffers of one log_prob/backward pair (sized on first use, reused after).
    struct Workspace {
        std::vector<typename Coupling::Workspace> couplings;
        std::vector<MatrixType> states;  ///< [2t]: input of coupling t, [2t+1]: input of LU t,
                                         ///< [2T]: z
        VectorType logdet;
        MatrixType grad_a, grad_b;       ///< dL/d(state) while walking down
        VectorType grad_logdet;
    };

    /// \throws std::invalid_argument if the options are invalid.
    NeuralSplineFlow(ParameterLayout& layout, const Options& options)
        : m_options((options.validate(), options)) {
        for (Index t = 0; t < options.transforms; ++t) {
            m_couplings.emplace_back(layout, SplineCouplingOptions{.input_dim = options.input_dim,
                                                                   .context_dim = options.context_dim,
                                                                   .even = t % 2 == 0,
                                                                   .hidden = options.hidden,
                                                                   .blocks = options.blocks,
                                                                   .bins = options.bins,
                                                                   .tail_bound = options.tail_bound,
                                                                   .activation = options.activation});
            m_linears.emplace_back(layout, options.input_dim);
        }
    }

    [[nodiscard]] Index input_dim() const { return m_options.input_dim; }
    [[nodiscard]] Index context_dim() const { return m_options.context_dim; }
    [[nodiscard]] const Options& options() const { return m_options; }
    [[nodiscard]] const std::vector<Coupling>& couplings() const { return m_couplings; }
    [[nodiscard]] const std::vector<LuLinear<Scalar>>& linears() const { return m_linears; }
    [[nodiscard]] Index parameter_count() const {
        Index n = 0;
        for (std::size_t t = 0; t < m_couplings.size(); ++t)
            n += m_couplings[t].parameter_count() + m_linears[t].parameter_count();
        return n;
    }

    /// nflows' initialisation of the conditioners; LU layers start at the identity.
    void initialize(Scalar* params, RandomStream& rng) const {
        for (std::size_t t = 0; t < m_couplings.size(); ++t) {
            m_couplings[t].initialize(params, rng);
            m_linears[t].initialize(params);
        }
    }

    /// out_j = log q(y_j | c_j). \param y input_dim x n; \param c context_dim x n; \param out n.
    /// \throws std::invalid_argument on a shape mismatch.
    void log_prob(const Scalar* params, const ConstMatrixRef<Scalar>& y,
                  const ConstMatrixRef<Scalar>& c, VectorRef<Scalar> out, Workspace& ws) const {
        check_batch("log_prob", y, c);
        require(out.size() == y.cols(), "NeuralSplineFlow::log_prob: out has size ", out.size(),
                ", expected ", y.cols());
        forward_all(params, y, c, ws);
        const MatrixType& z = ws.states.back();
        const Scalar log_norm = static_cast<Scalar>(0.5 * std::log(2 * std::numbers::pi)) *
                                static_cast<Scalar>(input_dim());
        out = (ws.logdet.array() - Scalar(0.5) * z.colwise().squaredNorm().transpose().array() -
               log_norm)
                  .matrix();
    }

    /// Backward of the last log_prob on `ws` (same y, c) with G_j = dL/d log q_j: accumulates
    /// dL/dparams into grad_params (if not null) and writes dL/dc into grad_context (if not null).
    ///
    /// Derivation: d log q / dz = -z, d log q / d logdet = 1 (the same G for every layer's
    /// log-determinant); each layer's backward maps dL/d(output) to dL/d(input) from the top
    /// down, adding its parameter and context gradients.
    void backward(const Scalar* params, const ConstMatrixRef<Scalar>& y,
                  const ConstMatrixRef<Scalar>& c, const ConstVectorRef<Scalar>& grad_log_prob,
                  Workspace& ws, Scalar* grad_params, MatrixType* grad_context) const {
        const Index n = y.cols();
        const Index T = m_options.transforms;
        require(grad_log_prob.size() == n && c.cols() == n &&
                    static_cast<Index>(ws.states.size()) == 2 * T + 1 && ws.states[0].cols() == n,
                "NeuralSplineFlow::backward: grad_log_prob, y and c must match the last log_prob "
                "batch");
        if (grad_context != nullptr) grad_context->setZero(context_dim(), n);
        ws.grad_logdet = grad_log_prob;
        ws.grad_a = -(ws.states.back().array().rowwise() * grad_log_prob.transpose().array()).matrix();
        for (Index t = T; t-- > 0;) {
            const auto ts = static_cast<std::size_t>(t);
            m_linears[ts].backward(params, ws.states[2 * ts + 1], ws.grad_a, ws.grad_logdet,
                                   grad_params, &ws.grad_b);
            m_couplings[ts].backward(params, ws.states[2 * ts], c, ws.grad_b, ws.grad_logdet.data(),
                                     ws.couplings[ts], grad_params, ws.grad_a, grad_context);
        }
    }

    /// Value-only flow map y -> z (input_dim x n) with the log-determinant added to `logdet`.
    void transform(const Scalar* params, const ConstMatrixRef<Scalar>& y,
                   const ConstMatrixRef<Scalar>& c, MatrixRef<Scalar> z,
                   VectorRef<Scalar> logdet) const {
        check_batch("transform", y, c);
        require(z.rows() == input_dim() && z.cols() == y.cols() && logdet.size() == y.cols(),
                "NeuralSplineFlow::transform: z must be ", input_dim(), " x n and logdet n");
        Workspace ws;
        forward_all(params, y, c, ws);
        z = ws.states.back();
        logdet += ws.logdet;
    }

    /// Inverse flow map z -> y (input_dim x n), layer by layer in closed form.
    void inverse_transform(const Scalar* params, const ConstMatrixRef<Scalar>& z,
                           const ConstMatrixRef<Scalar>& c, MatrixRef<Scalar> y) const {
        check_batch("inverse_transform", z, c);
        require(y.rows() == input_dim() && y.cols() == z.cols(),
                "NeuralSplineFlow::inverse_transform: y must be ", input_dim(), " x n");
        typename Coupling::Workspace ws;
        MatrixType a = z, b(z.rows(), z.cols());
        for (std::size_t t = m_couplings.size(); t-- > 0;) {
            m_linears[t].inverse(params, a, b, nullptr);
            m_couplings[t].inverse(params, b, c, a, nullptr, ws);
        }
        y = a;
    }

    /// Column j of out (input_dim x n) is y = f^{-1}(z; c_j) with z ~ N(0, I) drawn (rows in
    /// order) from RandomStream(seed, j).
    void sample(const Scalar* params, const ConstMatrixRef<Scalar>& c, std::uint64_t seed,
                MatrixRef<Scalar> out) const {
        require(c.rows() == context_dim() && out.rows() == input_dim() && out.cols() == c.cols(),
                "NeuralSplineFlow::sample: c must be ", context_dim(), " x n and out ",
                input_dim(), " x n");
        MatrixType z(input_dim(), c.cols());
        for (Index j = 0; j < c.cols(); ++j) {
            RandomStream rng(seed, static_cast<std::uint64_t>(j));
            for (Index k = 0; k < input_dim(); ++k)
                z(k, j) = static_cast<Scalar>(standard_normal(rng));
        }
        inverse_transform(params, z, c, out);
    }

    [[nodiscard]] std::string describe() const {
        return message("NeuralSplineFlow(input_dim=", input_dim(), ", context_dim=", context_dim(),
                       ", transforms=", m_options.transforms, ", bins=", m_options.bins,
                       ", tail_bound=", m_options.tail_bound, ", hidden=", m_options.hidden,
                       ", blocks=", m_options.blocks, ", activation=",
                       nn::to_string(m_options.activation), ")");
    }

private:
    void check_batch(const char* fn, const ConstMatrixRef<Scalar>& y,
                     const ConstMatrixRef<Scalar>& c) const {
        require(y.rows() == input_dim(), "NeuralSplineFlow::", fn, ": y has ", y.rows(),
                " rows, expected ", input_dim());
        require(c.rows() == context_dim() && c.cols() == y.cols(), "NeuralSplineFlow::", fn,
                ": c is ", c.rows(), " x ", c.cols(), ", expected ", context_dim(), " x ",
                y.cols());
    }

    void forward_all(const Scalar* params, const ConstMatrixRef<Scalar>& y,
                     const ConstMatrixRef<Scalar>& c, Workspace& ws) const {
        const Index n = y.cols();
        const std::size_t T = m_couplings.size();
        ws.couplings.resize(T);
        ws.states.resize(2 * T + 1);
        for (auto& s : ws.states) s.resize(input_dim(), n);
        ws.logdet.setZero(n);
        ws.states[0] = y;
        for (std::size_t t = 0; t < T; ++t) {
            m_couplings[t].forward(params, ws.states[2 * t], c, ws.states[2 * t + 1],
                                   ws.logdet.data(), ws.couplings[t]);
            m_linears[t].forward(params, ws.states[2 * t + 1], ws.states[2 * t + 2],
                                 ws.logdet.data());
        }
    }

    Options m_options;
    std::vector<Coupling> m_couplings;
    std::vector<LuLinear<Scalar>> m_linears;
};

}  // namespace mlsbi::flows
