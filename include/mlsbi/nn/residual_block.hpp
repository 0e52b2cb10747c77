// SPDX-License-Identifier: MIT
/// \file
/// \brief Pre-activation residual block with a gated context input (nflows' ResidualBlock), with a
/// hand-written backward pass.
#pragma once

#include <cmath>

#include "mlsbi/nn/activation.hpp"
#include "mlsbi/nn/dense.hpp"

namespace mlsbi::nn {

/// Residual block of width `features`, as nflows' `ResidualBlock` (no batch norm, no dropout):
///   t = W_1 a(W_0 a(x) + b_0) + b_1;   if context: t = t o sigmoid(V c + b_v)  (a GLU);
///   y = x + t.
/// x, y: features x n; c: context_dim x n (one sample per column).
///
/// Parameters in nflows' construction order: context layer (V, b_v; only if context_dim > 0),
/// linear_0 (W_0, b_0), linear_1 (W_1, b_1). `initialize` draws linear_1 from U(-1e-3, 1e-3)
/// (nflows' zero_initialization), so a fresh block is close to the identity.
template <typename Scalar>
class ResidualBlock {
public:
    using MatrixType = Matrix<Scalar>;

    /// Buffers of one forward pass (one per concurrent caller; resized on first use).
    struct Workspace {
        MatrixType a0;      ///< a(x)
        MatrixType t1;      ///< W_0 a(x) + b_0 (kept only if the activation needs its input)
        MatrixType a1;      ///< a(t1)
        MatrixType t2;      ///< W_1 a1 + b_1
        MatrixType gate;    ///< sigmoid(V c + b_v)
        MatrixType grad_t;  ///< scratch gradients
        MatrixType grad_a;
    };

    ResidualBlock() = default;

    /// \throws std::invalid_argument if features < 1 or context_dim < 0.
    ResidualBlock(ParameterLayout& layout, Index features, Index context_dim = 0,
                  Activation activation = Activation::relu)
        : m_features(features), m_context_dim(context_dim), m_activation(activation) {
        require(features >= 1, "ResidualBlock: features must be >= 1, got ", features);
        require(context_dim >= 0, "ResidualBlock: context_dim must be >= 0, got ", context_dim);
        if (context_dim > 0) m_context = Dense<Scalar>(layout, context_dim, features);
        m_linear0 = Dense<Scalar>(layout, features, features);
        m_linear1 = Dense<Scalar>(layout, features, features);
    }

    [[nodiscard]] Index features() const { return m_features; }
    [[nodiscard]] Index context_dim() const { return m_context_dim; }
    [[nodiscard]] Activation activation() const { return m_activation; }
    [[nodiscard]] Index parameter_count() const {
        return (m_context_dim > 0 ? m_context.parameter_count() : 0) + m_linear0.parameter_count() +
               m_linear1.parameter_count();
    }

    /// PyTorch defaults for the context layer and linear_0; U(-1e-3, 1e-3) for linear_1.
    void initialize(Scalar* params, RandomStream& rng) const {
        if (m_context_dim > 0) m_context.initialize(params, rng);
        m_linear0.initialize(params, rng);
        // Dense's bound is scale / sqrt(in); choose the scale that makes it 1e-3.
        m_linear1.initialize(params, rng, 1e-3 * std::sqrt(static_cast<double>(m_features)));
    }

    /// y = x + t (see the class comment). \param y pre-sized features x n (must not alias x).
    void forward(const Scalar* params, const ConstMatrixRef<Scalar>& x,
                 const ConstMatrixRef<Scalar>& c, MatrixRef<Scalar> y, Workspace& ws) const {
        MLSBI_ASSERT(x.rows() == m_features && y.rows() == m_features && y.cols() == x.cols());
        const Index n = x.cols();
        ws.a0.resize(m_features, n);
        apply_activation<Scalar>(m_activation, x, ws.a0);
        ws.a1.resize(m_features, n);
        m_linear0.forward(params, ws.a0, ws.a1);
        if (!derivative_from_output(m_activation)) ws.t1 = ws.a1;
        apply_activation<Scalar>(m_activation, ws.a1, ws.a1);
        ws.t2.resize(m_features, n);
        m_linear1.forward(params, ws.a1, ws.t2);
        if (m_context_dim > 0) {
            MLSBI_ASSERT(c.rows() == m_context_dim && c.cols() == n);
            ws.gate.resize(m_features, n);
            m_context.forward(params, c, ws.gate);
            ws.gate = (Scalar(1) / (Scalar(1) + (-ws.gate.array()).exp())).matrix();
            y = x + ws.t2.cwiseProduct(ws.gate);
        } else {
            y = x + ws.t2;
        }
    }

    /// Backward of the last forward (same x, c) given G = dL/dy:
    /// dL/dt2 = G o g, dL/d(Vc + b_v) = G o t2 o g (1 - g) (g the gate; without context
    /// dL/dt2 = G); then back through linear_1, a, linear_0, a; dL/dx = G + that path.
    /// Accumulates dL/dparams into grad_params (if not null); writes dL/dx (features x n) and
    /// dL/dc (context_dim x n) if not null. `grad_x` must not alias `grad_y`.
    void backward(const Scalar* params, const ConstMatrixRef<Scalar>& x,
                  const ConstMatrixRef<Scalar>& c, const ConstMatrixRef<Scalar>& grad_y,
                  Workspace& ws, Scalar* grad_params, MatrixType* grad_x,
                  MatrixType* grad_c) const {
        MLSBI_ASSERT(grad_y.rows() == m_features && grad_y.cols() == x.cols());
        if (m_context_dim > 0) {
            // grad_t first holds dL/d(Vc + b_v), then dL/dt2.
            ws.grad_t =
                (grad_y.array() * ws.t2.array() * ws.gate.array() * (Scalar(1) - ws.gate.array()))
                    .matrix();
            m_context.backward(params, c, ws.grad_t, grad_params, grad_c);
            ws.grad_t = grad_y.cwiseProduct(ws.gate);
        } else {
            if (grad_c != nullptr) grad_c->setZero(0, x.cols());
            ws.grad_t = grad_y;
        }
        m_linear1.backward(params, ws.a1, ws.grad_t, grad_params, &ws.grad_a);
        multiply_activation_derivative<Scalar>(m_activation, ws.t1, ws.a1, ws.grad_a);
        const bool need_x = grad_x != nullptr;
        m_linear0.backward(params, ws.a0, ws.grad_a, grad_params, need_x ? &ws.grad_t : nullptr);
        if (need_x) {
            multiply_activation_derivative<Scalar>(m_activation, x, ws.a0, ws.grad_t);
            *grad_x = grad_y + ws.grad_t;
        }
    }

private:
    Index m_features = 0;
    Index m_context_dim = 0;
    Activation m_activation = Activation::relu;
    Dense<Scalar> m_context{};
    Dense<Scalar> m_linear0{};
    Dense<Scalar> m_linear1{};
};

}  // namespace mlsbi::nn
