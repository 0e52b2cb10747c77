// SPDX-License-Identifier: MIT
// Shared by the campaign tests (tests/simulators) and the MPI tests (tests/mpi): toy multilevel
// models of uneven cost and bit-for-bit dataset comparison.
#pragma once

#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>

#include "mlsbi/rng.hpp"
#include "mlsbi/simulators.hpp"

namespace mlsbi::testing_support {

// Three coupled levels x = theta_0 + z (1 + level / 10), theta_1 u, plus `extra` rows of
// filler; theta_0 above `nan_above` gives NaN at level 1 (for the drop policy). The cost grows
// with theta_1 (a loop of `work` x theta_1 iterations), so samples are of uneven cost.
inline auto toy_level(int level, Index extra = 0, double nan_above = 2.0, int work = 0) {
    return simulators::make_level(2 + extra, [=](const ConstVectorRef<double>& theta,
                                                 RandomStream& rng, VectorRef<double> x) {
        const double z = standard_normal(rng);
        double busy = 0;
        for (int k = 0; k < static_cast<int>(work * theta(1)); ++k) busy += std::sin(busy + k);
        x(0) = theta(0) + z * (1.0 + 0.1 * level) + 0.0 * busy;
        x(1) = theta(1) * rng.uniform();
        for (Index r = 0; r < extra; ++r) x(2 + r) = rng.uniform() + level;
        if (level == 1 && theta(0) > nan_above) x(0) = std::numeric_limits<double>::quiet_NaN();
    });
}

inline auto toy_model(Index extra = 0, double nan_above = 2.0, int work = 0) {
    return simulators::MultilevelSimulator(toy_level(0, extra, nan_above, work),
                                           toy_level(1, extra, nan_above, work),
                                           toy_level(2, extra, nan_above, work));
}

// One level whose simulator throws "solver diverged" when theta_0 > `above`.
inline auto throwing_model(double above) {
    return simulators::MultilevelSimulator(simulators::make_level(
        1, [above](const ConstVectorRef<double>& theta, RandomStream& rng, VectorRef<double> x) {
            x(0) = theta(0) + rng.uniform();
            if (theta(0) > above) throw std::runtime_error("solver diverged");
        }));
}

// Where `run()` threw a SimulationError (level 99, index -1 if it did not).
struct ErrorSite {
    std::size_t level = 99;
    Index index = -1;
    std::string what;
};
template <class Run>
ErrorSite simulation_error_site(Run&& run) {
    try {
        (void)run();
    } catch (const simulators::SimulationError& e) {
        return {e.level(), e.index(), e.what()};
    }
    return {};
}

// Bit-for-bit equality (memcmp, so -0.0 and NaN payloads count).
template <class M>
bool same_bits(const M& a, const M& b) {
    return a.rows() == b.rows() && a.cols() == b.cols() &&
           (a.size() == 0 || std::memcmp(a.data(), b.data(),
                                         sizeof(double) * static_cast<std::size_t>(a.size())) == 0);
}

inline bool same_dataset(const simulators::MultilevelDataset& a,
                         const simulators::MultilevelDataset& b) {
    if (a.level_count() != b.level_count()) return false;
    for (std::size_t l = 0; l < a.level_count(); ++l) {
        const auto& x = a.levels[l];
        const auto& y = b.levels[l];
        if (!same_bits(x.theta, y.theta) || !same_bits(x.x_fine, y.x_fine) ||
            !same_bits(x.x_coarse, y.x_coarse) || x.seeds != y.seeds)
            return false;
        if (a.reports.size() == b.reports.size() &&
            (a.reports[l].kept != b.reports[l].kept ||
             a.reports[l].dropped != b.reports[l].dropped ||
             a.reports[l].simulations != b.reports[l].simulations))
            return false;
    }
    return true;
}

}  // namespace mlsbi::testing_support
