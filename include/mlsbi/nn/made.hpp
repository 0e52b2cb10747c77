// SPDX-License-Identifier: MIT
/// \file
/// \brief MADE: degrees and masks exactly as nflows builds them, and the masked feed-forward
/// network with a context input used as the conditioner of masked autoregressive flows.
#pragma once

#include <algorithm>
#include <string>
#include <vector>

#include "mlsbi/nn/detail/layer_stack.hpp"
#include "mlsbi/nn/masked_dense.hpp"

namespace mlsbi::nn {

/// Degrees of MADE's hidden units for `features` autoregressive inputs, as nflows' MaskedLinear
/// with random_mask = false: degree(k) = k mod max(1, D-1) + min(1, D-1), k = 0..hidden-1.
/// For D = 1 every hidden degree is 0, so no hidden unit sees the data (context only).
[[nodiscard]] inline std::vector<Index> made_hidden_degrees(Index features, Index hidden) {
    require(features >= 1 && hidden >= 1,
            "made_hidden_degrees: features and hidden must be >= 1, got ", features, " and ",
            hidden);
    const Index max_degree = std::max<Index>(1, features - 1);
    const Index min_degree = std::min<Index>(1, features - 1);
    std::vector<Index> degrees(static_cast<std::size_t>(hidden));
    for (Index k = 0; k < hidden; ++k)
        degrees[static_cast<std::size_t>(k)] = k % max_degree + min_degree;
    return degrees;
}

/// The masks of a MADE with `num_blocks` hidden-to-hidden layers, exactly as nflows builds them
/// (deterministic degrees): `[initial (hidden x D), blocks (hidden x hidden) ..., final
/// (multiplier*D x hidden)]`. Input degrees are 1..D; a hidden unit of degree d sees inputs of
/// degree <= d; output row m*i + k (output k of dimension i, i.e. interleaved per dimension, the
/// nflows `view(-1, D, m)` layout) has degree i+1 and sees hidden units of degree <= i. Hence
/// output i depends only on inputs 0..i-1.
/// \throws std::invalid_argument if a size is not positive or num_blocks is negative.
template <typename Scalar>
[[nodiscard]] std::vector<Matrix<Scalar>> made_masks(Index features, Index hidden, Index num_blocks,
                                                     Index output_multiplier = 2) {
    require(num_blocks >= 0, "made_masks: num_blocks must be >= 0, got ", num_blocks);
    require(output_multiplier >= 1, "made_masks: output_multiplier must be >= 1, got ",
            output_multiplier);
    const std::vector<Index> hid = made_hidden_degrees(features, hidden);
    std::vector<Matrix<Scalar>> masks;
    Matrix<Scalar> initial(hidden, features);
    for (Index i = 0; i < features; ++i)
        for (Index k = 0; k < hidden; ++k)
            initial(k, i) = hid[static_cast<std::size_t>(k)] >= i + 1 ? Scalar(1) : Scalar(0);
    masks.push_back(std::move(initial));
    Matrix<Scalar> block(hidden, hidden);
    for (Index j = 0; j < hidden; ++j)
        for (Index k = 0; k < hidden; ++k)
            block(k, j) = hid[static_cast<std::size_t>(k)] >= hid[static_cast<std::size_t>(j)]
                              ? Scalar(1)
                              : Scalar(0);
    for (Index b = 0; b < num_blocks; ++b) masks.push_back(block);
    Matrix<Scalar> final_mask(output_multiplier * features, hidden);
    for (Index j = 0; j < hidden; ++j)
        for (Index r = 0; r < output_multiplier * features; ++r)
            final_mask(r, j) = r / output_multiplier + 1 > hid[static_cast<std::size_t>(j)]
                                   ? Scalar(1)
                                   : Scalar(0);
    masks.push_back(std::move(final_mask));
    return masks;
}

/// Architecture of a MADE conditioner.
struct MadeShape {
    Index features = 1;           ///< autoregressive dimension D, >= 1
    Index context_dim = 0;        ///< context dimension (0 = unconditional)
    Index hidden = 50;            ///< hidden width, >= 1
    Index num_blocks = 2;         ///< hidden-to-hidden masked layers after the first, >= 0
    Index output_multiplier = 2;  ///< outputs per dimension (2 for affine: scale, shift)
    Activation activation = Activation::tanh;

