// SPDX-License-Identifier: MIT
/// \file
/// \brief The ConditionalDensity concept: a trainable q(y | c) on standardised data.
#pragma once

#include <concepts>
#include <cstdint>
#include <string>

#include "mlsbi/core/parameter_layout.hpp"
#include "mlsbi/core/types.hpp"
#include "mlsbi/rng/random_stream.hpp"

namespace mlsbi::flows {

/// A conditional density q(y | c) whose parameters live in a model's flat vector.
///
/// Contract (who calls it: ConditionalEstimator, which adds standardisation, the embedding,
/// parameter ownership and saving):
/// - `D(ParameterLayout&, const typename D::Options&)` reserves its parameters; `Options` is an
///   aggregate with `validate()` and fields `input_dim` (dimension of y) and `context_dim`.
///   The bundled flows list their fields in one order (input_dim, context_dim, transforms or
///   components, hidden, blocks, bins, tail_bound, activation, then their own), so a designated
///   initialiser written for one flow compiles for another that has those fields.
/// - `initialize(params, rng)` writes a seeded initial value of its blocks.
/// - `log_prob(params, y, c, out, ws)`: y is input_dim x n, c is context_dim x n, out (n) gets
///   log q(y_i | c_i). It records in the Workspace what backward needs.
/// - `backward(params, y, c, grad_log_prob, ws, grad_params, grad_context)`: with the same y, c
///   as the last log_prob on `ws` and G_i = dL/d log q_i, accumulates dL/dparams into
///   grad_params (base pointer of the model's gradient) and, if grad_context is not null, writes
///   dL/dc (context_dim x n) into it.
/// - `sample(params, c, seed, out)`: column j of out (input_dim x n) is a draw from q(. | c_j)
///   made from the stream RandomStream(seed, j) only, so results do not depend on batching or
///   threads.
/// - `describe()` returns a one-line architecture string (saved with the weights; loading checks
///   it matches).
/// Const methods are thread-safe given distinct Workspaces.
template <class D>
concept ConditionalDensity =
    RealScalar<typename D::Scalar> &&
    requires(const D& d, typename D::Scalar* mutable_params, const typename D::Scalar* params,
             const ConstMatrixRef<typename D::Scalar>& y, const ConstMatrixRef<typename D::Scalar>& c,
             VectorRef<typename D::Scalar> out, const ConstVectorRef<typename D::Scalar>& grad_log_prob,
             typename D::Workspace& ws, Matrix<typename D::Scalar>* grad_context, RandomStream& rng,
             std::uint64_t seed, MatrixRef<typename D::Scalar> samples, ParameterLayout& layout,
             const typename D::Options& options) {
        { D(layout, options) };
        { options.validate() };
        { d.input_dim() } -> std::convertible_to<Index>;
        { d.context_dim() } -> std::convertible_to<Index>;
        { d.parameter_count() } -> std::convertible_to<Index>;
        { d.initialize(mutable_params, rng) };
        { d.log_prob(params, y, c, out, ws) };
        { d.backward(params, y, c, grad_log_prob, ws, mutable_params, grad_context) };
        { d.sample(params, c, seed, samples) };
        { d.describe() } -> std::convertible_to<std::string>;
    };

}  // namespace mlsbi::flows
