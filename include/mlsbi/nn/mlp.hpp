// SPDX-License-Identifier: MIT
/// \file
/// \brief Multilayer perceptron: Dense layers with a hidden activation and a linear output.
#pragma once

#include <string>
#include <vector>

#include "mlsbi/nn/activation.hpp"
#include "mlsbi/nn/dense.hpp"
#include "mlsbi/nn/detail/layer_stack.hpp"

namespace mlsbi::nn {

/// Architecture of an MLP: input size, hidden sizes, output size, hidden activation.
struct MlpShape {
    Index input_dim = 0;
    std::vector<Index> hidden{};
    Index output_dim = 0;
    Activation activation = Activation::relu;

    /// \throws std::invalid_argument naming the field that is not positive.
    void validate() const {
        require(input_dim > 0, "MlpShape: input_dim must be positive, got ", input_dim);
        require(output_dim > 0, "MlpShape: output_dim must be positive, got ", output_dim);
        for (std::size_t i = 0; i < hidden.size(); ++i)
            require(hidden[i] > 0, "MlpShape: hidden[", i, "] must be positive, got ", hidden[i]);
    }
};

/// "[50,50]": hidden sizes as written in architecture descriptions.
[[nodiscard]] inline std::string describe_hidden(const std::vector<Index>& hidden) {
    std::string s = "[";
    for (std::size_t i = 0; i < hidden.size(); ++i) {
        if (i > 0) s += ',';
        s += std::to_string(hidden[i]);
    }
    s += ']';
    return s;
}

/// y = L_k(a(... a(L_1 x))): dense layers, activation `a` after every layer but the last.
///
/// Forward stores each layer's output in a Workspace (sized on first use, reused after), which
/// backward reads; one Workspace per concurrent caller.
template <typename Scalar>
class Mlp {
public:
    using MatrixType = Matrix<Scalar>;

    /// Buffers of one forward pass (detail::StackActivations): `post[i]` is layer i's output
    /// after the activation (the last is the MLP output), `pre[i]` before it when needed.
    using Workspace = detail::StackActivations<Scalar>;

    Mlp() = default;

    Mlp(ParameterLayout& layout, MlpShape shape) : m_shape(std::move(shape)) {
        m_shape.validate();
        Index in = m_shape.input_dim;
        for (Index h : m_shape.hidden) {
            m_layers.emplace_back(layout, in, h);
            in = h;
        }
        m_layers.emplace_back(layout, in, m_shape.output_dim);
    }

    [[nodiscard]] const MlpShape& shape() const { return m_shape; }
    [[nodiscard]] Index input_dim() const { return m_shape.input_dim; }
    [[nodiscard]] Index output_dim() const { return m_shape.output_dim; }
    [[nodiscard]] const std::vector<Dense<Scalar>>& layers() const { return m_layers; }
    [[nodiscard]] Index parameter_count() const { return detail::stack_parameter_count(m_layers); }

    /// Seeded initialisation; `output_scale` shrinks the last layer (0 makes it start at zero,
    /// useful to start a flow at the identity).
    void initialize(Scalar* params, RandomStream& rng, double output_scale = 1.0) const {
        detail::initialize_stack(m_layers, params, rng, output_scale);
    }

    /// Forward pass over a batch x (input_dim x n); the result is `ws.output()` (output_dim x n).
    const MatrixType& forward(const Scalar* params, const ConstMatrixRef<Scalar>& x,
                              Workspace& ws) const {
        require(x.rows() == m_shape.input_dim, "Mlp::forward: input has ", x.rows(),
                " rows, expected ", m_shape.input_dim);
        return detail::forward_stack<Scalar>(
            m_layers, m_shape.activation, x, ws,
            [&](std::size_t i, const auto& in, MatrixType& out) {
                m_layers[i].forward(params, in, out);
            });
    }

    /// Backward of the last forward on `x` with upstream G = dL/dy: accumulates dL/dparams into
    /// `grad_params` (if not null) and writes dL/dx into `grad_x` (if not null).
    /// Chain rule per layer: G_pre = G_post * a'(pre); G_in = W^T G_pre.
    void backward(const Scalar* params, const ConstMatrixRef<Scalar>& x,
                  const ConstMatrixRef<Scalar>& grad_y, Workspace& ws, Scalar* grad_params,
                  MatrixType* grad_x) const {
        MLSBI_ASSERT(ws.post.size() == m_layers.size() && grad_y.cols() == x.cols());
        detail::backward_stack<Scalar>(
            m_layers.size(), m_shape.activation, x, grad_y, ws, grad_x,
            [&](std::size_t i, const auto& in, const MatrixType& grad_out, MatrixType* grad_in) {
                m_layers[i].backward(params, in, grad_out, grad_params, grad_in);
            });
    }

private:
    MlpShape m_shape{};
    std::vector<Dense<Scalar>> m_layers{};
};

}  // namespace mlsbi::nn
