// SPDX-License-Identifier: MIT
/// \file
/// \brief Coordinate-wise slice sampling with stepping out and shrinkage (Neal 2003) for many
/// chains at once, every round evaluating all waiting chains in one batched call.
///
/// References: Neal (2003), Slice sampling, Ann. Statist. 31, Sec. 4 (Fig. 3 stepping out,
/// Fig. 5 shrinkage); the width tuning follows sbi's SliceSampler (running mean of the final
/// brackets during warm-up).
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <vector>

#include "mlsbi/inference/log_density.hpp"
#include "mlsbi/inference/mcmc.hpp"
#include "mlsbi/rng/random_stream.hpp"
#include "mlsbi/rng/shuffle.hpp"

namespace mlsbi::inference {

/// Options of the slice sampler.
struct SliceSamplerOptions {
    /// Initial bracket width w of every coordinate, > 0; 0 (the default) picks per coordinate the
    /// standard deviation of the initial points (1 when there is a single chain or no spread).
    double initial_width = 0;
    /// Neal's m: at most m - 1 stepping-out evaluations per update, >= 1 (1 disables stepping
    /// out). Widths adapted during warm-up rarely need more than a few.
    Index max_step_out = 32;
    /// Cap on shrinkage evaluations in one update, >= 1. Shrinkage always terminates for a
    /// reproducible density; the cap only guards against a non-reproducible or degenerate one
    /// (the update then keeps the current point and the result reports `evaluation_limit`).
    Index max_shrink = 200;
    /// During warm-up, set each chain's width of each coordinate to the running mean of its final
    /// bracket widths (sbi's tuning); widths are frozen after warm-up, keeping the chain valid.
    bool adapt_width = true;
    /// Visit the coordinates in a fresh random order every sweep (otherwise 0, 1, ..., p - 1).
    bool shuffle_coordinates = true;

    /// \throws std::invalid_argument naming the first invalid field.
    void validate() const {
        require(std::isfinite(initial_width) && initial_width >= 0,
                "SliceSamplerOptions: initial_width must be finite and >= 0 (0 = auto), got ",
                initial_width);
        require(max_step_out >= 1, "SliceSamplerOptions: max_step_out must be >= 1, got ",
                max_step_out);
        require(max_shrink >= 1, "SliceSamplerOptions: max_shrink must be >= 1, got ", max_shrink);
    }
};

namespace detail {

/// One chain of the slice sampler as a state machine: `next_point` advances it to the next point
/// that needs a log density (a stepping-out end or a shrinkage candidate), `consume` takes that
/// value. All chains advance in lockstep, one evaluation each per round, but each at its own
/// position in its own sequence of updates; a chain's draws depend only on its own stream.
class SliceChain {
public:
    enum class Phase { idle, step_left, step_right, shrink };

    SliceChain(const ConstVectorRef<double>& x, double lp, const Vector<double>& width,
               std::uint64_t seed, const SliceSamplerOptions& options)
        : m_rng(seed),
          m_x(x),
          m_lp(lp),
          m_width(width),
          m_updates(Vector<double>::Zero(x.size())),
          m_options(options) {
        m_order.resize(static_cast<std::size_t>(x.size()));
        for (Index i = 0; i < x.size(); ++i) m_order[static_cast<std::size_t>(i)] = i;
    }

    /// Writes the next point to evaluate into `point` (size p).
    template <class Out>
    void next_point(Out&& point) {
        if (m_phase == Phase::idle) begin_update();
        for (;;) {
            if (m_phase == Phase::step_left) {
                if (m_steps_left > 0) {
                    m_candidate = m_left;
                    break;
                }
                m_phase = Phase::step_right;
            }
            if (m_phase == Phase::step_right) {
                if (m_steps_right > 0) {
                    m_candidate = m_right;
                    break;
                }
                m_phase = Phase::shrink;
            }
            m_candidate = m_left + m_rng.uniform() * (m_right - m_left);
            break;
        }
        point = m_x;
        point(m_coord) = m_candidate;
    }

