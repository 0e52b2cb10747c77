// SPDX-License-Identifier: MIT
/// \file
/// \brief The two-level Ornstein-Uhlenbeck simulator (Euler-Maruyama path and its stationary
/// approximation on the same Gaussian noise) and its priors.
#pragma once

#include <cmath>
#include <cstdint>

#include "mlsbi/core/errors.hpp"
#include "mlsbi/core/types.hpp"
#include "mlsbi/distributions/box_uniform.hpp"
#include "mlsbi/rng/normal.hpp"
#include "mlsbi/rng/random_stream.hpp"
#include "mlsbi/simulators/multilevel_simulator.hpp"

namespace mlsbi::simulators::ou {

/// Time grid and start of the process (Hikida et al. 2025, Sec. 5: T = 10, dt = 0.1, x_0 = 2).
struct Settings {
    Index steps = 100;       ///< N Euler steps; the output is x_1 .. x_N (>= 1)
    double dt = 0.1;         ///< step size (> 0; gamma dt < 1 keeps the recursion stable)
    double x0 = 2.0;         ///< start value when x_0 is not a parameter
    bool infer_x0 = false;   ///< theta = (gamma, mu, sigma, x_0): the start is the 4th parameter

    /// \throws std::invalid_argument naming the invalid field.
    void validate() const {
        require(steps >= 1, "ou::Settings: steps must be >= 1, got ", steps);
        require(std::isfinite(dt) && dt > 0, "ou::Settings: dt must be positive, got ", dt);
        require(std::isfinite(x0), "ou::Settings: x0 must be finite, got ", x0);
    }
    /// 3 = (gamma, mu, sigma), or 4 with x_0.
    [[nodiscard]] Index parameter_dim() const { return infer_x0 ? 4 : 3; }
};

namespace detail {
inline void check_theta(const ConstVectorRef<double>& theta, const Settings& s, const char* who) {
    require(theta.size() == s.parameter_dim(), who, ": theta has ", theta.size(),
            " entries, expected ", s.parameter_dim(),
            s.infer_x0 ? " (gamma, mu, sigma, x0)" : " (gamma, mu, sigma)");
    require(theta(0) > 0 && theta(2) > 0, who, ": gamma and sigma must be positive, got gamma ",
            theta(0), ", sigma ", theta(2));
}
}  // namespace detail

/// High level: the Euler-Maruyama path x_{i+1} = x_i + gamma (mu - x_i) dt + sigma sqrt(dt)
/// eps_i, i = 0..N-1, output (x_1, ..., x_N). eps_i is the i-th N(0, 1) draw of
/// RandomStream(seed) (one uniform each, `standard_normal`). Satisfies LevelSimulator.
class EulerLevel {
public:
    explicit EulerLevel(Settings settings = {}) : m_settings(settings) { m_settings.validate(); }
    [[nodiscard]] Index output_dim() const { return m_settings.steps; }
    [[nodiscard]] Index parameter_dim() const { return m_settings.parameter_dim(); }
    [[nodiscard]] const Settings& settings() const { return m_settings; }

    /// \throws std::invalid_argument on a theta of the wrong size or non-positive gamma, sigma.
    void simulate(const ConstVectorRef<double>& theta, std::uint64_t seed,
                  VectorRef<double> x) const {
        detail::check_theta(theta, m_settings, "ou::EulerLevel::simulate");
        const double gamma = theta(0), mu = theta(1), sigma = theta(2);
        const double dt = m_settings.dt, noise = sigma * std::sqrt(dt);
        double state = m_settings.infer_x0 ? theta(3) : m_settings.x0;
        RandomStream rng(seed);
        for (Index i = 0; i < m_settings.steps; ++i) {
            state += gamma * (mu - state) * dt + noise * standard_normal(rng);
            x(i) = state;
        }
    }

private:
    Settings m_settings;
};

/// Low level: independent draws from the stationary law, x_i = mu + sigma / sqrt(2 gamma) eps_i,
/// on the SAME eps_i as EulerLevel (draw i of RandomStream(seed)), so a seed-matched pair shares
/// its noise (the coupling invariant). It ignores x_0 (the stationary law forgets the start).
class StationaryLevel {
public:
    explicit StationaryLevel(Settings settings = {}) : m_settings(settings) {
        m_settings.validate();
    }
    [[nodiscard]] Index output_dim() const { return m_settings.steps; }
    [[nodiscard]] Index parameter_dim() const { return m_settings.parameter_dim(); }

    /// \throws std::invalid_argument as EulerLevel::simulate.
    void simulate(const ConstVectorRef<double>& theta, std::uint64_t seed,
                  VectorRef<double> x) const {
        detail::check_theta(theta, m_settings, "ou::StationaryLevel::simulate");
        const double mu = theta(1), scale = theta(2) / std::sqrt(2.0 * theta(0));
        RandomStream rng(seed);
        for (Index i = 0; i < m_settings.steps; ++i) x(i) = mu + scale * standard_normal(rng);
    }

private:
    Settings m_settings;
};

/// Level 0 stationary, level 1 Euler.
using Multilevel = MultilevelSimulator<StationaryLevel, EulerLevel>;

[[nodiscard]] inline Multilevel make_multilevel(const Settings& settings = {}) {
    return Multilevel(StationaryLevel(settings), EulerLevel(settings));
}

/// The paper's prior: gamma ~ U[0.1, 1], mu ~ U[0.1, 3], sigma ~ U[0.1, 0.6].
[[nodiscard]] inline distributions::BoxUniform prior() {
    return distributions::BoxUniform({0.1, 0.1, 0.1}, {1.0, 3.0, 0.6});
}

/// The prior of the 4-parameter variant: gamma ~ U[0.5, 1.5], mu ~ U[0.1, 3],
/// sigma ~ U[0.1, 0.6], x_0 ~ U[0, 4] (x_0 only changes the high level).
[[nodiscard]] inline distributions::BoxUniform prior_with_x0() {
    return distributions::BoxUniform({0.5, 0.1, 0.1, 0.0}, {1.5, 3.0, 0.6, 4.0});
}

}  // namespace mlsbi::simulators::ou
