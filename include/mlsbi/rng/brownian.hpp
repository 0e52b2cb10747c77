// SPDX-License-Identifier: MIT
/// \file
/// \brief Brownian increments for coupled SDE levels: coarse increments are sums of fine ones.
///
/// Two ways to couple an SDE solved on a coarse and a fine time grid:
/// - `brownian_increments` + `coarsen_increments`: draw the fine increments, then sum blocks of
///   `factor` of them in order; the coarse increments are then the sums by construction
///   (bit-exact). The coarse level pays for the fine draws.
/// - `BrownianPath`: a hierarchy of grids (base_steps * refinement^level steps). Level 0 draws
///   its increments; level l refines each increment of level l - 1 into `refinement` pieces with
///   the exact conditional law (a discrete Brownian bridge), so level l costs only its own draws
///   and `increments(l - 1)` equals the block sums of `increments(l)` up to rounding (|error|
///   below 4 eps times the block's absolute sum). Given the same seed, every level sees the same
///   Brownian path: this is the coupling invariant of multilevel SDE simulators.
#pragma once

#include <cmath>
#include <cstdint>

#include "mlsbi/core/errors.hpp"
#include "mlsbi/core/types.hpp"
#include "mlsbi/rng/normal.hpp"
#include "mlsbi/rng/random_stream.hpp"

namespace mlsbi {

/// Fills `out` (dim x steps, one column per time step) with independent N(0, dt I) increments;
/// consumes exactly dim * steps uniforms in column-major order (all components of step 0 first).
/// \throws std::invalid_argument if dt <= 0.
template <typename Derived>
void brownian_increments(RandomStream& rng, double dt, const Eigen::MatrixBase<Derived>& out) {
    require(dt > 0.0 && std::isfinite(dt), "brownian_increments: dt must be > 0, got ", dt);
    auto& target = const_cast<Eigen::MatrixBase<Derived>&>(out);  // Eigen's output idiom
    using Scalar = typename Derived::Scalar;
    const double scale = std::sqrt(dt);
    for (Index j = 0; j < target.cols(); ++j)
        for (Index i = 0; i < target.rows(); ++i)
            target(i, j) = static_cast<Scalar>(scale * standard_normal(rng));
}

/// Returns dim x steps independent N(0, dt I) increments (see the overload above).
/// \throws std::invalid_argument if dim or steps is negative or dt <= 0.
[[nodiscard]] inline Matrix<double> brownian_increments(RandomStream& rng, Index dim, Index steps,
                                                        double dt) {
    require(dim >= 0 && steps >= 0, "brownian_increments: dim and steps must be >= 0, got ", dim,
            " and ", steps);
    Matrix<double> out(dim, steps);
    brownian_increments(rng, dt, out);
    return out;
}

/// Sums consecutive blocks of `factor` columns: column k of the result is the left-to-right sum
/// of columns k * factor .. k * factor + factor - 1 of `fine` (dim x steps), so the coarse path
/// is driven by exactly the same noise.
/// \return dim x (steps / factor).
/// \throws std::invalid_argument if factor < 1 or does not divide the number of steps.
[[nodiscard]] inline Matrix<double> coarsen_increments(const ConstMatrixRef<double>& fine,
                                                       Index factor) {
    require(factor >= 1, "coarsen_increments: factor must be >= 1, got ", factor);
    require(fine.cols() % factor == 0, "coarsen_increments: factor ", factor,
            " does not divide the number of steps ", fine.cols());
    Matrix<double> coarse(fine.rows(), fine.cols() / factor);
    for (Index k = 0; k < coarse.cols(); ++k) {
        coarse.col(k) = fine.col(k * factor);
        for (Index r = 1; r < factor; ++r) coarse.col(k) += fine.col(k * factor + r);
    }
    return coarse;
}

/// A Brownian path on [0, horizon] in `dim` dimensions, observed on a hierarchy of grids: level l
/// has base_steps * refinement^l equal steps. Cheap to construct (no draws); `increments(l)`
/// rebuilds levels 0..l from the seed, so any level simulator given the same seed gets the same
/// path at its own resolution.
///
/// Construction: level 0 is `brownian_increments` from the stream
/// RandomStream(derive_seed(seed, 0, 0, tag)); level l >= 1 splits each increment D of level l - 1
/// (step h) into r = refinement pieces xi_i + (D - sum_k xi_k) / r with xi_i iid N(0, h / r) from
/// RandomStream(derive_seed(seed, l, 0, tag)), which is the exact law of r Brownian increments
/// given their sum (Gaussian conditioning: subtract the mean deviation). Draws per level l:
/// dim * steps(l) uniforms. The streams are derived with a private tag, so they never overlap a
/// user's own RandomStream(seed, s).
///
/// Example, an Euler-Maruyama level l of dX = -X dt + dW:
/// \code
/// const Matrix<double> dw = BrownianPath(seed, 1, 1.0, 8).increments(l);
/// double x = 1.0, dt = 1.0 / dw.cols();
/// for (Index i = 0; i < dw.cols(); ++i) x += -x * dt + dw(0, i);
/// \endcode
class BrownianPath {
public:
    /// \param seed the simulation seed; \param dim number of Brownian components (>= 1);
    /// \param horizon final time T (> 0); \param base_steps steps of level 0 (>= 1);
    /// \param refinement steps each level splits a step into (>= 2, default 2).
    /// \throws std::invalid_argument naming the first bad argument.
    BrownianPath(std::uint64_t seed, Index dim, double horizon, Index base_steps,
                 Index refinement = 2)
        : m_seed(seed),
          m_dim(dim),
          m_horizon(horizon),
          m_base_steps(base_steps),
          m_refinement(refinement) {
        require(dim >= 1, "BrownianPath: dim must be >= 1, got ", dim);
        require(horizon > 0.0 && std::isfinite(horizon), "BrownianPath: horizon must be > 0, got ",
                horizon);
        require(base_steps >= 1, "BrownianPath: base_steps must be >= 1, got ", base_steps);
        require(refinement >= 2, "BrownianPath: refinement must be >= 2, got ", refinement);
    }

