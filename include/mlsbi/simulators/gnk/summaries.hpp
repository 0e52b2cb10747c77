// SPDX-License-Identifier: MIT
/// \file
/// \brief Octile-based robust summaries (SA, SB, SG, SK) of m iid g-and-k draws, the NPE context.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <vector>

#include "mlsbi/core/errors.hpp"
#include "mlsbi/core/types.hpp"
#include "mlsbi/simulators/gnk/simulator.hpp"

namespace mlsbi::simulators::gnk {

/// The four robust summaries of a sample from its octiles E1..E7 (the g-and-k NPE experiment of Hikida et al. 2025):
/// SA = E4, SB = E6 - E2, SG = (E6 + E2 - 2 E4) / SB, SK = (E7 - E5 + E3 - E1) / SB. Quantiles
/// are NumPy's default (linear interpolation between order statistics at position p (m - 1)).
/// \param draws m >= 2 draws (any order); \param out 4-vector (SA, SB, SG, SK). A degenerate
///        sample (SB = 0) gives non-finite SG, SK.
/// \throws std::invalid_argument if m < 2 or out is not a 4-vector.
inline void octile_summaries(const ConstVectorRef<double>& draws, VectorRef<double> out) {
    require(draws.size() >= 2, "gnk::octile_summaries: need at least 2 draws, got ", draws.size());
    require(out.size() == 4, "gnk::octile_summaries: out has ", out.size(), " entries, expected 4");
    std::vector<double> sorted(draws.data(), draws.data() + draws.size());
    std::sort(sorted.begin(), sorted.end());
    std::array<double, 7> e{};
    const double last = static_cast<double>(sorted.size() - 1);
    for (std::size_t q = 0; q < 7; ++q) {
        const double position = static_cast<double>(q + 1) / 8.0 * last;
        const auto below = static_cast<std::size_t>(std::floor(position));
        const std::size_t above = std::min(below + 1, sorted.size() - 1);
        const double fraction = position - static_cast<double>(below);
        e[q] = sorted[below] + fraction * (sorted[above] - sorted[below]);
    }
    const double sb = e[5] - e[1];
    out(0) = e[3];
    out(1) = sb;
    out(2) = (e[5] + e[1] - 2.0 * e[3]) / sb;
    out(3) = (e[6] - e[4] + e[2] - e[0]) / sb;
}

/// Summaries of every column of an m x n batch (column i = the m draws of simulation i).
/// \return 4 x n. \throws as the vector overload.
[[nodiscard]] inline Matrix<double> octile_summaries(const ConstMatrixRef<double>& draws) {
    Matrix<double> out(4, draws.cols());
    for (Index i = 0; i < draws.cols(); ++i) octile_summaries(draws.col(i), out.col(i));
    return out;
}

/// A g-and-k level whose output is the 4 octile summaries of its m draws (the NPE setting,
/// m = 1000); satisfies LevelSimulator and keeps the coupling of Level<F> (same m uniforms).
template <Fidelity F>
class SummaryLevel {
public:
    /// \param draws m >= 2 draws summarised per simulation (default 1000).
    explicit SummaryLevel(Index draws = 1000) : m_level(draws) {
        require(draws >= 2, "gnk::SummaryLevel: draws must be >= 2, got ", draws);
    }
    [[nodiscard]] Index output_dim() const { return 4; }
    [[nodiscard]] Index parameter_dim() const { return 4; }
    [[nodiscard]] Index draws() const { return m_level.output_dim(); }

    /// (SA, SB, SG, SK) of m draws of Level<F>(theta, seed).
    void simulate(const ConstVectorRef<double>& theta, std::uint64_t seed,
                  VectorRef<double> x) const {
        Vector<double> sample(m_level.output_dim());
        m_level.simulate(theta, seed, sample);
        octile_summaries(sample, x);
    }

private:
    Level<F> m_level;
};

/// Two-level g-and-k for NPE: summaries of m low-fidelity / high-fidelity draws.
using SummaryMultilevel =
    MultilevelSimulator<SummaryLevel<Fidelity::low>, SummaryLevel<Fidelity::high>>;

/// The two-level NPE g-and-k simulator with m draws per simulation (default 1000).
[[nodiscard]] inline SummaryMultilevel make_summary_multilevel(Index draws = 1000) {
    return SummaryMultilevel(SummaryLevel<Fidelity::low>(draws),
                             SummaryLevel<Fidelity::high>(draws));
}

}  // namespace mlsbi::simulators::gnk
