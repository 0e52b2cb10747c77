// SPDX-License-Identifier: MIT
/// \file
/// \brief Invertible linear layer z = L U x + b with an LU-parametrised weight (nflows' LULinear),
/// the mixing layer between the coupling transforms of a neural spline flow.
#pragma once

#include <cmath>

#include <Eigen/Core>
#include <Eigen/LU>

#include "mlsbi/core/parameter_layout.hpp"

namespace mlsbi::flows {

/// z = W x + b with W = L U: L unit lower triangular, U upper triangular with diagonal
/// u_i = softplus(v_i) + 1e-3 > 0, so W is invertible for every parameter value and
/// log|det W| = sum_i log u_i (the same for every sample). As nflows' `LULinear`, whose
/// permutation factor is the identity (P = I; the alternating coupling masks already mix the
/// coordinates); softplus rather than exp keeps the diagonal from growing fast.
///
/// Parameters (nflows' registration order): bias b (D), strict lower entries of L (D(D-1)/2,
/// row by row: (1,0), (2,0), (2,1), ...), strict upper entries of U (D(D-1)/2, row by row:
/// (0,1), (0,2), ..., (1,2), ...), unconstrained diagonal v (D). `initialize` gives the identity
/// (nflows' identity_init). Batches are D x n, one sample per column.
/// \tparam Scalar float or double.
template <typename Scalar>
class LuLinear {
public:
    using MatrixType = Matrix<Scalar>;
    using VectorType = Vector<Scalar>;

    /// Lower bound added to the softplus of the diagonal (nflows' eps).
    static constexpr double diagonal_epsilon = 1e-3;

    LuLinear() = default;

    /// Reserves D + D(D-1) + D parameters. \throws std::invalid_argument if features < 1.
    LuLinear(ParameterLayout& layout, Index features) : m_d(features) {
        require(features >= 1, "LuLinear: features must be >= 1, got ", features);
        const Index tri = features * (features - 1) / 2;
        m_bias = layout.reserve(features);
        m_lower = layout.reserve(tri);
        m_upper = layout.reserve(tri);
        m_diag = layout.reserve(features);
    }

    [[nodiscard]] Index features() const { return m_d; }
    [[nodiscard]] Index parameter_count() const { return m_d * (m_d + 1); }
    [[nodiscard]] Index offset() const { return m_bias; }

    /// Identity initialisation: L = U = I, b = 0 (v = log(expm1(1 - 1e-3))).
    void initialize(Scalar* params) const {
        const Scalar v = static_cast<Scalar>(std::log(std::expm1(1.0 - diagonal_epsilon)));
        for (Index i = 0; i < parameter_count(); ++i) params[m_bias + i] = Scalar(0);
        for (Index i = 0; i < m_d; ++i) params[m_diag + i] = v;
    }

    /// The unit lower factor L (D x D).
    [[nodiscard]] MatrixType lower(const Scalar* params) const {
        MatrixType L = MatrixType::Identity(m_d, m_d);
        Index k = 0;
        for (Index i = 1; i < m_d; ++i)
            for (Index j = 0; j < i; ++j) L(i, j) = params[m_lower + k++];
        return L;
    }

    /// The upper factor U (D x D) with diagonal softplus(v) + 1e-3.
    [[nodiscard]] MatrixType upper(const Scalar* params) const {
        MatrixType U = MatrixType::Zero(m_d, m_d);
        Index k = 0;
        for (Index i = 0; i < m_d; ++i)
            for (Index j = i + 1; j < m_d; ++j) U(i, j) = params[m_upper + k++];
        for (Index i = 0; i < m_d; ++i) U(i, i) = diagonal(params, i);
        return U;
    }

    /// W = L U.
    [[nodiscard]] MatrixType weight(const Scalar* params) const {
        return lower(params) * upper(params);
    }

    /// log|det W| = sum_i log u_i.
    [[nodiscard]] Scalar log_abs_det(const Scalar* params) const {
        Scalar s = 0;
        for (Index i = 0; i < m_d; ++i) s += std::log(diagonal(params, i));
        return s;
    }

