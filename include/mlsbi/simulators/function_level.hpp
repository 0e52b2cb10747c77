// SPDX-License-Identifier: MIT
/// \file
/// \brief Turns a lambda into a LevelSimulator, so a coupled pair of levels takes a few lines.
#pragma once

#include <concepts>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <utility>

#include "mlsbi/core/errors.hpp"
#include "mlsbi/core/types.hpp"
#include "mlsbi/rng/random_stream.hpp"
#include "mlsbi/simulators/level_simulator.hpp"

namespace mlsbi::simulators {

/// A LevelSimulator built from a callable F with one of two signatures:
/// - `f(const ConstVectorRef<double>& theta, RandomStream& rng, VectorRef<double> x)`: the stream
///   is `RandomStream(seed)` (stream 0), built fresh for each call, so levels written this way
///   share their noise draw for draw (the coupling invariant);
/// - `f(const ConstVectorRef<double>& theta, std::uint64_t seed, VectorRef<double> x)`: the raw
///   seed, e.g. for `BrownianPath(seed, ...)`. Declare the seed parameter's type explicitly.
/// Generic lambdas (`auto` parameters) work with the first form. F must be callable
/// concurrently (no mutable captures).
template <class F>
class FunctionLevel {
public:
    /// \param output_dim d >= 1; \param f the simulation; \param cost optional nominal cost
    /// (NaN = unknown). \throws std::invalid_argument if output_dim < 1.
    FunctionLevel(Index output_dim, F f, double cost = std::numeric_limits<double>::quiet_NaN())
        : m_output_dim(output_dim), m_f(std::move(f)), m_cost(cost) {
        require(output_dim >= 1, "FunctionLevel: output_dim must be >= 1, got ", output_dim);
    }

    [[nodiscard]] Index output_dim() const { return m_output_dim; }
    /// The cost given at construction (NaN when none was).
    [[nodiscard]] double nominal_cost() const { return m_cost; }

    /// Writes G(theta, seed) into the d-vector x.
    void simulate(const ConstVectorRef<double>& theta, std::uint64_t seed,
                  VectorRef<double> x) const {
        if constexpr (std::is_invocable_v<const F&, const ConstVectorRef<double>&, RandomStream&,
                                          VectorRef<double>>) {
            RandomStream rng(seed);
            m_f(theta, rng, x);
        } else {
            static_assert(std::is_invocable_v<const F&, const ConstVectorRef<double>&,
                                              std::uint64_t, VectorRef<double>>,
                          "FunctionLevel: F must be callable as f(theta, RandomStream&, x) or "
                          "f(theta, std::uint64_t seed, x)");
            m_f(theta, seed, x);
        }
    }

private:
    Index m_output_dim;
    F m_f;
    double m_cost;
};

/// Builds a FunctionLevel (see there for the accepted signatures).
/// \code
/// auto level = make_level(1, [](const auto& theta, RandomStream& rng, auto x) {
///     x(0) = theta(0) + standard_normal(rng);
/// });
/// \endcode
template <class F>
[[nodiscard]] FunctionLevel<std::decay_t<F>> make_level(
    Index output_dim, F&& f, double cost = std::numeric_limits<double>::quiet_NaN()) {
    return FunctionLevel<std::decay_t<F>>(output_dim, std::forward<F>(f), cost);
}

}  // namespace mlsbi::simulators
