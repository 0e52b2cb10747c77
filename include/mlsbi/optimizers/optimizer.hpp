// SPDX-License-Identifier: MIT
/// \file
/// \brief The Optimizer concept the trainer is a host for: a step on a flat parameter vector
/// along a gradient, a step count, and a state that can be saved and restored.
#pragma once

#include <concepts>

#include "mlsbi/core/types.hpp"

namespace mlsbi::optimizers {

/// A first-order optimizer minimising a loss over one flat parameter vector of Scalar.
///
/// Contract, for `O& o` over p parameters:
/// - `o.step(params, gradient)`: params (p) is updated in place along `gradient` (p), the
///   gradient of the loss to minimise; no heap work per step;
/// - `o.steps()`: steps taken so far;
/// - `O::State`, `o.state()` and `o.restore(state)`: everything later steps depend on, so that a
///   run saved after k steps and restored continues bit for bit (training::Checkpoint);
/// Satisfied by Adam<Scalar> (the default of training::train) and SgdMomentum<Scalar>.
/// \tparam Scalar the parameters' scalar type (float or double).
template <class O, class Scalar>
concept Optimizer = requires(O& o, const O& co, VectorRef<Scalar> params,
                             const ConstVectorRef<Scalar>& gradient,
                             const typename O::State& state) {
    o.step(params, gradient);
    { co.steps() } -> std::convertible_to<long>;
    { co.state() } -> std::convertible_to<typename O::State>;
    o.restore(state);
};

}  // namespace mlsbi::optimizers
