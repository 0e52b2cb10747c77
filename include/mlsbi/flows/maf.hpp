// SPDX-License-Identifier: MIT
/// \file
/// \brief Masked autoregressive flow q(y | c): masked affine autoregressive transforms with a
/// context (MADE conditioners), permutations between them, standard normal base.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numbers>
#include <numeric>
#include <string>
#include <string_view>
#include <vector>

#include "mlsbi/flows/conditional_density.hpp"
#include "mlsbi/nn/made.hpp"
#include "mlsbi/rng/normal.hpp"
#include "mlsbi/rng/shuffle.hpp"

namespace mlsbi::flows {

/// How the fixed permutation after each transform is chosen.
enum class MafPermutation {
    random,  ///< a seeded random permutation per transform (nflows' RandomPermutation)
    reverse  ///< reverse the order of the dimensions (nflows' ReversePermutation)
};

[[nodiscard]] inline std::string_view to_string(MafPermutation p) {
    return p == MafPermutation::random ? "random" : "reverse";
}

/// Masked autoregressive flow (Papamakarios et al. 2017) with the transforms of nflows'
/// `MaskedAffineAutoregressiveTransform` (as sbi's `build_maf` stacks them).
///
/// Data y (input_dim x n) is mapped to noise z through `transforms` steps; step k is
///   (s, t) = MADE_k(x, c)  (interleaved per dimension: rows 2i, 2i+1 are s_i, t_i),
///   u = (softplus(s) + 1e-3) o x + t,   log|det| = sum_i log(softplus(s_i) + 1e-3),
///   x <- u[perm_k]         (x_new_i = u_{perm_k(i)}),
/// and log q(y | c) = log N(z; 0, I) + sum of the log-determinants. Output i of a MADE depends
/// on x_0..x_{i-1} and c only, so the Jacobian is triangular. For input_dim 1 the data mask is
/// zero and each step is a conditional affine map of y given c. For input_dim >= 2 the scale and
/// shift of a step's first coordinate are constants (nflows' masks); the permutations move other
/// coordinates first in later steps (random permutations are adjusted so that y_0 is not first in
/// every step; with one transform y_0's marginal cannot depend on c).
///
/// Satisfies ConditionalDensity (see flows/conditional_density.hpp for the contract). Parameters:
/// the transforms' MADEs in order (each: initial, context, blocks, final; see nn::Made).
/// Sampling inverts each step with input_dim passes of its MADE.
///
/// References: Papamakarios, Pavlakou, Murray (2017) "Masked autoregressive flow for density
/// estimation"; Germain et al. (2015) "MADE"; Durkan et al. (2020) nflows.
template <typename Scalar_>
class MaskedAutoregressiveFlow {
public:
    using Scalar = Scalar_;
    using MatrixType = Matrix<Scalar>;

    /// Architecture. Defaults are the common sbi/nflows MAF defaults used by the paper.
    struct Options {
        Index input_dim = 1;    ///< dimension of y, >= 1
        Index context_dim = 1;  ///< dimension of c, >= 1
        Index transforms = 5;   ///< autoregressive transforms, >= 1
        Index hidden = 50;      ///< MADE hidden width, >= 1
        Index blocks = 2;       ///< MADE hidden layers after the first, >= 0
        nn::Activation activation = nn::Activation::tanh;
        MafPermutation permutation = MafPermutation::random;
        std::uint64_t permutation_seed = 0;  ///< seed of the random permutations

        /// \throws std::invalid_argument naming the first invalid field.
        void validate() const {
            require(input_dim >= 1,
                    "MaskedAutoregressiveFlow::Options: input_dim must be >= 1, got ", input_dim);
            require(context_dim >= 1,
                    "MaskedAutoregressiveFlow::Options: context_dim must be >= 1, got ",
                    context_dim);
            require(transforms >= 1,
                    "MaskedAutoregressiveFlow::Options: transforms must be >= 1, got ", transforms);
            require(hidden >= 1, "MaskedAutoregressiveFlow::Options: hidden must be >= 1, got ",
                    hidden);
            require(blocks >= 0, "MaskedAutoregressiveFlow::Options: blocks must be >= 0, got ",
                    blocks);
        }
    };

