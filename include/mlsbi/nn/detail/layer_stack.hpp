// SPDX-License-Identifier: MIT
/// \file
/// \brief The forward and backward walk through a stack of layers with one hidden activation
/// between them (and none after the last), shared by Mlp and Made: they differ only in what a
/// layer is (Dense, or MaskedDense with a context input).
#pragma once

#include <cstddef>
#include <vector>

#include "mlsbi/core/types.hpp"
#include "mlsbi/nn/activation.hpp"
#include "mlsbi/rng/random_stream.hpp"

namespace mlsbi::nn::detail {

/// What one walk records: `post[i]` is layer i's output after the activation (the last is the
/// stack's output), `pre[i]` the same before it (kept only when the activation's derivative
/// needs it), `grad_a` / `grad_b` the running gradient of the backward walk.
template <typename Scalar>
struct StackActivations {
    std::vector<Matrix<Scalar>> pre;
    std::vector<Matrix<Scalar>> post;
    Matrix<Scalar> grad_a;
    Matrix<Scalar> grad_b;
    [[nodiscard]] const Matrix<Scalar>& output() const { return post.back(); }
};

/// Sum of the layers' parameter counts.
template <class Layers>
[[nodiscard]] Index stack_parameter_count(const Layers& layers) {
    Index n = 0;
    for (const auto& l : layers) n += l.parameter_count();
    return n;
}

/// Initialises every layer from `rng` in order; the last one's bound is scaled by
/// `output_scale` (0 makes the stack's output start at its bias).
template <class Layers, typename Scalar>
void initialize_stack(const Layers& layers, Scalar* params, RandomStream& rng,
                      double output_scale) {
    for (std::size_t i = 0; i < layers.size(); ++i)
        layers[i].initialize(params, rng, i + 1 == layers.size() ? output_scale : 1.0);
}

/// Forward through `layers` on a batch x of n columns: `apply(i, input, out)` runs layer i on
/// its input (x for i = 0, post[i - 1] after) into `out`, pre-sized to output_dim() x n; the
/// hidden activation follows every layer but the last. Returns the stack's output.
template <typename Scalar, class Layers, class Apply>
const Matrix<Scalar>& forward_stack(const Layers& layers, Activation activation,
                                    const ConstMatrixRef<Scalar>& x, StackActivations<Scalar>& ws,
                                    Apply&& apply) {
    const std::size_t depth = layers.size();
    ws.pre.resize(depth);
    ws.post.resize(depth);
    const bool keep_pre = !derivative_from_output(activation);
    for (std::size_t i = 0; i < depth; ++i) {
        Matrix<Scalar>& out = ws.post[i];
        out.resize(layers[i].output_dim(), x.cols());
        if (i == 0)
            apply(i, x, out);
        else
            apply(i, ws.post[i - 1], out);
        if (i + 1 < depth) {
            if (keep_pre) ws.pre[i] = out;
            apply_activation<Scalar>(activation, out, out);
        }
    }
    return ws.post.back();
}

/// Backward of the last forward_stack given dL/d(output): walks down the layers, calling
/// `back(i, input, grad_out, grad_in)` for layer i with grad_out = dL/d(layer i's output, before
/// the activation). grad_in receives dL/d(input): the running buffer for i > 0, and for the
/// first layer the caller's `grad_x` (null when the input gradient is not wanted).
template <typename Scalar, class Back>
void backward_stack(std::size_t depth, Activation activation, const ConstMatrixRef<Scalar>& x,
                    const ConstMatrixRef<Scalar>& grad_output, StackActivations<Scalar>& ws,
                    Matrix<Scalar>* grad_x, Back&& back) {
    ws.grad_a = grad_output;
    for (std::size_t i = depth; i-- > 0;) {
        if (i + 1 < depth)
            multiply_activation_derivative<Scalar>(activation, ws.pre[i], ws.post[i], ws.grad_a);
        if (i == 0) {
            back(i, x, ws.grad_a, grad_x);
        } else {
            back(i, ws.post[i - 1], ws.grad_a, &ws.grad_b);
            ws.grad_a.swap(ws.grad_b);
        }
    }
}

}  // namespace mlsbi::nn::detail
