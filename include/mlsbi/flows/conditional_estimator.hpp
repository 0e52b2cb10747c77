// SPDX-License-Identifier: MIT
/// \file
/// \brief ConditionalEstimator: a density core plus z-scoring, a context embedding and one flat
/// parameter vector — the object losses, trainers and samplers work with.
#pragma once

#include <cstdint>
#include <string>
#include <type_traits>

#include "mlsbi/core/serial_eigen.hpp"
#include "mlsbi/flows/conditional_density.hpp"
#include "mlsbi/flows/embedding.hpp"
#include "mlsbi/flows/estimator_task.hpp"
#include "mlsbi/flows/standardizer.hpp"

namespace mlsbi::flows {

namespace detail {
// The workspace of a trainable embedding; an empty struct for fixed ones.
template <class E, bool trainable = E::trainable>
struct EmbeddingWorkspace {
    struct type {};
};
template <class E>
struct EmbeddingWorkspace<E, true> {
    using type = typename E::Workspace;
};
}  // namespace detail

/// A trainable conditional density estimator q(y | c) in the user's units.
///
/// Pipeline for a batch (y: input_dim x n, c: context_dim x n, one sample per column):
///   c -> [fixed embedding] -> z-score -> [trainable embedding] -> c_e
///   y -> z-score -> y_s;   log q(y | c) = log q_core(y_s | c_e) + log|dy_s/dy|.
/// For NLE, y is the simulation x and c is theta; for NPE, y is theta and c is x.
/// All parameters (embedding first, then the core) live in one contiguous vector,
/// `parameters()`; gradients use the same layout.
///
/// Thread safety: const methods are safe to call concurrently with distinct Workspaces.
/// Evaluations and sampling hold a SerialEigen: Eigen's products run single-threaded on the
/// calling thread (callers parallelise over chunks of samples).
/// \tparam Density a ConditionalDensity (DiagonalGaussian, MixtureDensityNetwork,
///         MaskedAutoregressiveFlow, ContextSplineFlow, NeuralSplineFlow, ...)
/// \tparam Embedding a ContextEmbedding (NoEmbedding, FunctionEmbedding, MlpEmbedding)
/// \tparam task_ what the estimator is for (see EstimatorTask; LikelihoodEstimator and
///         PosteriorEstimator fix it): a tagged estimator is rejected at compile time by the other
///         task's posterior and at run time by a loss for the other task, and its task is part of
///         describe(), hence of the model file.
template <ConditionalDensity Density, ContextEmbedding Embedding = NoEmbedding<typename Density::Scalar>,
          EstimatorTask task_ = EstimatorTask::unspecified>
class ConditionalEstimator {
public:
    static constexpr EstimatorTask task = task_;
    using Scalar = typename Density::Scalar;
    using MatrixType = Matrix<Scalar>;
    using DensityOptions = typename Density::Options;
    using EmbeddingOptions = typename Embedding::Options;
    static_assert(std::is_same_v<Scalar, typename Embedding::Scalar>,
                  "ConditionalEstimator: density and embedding must use the same Scalar");

    using EmbeddingWorkspace = typename detail::EmbeddingWorkspace<Embedding>::type;

    /// Buffers of one evaluation; reuse one per thread to avoid allocations.
    struct Workspace {
        typename Density::Workspace density;
        EmbeddingWorkspace embedding;
        MatrixType y_standard;     ///< z-scored y
        MatrixType c_summary;      ///< fixed-embedding output (unused without one)
        MatrixType c_standard;     ///< z-scored context
        MatrixType c_embedded;     ///< trainable-embedding output (unused without one)
        MatrixType grad_context;   ///< dL/d c_embedded
        MatrixType y_tiled;        ///< used by log_likelihood_sum without a fast path
        MatrixType c_tiled;
        Vector<Scalar> log_q;
    };

    /// Estimator without an embedding, parameters initialised from `seed`.
    explicit ConditionalEstimator(const DensityOptions& density, std::uint64_t seed = 0)
        requires std::is_same_v<Embedding, NoEmbedding<Scalar>>
        : ConditionalEstimator(EmbeddingOptions{density.context_dim}, density, seed) {}

