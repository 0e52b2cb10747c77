// SPDX-License-Identifier: MIT
/// \file
/// \brief Residual network with a context input (nflows' ResidualNet), the conditioner of neural
/// spline flows, with a hand-written backward pass.
#pragma once

#include <string>
#include <vector>

#include "mlsbi/nn/residual_block.hpp"

namespace mlsbi::nn {

/// Architecture of a ResidualNet.
struct ResidualNetShape {
    Index input_dim = 1;    ///< dimension of x, >= 0 (0: a function of the context only)
    Index context_dim = 0;  ///< dimension of c, >= 0 (0: no context); input_dim + context_dim >= 1
    Index hidden = 50;      ///< width of the residual stream, >= 1
    Index num_blocks = 2;   ///< residual blocks, >= 0
    Index output_dim = 1;   ///< >= 1
    Activation activation = Activation::relu;  ///< nflows' default

    /// \throws std::invalid_argument naming the first invalid field.
    void validate() const {
        require(input_dim >= 0, "ResidualNetShape: input_dim must be >= 0, got ", input_dim);
        require(context_dim >= 0, "ResidualNetShape: context_dim must be >= 0, got ", context_dim);
        require(input_dim + context_dim >= 1,
                "ResidualNetShape: input_dim + context_dim must be >= 1, got ",
                input_dim + context_dim);
        require(hidden >= 1, "ResidualNetShape: hidden must be >= 1, got ", hidden);
        require(num_blocks >= 0, "ResidualNetShape: num_blocks must be >= 0, got ", num_blocks);
        require(output_dim >= 1, "ResidualNetShape: output_dim must be >= 1, got ", output_dim);
    }
};

/// nflows' ResidualNet (no batch norm, no dropout):
///   h_0 = W_in [x; c] + b_in,   h_k = ResidualBlock_k(h_{k-1}, c),   y = W_out h_B + b_out.
/// x: input_dim x n, c: context_dim x n, y: output_dim x n (one sample per column).
///
/// Parameters in nflows' construction order: initial layer (W_in: hidden x (input_dim +
/// context_dim), the x columns first, then b_in), the blocks (each: context layer, linear_0,
/// linear_1), final layer (W_out, b_out). The concatenation [x; c] is never formed: W_in's
/// column blocks multiply x and c separately. Forward records into a Workspace that backward
/// reads; one Workspace per concurrent caller.
template <typename Scalar>
class ResidualNet {
public:
    using MatrixType = Matrix<Scalar>;

    struct Workspace {
        std::vector<MatrixType> h;  ///< h[0] = initial output, h[k] = block k output
        std::vector<typename ResidualBlock<Scalar>::Workspace> blocks;
        MatrixType out;
        MatrixType grad_h;
        MatrixType grad_next;
        MatrixType grad_c_part;
        [[nodiscard]] const MatrixType& output() const { return out; }
    };

    ResidualNet() = default;

    /// \throws std::invalid_argument if the shape is invalid.
    ResidualNet(ParameterLayout& layout, ResidualNetShape shape) : m_shape(shape) {
        m_shape.validate();
        m_initial = Dense<Scalar>(layout, m_shape.input_dim + m_shape.context_dim, m_shape.hidden);
        for (Index k = 0; k < m_shape.num_blocks; ++k)
            m_blocks.emplace_back(layout, m_shape.hidden, m_shape.context_dim, m_shape.activation);
        m_final = Dense<Scalar>(layout, m_shape.hidden, m_shape.output_dim);
    }

    [[nodiscard]] const ResidualNetShape& shape() const { return m_shape; }
    [[nodiscard]] Index input_dim() const { return m_shape.input_dim; }
    [[nodiscard]] Index context_dim() const { return m_shape.context_dim; }
    [[nodiscard]] Index output_dim() const { return m_shape.output_dim; }
    [[nodiscard]] Index parameter_count() const {
        Index n = m_initial.parameter_count() + m_final.parameter_count();
        for (const auto& b : m_blocks) n += b.parameter_count();
        return n;
    }
    [[nodiscard]] const Dense<Scalar>& final_layer() const { return m_final; }

    /// nflows' initialisation (PyTorch defaults, linear_1 of each block U(-1e-3, 1e-3));
    /// `output_scale` multiplies the bound of the final layer (0 makes the output start at 0).
    void initialize(Scalar* params, RandomStream& rng, double output_scale = 1.0) const {
        m_initial.initialize(params, rng);
        for (const auto& b : m_blocks) b.initialize(params, rng);
        m_final.initialize(params, rng, output_scale);
    }