    /// z = W x + b (D x n each, z must not alias x) and, if logdet is not null,
    /// logdet_j += log|det W| for j < n.
    void forward(const Scalar* params, const ConstMatrixRef<Scalar>& x, MatrixRef<Scalar> z,
                 Scalar* logdet) const {
        MLSBI_ASSERT(x.rows() == m_d && z.rows() == m_d && z.cols() == x.cols());
        z.noalias() = weight(params) * x;
        z.colwise() += bias(params);
        if (logdet != nullptr) Eigen::Map<VectorType>(logdet, x.cols()).array() += log_abs_det(params);
    }

    /// x = U^{-1} L^{-1} (z - b) by two triangular solves (x may alias z) and, if logdet is
    /// not null, logdet_j -= log|det W|.
    void inverse(const Scalar* params, const ConstMatrixRef<Scalar>& z, MatrixRef<Scalar> x,
                 Scalar* logdet) const {
        MLSBI_ASSERT(z.rows() == m_d && x.rows() == m_d && x.cols() == z.cols());
        MatrixType t = z;
        t.colwise() -= bias(params);
        lower(params).template triangularView<Eigen::UnitLower>().solveInPlace(t);
        upper(params).template triangularView<Eigen::Upper>().solveInPlace(t);
        x = t;
        if (logdet != nullptr) Eigen::Map<VectorType>(logdet, z.cols()).array() -= log_abs_det(params);
    }

    /// Backward of forward() given G = dL/dz (D x n) and g = dL/dlogdet (n, or empty for 0):
    /// accumulates into
    /// grad_params (if not null) and writes dL/dx = W^T G into grad_x (if not null).
    ///
    /// Derivation: dL/dW = G x^T, so dL/dL = (G x^T) U^T below the diagonal and
    /// dL/dU = L^T (G x^T) on and above it; dL/db = G 1; the log-determinant adds
    /// (sum_j g_j) / u_i to dL/du_i, and du_i/dv_i = sigmoid(v_i).
    void backward(const Scalar* params, const ConstMatrixRef<Scalar>& x,
                  const ConstMatrixRef<Scalar>& grad_z, const ConstVectorRef<Scalar>& grad_logdet,
                  Scalar* grad_params, MatrixType* grad_x) const {
        MLSBI_ASSERT(grad_z.rows() == m_d && grad_z.cols() == x.cols());
        const MatrixType L = lower(params);
        const MatrixType U = upper(params);
        if (grad_params != nullptr) {
            const MatrixType gW = grad_z * x.transpose();
            const MatrixType gL = gW * U.transpose();
            MatrixType gU = L.transpose() * gW;
            const Scalar g_sum = grad_logdet.size() > 0 ? grad_logdet.sum() : Scalar(0);
            Eigen::Map<VectorType>(grad_params + m_bias, m_d) += grad_z.rowwise().sum();
            Index k = 0;
            for (Index i = 1; i < m_d; ++i)
                for (Index j = 0; j < i; ++j) grad_params[m_lower + k++] += gL(i, j);
            k = 0;
            for (Index i = 0; i < m_d; ++i)
                for (Index j = i + 1; j < m_d; ++j) grad_params[m_upper + k++] += gU(i, j);
            for (Index i = 0; i < m_d; ++i) {
                const Scalar v = params[m_diag + i];
                const Scalar sigmoid = Scalar(1) / (Scalar(1) + std::exp(-v));
                grad_params[m_diag + i] += (gU(i, i) + g_sum / U(i, i)) * sigmoid;
            }
        }
        if (grad_x != nullptr) {
            grad_x->resize(m_d, x.cols());
            grad_x->noalias() = (L * U).transpose() * grad_z;
        }
    }

private:
    [[nodiscard]] Eigen::Map<const VectorType> bias(const Scalar* params) const {
        return Eigen::Map<const VectorType>(params + m_bias, m_d);
    }
    [[nodiscard]] Scalar diagonal(const Scalar* params, Index i) const {
        const Scalar v = params[m_diag + i];
        // softplus(v) = max(v, 0) + log1p(exp(-|v|)), stable for large |v|
        return (v > Scalar(0) ? v : Scalar(0)) + std::log1p(std::exp(-std::abs(v))) +
               static_cast<Scalar>(diagonal_epsilon);
    }

    Index m_d = 0;
    Index m_bias = 0;
    Index m_lower = 0;
    Index m_upper = 0;
    Index m_diag = 0;
};

}  // namespace mlsbi::flows