    /// Buffers of one log_prob (what backward reads); one per concurrent caller.
    struct Workspace {
        std::vector<typename nn::Made<Scalar>::Workspace> made;
        std::vector<MatrixType> x;      ///< x[k]: input of step k; x[transforms] = z
        std::vector<MatrixType> scale;  ///< softplus(s) + 1e-3 of step k
        std::vector<MatrixType> slope;  ///< sigmoid(s) = d softplus(s) / ds of step k
        MatrixType grad_u;              ///< dL/du of the current step
        MatrixType grad_x;              ///< dL/dx of the current step (then the previous z)
        MatrixType grad_out;            ///< dL/d(MADE output)
        MatrixType grad_x_net;          ///< dL/dx through the MADE
        MatrixType grad_c_part;         ///< one MADE's dL/dc
    };

    /// The smallest scale of a step (nflows' epsilon).
    static constexpr double min_scale = 1e-3;

    /// Reserves the parameters of all transforms and fixes the permutations.
    /// \throws std::invalid_argument if the options are invalid.
    MaskedAutoregressiveFlow(ParameterLayout& layout, const Options& options)
        : m_options((options.validate(), options)) {
        const Index d = m_options.input_dim;
        for (Index k = 0; k < m_options.transforms; ++k) {
            m_made.emplace_back(layout, nn::MadeShape{d, m_options.context_dim, m_options.hidden,
                                                      m_options.blocks, 2, m_options.activation});
            std::vector<Index> perm(static_cast<std::size_t>(d));
            std::iota(perm.begin(), perm.end(), Index(0));
            if (m_options.permutation == MafPermutation::reverse) {
                std::reverse(perm.begin(), perm.end());
            } else {
                RandomStream rng(m_options.permutation_seed, static_cast<std::uint64_t>(k));
                shuffle_in_place(perm, rng);  // a stream per transform
            }
            m_perm.push_back(std::move(perm));
        }
        // The first coordinate of each step's input gets a context-free scale and shift (MADE's
        // dimension 0). If every permutation but the last kept coordinate 0 first, y_0 would pass
        // all steps that way and its marginal could not depend on c: swap the last such choice.
        const auto steps = static_cast<std::size_t>(m_options.transforms);
        if (m_options.permutation == MafPermutation::random && d >= 2 && steps >= 2) {
            bool stuck = true;
            for (std::size_t k = 0; k + 1 < steps; ++k) stuck = stuck && m_perm[k][0] == 0;
            if (stuck) std::swap(m_perm[steps - 2][0], m_perm[steps - 2][1]);
        }
    }

    [[nodiscard]] Index input_dim() const { return m_options.input_dim; }
    [[nodiscard]] Index context_dim() const { return m_options.context_dim; }
    [[nodiscard]] Index transforms() const { return m_options.transforms; }
    [[nodiscard]] const Options& options() const { return m_options; }
    [[nodiscard]] Index parameter_count() const {
        Index n = 0;
        for (const auto& m : m_made) n += m.parameter_count();
        return n;
    }
    /// The permutation after step k: the new coordinate i is the old coordinate perm[i].
    [[nodiscard]] const std::vector<Index>& permutation(Index k) const {
        return m_perm[static_cast<std::size_t>(k)];
    }
    [[nodiscard]] const nn::Made<Scalar>& made(Index k) const {
        return m_made[static_cast<std::size_t>(k)];
    }

    /// PyTorch-default initialisation of every MADE (as nflows), seeded by `rng`.
    void initialize(Scalar* params, RandomStream& rng) const {
        for (const auto& m : m_made) m.initialize(params, rng);
    }

