// SPDX-License-Identifier: MIT
/// \file
/// \brief Forward KL divergence KL(p || q) of a 1-D density against an exact one on a grid:
/// trapezoid quadrature, and the paper's renormalised discrete version.
///
/// The multilevel SBI paper (Hikida et al. 2025, g-and-k NLE experiment) scores a learned
/// likelihood q(x | theta) against the exact p(x | theta) per test theta; its code computes
/// scipy.stats.entropy(p, q) on the fixed grid linspace(-30, 30, 2000) with p clipped at 1e-20
/// and both vectors normalised to sum 1 (`forward_kl_discrete`). The quadrature version
/// (`forward_kl_trapezoid`) estimates the continuous KL and is what a grid over the 0.001..0.999
/// quantiles of p should use.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>

#include "mlsbi/core/errors.hpp"
#include "mlsbi/core/types.hpp"

namespace mlsbi::diagnostics {

/// n equally spaced points from `low` to `high` inclusive (numpy's linspace), n >= 2.
[[nodiscard]] inline Vector<double> linspace(double low, double high, Index n) {
    require(n >= 2, "linspace: n must be >= 2, got ", n);
    require(std::isfinite(low) && std::isfinite(high) && low < high,
            "linspace: need finite low < high, got ", low, ", ", high);
    Vector<double> out(n);
    const double step = (high - low) / static_cast<double>(n - 1);
    for (Index i = 0; i < n; ++i) out(i) = low + step * static_cast<double>(i);
    out(n - 1) = high;
    return out;
}

/// The paper's KL grid: linspace(-30, 30, 2000).
[[nodiscard]] inline Vector<double> paper_kl_grid() { return linspace(-30.0, 30.0, 2000); }

/// KL(p || q) = integral p (log p - log q) dx by the trapezoid rule on an increasing grid, from
/// log densities at the grid points (not renormalised: p and q should be densities). Points
/// where p = 0 contribute 0; a point with p > 0 and q = 0 makes the result +infinity.
/// \param grid increasing x values (n >= 2); \param log_p, log_q log densities at the grid.
/// \throws std::invalid_argument on size mismatch, n < 2, a non-increasing grid or NaN input.
[[nodiscard]] inline double forward_kl_trapezoid(const ConstVectorRef<double>& grid,
                                                 const ConstVectorRef<double>& log_p,
                                                 const ConstVectorRef<double>& log_q) {
    const Index n = grid.size();
    require(n >= 2, "forward_kl_trapezoid: need at least 2 grid points, got ", n);
    require(log_p.size() == n && log_q.size() == n, "forward_kl_trapezoid: log_p (", log_p.size(),
            ") and log_q (", log_q.size(), ") must match the grid (", n, ")");
    require(!log_p.array().isNaN().any() && !log_q.array().isNaN().any(),
            "forward_kl_trapezoid: NaN in the log densities");
    auto integrand = [&](Index i) {
        if (log_p(i) == -std::numeric_limits<double>::infinity()) return 0.0;
        return std::exp(log_p(i)) * (log_p(i) - log_q(i));
    };
    double sum = 0;
    double previous = integrand(0);
    for (Index i = 1; i < n; ++i) {
        const double h = grid(i) - grid(i - 1);
        require(h > 0, "forward_kl_trapezoid: grid must be strictly increasing (at index ", i, ")");
        const double current = integrand(i);
        sum += 0.5 * h * (previous + current);
        previous = current;
    }
    return sum;
}

/// The paper's discrete KL: with P_i = max(p_i, floor) / sum and Q_i = q_i / sum (computed in log
/// space, so q never underflows), returns sum_i P_i (log P_i - log Q_i) — scipy.stats.entropy on
/// the grid values (see evaluate_kl in the reference code). Grid spacing does not enter.
/// \param log_p, log_q log densities at the same grid points; \param floor clip of p (1e-20).
/// \throws std::invalid_argument on size mismatch, an empty grid, NaN input, floor <= 0, or a q
///         that is zero everywhere.
[[nodiscard]] inline double forward_kl_discrete(const ConstVectorRef<double>& log_p,
                                                const ConstVectorRef<double>& log_q,
                                                double floor = 1e-20) {
    const Index n = log_p.size();
    require(n >= 1 && log_q.size() == n, "forward_kl_discrete: log_p (", n, ") and log_q (",
            log_q.size(), ") must be non-empty and of equal size");
    require(floor > 0, "forward_kl_discrete: floor must be > 0, got ", floor);
    require(!log_p.array().isNaN().any() && !log_q.array().isNaN().any(),
            "forward_kl_discrete: NaN in the log densities");
    const double q_max = log_q.maxCoeff();
    require(std::isfinite(q_max), "forward_kl_discrete: q is zero (or infinite) on the whole grid");
    const double q_log_norm = q_max + std::log((log_q.array() - q_max).exp().sum());
    const Vector<double> p = log_p.array().exp().max(floor).matrix();
    const double p_sum = p.sum();
    double kl = 0;
    for (Index i = 0; i < n; ++i) {
        const double pi = p(i) / p_sum;
        kl += pi * (std::log(pi) - (log_q(i) - q_log_norm));
    }
    return kl;
}

}  // namespace mlsbi::diagnostics
