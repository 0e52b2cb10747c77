// SPDX-License-Identifier: MIT
/// \file
/// \brief Fully connected layer y = W x + b over a batch, with a hand-written backward pass.
#pragma once

#include <cmath>

#include "mlsbi/core/parameter_layout.hpp"
#include "mlsbi/rng/random_stream.hpp"

namespace mlsbi::nn {

/// Dense (affine) layer from `in` to `out` features, batch stored in x n.
///
/// Parameters (in the model's flat vector, at offsets reserved at construction): W (out x in,
/// column-major) then b (out). The layer holds only offsets; every call receives the base
/// pointer of the model's parameters, and backward the base pointer of its gradient.
template <typename Scalar>
class Dense {
public:
    using MatrixType = Matrix<Scalar>;
    using ConstWeights = Eigen::Map<const MatrixType>;
    using ConstBias = Eigen::Map<const Vector<Scalar>>;

    Dense() = default;

    /// Reserves out*in + out parameters in `layout`.
    /// \throws std::invalid_argument if a size is not positive.
    Dense(ParameterLayout& layout, Index in, Index out) : m_in(in), m_out(out) {
        require(in > 0 && out > 0, "Dense: sizes must be positive, got in = ", in, ", out = ", out);
        m_weight_offset = layout.reserve(out * in);
        m_bias_offset = layout.reserve(out);
    }

    [[nodiscard]] Index input_dim() const { return m_in; }
    [[nodiscard]] Index output_dim() const { return m_out; }
    [[nodiscard]] Index parameter_count() const { return m_out * m_in + m_out; }
    [[nodiscard]] Index offset() const { return m_weight_offset; }

    [[nodiscard]] ConstWeights weight(const Scalar* params) const {
        return ConstWeights(params + m_weight_offset, m_out, m_in);
    }
    [[nodiscard]] ConstBias bias(const Scalar* params) const {
        return ConstBias(params + m_bias_offset, m_out);
    }

    /// PyTorch's default: W, b ~ U(-1/sqrt(in), 1/sqrt(in)); `scale` multiplies the bound.
    void initialize(Scalar* params, RandomStream& rng, double scale = 1.0) const {
        const double bound = scale / std::sqrt(static_cast<double>(m_in));
        for (Index i = 0; i < parameter_count(); ++i)
            params[m_weight_offset + i] = static_cast<Scalar>(rng.uniform(-bound, bound));
    }

    /// y = W x + b. \param x in x n batch; \param y pre-sized out x n output (must not alias x).
    void forward(const Scalar* params, const ConstMatrixRef<Scalar>& x, MatrixRef<Scalar> y) const {
        MLSBI_ASSERT(x.rows() == m_in && y.rows() == m_out && y.cols() == x.cols());
        y.noalias() = weight(params) * x;
        y.colwise() += bias(params);
    }

    /// Backward of y = W x + b given G = dL/dy (out x n):
    /// dL/dW += G x^T, dL/db += G 1, dL/dx = W^T G (written to `grad_x` if not null).
    void backward(const Scalar* params, const ConstMatrixRef<Scalar>& x,
                  const ConstMatrixRef<Scalar>& grad_y, Scalar* grad_params,
                  MatrixType* grad_x) const {
        MLSBI_ASSERT(grad_y.rows() == m_out && grad_y.cols() == x.cols());
        if (grad_params != nullptr) {
            Eigen::Map<MatrixType> grad_w(grad_params + m_weight_offset, m_out, m_in);
            Eigen::Map<Vector<Scalar>> grad_b(grad_params + m_bias_offset, m_out);
            grad_w.noalias() += grad_y * x.transpose();
            grad_b += grad_y.rowwise().sum();
        }
        if (grad_x != nullptr) {
            grad_x->resize(m_in, x.cols());
            grad_x->noalias() = weight(params).transpose() * grad_y;
        }
    }

private:
    Index m_in = 0;
    Index m_out = 0;
    Index m_weight_offset = 0;
    Index m_bias_offset = 0;
};

}  // namespace mlsbi::nn
