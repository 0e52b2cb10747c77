// SPDX-License-Identifier: MIT
/// \file
/// \brief The three-level toggle-switch simulator (a Markov chain run for T = 50, 80, 300 steps on
/// one noise stream) and its prior.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>

#include "mlsbi/core/errors.hpp"
#include "mlsbi/core/types.hpp"
#include "mlsbi/distributions/box_uniform.hpp"
#include "mlsbi/rng/random_stream.hpp"
#include "mlsbi/simulators/multilevel_simulator.hpp"
#include "mlsbi/simulators/toggle_switch/truncated_normal.hpp"

namespace mlsbi::simulators::toggle_switch {

/// Number of parameters: theta = (a1, a2, b1, b2, mu, sigma, gamma).
inline constexpr Index parameter_count = 7;
/// Scale s of the transitions' TN(loc, s) (a normal of sd s / sqrt(2), see paper_truncated_normal).
inline constexpr double transition_scale = 0.5;
/// Initial state u_0 = v_0.
inline constexpr double initial_state = 10.0;
/// Observations are clamped to at most this value.
inline constexpr double observation_cap = 2000.0;
/// The paper's levels: T = 50, 80, 300 steps (level 0 cheapest).
inline constexpr std::array<Index, 3> paper_steps{50, 80, 300};
/// Sub-stream of RandomStream(seed, .) holding the observation's uniform; the path uses stream 0.
inline constexpr std::uint64_t observation_stream = 1;

/// The chain's state (u_t, v_t), the expression levels of the two genes.
struct State {
    double u = initial_state;
    double v = initial_state;
};

/// One transition from the old (u, v), both updated from the OLD state:
/// u <- TN(u + a1 / (1 + v^b1) - (1 + 0.03 u), 0.5), v <- TN(v + a2 / (1 + u^b2) - (1 + 0.03 v),
/// 0.5), consuming the uniform w_u then w_v. \param theta (a1, a2, b1, b2, mu, sigma, gamma).
[[nodiscard]] inline State step(const State& s, const ConstVectorRef<double>& theta, double w_u,
                                double w_v) {
    const double loc_u = s.u + theta(0) / (1.0 + std::pow(s.v, theta(2))) - (1.0 + 0.03 * s.u);
    const double loc_v = s.v + theta(1) / (1.0 + std::pow(s.u, theta(3))) - (1.0 + 0.03 * s.v);
    return {paper_truncated_normal(w_u, loc_u, transition_scale),
            paper_truncated_normal(w_v, loc_v, transition_scale)};
}

/// The observation x = TN(mu + u_T, mu sigma / u_T^gamma) from the uniform w; a non-finite result
/// becomes 0 and the result is clamped to at most 2000 (as the paper's code does).
[[nodiscard]] inline double observe(const State& s, const ConstVectorRef<double>& theta,
                                    double w) {
    const double mu = theta(4), sigma = theta(5), gamma = theta(6);
    const double x = paper_truncated_normal(w, mu + s.u, mu * sigma / std::pow(s.u, gamma));
    if (!std::isfinite(x)) return 0.0;
    return std::fmin(x, observation_cap);
}

/// One level of the toggle-switch simulator (Hikida et al. 2025, Sec. 5; after Bonassi et al.
/// 2011): the chain run for T steps from u_0 = v_0 = 10, then one noisy observation of u_T.
/// Satisfies LevelSimulator with output_dim 1.
///
/// Noise layout (the coupling invariant): step t (t = 0..T-1) takes uniforms 2t (for u) and
/// 2t + 1 (for v) of RandomStream(seed, 0), so the path uses 2T uniforms, and the observation
/// takes the first uniform of RandomStream(seed, observation_stream). A level with T' < T steps
/// called with the same seed therefore runs exactly the first T' steps of the longer chain's noise
/// and observes with the same final uniform: a seed-matched pair differs only in the chain's
/// length.
class Level {
public:
    /// \param steps T >= 1. \throws std::invalid_argument if steps < 1.
    explicit Level(Index steps) : m_steps(steps) {
        require(steps >= 1, "toggle_switch::Level: steps must be >= 1, got ", steps);
    }

    [[nodiscard]] Index output_dim() const { return 1; }
    [[nodiscard]] Index parameter_dim() const { return parameter_count; }
    /// T, the number of transitions.
    [[nodiscard]] Index steps() const { return m_steps; }
    /// Nominal cost T (the paper's cost model: a simulation costs its number of steps).
    [[nodiscard]] double nominal_cost() const { return static_cast<double>(m_steps); }

    /// The state after T steps driven by RandomStream(seed, 0).
    /// \throws std::invalid_argument if theta is not a 7-vector.
    [[nodiscard]] State final_state(const ConstVectorRef<double>& theta,
                                    std::uint64_t seed) const {
        require(theta.size() == parameter_count, "toggle_switch::Level::simulate: theta has ",
                theta.size(), " entries, expected 7 (a1, a2, b1, b2, mu, sigma, gamma)");
        RandomStream path(seed, 0);
        State s;
        for (Index t = 0; t < m_steps; ++t) {
            const double w_u = path.uniform();
            const double w_v = path.uniform();
            s = step(s, theta, w_u, w_v);
        }
        return s;
    }

    /// x(0) = observe(final_state(theta, seed), theta, RandomStream(seed, 1).uniform()).
    /// \throws std::invalid_argument if theta is not a 7-vector.
    void simulate(const ConstVectorRef<double>& theta, std::uint64_t seed,
                  VectorRef<double> x) const {
        const State s = final_state(theta, seed);
        RandomStream observation(seed, observation_stream);
        x(0) = observe(s, theta, observation.uniform());
    }

private:
    Index m_steps;
};

/// The three-level toggle-switch simulator: T = 50, 80, 300.
using Multilevel = MultilevelSimulator<Level, Level, Level>;

/// The paper's three levels, or any three chain lengths (cheapest first).
[[nodiscard]] inline Multilevel make_multilevel(
    const std::array<Index, 3>& steps = paper_steps) {
    require(steps[0] < steps[1] && steps[1] < steps[2],
            "toggle_switch::make_multilevel: steps must increase, got ", steps[0], ", ", steps[1],
            ", ", steps[2]);
    return Multilevel(Level(steps[0]), Level(steps[1]), Level(steps[2]));
}

/// The prior of the paper: a1, a2 ~ U[0.01, 50], b1, b2 ~ U[0.01, 5], mu ~ U[250, 450],
/// sigma ~ U[0.01, 0.5], gamma ~ U[0.01, 0.4].
[[nodiscard]] inline distributions::BoxUniform prior() {
    return distributions::BoxUniform({0.01, 0.01, 0.01, 0.01, 250.0, 0.01, 0.01},
                                     {50.0, 50.0, 5.0, 5.0, 450.0, 0.5, 0.4});
}

}  // namespace mlsbi::simulators::toggle_switch