    /// Takes the log density at the last point; returns true when a full sweep (one iteration)
    /// has just been completed.
    bool consume(double value, bool warming_up) {
        if (std::isnan(value)) value = -std::numeric_limits<double>::infinity();
        const double w = m_width(m_coord);
        switch (m_phase) {
            case Phase::step_left:
                if (value > m_level) {
                    m_left -= w;
                    --m_steps_left;
                } else {
                    m_steps_left = 0;
                }
                return false;
            case Phase::step_right:
                if (value > m_level) {
                    m_right += w;
                    --m_steps_right;
                } else {
                    m_steps_right = 0;
                }
                return false;
            case Phase::shrink:
                if (value > m_level) {
                    m_x(m_coord) = m_candidate;
                    m_lp = value;
                    return finish_update(warming_up);
                }
                if (m_candidate < m_x0)
                    m_left = m_candidate;
                else
                    m_right = m_candidate;
                if (++m_shrinks >= m_options.max_shrink) {
                    ++m_limit_hits;
                    return finish_update(warming_up);
                }
                return false;
            case Phase::idle:
                break;
        }
        MLSBI_ASSERT(false);
        return false;
    }

    [[nodiscard]] const Vector<double>& x() const { return m_x; }
    [[nodiscard]] double lp() const { return m_lp; }
    [[nodiscard]] const Vector<double>& width() const { return m_width; }
    [[nodiscard]] Index limit_hits() const { return m_limit_hits; }

private:
    void begin_update() {
        const Index p = m_x.size();
        if (m_sweep_position == 0 && m_options.shuffle_coordinates && p > 1)
            shuffle_in_place(m_order, m_rng);
        m_coord = m_order[static_cast<std::size_t>(m_sweep_position)];
        m_x0 = m_x(m_coord);
        m_level = m_lp + std::log(m_rng.uniform());  // log f(x0) - Exp(1)
        const double w = m_width(m_coord);
        m_left = m_x0 - w * m_rng.uniform();
        m_right = m_left + w;
        const Index m = m_options.max_step_out;
        m_steps_left = std::min(
            m - 1, static_cast<Index>(std::floor(static_cast<double>(m) * m_rng.uniform())));
        m_steps_right = m - 1 - m_steps_left;
        m_shrinks = 0;
        m_phase = Phase::step_left;
    }

    bool finish_update(bool warming_up) {
        if (warming_up && m_options.adapt_width) {
            // Running mean of the final brackets, the initial width counting as one observation.
            m_updates(m_coord) += 1;
            const double bracket = m_right - m_left;
            if (bracket > 0 && std::isfinite(bracket))
                m_width(m_coord) += (bracket - m_width(m_coord)) / (m_updates(m_coord) + 1);
        }
        m_phase = Phase::idle;
        if (++m_sweep_position == m_x.size()) {
            m_sweep_position = 0;
            return true;
        }
        return false;
    }

