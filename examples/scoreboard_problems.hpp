// SPDX-License-Identifier: MIT
/// \file
/// \brief Problem families with exact answers for examples/scoreboard.cpp: seed-coupled
/// multilevel simulators whose top level has an exact likelihood (NLE) or an exact posterior
/// (NPE), each in a well-coupled and a poorly coupled variant.
///
/// Families (cost ratios are top level over cheapest level, nominal):
/// - linear_gaussian (NPE, 2 levels): theta ~ N(0, I_2), x = A theta + s eps; the cheap level
///   has a perturbed map, a bias and more noise (same eps). Exact Gaussian posterior.
///   Well: 10x; poor: 100x.
/// - ou_euler (NLE, 3 levels): x = X_1 of dX = -gamma X dt + sigma dW, X_0 = 2, by Euler with
///   N_l steps, the coarse Brownian increments exact sums of the 64 finest. The top level's law
///   is exactly Gaussian (an AR(1) recursion): mean a^N X_0, variance sigma^2 dt sum a^{2k},
///   a = 1 - gamma dt. Well: N = (16, 32, 64), 4x; poor: N = (1, 4, 64), 64x.
/// - gnk (NLE, 2 levels): the g-and-k quantile at the exact normal quantile (top) or at a
///   truncated erfinv series (cheap) of the same uniform; exact density by root finding.
///   Well: five series terms, 20x; poor: the paper's two-term series (Sec. 5 of Hikida et
///   al. 2025, with its pi/2 factor), 20x.
/// - student (NPE, 2 levels, ours): theta ~ N(0, 1), three draws x_j = theta + 0.5 t_4(u_j)
///   through the closed-form Student-t(4) quantile (top) or a Gaussian quantile of the same
///   uniforms (cheap). Posterior by quadrature on a fine grid (piecewise-constant density,
///   sampled exactly). Well: IQR-matched Gaussian, 4x; poor: shifted and too narrow, 50x.
#pragma once

#include <algorithm>
#include <cmath>
#include <functional>
#include <numbers>
#include <string>
#include <utility>
#include <vector>

#include "mlsbi/losses/loss_terms.hpp"
#include "mlsbi/rng/normal.hpp"
#include "mlsbi/rng/random_stream.hpp"
#include "mlsbi/simulators/gnk/exact_density.hpp"
#include "mlsbi/simulators/gnk/quantile.hpp"