    /// Estimator with an embedding whose output dimension must equal density.context_dim.
    /// \throws std::invalid_argument on inconsistent dimensions or invalid options.
    ConditionalEstimator(const EmbeddingOptions& embedding, const DensityOptions& density,
                         std::uint64_t seed = 0)
        : m_embedding(m_layout, embedding), m_density(m_layout, density), m_seed(seed) {
        require(m_embedding.output_dim() == m_density.context_dim(),
                "ConditionalEstimator: embedding output_dim (", m_embedding.output_dim(),
                ") must equal the density's context_dim (", m_density.context_dim(), ")");
        m_parameters = Vector<Scalar>::Zero(m_layout.size());
        const Index standardised = Embedding::trainable ? m_embedding.input_dim() : m_embedding.output_dim();
        m_input_standardizer = Standardizer<Scalar>(m_density.input_dim());
        m_context_standardizer = Standardizer<Scalar>(standardised);
        initialize(seed);
    }

    /// Re-draws all parameters from `seed` (embedding from stream 0, core from stream 1).
    void initialize(std::uint64_t seed) {
        m_seed = seed;
        m_parameters.setZero();
        if constexpr (Embedding::trainable) {
            RandomStream rng(seed, 0);
            m_embedding.initialize(m_parameters.data(), rng);
        }
        RandomStream rng(seed, 1);
        m_density.initialize(m_parameters.data(), rng);
    }

    [[nodiscard]] Index input_dim() const { return m_density.input_dim(); }
    [[nodiscard]] Index context_dim() const {
        return m_embedding.input_dim() > 0 ? m_embedding.input_dim() : m_density.context_dim();
    }
    [[nodiscard]] Index parameter_count() const { return m_parameters.size(); }
    [[nodiscard]] Vector<Scalar>& parameters() { return m_parameters; }
    [[nodiscard]] const Vector<Scalar>& parameters() const { return m_parameters; }
    [[nodiscard]] const Density& density() const { return m_density; }
    [[nodiscard]] const Embedding& embedding() const { return m_embedding; }
    [[nodiscard]] const Standardizer<Scalar>& input_standardizer() const { return m_input_standardizer; }
    [[nodiscard]] const Standardizer<Scalar>& context_standardizer() const { return m_context_standardizer; }
    [[nodiscard]] std::uint64_t seed() const { return m_seed; }

    /// Sets the z-score statistics directly (e.g. when loading). \throws on a size mismatch.
    void set_standardization(const Standardizer<Scalar>& input, const Standardizer<Scalar>& context) {
        require(input.dim() == m_input_standardizer.dim(), "ConditionalEstimator::set_standardization: input has dimension ",
                input.dim(), ", expected ", m_input_standardizer.dim());
        require(context.dim() == m_context_standardizer.dim(), "ConditionalEstimator::set_standardization: context has dimension ",
                context.dim(), ", expected ", m_context_standardizer.dim());
        m_input_standardizer = input;
        m_context_standardizer = context;
    }

    /// Fixes the z-score statistics from data (y: input_dim x n, c: context_dim x n, raw
    /// units; with a fixed embedding the context statistics are those of its output).
    void fit_standardization(const ConstMatrixRef<Scalar>& y, const ConstMatrixRef<Scalar>& c) {
        check_batch(y, c, "ConditionalEstimator::fit_standardization");
        m_input_standardizer.fit(y);
        if constexpr (!Embedding::trainable && !std::is_same_v<Embedding, NoEmbedding<Scalar>>) {
            MatrixType summary;
            m_embedding.apply(c, summary);
            m_context_standardizer.fit(summary);
        } else {
            m_context_standardizer.fit(c);
        }
    }

    void fit_standardization(const ConstMatrixRef<double>& y, const ConstMatrixRef<double>& c)
    requires(!std::is_same_v<Scalar, double>)
    {  // double data at a float estimator's boundary, converted once
        fit_standardization(MatrixType(y.template cast<Scalar>()),
                            MatrixType(c.template cast<Scalar>()));
    }

    /// out_i = log q(y_i | c_i) in the user's units. \throws std::invalid_argument on shapes.
    void log_prob(const ConstMatrixRef<Scalar>& y, const ConstMatrixRef<Scalar>& c,
                  VectorRef<Scalar> out, Workspace& ws) const {
        [[maybe_unused]] const SerialEigen serial;
        check_batch(y, c, "ConditionalEstimator::log_prob");
        require(out.size() == y.cols(), "ConditionalEstimator::log_prob: out has size ", out.size(),
                ", expected ", y.cols());
        const MatrixType& ce = prepare_context(c, ws);
        m_input_standardizer.apply(y, ws.y_standard);
        m_density.log_prob(m_parameters.data(), ws.y_standard, ce, out, ws.density);
        out.array() += m_input_standardizer.log_jacobian();
    }