    RandomStream m_rng;
    Vector<double> m_x;
    double m_lp;
    Vector<double> m_width;
    Vector<double> m_updates;
    const SliceSamplerOptions& m_options;
    std::vector<Index> m_order;
    Index m_sweep_position = 0;
    Phase m_phase = Phase::idle;
    Index m_coord = 0;
    double m_x0 = 0, m_level = 0, m_left = 0, m_right = 0, m_candidate = 0;
    Index m_steps_left = 0, m_steps_right = 0, m_shrinks = 0;
    Index m_limit_hits = 0;
};

/// Per-coordinate default width: the spread of the initial points (1 where there is none).
inline Vector<double> default_widths(const ConstMatrixRef<double>& initial, double width) {
    const Index p = initial.rows();
    Vector<double> w = Vector<double>::Constant(p, width > 0 ? width : 1.0);
    if (width > 0 || initial.cols() < 2) return w;
    for (Index i = 0; i < p; ++i) {
        const double mean = initial.row(i).mean();
        const double sd = std::sqrt((initial.row(i).array() - mean).square().sum() /
                                    static_cast<double>(initial.cols() - 1));
        if (sd > 0 && std::isfinite(sd)) w(i) = sd;
    }
    return w;
}

}  // namespace detail

/// Draws from the density exp(log_density) by coordinate-wise slice sampling with stepping out
/// and shrinkage, one chain per column of `initial_points`.
///
/// One iteration of a chain is a sweep updating every coordinate once. All chains run in
/// lockstep rounds: each round, every unfinished chain contributes the one point its state
/// machine needs next, and the batch is evaluated in a single call; chains then proceed
/// independently (they need different numbers of evaluations per update). Chain c draws from
/// RandomStream(derive_seed(seed, c, tag)) only, so the draws are a deterministic function of the
/// seed and the initial points, whatever the thread count of `log_density`.
///
/// \tparam F a BatchLogDensity.
/// \param initial_points p x n_chains starting points, each with a finite log density.
/// \return draws_per_chain draws per chain (after `warmup` iterations, every `thin`-th kept) with
///         R-hat, bulk and tail ESS; `acceptance_rate` is 1 (slice sampling always moves).
/// \throws std::invalid_argument on invalid options, non-finite initial points or an initial
///         point with a non-finite log density.
template <BatchLogDensity F>
[[nodiscard]] McmcResult slice_sample(F&& log_density, const ConstMatrixRef<double>& initial_points,
                                      const McmcOptions& options = {},
                                      const SliceSamplerOptions& slice = {}) {
    options.validate();
    slice.validate();
    using Clock = std::chrono::steady_clock;
    const auto start = Clock::now();
    const Index p = initial_points.rows();
    const Index chains = initial_points.cols();
    const Vector<double> lp0 =
        detail::initial_log_density(log_density, initial_points, "slice_sample");
    const Vector<double> widths = detail::default_widths(initial_points, slice.initial_width);

    std::vector<detail::SliceChain> state;
    state.reserve(static_cast<std::size_t>(chains));
    for (Index c = 0; c < chains; ++c)
        state.emplace_back(
            initial_points.col(c), lp0(c), widths,
            derive_seed(options.seed, static_cast<std::uint64_t>(c), detail::slice_tag), slice);

    const Index draws = options.draws_per_chain;
    const Index total_iterations = options.warmup + draws * options.thin;
    McmcResult result;
    result.num_chains = chains;
    result.draws_per_chain = draws;
    result.samples.resize(p, chains * draws);
    result.log_density.resize(chains * draws);
    result.acceptance_rate = Vector<double>::Ones(chains);
    result.evaluations = chains;  // the initial points
    result.warmup_evaluations = chains;
    result.batch_calls = 1;

    std::vector<Index> iteration(static_cast<std::size_t>(chains), 0);
    std::vector<Index> active;
    active.reserve(static_cast<std::size_t>(chains));
    Matrix<double> points(p, chains);
    Vector<double> values(chains);
    Index warmed_up = options.warmup == 0 ? chains : 0;
    auto warmup_end = start;
    for (;;) {
        active.clear();
        for (Index c = 0; c < chains; ++c) {
            if (iteration[static_cast<std::size_t>(c)] == total_iterations) continue;
            state[static_cast<std::size_t>(c)].next_point(
                points.col(static_cast<Index>(active.size())));
            active.push_back(c);
        }
        if (active.empty()) break;
        const auto n = static_cast<Index>(active.size());
        log_density(points.leftCols(n), values.head(n));
        ++result.batch_calls;
        result.evaluations += n;
        for (Index k = 0; k < n; ++k) {
            const Index c = active[static_cast<std::size_t>(k)];
            Index& it = iteration[static_cast<std::size_t>(c)];
            const bool warming_up = it < options.warmup;
            if (warming_up) ++result.warmup_evaluations;
            auto& chain = state[static_cast<std::size_t>(c)];
            if (!chain.consume(values(k), warming_up)) continue;
            ++it;
            if (it == options.warmup && ++warmed_up == chains) warmup_end = Clock::now();
            if (it > options.warmup && (it - options.warmup) % options.thin == 0) {
                const Index column = c * draws + (it - options.warmup) / options.thin - 1;
                result.samples.col(column) = chain.x();
                result.log_density(column) = chain.lp();
            }
        }
    }
    if (warmed_up < chains) warmup_end = Clock::now();
    for (const auto& chain : state) result.limit_hits += chain.limit_hits();
    const auto end = Clock::now();
    result.warmup_seconds = std::chrono::duration<double>(warmup_end - start).count();
    result.sampling_seconds = std::chrono::duration<double>(end - warmup_end).count();
    detail::finish_diagnostics(result, options);
    return result;
}

}  // namespace mlsbi::inference
