// SPDX-License-Identifier: MIT
/// \file
/// \brief Stochastic gradient descent with (heavy-ball) momentum on a flat parameter vector, as
/// torch.optim.SGD runs it (no dampening, no Nesterov, no weight decay).
#pragma once

#include <cmath>

#include "mlsbi/core/errors.hpp"
#include "mlsbi/core/types.hpp"
#include "mlsbi/optimizers/detail/state_io.hpp"

namespace mlsbi::optimizers {

/// Options of SgdMomentum.
struct SgdOptions {
    double learning_rate = 1e-2;  ///< step size, > 0
    double momentum = 0.9;        ///< in [0, 1); 0 is plain gradient descent

    /// \throws std::invalid_argument naming the first invalid field.
    void validate() const {
        require(std::isfinite(learning_rate) && learning_rate > 0,
                "SgdOptions: learning_rate must be positive and finite, got ", learning_rate);
        require(momentum >= 0 && momentum < 1, "SgdOptions: momentum must be in [0, 1), got ",
                momentum);
    }
};

/// v <- momentum v + g (v = g at the first step), p <- p - lr v. Satisfies Optimizer.
/// \tparam Scalar float or double.
template <typename Scalar>
class SgdMomentum {
public:
    /// Velocity and step count.
    struct State {
        Vector<Scalar> velocity;
        long steps = 0;

        void write(std::ostream& out) const {
            detail::write_vector(out, velocity);
            detail::write_value(out, steps);
        }
        void read(std::istream& in) {
            velocity = detail::read_vector<Scalar>(in, "SGD velocity");
            steps = detail::read_value<long>(in, "SGD step count");
        }
    };

    /// \throws std::invalid_argument on a negative count or invalid options.
    explicit SgdMomentum(Index parameter_count, SgdOptions options = {})
        : m_options((options.validate(), options)) {
        require(parameter_count >= 0, "SgdMomentum: parameter_count must be >= 0, got ",
                parameter_count);
        m_velocity = Vector<Scalar>::Zero(parameter_count);
    }

    /// \throws std::invalid_argument on a size mismatch.
    void step(VectorRef<Scalar> params, const ConstVectorRef<Scalar>& gradient) {
        require(params.size() == m_velocity.size() && gradient.size() == m_velocity.size(),
                "SgdMomentum::step: params and gradient must have size ", m_velocity.size(),
                ", got ", params.size(), " and ", gradient.size());
        const auto momentum = static_cast<Scalar>(m_options.momentum);
        if (m_steps == 0)
            m_velocity = gradient;
        else
            m_velocity = momentum * m_velocity + gradient;
        params -= static_cast<Scalar>(m_options.learning_rate) * m_velocity;
        ++m_steps;
    }

    [[nodiscard]] long steps() const { return m_steps; }
    [[nodiscard]] const SgdOptions& options() const { return m_options; }
    [[nodiscard]] State state() const { return State{m_velocity, m_steps}; }
    /// \throws std::invalid_argument if the state's size differs from the parameter count.
    void restore(const State& state) {
        require(state.velocity.size() == m_velocity.size(), "SgdMomentum::restore: state has size ",
                state.velocity.size(), ", expected ", m_velocity.size());
        m_velocity = state.velocity;
        m_steps = state.steps;
    }

private:
    SgdOptions m_options;
    Vector<Scalar> m_velocity;
    long m_steps = 0;
};

}  // namespace mlsbi::optimizers