    /// Forward pass; returns `ws.output()` (output_dim x n). c is ignored if context_dim == 0.
    /// \throws std::invalid_argument on a row-count or column-count mismatch.
    const MatrixType& forward(const Scalar* params, const ConstMatrixRef<Scalar>& x,
                              const ConstMatrixRef<Scalar>& c, Workspace& ws) const {
        require(x.rows() == input_dim(), "ResidualNet::forward: input has ", x.rows(),
                " rows, expected ", input_dim());
        const Index n = x.cols();
        if (context_dim() > 0)
            require(c.rows() == context_dim() && c.cols() == n, "ResidualNet::forward: context is ",
                    c.rows(), " x ", c.cols(), ", expected ", context_dim(), " x ", n);
        const std::size_t blocks = m_blocks.size();
        ws.h.resize(blocks + 1);
        ws.blocks.resize(blocks);
        const auto w = m_initial.weight(params);
        MatrixType& h0 = ws.h[0];
        h0.resize(m_shape.hidden, n);
        if (input_dim() > 0)
            h0.noalias() = w.leftCols(input_dim()) * x;
        else
            h0.setZero();
        if (context_dim() > 0) h0.noalias() += w.rightCols(context_dim()) * c;
        h0.colwise() += m_initial.bias(params);
        for (std::size_t k = 0; k < blocks; ++k) {
            ws.h[k + 1].resize(m_shape.hidden, n);
            m_blocks[k].forward(params, ws.h[k], c, ws.h[k + 1], ws.blocks[k]);
        }
        ws.out.resize(output_dim(), n);
        m_final.forward(params, ws.h[blocks], ws.out);
        return ws.out;
    }

    /// Backward of the last forward (same x, c) given G = dL/dy (output_dim x n). Accumulates
    /// dL/dparams into grad_params (if not null); writes dL/dx (input_dim x n) and dL/dc
    /// (context_dim x n, summed over the initial layer and every block's gate) if not null.
    /// Chain: G_h = W_out^T G; through each block in reverse; then
    /// dL/dW_in += G_h [x; c]^T, dL/dx = W_in[:, x]^T G_h, dL/dc += W_in[:, c]^T G_h.
    void backward(const Scalar* params, const ConstMatrixRef<Scalar>& x,
                  const ConstMatrixRef<Scalar>& c, const ConstMatrixRef<Scalar>& grad_y,
                  Workspace& ws, Scalar* grad_params, MatrixType* grad_x,
                  MatrixType* grad_c) const {
        const std::size_t blocks = m_blocks.size();
        MLSBI_ASSERT(ws.h.size() == blocks + 1 && grad_y.cols() == x.cols());
        const Index n = x.cols();
        const bool want_c = grad_c != nullptr && context_dim() > 0;
        if (grad_c != nullptr) grad_c->setZero(context_dim(), n);
        m_final.backward(params, ws.h[blocks], grad_y, grad_params, &ws.grad_h);
        for (std::size_t k = blocks; k-- > 0;) {
            m_blocks[k].backward(params, ws.h[k], c, ws.grad_h, ws.blocks[k], grad_params,
                                 &ws.grad_next, want_c ? &ws.grad_c_part : nullptr);
            if (want_c) *grad_c += ws.grad_c_part;
            ws.grad_h.swap(ws.grad_next);
        }
        const auto w = m_initial.weight(params);
        if (grad_params != nullptr) {
            Eigen::Map<MatrixType> grad_w(grad_params + m_initial.offset(), m_shape.hidden,
                                          input_dim() + context_dim());
            Eigen::Map<Vector<Scalar>> grad_b(
                grad_params + m_initial.offset() + m_shape.hidden * (input_dim() + context_dim()),
                m_shape.hidden);
            if (input_dim() > 0)
                grad_w.leftCols(input_dim()).noalias() += ws.grad_h * x.transpose();
            if (context_dim() > 0)
                grad_w.rightCols(context_dim()).noalias() += ws.grad_h * c.transpose();
            grad_b += ws.grad_h.rowwise().sum();
        }
        if (grad_x != nullptr) {
            grad_x->resize(input_dim(), n);
            if (input_dim() > 0)
                grad_x->noalias() = w.leftCols(input_dim()).transpose() * ws.grad_h;
        }
        if (want_c) grad_c->noalias() += w.rightCols(context_dim()).transpose() * ws.grad_h;
    }

    [[nodiscard]] std::string describe() const {
        return message("ResidualNet(input_dim=", input_dim(), ", context_dim=", context_dim(),
                       ", hidden=", m_shape.hidden, ", num_blocks=", m_shape.num_blocks,
                       ", output_dim=", output_dim(),
                       ", activation=", to_string(m_shape.activation), ")");
    }

private:
    ResidualNetShape m_shape{};
    Dense<Scalar> m_initial{};
    std::vector<ResidualBlock<Scalar>> m_blocks{};
    Dense<Scalar> m_final{};
};

}  // namespace mlsbi::nn
