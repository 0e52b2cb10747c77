// SPDX-License-Identifier: MIT
/// \file
/// \brief MultilevelSimulator: L + 1 level simulators ordered by fidelity, dispatched at compile
/// time.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>

#include "mlsbi/core/errors.hpp"
#include "mlsbi/core/types.hpp"
#include "mlsbi/simulators/level_simulator.hpp"

namespace mlsbi::simulators {

/// What dataset generation needs from a multilevel simulator: a compile-time number of levels
/// `M::levels` (= L + 1, level 0 the cheapest, level L the one we trust) and per-level
/// `output_dim(l)` and `simulate(l, theta, seed, x)` with the LevelSimulator contract, including
/// its coupling invariant between levels. MultilevelSimulator satisfies it; so can one type
/// indexed by level.
template <class M>
concept MultilevelModel = requires(const M& model, std::size_t level,
                                   const ConstVectorRef<double>& theta, std::uint64_t seed,
                                   VectorRef<double> x) {
    {std::integral_constant<std::size_t, M::levels>{}};
    { model.output_dim(level) } -> std::convertible_to<Index>;
    { model.simulate(level, theta, seed, x) } -> std::same_as<void>;
};

/// An ordered, compile-time set of levels G_0, ..., G_L held by value in a std::tuple.
///
/// `simulate(l, ...)` picks the level with a fold over the tuple (no virtual call), and
/// `level<l>()` gives typed access. The levels must honour the coupling invariant documented on
/// LevelSimulator. See the example there.
/// \tparam Levels types satisfying LevelSimulator, cheapest first.
template <LevelSimulator... Levels>
class MultilevelSimulator {
    static_assert(sizeof...(Levels) >= 1, "MultilevelSimulator needs at least one level");

public:
    /// Number of levels, L + 1.
    static constexpr std::size_t levels = sizeof...(Levels);
    /// Index of the highest fidelity, L.
    static constexpr std::size_t finest_level = levels - 1;

    explicit MultilevelSimulator(Levels... level_simulators)
        : m_levels(std::move(level_simulators)...) {}

    /// Level `l` itself.
    template <std::size_t l>
    [[nodiscard]] const auto& level() const {
        static_assert(l < levels, "MultilevelSimulator::level: index out of range");
        return std::get<l>(m_levels);
    }

    /// Output dimension of level l. \throws std::invalid_argument if l >= levels.
    [[nodiscard]] Index output_dim(std::size_t l) const {
        Index dim = 0;
        visit(l, [&](const auto& sim) { dim = static_cast<Index>(sim.output_dim()); });
        return dim;
    }

    /// Writes G_l(theta, seed) into x. \throws std::invalid_argument if l >= levels; whatever the
    /// level throws.
    void simulate(std::size_t l, const ConstVectorRef<double>& theta, std::uint64_t seed,
                  VectorRef<double> x) const {
        visit(l, [&](const auto& sim) { sim.simulate(theta, seed, x); });
    }

    /// The nominal cost level l declares, if any. \throws std::invalid_argument if l >= levels.
    [[nodiscard]] std::optional<double> nominal_cost(std::size_t l) const {
        std::optional<double> cost;
        visit(l, [&](const auto& sim) { cost = simulators::nominal_cost(sim); });
        return cost;
    }

    /// The parameter dimension level l declares, if any.
    [[nodiscard]] std::optional<Index> parameter_dim(std::size_t l) const {
        std::optional<Index> dim;
        visit(l, [&](const auto& sim) { dim = simulators::parameter_dim(sim); });
        return dim;
    }

    /// Calls f(level<l>()) for a run-time l. \throws std::invalid_argument if l >= levels.
    template <class F>
    void visit(std::size_t l, F&& f) const {
        require(l < levels, "MultilevelSimulator: level ", l, " out of range (levels 0..",
                levels - 1, ")");
        [&]<std::size_t... I>(std::index_sequence<I...>) {
            (void)((l == I ? (f(std::get<I>(m_levels)), true) : false) || ...);
        }
        (std::index_sequence_for<Levels...>{});
    }

private:
    std::tuple<Levels...> m_levels;
};

template <class... Levels>
MultilevelSimulator(Levels...) -> MultilevelSimulator<Levels...>;

}  // namespace mlsbi::simulators
