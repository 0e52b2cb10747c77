// SPDX-License-Identifier: MIT
/// \file
/// \brief Masked dense layer y = (M o W) x + b [+ a_c(V c + b_c)] for autoregressive (MADE)
/// conditioners, with a hand-written backward pass.
#pragma once

#include <utility>

#include "mlsbi/nn/activation.hpp"
#include "mlsbi/nn/dense.hpp"

namespace mlsbi::nn {

/// Dense layer whose weight is multiplied element-wise by a fixed 0/1 mask, with an optional
/// context term:
///   \f$ y = (M \circ W) x + b + a_c(V c + b_c) \f$,
/// x: in x n, c: context_dim x n, y: out x n (one sample per column).
///
/// The mask M (out x in) is stored once at construction. Parameters, in the model's flat vector
/// at offsets reserved at construction: W (out x in, column-major), b (out), then, when
/// context_dim > 0, V (out x context_dim) and b_c (out) — the order of nflows' MADE first layer
/// (masked linear, then context layer). With `context_activation = identity` the context term is
/// the plain linear V c + b_c; nflows' MADE uses its hidden activation there.
///
/// Masking strategy (why): forward multiplies with a masked copy M o W formed in the Workspace
/// (out x in element-wise products, negligible next to the out x in x n GEMM), so the layer is
/// exactly the function of the whole parameter block that it claims to be — masked entries of W
/// have zero effect and zero gradient whatever their value (finite-difference checks, weights
/// loaded from PyTorch with unmasked raw values, any optimiser). The backward masks the weight
/// gradient, so an optimiser never moves masked entries; `initialize` also zeroes them so the
/// flat vector stays tidy. All products remain plain dense GEMMs.
template <typename Scalar>
class MaskedDense {
public:
    using MatrixType = Matrix<Scalar>;

    /// Buffers of one forward pass (one per concurrent caller; resized on first use).
    struct Workspace {
        MatrixType masked_weight;  ///< M o W (out x in)
        MatrixType context_pre;    ///< V c + b_c (kept only if the activation needs its input)
        MatrixType context_post;   ///< a_c(V c + b_c) (out x n)
        MatrixType grad_weight;    ///< G x^T before masking
        MatrixType grad_context;   ///< dL/d(V c + b_c)
    };

    MaskedDense() = default;

    /// \param layout the model's parameter layout (reserves out*in + out, plus out*context_dim +
    /// out
    ///        when context_dim > 0).
    /// \param mask out x in matrix of zeros and ones (out = rows, in = cols).
    /// \param context_dim dimension of the optional context input (0 = none).
    /// \param context_activation activation a_c of the context term (default identity).
    /// \throws std::invalid_argument if the mask is empty, has an entry other than 0 or 1, or
    ///         context_dim is negative.
    MaskedDense(ParameterLayout& layout, MatrixType mask, Index context_dim = 0,
                Activation context_activation = Activation::identity)
        : m_mask(std::move(mask)),
          m_context_dim(context_dim),
          m_context_activation(context_activation) {
        require(m_mask.rows() > 0 && m_mask.cols() > 0, "MaskedDense: mask must be non-empty, got ",
                m_mask.rows(), " x ", m_mask.cols());
        require(((m_mask.array() == Scalar(0)) || (m_mask.array() == Scalar(1))).all(),
                "MaskedDense: mask entries must be 0 or 1");
        require(context_dim >= 0, "MaskedDense: context_dim must be >= 0, got ", context_dim);
        m_linear = Dense<Scalar>(layout, m_mask.cols(), m_mask.rows());
        if (context_dim > 0) m_context = Dense<Scalar>(layout, context_dim, m_mask.rows());
    }

    [[nodiscard]] Index input_dim() const { return m_mask.cols(); }
    [[nodiscard]] Index output_dim() const { return m_mask.rows(); }
    [[nodiscard]] Index context_dim() const { return m_context_dim; }
    [[nodiscard]] Activation context_activation() const { return m_context_activation; }
    [[nodiscard]] const MatrixType& mask() const { return m_mask; }
    [[nodiscard]] Index parameter_count() const {
        return m_linear.parameter_count() + (m_context_dim > 0 ? m_context.parameter_count() : 0);
    }
    /// Offset of W in the flat vector (b follows it, then V and b_c).
    [[nodiscard]] Index offset() const { return m_linear.offset(); }
    /// The unmasked linear part (W, b) and the context part (V, b_c; only if context_dim > 0).
    [[nodiscard]] const Dense<Scalar>& linear() const { return m_linear; }
    [[nodiscard]] const Dense<Scalar>& context_layer() const { return m_context; }