    /// log q(y_j | c_j) for every column j. \param y input_dim x n; \param c context_dim x n;
    /// \param out n. Records in `ws` what backward needs.
    /// \throws std::invalid_argument on a shape mismatch.
    void log_prob(const Scalar* params, const ConstMatrixRef<Scalar>& y,
                  const ConstMatrixRef<Scalar>& c, VectorRef<Scalar> out, Workspace& ws) const {
        check_shapes("MaskedAutoregressiveFlow::log_prob", y, c);
        require(out.size() == y.cols(), "MaskedAutoregressiveFlow::log_prob: out has size ",
                out.size(), ", expected ", y.cols());
        const std::size_t steps = m_made.size();
        ws.made.resize(steps);
        ws.x.resize(steps + 1);
        ws.scale.resize(steps);
        ws.slope.resize(steps);
        ws.x[0] = y;
        out.setZero();
        for (std::size_t k = 0; k < steps; ++k) {
            const MatrixType& o = m_made[k].forward(params, ws.x[k], c, ws.made[k]);
            step_forward(o, ws.x[k], m_perm[k], ws.scale[k], &ws.slope[k], ws.x[k + 1]);
            out += ws.scale[k].array().log().colwise().sum().matrix().transpose();
        }
        const Scalar log_norm = static_cast<Scalar>(0.5 * std::log(2 * std::numbers::pi) *
                                                    static_cast<double>(input_dim()));
        out += (Scalar(-0.5) * ws.x[steps].array().square().colwise().sum() - log_norm)
                   .matrix()
                   .transpose();
    }

    /// Backward of the last log_prob on `ws` (same y, c) with G_j = dL/d log q_j: accumulates
    /// dL/dparams into grad_params (if not null) and writes dL/dc (context_dim x n) into
    /// grad_context (if not null).
    /// Per step, with dL/du known (dL/dz = -G z at the top, un-permuted going down):
    /// dL/dscale = dL/du o x + G / scale, dL/ds = dL/dscale o sigmoid(s), dL/dt = dL/du,
    /// dL/dx = dL/du o scale + MADE^T [dL/ds; dL/dt]; the MADE also yields its dL/dc.
    void backward(const Scalar* params, const ConstMatrixRef<Scalar>& y,
                  const ConstMatrixRef<Scalar>& c, const ConstVectorRef<Scalar>& grad_log_prob,
                  Workspace& ws, Scalar* grad_params, MatrixType* grad_context) const {
        const std::size_t steps = m_made.size();
        require_state(
            ws.x.size() == steps + 1 && ws.x[0].cols() == y.cols(),
            "MaskedAutoregressiveFlow::backward: call log_prob with this workspace first");
        require(grad_log_prob.size() == y.cols(),
                "MaskedAutoregressiveFlow::backward: grad_log_prob has size ", grad_log_prob.size(),
                ", expected ", y.cols());
        const Index d = input_dim();
        const Index n = y.cols();
        const auto g = grad_log_prob.transpose().array();
        if (grad_context != nullptr) grad_context->setZero(context_dim(), n);
        // grad_x holds dL/d(output of step k after its permutation) while walking down.
        ws.grad_x = (-ws.x[steps].array()).rowwise() * g;
        for (std::size_t k = steps; k-- > 0;) {
            const std::vector<Index>& perm = m_perm[k];
            ws.grad_u.resize(d, n);
            for (Index i = 0; i < d; ++i)
                ws.grad_u.row(perm[static_cast<std::size_t>(i)]) = ws.grad_x.row(i);
            const MatrixType& x = ws.x[k];
            const MatrixType& scale = ws.scale[k];
            ws.grad_out.resize(2 * d, n);
            for (Index i = 0; i < d; ++i) {
                ws.grad_out.row(2 * i) =
                    ((ws.grad_u.row(i).array() * x.row(i).array() + g / scale.row(i).array()) *
                     ws.slope[k].row(i).array())
                        .matrix();
                ws.grad_out.row(2 * i + 1) = ws.grad_u.row(i);
            }
            const bool need_x = k > 0;
            m_made[k].backward(params, x, c, ws.grad_out, ws.made[k], grad_params,
                               need_x ? &ws.grad_x_net : nullptr,
                               grad_context != nullptr ? &ws.grad_c_part : nullptr);
            if (grad_context != nullptr) *grad_context += ws.grad_c_part;
            if (need_x) ws.grad_x = ws.grad_u.cwiseProduct(scale) + ws.grad_x_net;
        }
    }