    /// Convenience overload allocating its result and workspace.
    [[nodiscard]] Vector<Scalar> log_prob(const ConstMatrixRef<Scalar>& y,
                                          const ConstMatrixRef<Scalar>& c) const {
        Workspace ws;
        Vector<Scalar> out(y.cols());
        log_prob(y, c, out, ws);
        return out;
    }

    /// Double data at the boundary of a float estimator: converted once here, evaluated in
    /// float, returned as double (datasets and observations stay double in user code).
    [[nodiscard]] Vector<double> log_prob(const ConstMatrixRef<double>& y,
                                          const ConstMatrixRef<double>& c) const
    requires(!std::is_same_v<Scalar, double>)
    {
        return log_prob(MatrixType(y.template cast<Scalar>()), MatrixType(c.template cast<Scalar>()))
            .template cast<double>();
    }

    /// Returns S = sum_i w_i log q(y_i | c_i) and ADDS dS/dparameters to `grad` (size
    /// parameter_count()). Weights give loss terms their signs and scales (e.g. -1/n for a mean
    /// negative log-likelihood, +1/n for the zeta^- term of the MLMC loss).
    Scalar log_prob_gradient(const ConstMatrixRef<Scalar>& y, const ConstMatrixRef<Scalar>& c,
                             const ConstVectorRef<Scalar>& weights, VectorRef<Scalar> grad,
                             Workspace& ws) const {
        [[maybe_unused]] const SerialEigen serial;
        require(weights.size() == y.cols(), "ConditionalEstimator::log_prob_gradient: weights has size ",
                weights.size(), ", expected ", y.cols());
        require(grad.size() == parameter_count(), "ConditionalEstimator::log_prob_gradient: grad has size ",
                grad.size(), ", expected ", parameter_count());
        ws.log_q.resize(y.cols());
        log_prob(y, c, ws.log_q, ws);
        const MatrixType& ce = current_context(ws);
        // d S / d log q_i = w_i; the standardisation's Jacobian is constant in the parameters.
        m_density.backward(m_parameters.data(), ws.y_standard, ce, weights, ws.density, grad.data(),
                           Embedding::trainable ? &ws.grad_context : nullptr);
        if constexpr (Embedding::trainable)
            m_embedding.backward(m_parameters.data(), ws.c_standard, ws.grad_context, ws.embedding,
                                 grad.data());
        return weights.dot(ws.log_q);
    }

    /// out_j = sum_i log q(y_obs_i | c_j): the log-likelihood of m iid observations (columns of
    /// y_obs, input_dim x m) at each of n contexts (context_dim x n). Uses the core's
    /// `log_prob_repeated` fast path when it has one (context-only flows run their network once
    /// per context), else evaluates the tiled batch.
    void log_likelihood_sum(const ConstMatrixRef<Scalar>& y_obs, const ConstMatrixRef<Scalar>& c,
                            VectorRef<Scalar> out, Workspace& ws) const {
        [[maybe_unused]] const SerialEigen serial;
        require(y_obs.rows() == input_dim(), "ConditionalEstimator::log_likelihood_sum: y_obs has ",
                y_obs.rows(), " rows, expected ", input_dim());
        require(c.rows() == context_dim(), "ConditionalEstimator::log_likelihood_sum: c has ", c.rows(),
                " rows, expected ", context_dim());
        require(out.size() == c.cols(), "ConditionalEstimator::log_likelihood_sum: out has size ",
                out.size(), ", expected ", c.cols());
        const Index m = y_obs.cols();
        const Index n = c.cols();
        const MatrixType& ce = prepare_context(c, ws);
        m_input_standardizer.apply(y_obs, ws.y_standard);
        if constexpr (requires { m_density.log_prob_repeated(m_parameters.data(), ws.y_standard, ce, out, ws.density); }) {
            m_density.log_prob_repeated(m_parameters.data(), ws.y_standard, ce, out, ws.density);
        } else {
            ws.y_tiled.resize(input_dim(), m * n);
            ws.c_tiled.resize(ce.rows(), m * n);
            for (Index j = 0; j < n; ++j) {
                ws.y_tiled.middleCols(j * m, m) = ws.y_standard;
                ws.c_tiled.middleCols(j * m, m) = ce.col(j).replicate(1, m);
            }
            ws.log_q.resize(m * n);
            m_density.log_prob(m_parameters.data(), ws.y_tiled, ws.c_tiled, ws.log_q, ws.density);
            for (Index j = 0; j < n; ++j) out(j) = ws.log_q.segment(j * m, m).sum();
        }
        out.array() += Scalar(m) * m_input_standardizer.log_jacobian();
    }

