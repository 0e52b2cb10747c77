// SPDX-License-Identifier: MIT
/// \file
/// \brief Adam on a flat parameter vector, with PyTorch's update rule and bias correction.
#pragma once

#include <cmath>

#include "mlsbi/core/errors.hpp"
#include "mlsbi/core/types.hpp"
#include "mlsbi/optimizers/detail/state_io.hpp"

namespace mlsbi::optimizers {

/// Options of Adam. Defaults are those of the multilevel SBI paper's experiments (Hikida et al.
/// 2025, with Algorithm 1): lr 1e-4, betas 0.85 / 0.999, eps 1e-8, no weight decay.
struct AdamOptions {
    double learning_rate = 1e-4;  ///< step size, > 0 (typical 1e-5 .. 1e-2)
    double beta1 = 0.85;          ///< decay of the first moment, in [0, 1)
    double beta2 = 0.999;         ///< decay of the second moment, in [0, 1)
    double epsilon = 1e-8;        ///< added to the denominator, >= 0

    /// \throws std::invalid_argument naming the first invalid field.
    void validate() const {
        require(std::isfinite(learning_rate) && learning_rate > 0,
                "AdamOptions: learning_rate must be positive and finite, got ", learning_rate);
        require(beta1 >= 0 && beta1 < 1, "AdamOptions: beta1 must be in [0, 1), got ", beta1);
        require(beta2 >= 0 && beta2 < 1, "AdamOptions: beta2 must be in [0, 1), got ", beta2);
        require(std::isfinite(epsilon) && epsilon >= 0,
                "AdamOptions: epsilon must be finite and >= 0, got ", epsilon);
    }
};

/// Adam (Kingma & Ba 2015) exactly as `torch.optim.Adam` (non-fused, no amsgrad, no weight
/// decay) runs it, on a flat parameter vector, minimising:
///
///   m <- beta1 m + (1 - beta1) g,   v <- beta2 v + (1 - beta2) g^2,   t <- t + 1,
///   p <- p - (lr / (1 - beta1^t)) m / (sqrt(v) / sqrt(1 - beta2^t) + eps).
///
/// The moment arithmetic runs in Scalar (as PyTorch does in the parameter dtype); the bias
/// corrections are computed in double and rounded once. The state vectors are allocated at
/// construction; `step` does no heap work.
/// \tparam Scalar float or double.
template <typename Scalar>
class Adam {
public:
    /// \param parameter_count size of the flat parameter vector (>= 0).
    /// \throws std::invalid_argument on a negative count or invalid options.
    explicit Adam(Index parameter_count, AdamOptions options = {})
        : m_options((options.validate(), options)) {
        require(parameter_count >= 0, "Adam: parameter_count must be >= 0, got ", parameter_count);
        m_first = Vector<Scalar>::Zero(parameter_count);
        m_second = Vector<Scalar>::Zero(parameter_count);
    }

    /// One update of `params` (size parameter_count) along `gradient`, the gradient of the loss to
    /// minimise (same size). Non-finite gradients are not checked here (the trainer does).
    /// \throws std::invalid_argument on a size mismatch.
    void step(VectorRef<Scalar> params, const ConstVectorRef<Scalar>& gradient) {
        require(params.size() == m_first.size(), "Adam::step: params has size ", params.size(),
                ", expected ", m_first.size());
        require(gradient.size() == m_first.size(), "Adam::step: gradient has size ",
                gradient.size(), ", expected ", m_first.size());
        ++m_steps;
        const auto b1 = static_cast<Scalar>(m_options.beta1);
        const auto b2 = static_cast<Scalar>(m_options.beta2);
        m_first = b1 * m_first + (Scalar(1) - b1) * gradient;
        m_second = b2 * m_second + (Scalar(1) - b2) * gradient.cwiseProduct(gradient);
        const double t = static_cast<double>(m_steps);
        const double correction1 = 1.0 - std::pow(m_options.beta1, t);
        const double correction2 = 1.0 - std::pow(m_options.beta2, t);
        const auto step_size = static_cast<Scalar>(m_options.learning_rate / correction1);
        const auto correction2_sqrt = static_cast<Scalar>(std::sqrt(correction2));
        const auto eps = static_cast<Scalar>(m_options.epsilon);
        params.array() -=
            step_size * m_first.array() / (m_second.array().sqrt() / correction2_sqrt + eps);
    }

    /// Forgets the moments and the step count (e.g. before fine-tuning on new data).
    void reset() {
        m_first.setZero();
        m_second.setZero();
        m_steps = 0;
    }

    /// What the next steps depend on: the moments and the step count. Saving it and restoring it
    /// later (training::Checkpoint) continues bit for bit.
    struct State {
        Vector<Scalar> first;
        Vector<Scalar> second;
        long steps = 0;

        void write(std::ostream& out) const {
            detail::write_vector(out, first);
            detail::write_vector(out, second);
            detail::write_value(out, steps);
        }
        void read(std::istream& in) {
            first = detail::read_vector<Scalar>(in, "Adam first moment");
            second = detail::read_vector<Scalar>(in, "Adam second moment");
            steps = detail::read_value<long>(in, "Adam step count");
        }
    };
    [[nodiscard]] State state() const { return State{m_first, m_second, m_steps}; }
    /// \throws std::invalid_argument if the state's sizes differ from parameter_count().
    void restore(const State& state) {
        require(state.first.size() == m_first.size() && state.second.size() == m_first.size(),
                "Adam::restore: state has size ", state.first.size(), "/", state.second.size(),
                ", expected ", m_first.size());
        m_first = state.first;
        m_second = state.second;
        m_steps = state.steps;
    }

    /// Number of steps taken since construction or the last reset.
    [[nodiscard]] long steps() const { return m_steps; }

    [[nodiscard]] const AdamOptions& options() const { return m_options; }
    [[nodiscard]] Index parameter_count() const { return m_first.size(); }

private:
    AdamOptions m_options;
    Vector<Scalar> m_first;   // m, the first-moment estimate
    Vector<Scalar> m_second;  // v, the second-moment estimate
    long m_steps = 0;
};

}  // namespace mlsbi::optimizers
