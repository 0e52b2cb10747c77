// SPDX-License-Identifier: MIT
/// \file
/// \brief Multilayer perceptron: Dense layers with a hidden activation and a linear output.
#pragma once

#include <string>
#include <vector>

#include "mlsbi/nn/activation.hpp"
#include "mlsbi/nn/dense.hpp"

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

    /// Buffers of one forward pass: `pre[i]` (before activation, only kept when the activation
    /// needs it) and `post[i]` (layer i's output after activation; the last is the MLP output).
    struct Workspace {
        std::vector<MatrixType> pre;
        std::vector<MatrixType> post;
        MatrixType grad_a;
        MatrixType grad_b;
        [[nodiscard]] const MatrixType& output() const { return post.back(); }
    };

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
    [[nodiscard]] Index parameter_count() const {
        Index n = 0;
        for (const auto& l : m_layers) n += l.parameter_count();
        return n;
    }

    /// Seeded initialisation; `output_scale` shrinks the last layer (0 makes it start at zero,
    /// useful to start a flow at the identity).
    void initialize(Scalar* params, RandomStream& rng, double output_scale = 1.0) const {
        for (std::size_t i = 0; i < m_layers.size(); ++i)
            m_layers[i].initialize(params, rng, i + 1 == m_layers.size() ? output_scale : 1.0);
    }

    /// Forward pass over a batch x (input_dim x n); the result is `ws.output()` (output_dim x n).
    const MatrixType& forward(const Scalar* params, const ConstMatrixRef<Scalar>& x,
                              Workspace& ws) const {
        require(x.rows() == m_shape.input_dim, "Mlp::forward: input has ", x.rows(),
                " rows, expected ", m_shape.input_dim);
        const std::size_t depth = m_layers.size();
        ws.pre.resize(depth);
        ws.post.resize(depth);
        const bool keep_pre = !derivative_from_output(m_shape.activation);
        for (std::size_t i = 0; i < depth; ++i) {
            MatrixType& out = ws.post[i];
            out.resize(m_layers[i].output_dim(), x.cols());
            if (i == 0)
                m_layers[i].forward(params, x, out);
            else
                m_layers[i].forward(params, ws.post[i - 1], out);
            if (i + 1 < depth) {
                if (keep_pre) ws.pre[i] = out;
                apply_activation<Scalar>(m_shape.activation, out, out);
            }
        }
        return ws.post.back();
    }

    /// Backward of the last forward on `x` with upstream G = dL/dy: accumulates dL/dparams into
    /// `grad_params` (if not null) and writes dL/dx into `grad_x` (if not null).
    /// Chain rule per layer: G_pre = G_post * a'(pre); G_in = W^T G_pre.
    void backward(const Scalar* params, const ConstMatrixRef<Scalar>& x,
                  const ConstMatrixRef<Scalar>& grad_y, Workspace& ws, Scalar* grad_params,
                  MatrixType* grad_x) const {
        const std::size_t depth = m_layers.size();
        MLSBI_ASSERT(ws.post.size() == depth && grad_y.cols() == x.cols());
        // grad_a holds dL/d(output of layer i) as we walk down; grad_b receives dL/d(input).
        ws.grad_a = grad_y;
        for (std::size_t i = depth; i-- > 0;) {
            if (i + 1 < depth)
                multiply_activation_derivative<Scalar>(m_shape.activation, ws.pre[i], ws.post[i],
                                                       ws.grad_a);
            const bool need_input_grad = i > 0 || grad_x != nullptr;
            if (i == 0)
                m_layers[i].backward(params, x, ws.grad_a, grad_params,
                                     need_input_grad ? &ws.grad_b : nullptr);
            else
                m_layers[i].backward(params, ws.post[i - 1], ws.grad_a, grad_params, &ws.grad_b);
            if (need_input_grad) ws.grad_a.swap(ws.grad_b);
        }
        if (grad_x != nullptr) *grad_x = ws.grad_a;
    }

private:
    MlpShape m_shape{};
    std::vector<Dense<Scalar>> m_layers{};
};

}  // namespace mlsbi::nn