    /// PyTorch's default initialisation (U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = in, mask
    /// ignored, as nn.Linear does) for W, b and the context layer; `scale` multiplies the bound of
    /// W and b. Masked entries of W are then set to zero.
    void initialize(Scalar* params, RandomStream& rng, double scale = 1.0) const {
        m_linear.initialize(params, rng, scale);
        Eigen::Map<MatrixType> w(params + m_linear.offset(), output_dim(), input_dim());
        w = w.cwiseProduct(m_mask);
        if (m_context_dim > 0) m_context.initialize(params, rng);
    }

    /// y = (M o W) x + b [+ a_c(V c + b_c)].
    /// \param x in x n; \param c context_dim x n (ignored when context_dim == 0);
    /// \param y pre-sized out x n output (must not alias x or c).
    void forward(const Scalar* params, const ConstMatrixRef<Scalar>& x,
                 const ConstMatrixRef<Scalar>& c, MatrixRef<Scalar> y, Workspace& ws) const {
        MLSBI_ASSERT(x.rows() == input_dim() && y.rows() == output_dim() && y.cols() == x.cols());
        ws.masked_weight = m_linear.weight(params).cwiseProduct(m_mask);
        y.noalias() = ws.masked_weight * x;
        y.colwise() += m_linear.bias(params);
        if (m_context_dim > 0) {
            MLSBI_ASSERT(c.rows() == m_context_dim && c.cols() == x.cols());
            ws.context_post.resize(output_dim(), x.cols());
            m_context.forward(params, c, ws.context_post);
            if (m_context_activation != Activation::identity) {
                if (!derivative_from_output(m_context_activation)) ws.context_pre = ws.context_post;
                apply_activation<Scalar>(m_context_activation, ws.context_post, ws.context_post);
            }
            y += ws.context_post;
        }
    }

    /// Backward of the last forward (same x, c, params) given G = dL/dy (out x n):
    /// dL/dW += M o (G x^T), dL/db += G 1, dL/dx = (M o W)^T G; for the context term
    /// G_c = G o a_c'(V c + b_c), dL/dV += G_c c^T, dL/db_c += G_c 1, dL/dc = V^T G_c.
    /// \param grad_params base of the flat gradient (accumulated with +=; may be null);
    /// \param grad_x, grad_c if not null, receive dL/dx (in x n) and dL/dc (context_dim x n).
    void backward(const Scalar* params, const ConstMatrixRef<Scalar>& x,
                  const ConstMatrixRef<Scalar>& c, const ConstMatrixRef<Scalar>& grad_y,
                  Workspace& ws, Scalar* grad_params, MatrixType* grad_x,
                  MatrixType* grad_c) const {
        MLSBI_ASSERT(grad_y.rows() == output_dim() && grad_y.cols() == x.cols());
        if (grad_params != nullptr) {
            Eigen::Map<MatrixType> grad_w(grad_params + m_linear.offset(), output_dim(),
                                          input_dim());
            Eigen::Map<Vector<Scalar>> grad_b(
                grad_params + m_linear.offset() + output_dim() * input_dim(), output_dim());
            ws.grad_weight.noalias() = grad_y * x.transpose();
            grad_w += ws.grad_weight.cwiseProduct(m_mask);
            grad_b += grad_y.rowwise().sum();
        }
        if (grad_x != nullptr) {
            grad_x->resize(input_dim(), x.cols());
            grad_x->noalias() = ws.masked_weight.transpose() * grad_y;
        }
        if (m_context_dim > 0 && (grad_params != nullptr || grad_c != nullptr)) {
            ws.grad_context = grad_y;
            multiply_activation_derivative<Scalar>(m_context_activation, ws.context_pre,
                                                   ws.context_post, ws.grad_context);
            m_context.backward(params, c, ws.grad_context, grad_params, grad_c);
        } else if (grad_c != nullptr) {
            grad_c->setZero(m_context_dim, x.cols());
        }
    }

private:
    MatrixType m_mask{};
    Index m_context_dim = 0;
    Activation m_context_activation = Activation::identity;
    Dense<Scalar> m_linear{};
    Dense<Scalar> m_context{};
};

}  // namespace mlsbi::nn
