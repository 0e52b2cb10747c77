// SPDX-License-Identifier: MIT
/// \file
/// \brief Eigen type aliases used across mlsbi: batches are d x n, one sample per column.
#pragma once

#include <Eigen/Core>
#include <cstdint>

namespace mlsbi {

/// Signed index type, the same as Eigen's.
using Index = Eigen::Index;

/// Column-major dynamic matrix; a batch of n samples of dimension d is stored d x n.
template <typename Scalar>
using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;

/// Dynamic column vector; per-sample quantities (log-densities, weights) are n x 1.
template <typename Scalar>
using Vector = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;

/// Dynamic row vector.
template <typename Scalar>
using RowVector = Eigen::Matrix<Scalar, 1, Eigen::Dynamic>;

/// Read-only view of a batch (accepts matrices and column blocks without copying).
template <typename Scalar>
using ConstMatrixRef = Eigen::Ref<const Matrix<Scalar>>;

/// Writable view of a pre-sized batch.
template <typename Scalar>
using MatrixRef = Eigen::Ref<Matrix<Scalar>>;

/// Read-only view of a vector (also a contiguous segment).
template <typename Scalar>
using ConstVectorRef = Eigen::Ref<const Vector<Scalar>>;

/// Writable view of a pre-sized vector.
template <typename Scalar>
using VectorRef = Eigen::Ref<Vector<Scalar>>;

/// Scalars mlsbi is instantiated for.
template <typename T>
concept RealScalar = std::same_as<T, float> || std::same_as<T, double>;

}  // namespace mlsbi
