// SPDX-License-Identifier: MIT
/// \file
/// \brief Fill vectors and matrices with uniforms or normals, one uniform per entry, in a fixed
/// order.
#pragma once

#include <Eigen/Core>

#include "mlsbi/core/errors.hpp"
#include "mlsbi/core/types.hpp"
#include "mlsbi/rng/normal.hpp"
#include "mlsbi/rng/random_stream.hpp"

namespace mlsbi {

/// Fills `out` with U(0, 1) draws in column-major order (entry (i, j) is draw j * rows + i);
/// consumes exactly `out.size()` uniforms.
/// \param out any writable Eigen expression (a matrix, vector, block or Ref) of float or double;
///        taken as `const MatrixBase&` as Eigen recommends, so blocks such as `m.col(j)` work.
template <typename Derived>
void fill_uniform(RandomStream& rng, const Eigen::MatrixBase<Derived>& out) {
    auto& target = const_cast<Eigen::MatrixBase<Derived>&>(out);  // Eigen's output idiom
    using Scalar = typename Derived::Scalar;
    for (Index j = 0; j < target.cols(); ++j)
        for (Index i = 0; i < target.rows(); ++i) target(i, j) = static_cast<Scalar>(rng.uniform());
}

/// Fills `out` with N(0, 1) draws by inversion in column-major order; consumes exactly
/// `out.size()` uniforms, so a coupled simulator drawing the same entries stays aligned.
template <typename Derived>
void fill_normal(RandomStream& rng, const Eigen::MatrixBase<Derived>& out) {
    auto& target = const_cast<Eigen::MatrixBase<Derived>&>(out);
    using Scalar = typename Derived::Scalar;
    for (Index j = 0; j < target.cols(); ++j)
        for (Index i = 0; i < target.rows(); ++i)
            target(i, j) = static_cast<Scalar>(standard_normal(rng));
}

/// Vector of `n` U(0, 1) draws (n uniforms). \throws std::invalid_argument if n < 0.
[[nodiscard]] inline Vector<double> uniform_vector(RandomStream& rng, Index n) {
    require(n >= 0, "uniform_vector: n must be >= 0, got ", n);
    Vector<double> v(n);
    fill_uniform(rng, v);
    return v;
}

/// Vector of `n` N(0, 1) draws (n uniforms). \throws std::invalid_argument if n < 0.
[[nodiscard]] inline Vector<double> normal_vector(RandomStream& rng, Index n) {
    require(n >= 0, "normal_vector: n must be >= 0, got ", n);
    Vector<double> v(n);
    fill_normal(rng, v);
    return v;
}

/// rows x cols matrix of N(0, 1) draws, column-major order (rows * cols uniforms).
/// \throws std::invalid_argument if a size is negative.
[[nodiscard]] inline Matrix<double> normal_matrix(RandomStream& rng, Index rows, Index cols) {
    require(rows >= 0 && cols >= 0, "normal_matrix: sizes must be >= 0, got ", rows, " x ", cols);
    Matrix<double> m(rows, cols);
    fill_normal(rng, m);
    return m;
}

}  // namespace mlsbi