    /// Number of Brownian components.
    [[nodiscard]] Index dim() const { return m_dim; }

    /// Steps on the grid of `level`: base_steps * refinement^level.
    /// \throws std::invalid_argument if level < 0 or the count overflows.
    [[nodiscard]] Index steps(Index level) const {
        require(level >= 0, "BrownianPath::steps: level must be >= 0, got ", level);
        Index n = m_base_steps;
        for (Index l = 0; l < level; ++l) {
            require(n <= (Index{1} << 40) / m_refinement, "BrownianPath::steps: level ", level,
                    " has too many steps");
            n *= m_refinement;
        }
        return n;
    }

    /// Step size horizon / steps(level).
    [[nodiscard]] double dt(Index level) const {
        return m_horizon / static_cast<double>(steps(level));
    }

    /// The increments on the grid of `level`, dim x steps(level); column i is W(t_{i+1}) - W(t_i).
    [[nodiscard]] Matrix<double> increments(Index level) const {
        const Index final_steps = steps(level);
        Matrix<double> current(m_dim, m_base_steps);
        RandomStream base(derive_seed(m_seed, 0, 0, tag));
        brownian_increments(base, dt(0), current);
        Matrix<double> finer;
        for (Index l = 1; l <= level; ++l) {
            RandomStream rng(derive_seed(m_seed, static_cast<std::uint64_t>(l), 0, tag));
            const double piece_sd = std::sqrt(dt(l));
            const double r = static_cast<double>(m_refinement);
            finer.resize(m_dim, current.cols() * m_refinement);
            for (Index k = 0; k < current.cols(); ++k) {
                for (Index d = 0; d < m_dim; ++d) {
                    double sum = 0.0;
                    for (Index i = 0; i < m_refinement; ++i) {
                        const double xi = piece_sd * standard_normal(rng);
                        finer(d, k * m_refinement + i) = xi;
                        sum += xi;
                    }
                    const double shift = (current(d, k) - sum) / r;
                    for (Index i = 0; i < m_refinement; ++i)
                        finer(d, k * m_refinement + i) += shift;
                }
            }
            current.swap(finer);
        }
        MLSBI_ASSERT(current.cols() == final_steps);
        return current;
    }

    /// Tag mixed into the derived stream seeds ("BROW").
    static constexpr std::uint64_t tag = 0x42524f57ULL;

private:
    std::uint64_t m_seed;
    Index m_dim;
    double m_horizon;
    Index m_base_steps;
    Index m_refinement;
};

}  // namespace mlsbi
