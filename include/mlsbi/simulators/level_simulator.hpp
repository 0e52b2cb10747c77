// SPDX-License-Identifier: MIT
/// \file
/// \brief The LevelSimulator concept: a deterministic map (theta, seed) -> x, and its coupling
/// invariant.
#pragma once

#include <cmath>
#include <concepts>
#include <cstdint>
#include <optional>

#include "mlsbi/core/types.hpp"

namespace mlsbi::simulators {

/// One fidelity level G_l of a simulator, as a deterministic function of (theta, seed).
///
/// Contract (who calls it: dataset generation, diagnostics, examples; possibly from many threads
/// at once):
/// - `output_dim()` is d >= 1, the length of x.
/// - `simulate(theta, seed, x)` writes G(theta, seed) into the pre-sized d-vector `x`. It is a
///   pure function of (theta, seed): all randomness comes from the seed, typically through
///   `RandomStream rng(seed)`; no global state, no clock. It must be safe to call concurrently on
///   the same const object. It may write non-finite values (dataset generation detects them) and
///   may throw std::exception on failure.
/// - Optional: `nominal_cost()` (a user-supplied relative cost, used for sample allocation before
///   costs are measured; NaN means unknown) and `parameter_dim()` (length of theta, checked
///   against the prior when present).
///
/// **Coupling invariant.** The levels of a multilevel simulator, called with the same theta and
/// the same seed, must consume the same driving noise: the same uniforms in the same order, so
/// level l - 1 and level l differ only by their deterministic approximation. Ways to keep it:
/// draw normals with `standard_normal` (one uniform each) or `truncated_normal` (one uniform each,
/// whatever the bounds); feed the same uniforms to an exact and an approximate inverse CDF; let a
/// short and a long run of a Markov chain consume the same prefix of the stream; drive an SDE at
/// every resolution from one `BrownianPath(seed, ...)`. Seed-matched training data (the MLMC loss
/// of Hikida et al. 2025, Eq. (3)) relies on it: Var[f_l - f_{l-1}] is small only when the pair
/// shares its noise.
///
/// A coupled pair in a few lines (see also `make_level`):
/// \code
/// // Low: x = theta + z. High: x = theta + z + 0.1 z^2. Same seed => same z at both levels.
/// auto low = simulators::make_level(1, [](const auto& theta, RandomStream& rng, auto x) {
///     x(0) = theta(0) + standard_normal(rng);
/// });
/// auto high = simulators::make_level(1, [](const auto& theta, RandomStream& rng, auto x) {
///     const double z = standard_normal(rng);
///     x(0) = theta(0) + z + 0.1 * z * z;
/// });
/// const simulators::MultilevelSimulator model(low, high);  // model.levels == 2
/// \endcode
template <class S>
concept LevelSimulator = requires(const S& sim, const ConstVectorRef<double>& theta,
                                  std::uint64_t seed, VectorRef<double> x) {
    { sim.output_dim() } -> std::convertible_to<Index>;
    { sim.simulate(theta, seed, x) } -> std::same_as<void>;
};

/// The nominal cost of a level when it declares a finite one, std::nullopt otherwise.
template <LevelSimulator S>
[[nodiscard]] std::optional<double> nominal_cost(const S& sim) {
    if constexpr (requires {
                      { sim.nominal_cost() } -> std::convertible_to<double>;
                  }) {
        const double cost = sim.nominal_cost();
        if (std::isfinite(cost)) return cost;
    }
    return std::nullopt;
}

/// The parameter dimension a level declares, std::nullopt when it does not declare one.
template <LevelSimulator S>
[[nodiscard]] std::optional<Index> parameter_dim(const S& sim) {
    if constexpr (requires {
                      { sim.parameter_dim() } -> std::convertible_to<Index>;
                  })
        return static_cast<Index>(sim.parameter_dim());
    else
        return std::nullopt;
}

}  // namespace mlsbi::simulators