    /// Column j of out (input_dim x n) is a draw from q(. | c_j): z_j ~ N(0, I) from
    /// RandomStream(seed, j) (input_dim standard_normal draws, in order), pushed through the
    /// inverse flow. \throws std::invalid_argument on a shape mismatch.
    void sample(const Scalar* params, const ConstMatrixRef<Scalar>& c, std::uint64_t seed,
                MatrixRef<Scalar> out) const {
        require(c.rows() == context_dim(), "MaskedAutoregressiveFlow::sample: context has ",
                c.rows(), " rows, expected ", context_dim());
        require_shape(out, input_dim(), c.cols(), "MaskedAutoregressiveFlow::sample: out");
        MatrixType z(input_dim(), c.cols());
        for (Index j = 0; j < c.cols(); ++j) {
            RandomStream rng(seed, static_cast<std::uint64_t>(j));
            for (Index i = 0; i < input_dim(); ++i)
                z(i, j) = static_cast<Scalar>(standard_normal(rng));
        }
        inverse_transform(params, z, c, out);
    }

    /// Value-only forward map y -> z (both input_dim x n) and log|det dz/dy| (n).
    /// \throws std::invalid_argument on a shape mismatch.
    void forward_transform(const Scalar* params, const ConstMatrixRef<Scalar>& y,
                           const ConstMatrixRef<Scalar>& c, MatrixRef<Scalar> z,
                           VectorRef<Scalar> log_abs_det) const {
        check_shapes("MaskedAutoregressiveFlow::forward_transform", y, c);
        require_shape(z, input_dim(), y.cols(), "MaskedAutoregressiveFlow::forward_transform: z");
        require(log_abs_det.size() == y.cols(),
                "MaskedAutoregressiveFlow::forward_transform: log_abs_det has size ",
                log_abs_det.size(), ", expected ", y.cols());
        typename nn::Made<Scalar>::Workspace made_ws;
        MatrixType x = y;
        MatrixType next;
        MatrixType scale;
        log_abs_det.setZero();
        for (std::size_t k = 0; k < m_made.size(); ++k) {
            const MatrixType& o = m_made[k].forward(params, x, c, made_ws);
            step_forward(o, x, m_perm[k], scale, nullptr, next);
            log_abs_det += scale.array().log().colwise().sum().matrix().transpose();
            x.swap(next);
        }
        z = x;
    }

    /// Value-only inverse map z -> y (both input_dim x n): per step, un-permute, then input_dim
    /// passes of the MADE (after pass i the first i coordinates are exact, as in nflows).
    /// \throws std::invalid_argument on a shape mismatch.
    void inverse_transform(const Scalar* params, const ConstMatrixRef<Scalar>& z,
                           const ConstMatrixRef<Scalar>& c, MatrixRef<Scalar> y) const {
        check_shapes("MaskedAutoregressiveFlow::inverse_transform", z, c);
        require_shape(y, input_dim(), z.cols(), "MaskedAutoregressiveFlow::inverse_transform: y");
        const Index d = input_dim();
        const Index n = z.cols();
        typename nn::Made<Scalar>::Workspace made_ws;
        MatrixType u(d, n);
        MatrixType x(d, n);
        MatrixType cur = z;
        for (std::size_t k = m_made.size(); k-- > 0;) {
            const std::vector<Index>& perm = m_perm[k];
            for (Index i = 0; i < d; ++i) u.row(perm[static_cast<std::size_t>(i)]) = cur.row(i);
            x.setZero();
            for (Index pass = 0; pass < d; ++pass) {
                const MatrixType& o = m_made[k].forward(params, x, c, made_ws);
                for (Index j = 0; j < n; ++j)
                    for (Index i = 0; i < d; ++i)
                        x(i, j) = (u(i, j) - o(2 * i + 1, j)) / scale_of(o(2 * i, j));
            }
            cur = x;
        }
        y = cur;
    }

