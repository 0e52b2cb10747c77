// SPDX-License-Identifier: MIT
/// \file
/// \brief Context embeddings: none, a fixed user function (summary statistics), or a trainable MLP.
#pragma once

#include <concepts>
#include <string>
#include <utility>

#include "mlsbi/nn/mlp.hpp"

namespace mlsbi::flows {

/// The context slot of a ConditionalEstimator.
///
/// A fixed embedding (`trainable == false`) maps the raw context before z-scoring (summary
/// statistics: the z-score is then fitted on the summaries); it has `apply(raw, out)`.
/// A trainable embedding maps the z-scored context and is trained jointly with the density; it
/// has the nn backprop contract (initialize / forward / backward on the flat parameters).
template <class E>
concept ContextEmbedding = requires(const E& e) {
    typename E::Scalar;
    typename E::Options;
    { E::trainable } -> std::convertible_to<bool>;
    { e.input_dim() } -> std::convertible_to<Index>;
    { e.output_dim() } -> std::convertible_to<Index>;
    { e.describe() } -> std::convertible_to<std::string>;
};

/// No embedding: the density sees the z-scored raw context.
template <typename Scalar_>
class NoEmbedding {
public:
    using Scalar = Scalar_;
    static constexpr bool trainable = false;
    struct Options {
        Index input_dim = 0;  ///< context dimension; 0 = take the density's context_dim
    };
    NoEmbedding() = default;
    NoEmbedding(ParameterLayout& /*layout*/, const Options& options) : m_dim(options.input_dim) {}
    [[nodiscard]] Index input_dim() const { return m_dim; }
    [[nodiscard]] Index output_dim() const { return m_dim; }
    void apply(const ConstMatrixRef<Scalar>& in, Matrix<Scalar>& out) const { out = in; }
    [[nodiscard]] std::string describe() const { return "none"; }

private:
    Index m_dim = 0;
};

/// A fixed user function of the raw context (summary statistics), applied before z-scoring.
/// \tparam Function callable `void(const ConstMatrixRef<Scalar>& raw /*input_dim x n*/,
///         MatrixRef<Scalar> out /*output_dim x n*/)`, deterministic and thread-safe.
template <typename Scalar_, typename Function>
class FunctionEmbedding {
public:
    using Scalar = Scalar_;
    static constexpr bool trainable = false;
    struct Options {
        Index input_dim = 0;
        Index output_dim = 0;
        Function function{};
        std::string name = "function";  ///< saved in the architecture description
        void validate() const {
            require(input_dim > 0, "FunctionEmbedding::Options: input_dim must be positive");
            require(output_dim > 0, "FunctionEmbedding::Options: output_dim must be positive");
        }
    };
    FunctionEmbedding(ParameterLayout& /*layout*/, Options options) : m_options(std::move(options)) {
        m_options.validate();
    }
    [[nodiscard]] Index input_dim() const { return m_options.input_dim; }
    [[nodiscard]] Index output_dim() const { return m_options.output_dim; }
    void apply(const ConstMatrixRef<Scalar>& in, Matrix<Scalar>& out) const {
        out.resize(m_options.output_dim, in.cols());
        MatrixRef<Scalar> view(out);
        m_options.function(in, view);
    }
    [[nodiscard]] std::string describe() const {
        return message("function(", m_options.name, ", ", input_dim(), "->", output_dim(), ")");
    }

private:
    Options m_options;
};

/// A trainable MLP embedding of the z-scored context, trained jointly with the density.
template <typename Scalar_>
class MlpEmbedding {
public:
    using Scalar = Scalar_;
    static constexpr bool trainable = true;
    using Options = nn::MlpShape;
    using Workspace = typename nn::Mlp<Scalar>::Workspace;

    MlpEmbedding(ParameterLayout& layout, const Options& options) : m_net(layout, options) {}
    [[nodiscard]] Index input_dim() const { return m_net.input_dim(); }
    [[nodiscard]] Index output_dim() const { return m_net.output_dim(); }
    [[nodiscard]] Index parameter_count() const { return m_net.parameter_count(); }
    void initialize(Scalar* params, RandomStream& rng) const { m_net.initialize(params, rng); }
    const Matrix<Scalar>& forward(const Scalar* params, const ConstMatrixRef<Scalar>& in,
                                  Workspace& ws) const {
        return m_net.forward(params, in, ws);
    }
    void backward(const Scalar* params, const ConstMatrixRef<Scalar>& in,
                  const ConstMatrixRef<Scalar>& grad_out, Workspace& ws, Scalar* grad_params) const {
        m_net.backward(params, in, grad_out, ws, grad_params, nullptr);
    }
    [[nodiscard]] std::string describe() const {
        const auto& s = m_net.shape();
        return message("mlp(", s.input_dim, "->", nn::describe_hidden(s.hidden), "->", s.output_dim,
                       ", ", nn::to_string(s.activation), ")");
    }

private:
    nn::Mlp<Scalar> m_net;
};

}  // namespace mlsbi::flows