namespace mlsbi::examples {

/// One scoreboard problem. Level l's simulation is simulate(l, theta, seed, x): the same seed
/// drives the same randomness at every level (the coupling invariant).
struct ScoreboardProblem {
    std::string name;
    losses::Task task = losses::Task::nle;
    bool well_coupled = true;
    Index theta_dim = 1;
    Index x_dim = 1;
    std::vector<double> cost;  ///< nominal cost per simulation, levels 0..L
    std::function<void(RandomStream&, VectorRef<double>)> prior;
    std::function<void(int, const ConstVectorRef<double>&, std::uint64_t, VectorRef<double>)>
        simulate;
    /// NLE: log p(x | theta) of the top level.
    std::function<double(const ConstVectorRef<double>& x, const ConstVectorRef<double>& theta)>
        log_likelihood;
    /// NPE: `draws` (theta_dim x m) from p(theta | x) and the log posterior density at each.
    std::function<void(const ConstVectorRef<double>& x, RandomStream&, MatrixRef<double> draws,
                       VectorRef<double> log_density)>
        posterior;
    [[nodiscard]] int levels() const { return static_cast<int>(cost.size()); }
};

namespace detail {

inline double log_normal_density(double x, double mean, double sd) {
    const double z = (x - mean) / sd;
    return -0.5 * z * z - std::log(sd) - 0.5 * std::log(2 * std::numbers::pi);
}

// The descriptive fields of a problem; the callables are filled in by each family.
inline ScoreboardProblem describe(const std::string& family, losses::Task task, bool well,
                                  Index theta_dim, Index x_dim, std::vector<double> cost) {
    ScoreboardProblem p;
    p.name = family + (well ? "_well" : "_poor");
    p.task = task;
    p.well_coupled = well;
    p.theta_dim = theta_dim;
    p.x_dim = x_dim;
    p.cost = std::move(cost);
    return p;
}

}  // namespace detail

/// Linear-Gaussian NPE, two levels.
inline ScoreboardProblem linear_gaussian(bool well) {
    auto p = detail::describe("linear_gaussian", losses::Task::npe, well, 2, 2,
                              well ? std::vector<double>{1, 10} : std::vector<double>{1, 100});
    constexpr double a0 = 1.0, a1 = 0.6, s = 0.5;
    p.prior = [](RandomStream& rng, VectorRef<double> theta) {
        theta(0) = standard_normal(rng);
        theta(1) = standard_normal(rng);
    };
    p.simulate = [well](int level, const ConstVectorRef<double>& t, std::uint64_t seed,
                        VectorRef<double> x) {
        RandomStream rng(seed);
        const double e0 = standard_normal(rng), e1 = standard_normal(rng);
        if (level == 1) {
            x(0) = a0 * t(0) + s * e0;
            x(1) = a1 * t(1) + s * e1;
        } else if (well) {  // 5% off in the map, a small bias, 10% more noise
            x(0) = 1.05 * a0 * t(0) + 0.05 + 1.1 * s * e0;
            x(1) = 1.05 * a1 * t(1) - 0.05 + 1.1 * s * e1;
        } else {  // a mixed-up map, a bias and twice the noise
            x(0) = 0.7 * t(0) + 0.3 * t(1) + 0.4 + 2 * s * e0;
            x(1) = -0.2 * t(0) + 0.9 * t(1) - 0.3 + 2 * s * e1;
        }
    };
    p.posterior = [](const ConstVectorRef<double>& x, RandomStream& rng, MatrixRef<double> draws,
                     VectorRef<double> log_density) {
        const double a[2] = {a0, a1};
        double mean[2], sd[2];
        for (int i = 0; i < 2; ++i) {
            const double precision = 1 + a[i] * a[i] / (s * s);
            mean[i] = a[i] * x(i) / (s * s) / precision;
            sd[i] = 1 / std::sqrt(precision);
        }
        for (Index j = 0; j < draws.cols(); ++j) {
            log_density(j) = 0;
            for (int i = 0; i < 2; ++i) {
                draws(i, j) = mean[i] + sd[i] * standard_normal(rng);
                log_density(j) += detail::log_normal_density(draws(i, j), mean[i], sd[i]);
            }
        }
    };
    return p;
}

/// OU by Euler, NLE, three levels.
inline ScoreboardProblem ou_euler(bool well) {
    const std::vector<int> steps = well ? std::vector<int>{16, 32, 64} : std::vector<int>{1, 4, 64};
    auto p = detail::describe("ou_euler", losses::Task::nle, well, 2, 1,
                              {double(steps[0]), double(steps[1]), double(steps[2])});
    p.prior = [](RandomStream& rng, VectorRef<double> theta) {
        theta(0) = rng.uniform(0.5, 3.0);  // gamma
        theta(1) = rng.uniform(0.2, 1.0);  // sigma
    };
    p.simulate = [steps](int level, const ConstVectorRef<double>& t, std::uint64_t seed,
                         VectorRef<double> x) {
        constexpr int fine = 64;
        const int n = steps[static_cast<std::size_t>(level)], group = fine / n;
        RandomStream rng(seed);
        double state = 2.0;
        const double dt = 1.0 / n;
        for (int i = 0; i < n; ++i) {
            double dw = 0;
            for (int j = 0; j < group; ++j) dw += std::sqrt(1.0 / fine) * standard_normal(rng);
            state += -t(0) * state * dt + t(1) * dw;
        }
        x(0) = state;
    };
    p.log_likelihood = [](const ConstVectorRef<double>& x, const ConstVectorRef<double>& t) {
        constexpr int n = 64;
        const double dt = 1.0 / n, a = 1 - t(0) * dt;
        double variance = 0, power = 1;
        for (int k = 0; k < n; ++k, power *= a * a) variance += power;
        variance *= t(1) * t(1) * dt;
        return detail::log_normal_density(x(0), 2.0 * std::pow(a, n), std::sqrt(variance));
    };
    return p;
}

/// g-and-k NLE, two levels.
inline ScoreboardProblem gnk(bool well) {
    auto p = detail::describe("gnk", losses::Task::nle, well, 4, 1, {1, 20});
    p.prior = [](RandomStream& rng, VectorRef<double> theta) {
        theta(0) = rng.uniform(0, 3);
        theta(1) = rng.uniform(0, 3);
        theta(2) = rng.uniform(0, 3);
        theta(3) = rng.uniform(std::exp(0.5), 3);
    };
    p.simulate = [well](int level, const ConstVectorRef<double>& t, std::uint64_t seed,
                        VectorRef<double> x) {
        RandomStream rng(seed);
        const double u = rng.uniform();
        double z;
        if (level == 1) {
            z = simulators::gnk::z_high(u);
        } else if (well) {  // five terms of the erfinv series, sqrt(pi)/2 prefactor
            const double v = 2 * u - 1, pi = std::numbers::pi, v2 = v * v;
            const double series =
                v * (1 + v2 * (pi / 12 +
                               v2 * (7 * pi * pi / 480 +
                                     v2 * (127 * pi * pi * pi / 40320 +
                                           v2 * 4369 * pi * pi * pi * pi / 5806080))));
            z = std::numbers::sqrt2 * std::sqrt(pi) / 2 * series;
        } else {
            z = simulators::gnk::z_low(u);
        }
        x(0) = simulators::gnk::quantile(z, t);
    };
    p.log_likelihood = [](const ConstVectorRef<double>& x, const ConstVectorRef<double>& t) {
        Vector<double> out(1);
        simulators::gnk::exact_log_density(x, t, out);
        return out(0);
    };
    return p;
}

namespace detail {

// Closed-form Student-t(4) quantile and log density.
inline double student4_quantile(double u) {
    const double alpha = 4 * u * (1 - u);
    const double q = 2 * std::sqrt(std::cos(std::acos(std::sqrt(alpha)) / 3) / std::sqrt(alpha) - 1);
    return u < 0.5 ? -q : q;
}
inline double student4_log_density(double t) { return std::log(0.375) - 2.5 * std::log1p(t * t / 4); }

}  // namespace detail

/// Student-t location NPE, two levels, grid posterior.
inline ScoreboardProblem student(bool well) {
    auto p = detail::describe("student", losses::Task::npe, well, 1, 3,
                              well ? std::vector<double>{1, 4} : std::vector<double>{1, 50});
    constexpr double scale = 0.5;
    p.prior = [](RandomStream& rng, VectorRef<double> theta) { theta(0) = standard_normal(rng); };
    p.simulate = [well](int level, const ConstVectorRef<double>& t, std::uint64_t seed,
                        VectorRef<double> x) {
        RandomStream rng(seed);
        for (Index j = 0; j < 3; ++j) {
            const double u = std::clamp(rng.uniform(), 1e-12, 1 - 1e-12);
            if (level == 1)
                x(j) = t(0) + scale * detail::student4_quantile(u);
            else if (well)  // a Gaussian with the same interquartile range
                x(j) = t(0) + scale * 1.0993 * normal_quantile(u);
            else
                x(j) = t(0) + 0.3 + scale * 0.7 * normal_quantile(u);
        }
    };
    p.posterior = [](const ConstVectorRef<double>& x, RandomStream& rng, MatrixRef<double> draws,
                     VectorRef<double> log_density) {
        constexpr int cells = 2000;
        constexpr double low = -6, high = 6, width = (high - low) / cells;
        std::vector<double> log_p(cells), cdf(cells);
        double top = -1e300;
        for (int i = 0; i < cells; ++i) {
            const double t = low + (i + 0.5) * width;
            double lp = -0.5 * t * t;
            for (Index j = 0; j < x.size(); ++j)
                lp += detail::student4_log_density((x(j) - t) / scale);
            log_p[static_cast<std::size_t>(i)] = lp;
            top = std::max(top, lp);
        }
        double total = 0;
        for (int i = 0; i < cells; ++i) {
            total += std::exp(log_p[static_cast<std::size_t>(i)] - top) * width;
            cdf[static_cast<std::size_t>(i)] = total;
        }
        const double log_norm = top + std::log(total);
        for (Index j = 0; j < draws.cols(); ++j) {
            const double u = rng.uniform() * total;
            const auto cell = static_cast<std::size_t>(
                std::min<std::ptrdiff_t>(cells - 1, std::lower_bound(cdf.begin(), cdf.end(), u) - cdf.begin()));
            draws(0, j) = low + (double(cell) + rng.uniform()) * width;
            log_density(j) = log_p[cell] - log_norm;
        }
    };
    return p;
}

/// All eight problems.
inline std::vector<ScoreboardProblem> scoreboard_problems() {
    std::vector<ScoreboardProblem> out;
    for (bool well : {true, false}) {
        out.push_back(linear_gaussian(well));
        out.push_back(ou_euler(well));
        out.push_back(gnk(well));
        out.push_back(student(well));
    }
    return out;
}

}  // namespace mlsbi::examples
