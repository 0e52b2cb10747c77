// SPDX-License-Identifier: MIT
/// \file
/// \brief Gradient clipping to a maximum global L2 norm (torch.nn.utils.clip_grad_norm_).
#pragma once

#include <cmath>

#include "mlsbi/core/errors.hpp"
#include "mlsbi/core/types.hpp"

namespace mlsbi::optimizers {

/// Default maximum norm of the multilevel SBI paper's training loops.
inline constexpr double default_max_gradient_norm = 5.0;

/// Scales `gradient` in place so its L2 norm is at most `max_norm`, as PyTorch's
/// `clip_grad_norm_` does: with N = ||g||, g <- g * max_norm / (N + 1e-6) when that factor is
/// below 1; otherwise g is untouched.
///
/// A non-finite norm leaves the gradient untouched and is returned as is, so the caller can
/// detect it (the trainer stops with a non-finite status rather than stepping on garbage).
/// \param gradient flat gradient (any size, modified in place).
/// \param max_norm maximum norm, > 0 (default 5).
/// \return the norm before clipping.
/// \throws std::invalid_argument if max_norm is not positive.
template <typename Scalar>
double clip_by_global_norm(VectorRef<Scalar> gradient,
                           double max_norm = default_max_gradient_norm) {
    require(max_norm > 0, "clip_by_global_norm: max_norm must be positive, got ", max_norm);
    // Accumulate in double: a float sum of squares overflows long before the norm does.
    const double norm = gradient.template cast<double>().norm();
    if (!std::isfinite(norm)) return norm;
    const double factor = max_norm / (norm + 1e-6);
    if (factor < 1.0) gradient *= static_cast<Scalar>(factor);
    return norm;
}

}  // namespace mlsbi::optimizers
