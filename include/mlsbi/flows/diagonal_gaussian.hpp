// SPDX-License-Identifier: MIT
/// \file
/// \brief Baseline conditional density: a diagonal Gaussian whose mean and log-scale come from an MLP.
#pragma once

#include <cmath>
#include <numbers>
#include <vector>

#include "mlsbi/flows/conditional_density.hpp"
#include "mlsbi/nn/mlp.hpp"
#include "mlsbi/rng/normal.hpp"

namespace mlsbi::flows {

/// q(y | c) = N(y; mu(c), diag(exp(2 s(c)))) with [mu; s] = MLP(c).
/// Satisfies ConditionalDensity. Useful as a baseline and as the reference implementation of the
/// contract.
template <typename Scalar_>
class DiagonalGaussian {
public:
    using Scalar = Scalar_;
    using MatrixType = Matrix<Scalar>;

    struct Options {
        Index input_dim = 1;                    ///< dimension of y, >= 1
        Index context_dim = 1;                  ///< dimension of c, >= 1
        std::vector<Index> hidden{50, 50};      ///< MLP hidden sizes
        nn::Activation activation = nn::Activation::relu;

        /// \throws std::invalid_argument naming the first invalid field.
        void validate() const {
            require(input_dim >= 1, "DiagonalGaussian::Options: input_dim must be >= 1, got ", input_dim);
            require(context_dim >= 1, "DiagonalGaussian::Options: context_dim must be >= 1, got ",
                    context_dim);
            for (std::size_t i = 0; i < hidden.size(); ++i)
                require(hidden[i] >= 1, "DiagonalGaussian::Options: hidden[", i,
                        "] must be >= 1, got ", hidden[i]);
        }
    };

    struct Workspace {
        typename nn::Mlp<Scalar>::Workspace net;
        MatrixType z;         ///< standardised residuals (y - mu) / sigma
        MatrixType grad_out;  ///< dL/d[mu; s]
    };

    DiagonalGaussian(ParameterLayout& layout, const Options& options)
        : m_options((options.validate(), options)),
          m_net(layout, nn::MlpShape{options.context_dim, options.hidden, 2 * options.input_dim,
                                     options.activation}) {}

    [[nodiscard]] Index input_dim() const { return m_options.input_dim; }
    [[nodiscard]] Index context_dim() const { return m_options.context_dim; }
    [[nodiscard]] Index parameter_count() const { return m_net.parameter_count(); }
    [[nodiscard]] const Options& options() const { return m_options; }
    /// The MLP c -> [mu; s] (rows 0..d-1 the mean, d..2d-1 the log-scale).
    [[nodiscard]] const nn::Mlp<Scalar>& net() const { return m_net; }

    void initialize(Scalar* params, RandomStream& rng) const { m_net.initialize(params, rng, 0.1); }

    /// log q = sum_k -z_k^2/2 - s_k - log(2 pi)/2, z = (y - mu) e^{-s}.
    /// \param y input_dim x n; \param c context_dim x n; \param out n entries.
    /// \throws std::invalid_argument on a shape mismatch.
    void log_prob(const Scalar* params, const ConstMatrixRef<Scalar>& y,
                  const ConstMatrixRef<Scalar>& c, VectorRef<Scalar> out, Workspace& ws) const {
        const Index d = input_dim();
        require_shape(c, context_dim(), -1, "DiagonalGaussian::log_prob: c");
        require_shape(y, d, c.cols(), "DiagonalGaussian::log_prob: y");
        require(out.size() == c.cols(), "DiagonalGaussian::log_prob: out has size ", out.size(),
                ", expected ", c.cols());
        const MatrixType& o = m_net.forward(params, c, ws.net);
        ws.z = ((y - o.topRows(d)).array() * (-o.bottomRows(d).array()).exp()).matrix();
        const Scalar log_norm = static_cast<Scalar>(0.5 * std::log(2 * std::numbers::pi)) * Scalar(d);
        out = (Scalar(-0.5) * ws.z.array().square().colwise().sum() -
               o.bottomRows(d).array().colwise().sum() - log_norm)
                  .transpose()
                  .matrix();
    }

    /// d log q / d mu = z e^{-s}, d log q / d s = z^2 - 1 (from z = (y - mu) e^{-s}), each
    /// column scaled by its G_j = dL/d log q_j; then back through the MLP.
    /// \throws std::invalid_argument if grad_log_prob does not have one entry per column.
    void backward(const Scalar* params, const ConstMatrixRef<Scalar>& /*y*/,
                  const ConstMatrixRef<Scalar>& c, const ConstVectorRef<Scalar>& grad_log_prob,
                  Workspace& ws, Scalar* grad_params, MatrixType* grad_context) const {
        const Index d = input_dim();
        require(grad_log_prob.size() == c.cols(), "DiagonalGaussian::backward: grad_log_prob has size ",
                grad_log_prob.size(), ", expected ", c.cols());
        require_state(ws.z.cols() == c.cols() && ws.z.rows() == d,
                      "DiagonalGaussian::backward: the workspace does not hold a log_prob of this "
                      "batch");
        const MatrixType& o = ws.net.output();
        ws.grad_out.resize(2 * d, c.cols());
        ws.grad_out.topRows(d) = (ws.z.array() * (-o.bottomRows(d).array()).exp()).rowwise() *
                                 grad_log_prob.transpose().array();
        ws.grad_out.bottomRows(d) =
            (ws.z.array().square() - Scalar(1)).rowwise() * grad_log_prob.transpose().array();
        m_net.backward(params, c, ws.grad_out, ws.net, grad_params, grad_context);
    }

    /// y = mu + e^s eps, eps ~ N(0, I) from RandomStream(seed, j) for column j (d uniforms).
    /// \param c context_dim x n; \param out pre-sized input_dim x n.
    /// \throws std::invalid_argument on a shape mismatch.
    void sample(const Scalar* params, const ConstMatrixRef<Scalar>& c, std::uint64_t seed,
                MatrixRef<Scalar> out) const {
        const Index d = input_dim();
        require_shape(c, context_dim(), -1, "DiagonalGaussian::sample: c");
        require_shape(out, d, c.cols(), "DiagonalGaussian::sample: out");
        Workspace ws;
        const MatrixType& o = m_net.forward(params, c, ws.net);
        for (Index j = 0; j < c.cols(); ++j) {
            RandomStream rng(seed, static_cast<std::uint64_t>(j));
            for (Index k = 0; k < d; ++k)
                out(k, j) = o(k, j) + std::exp(o(d + k, j)) * static_cast<Scalar>(standard_normal(rng));
        }
    }

    [[nodiscard]] std::string describe() const {
        return message("DiagonalGaussian(input_dim=", input_dim(), ", context_dim=", context_dim(),
                       ", hidden=", nn::describe_hidden(m_options.hidden), ", activation=",
                       nn::to_string(m_options.activation), ")");
    }

private:
    Options m_options;
    nn::Mlp<Scalar> m_net;
};

}  // namespace mlsbi::flows