    /// Column j of out (input_dim x n) is a draw from q(. | c_j), made from RandomStream(seed, j)
    /// only: the same seed gives the same draws whatever the batching.
    void sample(const ConstMatrixRef<Scalar>& c, std::uint64_t seed, MatrixRef<Scalar> out) const {
        [[maybe_unused]] const SerialEigen serial;
        require(c.rows() == context_dim(), "ConditionalEstimator::sample: c has ", c.rows(),
                " rows, expected ", context_dim());
        require(out.rows() == input_dim() && out.cols() == c.cols(),
                "ConditionalEstimator::sample: out must be ", input_dim(), " x ", c.cols());
        Workspace ws;
        const MatrixType& ce = prepare_context(c, ws);
        m_density.sample(m_parameters.data(), ce, seed, out);
        m_input_standardizer.invert(out, out);
    }

    /// Convenience overload allocating its result.
    [[nodiscard]] MatrixType sample(const ConstMatrixRef<Scalar>& c, std::uint64_t seed) const {
        MatrixType out(input_dim(), c.cols());
        sample(c, seed, out);
        return out;
    }

    /// Double contexts at the boundary of a float estimator: converted once, draws returned as
    /// double (the same draws as the float overload, widened).
    [[nodiscard]] Matrix<double> sample(const ConstMatrixRef<double>& c, std::uint64_t seed) const
    requires(!std::is_same_v<Scalar, double>)
    {
        return sample(MatrixType(c.template cast<Scalar>()), seed).template cast<double>();
    }

    /// One-line architecture description (saved with the weights and checked on load).
    [[nodiscard]] std::string describe() const {
        // Untagged estimators keep the description (and model files) they had before tasks.
        const std::string tag =
            task == EstimatorTask::unspecified ? "" : message(", task=", to_string(task));
        return message("ConditionalEstimator(density=", m_density.describe(), ", embedding=",
                       m_embedding.describe(), tag, ")");
    }

private:
    void check_batch(const ConstMatrixRef<Scalar>& y, const ConstMatrixRef<Scalar>& c,
                     const char* where) const {
        require(y.rows() == input_dim(), where, ": y has ", y.rows(), " rows, expected input_dim ",
                input_dim());
        require(c.rows() == context_dim(), where, ": c has ", c.rows(), " rows, expected context_dim ",
                context_dim());
        require(y.cols() == c.cols(), where, ": y has ", y.cols(), " columns but c has ", c.cols());
    }

    // The context the core sees, as computed by the last prepare_context on ws.
    [[nodiscard]] const MatrixType& current_context(const Workspace& ws) const {
        if constexpr (Embedding::trainable) return ws.c_embedded;
        return ws.c_standard;
    }

    const MatrixType& prepare_context(const ConstMatrixRef<Scalar>& c, Workspace& ws) const {
        if constexpr (Embedding::trainable) {
            m_context_standardizer.apply(c, ws.c_standard);
            ws.c_embedded = m_embedding.forward(m_parameters.data(), ws.c_standard, ws.embedding);
            return ws.c_embedded;
        } else if constexpr (std::is_same_v<Embedding, NoEmbedding<Scalar>>) {
            m_context_standardizer.apply(c, ws.c_standard);
            return ws.c_standard;
        } else {
            m_embedding.apply(c, ws.c_summary);
            m_context_standardizer.apply(ws.c_summary, ws.c_standard);
            return ws.c_standard;
        }
    }

    ParameterLayout m_layout;
    Embedding m_embedding;
    Density m_density;
    Vector<Scalar> m_parameters;
    Standardizer<Scalar> m_input_standardizer;
    Standardizer<Scalar> m_context_standardizer;
    std::uint64_t m_seed = 0;
};

/// A ConditionalEstimator for NLE, q(x | theta): it cannot be used as a posterior estimator.
template <ConditionalDensity Density, ContextEmbedding Embedding = NoEmbedding<typename Density::Scalar>>
using LikelihoodEstimator = ConditionalEstimator<Density, Embedding, EstimatorTask::likelihood>;

/// A ConditionalEstimator for NPE, q(theta | x): it cannot be used as a likelihood.
template <ConditionalDensity Density, ContextEmbedding Embedding = NoEmbedding<typename Density::Scalar>>
using PosteriorEstimator = ConditionalEstimator<Density, Embedding, EstimatorTask::posterior>;

}  // namespace mlsbi::flows