    [[nodiscard]] std::string describe() const {
        return message("MaskedAutoregressiveFlow(input_dim=", input_dim(),
                       ", context_dim=", context_dim(), ", transforms=", m_options.transforms,
                       ", hidden=", m_options.hidden, ", blocks=", m_options.blocks,
                       ", activation=", nn::to_string(m_options.activation),
                       ", permutation=", to_string(m_options.permutation),
                       ", permutation_seed=", m_options.permutation_seed, ")");
    }

private:
    // softplus(s) + 1e-3, stable for large |s| (softplus(s) = max(s, 0) + log1p(exp(-|s|))).
    [[nodiscard]] static Scalar scale_of(Scalar s) {
        return std::max(s, Scalar(0)) + std::log1p(std::exp(-std::abs(s))) +
               static_cast<Scalar>(min_scale);
    }

    void check_shapes(const char* where, const ConstMatrixRef<Scalar>& y,
                      const ConstMatrixRef<Scalar>& c) const {
        require(y.rows() == input_dim(), where, ": y has ", y.rows(), " rows, expected ",
                input_dim());
        require(c.rows() == context_dim() && c.cols() == y.cols(), where, ": context is ", c.rows(),
                " x ", c.cols(), ", expected ", context_dim(), " x ", y.cols());
    }

    // One step from the MADE output o: scale = softplus(s) + eps, u = scale o x + t, next =
    // u[perm]; slope = sigmoid(s) when requested (for backward).
    static void step_forward(const MatrixType& o, const MatrixType& x,
                             const std::vector<Index>& perm, MatrixType& scale, MatrixType* slope,
                             MatrixType& next) {
        const Index d = x.rows();
        const Index n = x.cols();
        scale.resize(d, n);
        next.resize(d, n);
        if (slope != nullptr) slope->resize(d, n);
        // Strided row views of the interleaved output: s_i = o(2i, :), t_i = o(2i+1, :).
        using Strided = Eigen::Map<const MatrixType, 0, Eigen::Stride<Eigen::Dynamic, 2>>;
        const Strided s(o.data(), d, n, Eigen::Stride<Eigen::Dynamic, 2>(o.rows(), 2));
        const Strided t(o.data() + 1, d, n, Eigen::Stride<Eigen::Dynamic, 2>(o.rows(), 2));
        const auto abs_s = s.array().abs();
        scale = (s.array().max(Scalar(0)) + (-abs_s).exp().log1p() + static_cast<Scalar>(min_scale))
                    .matrix();
        if (slope != nullptr) *slope = (Scalar(1) / (Scalar(1) + (-s.array()).exp())).matrix();
        for (Index i = 0; i < d; ++i) {
            const Index src = perm[static_cast<std::size_t>(i)];
            next.row(i) =
                (scale.row(src).array() * x.row(src).array() + t.row(src).array()).matrix();
        }
    }

    Options m_options;
    std::vector<nn::Made<Scalar>> m_made{};
    std::vector<std::vector<Index>> m_perm{};
};

static_assert(ConditionalDensity<MaskedAutoregressiveFlow<float>>);
static_assert(ConditionalDensity<MaskedAutoregressiveFlow<double>>);

}  // namespace mlsbi::flows