    /// \throws std::invalid_argument naming the first invalid field.
    void validate() const {
        require(features >= 1, "MadeShape: features must be >= 1, got ", features);
        require(context_dim >= 0, "MadeShape: context_dim must be >= 0, got ", context_dim);
        require(hidden >= 1, "MadeShape: hidden must be >= 1, got ", hidden);
        require(num_blocks >= 0, "MadeShape: num_blocks must be >= 0, got ", num_blocks);
        require(output_multiplier >= 1, "MadeShape: output_multiplier must be >= 1, got ",
                output_multiplier);
    }
};

/// MADE with feed-forward blocks and a context input, as nflows' MADE(use_residual_blocks=False)
/// (the MAF conditioner of nflows/sbi):
///   h_0 = a((M_0 o W_0) x + b_0 + a(W_c c + b_c)),
///   h_i = a((M_i o W_i) h_{i-1} + b_i), i = 1..num_blocks,
///   o   = (M_f o W_f) h_B + b_f      (multiplier*D x n, interleaved per dimension).
/// Output rows m*i .. m*i+m-1 (dimension i) depend on x only through x_0..x_{i-1}. For
/// features >= 2, dimension 0's outputs see no hidden unit, hence neither x nor c: they are the
/// final bias (as in nflows); for features == 1 they see every hidden unit, which sees only c.
/// Parameters in nflows' construction order: initial (W_0, b_0), context (W_c, b_c), blocks,
/// final. Forward records into a Workspace that backward reads (one per concurrent caller).
template <typename Scalar>
class Made {
public:
    using MatrixType = Matrix<Scalar>;

    /// The stack's activations (detail::StackActivations: post, pre, output()) and each masked
    /// layer's own buffers.
    struct Workspace : detail::StackActivations<Scalar> {
        std::vector<typename MaskedDense<Scalar>::Workspace> layers;
    };

    Made() = default;

    /// Reserves the parameters of all layers in `layout`.
    /// \throws std::invalid_argument if the shape is invalid.
    Made(ParameterLayout& layout, MadeShape shape) : m_shape(shape) {
        m_shape.validate();
        auto masks = made_masks<Scalar>(m_shape.features, m_shape.hidden, m_shape.num_blocks,
                                        m_shape.output_multiplier);
        m_layers.emplace_back(layout, std::move(masks[0]), m_shape.context_dim, m_shape.activation);
        for (std::size_t i = 1; i < masks.size(); ++i)
            m_layers.emplace_back(layout, std::move(masks[i]));
    }

    [[nodiscard]] const MadeShape& shape() const { return m_shape; }
    [[nodiscard]] Index input_dim() const { return m_shape.features; }
    [[nodiscard]] Index context_dim() const { return m_shape.context_dim; }
    [[nodiscard]] Index output_dim() const { return m_shape.output_multiplier * m_shape.features; }
    [[nodiscard]] const std::vector<MaskedDense<Scalar>>& layers() const { return m_layers; }
    [[nodiscard]] Index parameter_count() const { return detail::stack_parameter_count(m_layers); }

    /// PyTorch-default initialisation of every layer (masked entries zeroed); `output_scale`
    /// multiplies the bound of the final layer.
    void initialize(Scalar* params, RandomStream& rng, double output_scale = 1.0) const {
        detail::initialize_stack(m_layers, params, rng, output_scale);
    }

    /// Forward pass; x is D x n, c is context_dim x n (ignored if context_dim == 0). Returns
    /// `ws.output()` (multiplier*D x n).
    const MatrixType& forward(const Scalar* params, const ConstMatrixRef<Scalar>& x,
                              const ConstMatrixRef<Scalar>& c, Workspace& ws) const {
        MLSBI_ASSERT(x.rows() == input_dim());
        MLSBI_ASSERT(context_dim() == 0 || (c.rows() == context_dim() && c.cols() == x.cols()));
        ws.layers.resize(m_layers.size());
        return detail::forward_stack<Scalar>(
            m_layers, m_shape.activation, x, ws,
            [&](std::size_t i, const auto& in, MatrixType& out) {
                m_layers[i].forward(params, in, c, out, ws.layers[i]);
            });
    }

    /// Backward of the last forward (same x, c) given G = dL/do: accumulates dL/dparams into
    /// grad_params (if not null); writes dL/dx (D x n) and dL/dc (context_dim x n) if not null.
    /// Per layer: G_pre = G_post o a'(pre); G_in = (M o W)^T G_pre; the first layer also routes
    /// G_pre through its context term.
    void backward(const Scalar* params, const ConstMatrixRef<Scalar>& x,
                  const ConstMatrixRef<Scalar>& c, const ConstMatrixRef<Scalar>& grad_out,
                  Workspace& ws, Scalar* grad_params, MatrixType* grad_x,
                  MatrixType* grad_c) const {
        MLSBI_ASSERT(ws.post.size() == m_layers.size() && grad_out.cols() == x.cols());
        // Only the first layer sees the context, so only it writes dL/dc.
        detail::backward_stack<Scalar>(
            m_layers.size(), m_shape.activation, x, grad_out, ws, grad_x,
            [&](std::size_t i, const auto& in, const MatrixType& g, MatrixType* grad_in) {
                m_layers[i].backward(params, in, c, g, ws.layers[i], grad_params, grad_in,
                                     i == 0 ? grad_c : nullptr);
            });
    }

    [[nodiscard]] std::string describe() const {
        return message("Made(features=", m_shape.features, ", context_dim=", m_shape.context_dim,
                       ", hidden=", m_shape.hidden, ", num_blocks=", m_shape.num_blocks,
                       ", output_multiplier=", m_shape.output_multiplier,
                       ", activation=", to_string(m_shape.activation), ")");
    }

private:
    MadeShape m_shape{};
    std::vector<MaskedDense<Scalar>> m_layers{};
};

}  // namespace mlsbi::nn
