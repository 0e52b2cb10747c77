// SPDX-License-Identifier: MIT
/// \file
/// \brief The two-level g-and-k simulator (exact and series inverse normal CDF on the same
/// uniforms) and its prior.
#pragma once

#include <cmath>
#include <cstdint>

#include "mlsbi/core/errors.hpp"
#include "mlsbi/core/types.hpp"
#include "mlsbi/distributions/box_uniform.hpp"
#include "mlsbi/rng/random_stream.hpp"
#include "mlsbi/simulators/gnk/quantile.hpp"
#include "mlsbi/simulators/multilevel_simulator.hpp"

namespace mlsbi::simulators::gnk {

/// Which inverse normal CDF turns the uniforms into z.
enum class Fidelity {
    low,   ///< z_low: two-term erfinv series (cheap, biased)
    high,  ///< z_high: exact normal quantile
};

/// One level of the g-and-k simulator (the g-and-k experiment of Hikida et al. 2025); satisfies LevelSimulator.
///
/// theta = (A, B, g, k). Output: m iid draws x_j = Q(z(u_j); theta), where u_1..u_m are the
/// first m uniforms of RandomStream(seed) (one uniform per draw) and z is z_high or z_low. Both
/// fidelities consume the same uniforms, so a seed-matched pair differs only by the inverse CDF
/// (the coupling invariant); they agree closely where |2u - 1| is small.
/// \tparam F Fidelity::low or Fidelity::high.
template <Fidelity F>
class Level {
public:
    /// \param draws m >= 1 iid draws per simulation (output_dim; default 1, the NLE setting).
    /// \throws std::invalid_argument if draws < 1.
    explicit Level(Index draws = 1) : m_draws(draws) {
        require(draws >= 1, "gnk::Level: draws must be >= 1, got ", draws);
    }

    [[nodiscard]] Index output_dim() const { return m_draws; }
    /// theta = (A, B, g, k).
    [[nodiscard]] Index parameter_dim() const { return 4; }

    /// x_j = Q(z(u_j); theta), j < m. \throws std::invalid_argument if theta is not a 4-vector.
    void simulate(const ConstVectorRef<double>& theta, std::uint64_t seed,
                  VectorRef<double> x) const {
        require(theta.size() == 4, "gnk::Level::simulate: theta has ", theta.size(),
                " entries, expected 4 (A, B, g, k)");
        RandomStream rng(seed);
        const double a = theta(0), b = theta(1), g = theta(2), k = theta(3);
        for (Index j = 0; j < m_draws; ++j) {
            const double u = rng.uniform();
            const double z = F == Fidelity::high ? z_high(u) : z_low(u);
            x(j) = quantile(z, a, b, g, k);
        }
    }

private:
    Index m_draws;
};

/// Low-fidelity level (series erfinv).
using LowLevel = Level<Fidelity::low>;
/// High-fidelity level (exact erfinv).
using HighLevel = Level<Fidelity::high>;
/// The two-level g-and-k simulator: level 0 low, level 1 high.
using Multilevel = MultilevelSimulator<LowLevel, HighLevel>;

/// The two-level g-and-k simulator with m draws per simulation.
[[nodiscard]] inline Multilevel make_multilevel(Index draws = 1) {
    return Multilevel(LowLevel(draws), HighLevel(draws));
}

/// The prior of the paper's code and published numbers: A, B, g ~ U[0, 3], k ~ U[e^0.5, 3]
/// (the paper's text says U[0, e^0.5]).
[[nodiscard]] inline distributions::BoxUniform prior() {
    return distributions::BoxUniform({0.0, 0.0, 0.0, std::exp(0.5)}, {3.0, 3.0, 3.0, 3.0});
}

}  // namespace mlsbi::simulators::gnk
