// SPDX-License-Identifier: MIT
/// \file
/// \brief MLMC sample allocation and level selection for a simulation budget (Theorem 2 of
/// Hikida et al. 2025 made practical): from per-level costs and loss variances, the n_l that
/// minimise the variance of the loss estimate, which levels to keep, and why.
///
/// Cost model (Hikida et al. 2025, Sec. 3 and Theorem 2; Giles 2015, Acta Numerica, Sec. 1.3):
/// the multilevel loss over kept levels k_0 < k_1 < ... < k_m (k_m = L, the level we trust) is
/// h_0 + sum_i zeta_i with h_0 the mean of f_{k_0} over n_0 samples and zeta_i the mean of
/// f_{k_i} - f_{k_{i-1}} over n_i seed-matched pairs, f = -log q(y | c) at the network. Its
/// variance is sum_i V_i / n_i with V_0 = Var[f_{k_0}], V_i = Var[f_{k_i} - f_{k_{i-1}}]; a
/// sample costs c_0 = C_{k_0}, c_i = C_{k_i} + C_{k_{i-1}} (both simulators run). For a budget B
/// the Lagrange optimum is
///   n_i = B sqrt(V_i / c_i) / sum_j sqrt(V_j c_j),  variance (sum_j sqrt(V_j c_j))^2 / B,
/// against Var[f_L] C_L / B for plain Monte Carlo on level L alone. A level is worth keeping
/// only if its coupling makes that sum smaller; the allocator therefore compares every subset
/// of levels that keeps L (2^L plans, L <= 16), including {L} (plain MC), and keeps the best.
///
/// Truncation (Giles 2015, Sec. 2: the finest level is chosen so that the squared bias
/// balances the variance). A plan whose last kept level is j < L estimates E[f_j], not E[f_L]:
/// its mean squared error is its variance plus b_j^2, b_j = E[f_L - f_j] at the network. When
/// a cheap level is nearly exact, b_j^2 can be far below the variance that the top level's
/// correction pairs add at a small budget, and spending everything below the top level is the
/// better estimate of the high-fidelity loss. The pilot measures b_j on its top-level stream
/// (the same inputs run at every level); the allocator charges the plan (|mean| + z SE)^2
/// (z = bias_confidence, default 0) and prefers an unbiased plan unless the truncated one
/// gains `min_gain`. Caveat, measured: the loss-scale error is a proxy. A network's excess KL
/// grows with the estimate's variance over Var[f_L] times its effective parameter count,
/// while a cheap level's bias enters it about linearly, so on the scoreboard a nearly exact
/// cheap level still won more often than this rule truncates (docs/robust_training.md).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "mlsbi/core/errors.hpp"
#include "mlsbi/core/types.hpp"

namespace mlsbi::training {

/// What the allocator needs to know about the levels G_0, ..., G_L (measured by `run_pilot` in
/// training/pilot.hpp, or supplied by the user when the constants are known).
struct PilotStatistics {
    std::vector<double> cost;            ///< C_l, l = 0..L: cost of one run of G_l (> 0, finite)
    std::vector<double> level_variance;  ///< Var[f_l], the per-sample loss on G_l's output (>= 0)
    /// (L + 1) x (L + 1); entry (j, l) with j < l is Var[f_l - f_j] over pairs of G_j and G_l
    /// run on the same (theta, seed). NaN = not measured: plans that pair j with l are skipped.
    /// Entries on and below the diagonal are ignored.
    Matrix<double> difference_variance;
    /// Same layout: corr(f_j, f_l) on those pairs (optional, for the reasons text; may be empty).
    Matrix<double> correlation;
    /// bias[j], j = 0..L (bias[L] = 0): the bias b_j of a loss estimate that stops at level
    /// j < L: E[f_L - f_j] at a network near G_L (run_pilot: on its top-level stream). Optional:
    /// empty, or NaN for a level, and such plans are not considered.
    std::vector<double> bias;
    /// The standard error of each bias entry (same size as bias).
    std::vector<double> bias_standard_error;

    /// L + 1.
    [[nodiscard]] std::size_t level_count() const { return cost.size(); }

    /// Statistics of the adjacent couplings only: V_l = Var[f_l - f_{l-1}] for l = 1..L (index
    /// l - 1 of `correction_variance`). Plans that drop a level then lack the merged coupling's
    /// variance and are not considered, except plain MC on the top level.
    [[nodiscard]] static PilotStatistics adjacent(std::vector<double> cost,
                                                  std::vector<double> level_variance,
                                                  const std::vector<double>& correction_variance) {
        PilotStatistics s;
        const auto levels = static_cast<Index>(cost.size());
        s.cost = std::move(cost);
        s.level_variance = std::move(level_variance);
        s.difference_variance.setConstant(levels, levels, std::numeric_limits<double>::quiet_NaN());
        for (Index l = 1; l < levels && static_cast<std::size_t>(l) <= correction_variance.size();
             ++l)
            s.difference_variance(l - 1, l) = correction_variance[static_cast<std::size_t>(l - 1)];
        return s;
    }

    /// \throws std::invalid_argument naming the level: no levels, sizes that differ, a cost that
    ///         is not positive and finite, a negative or non-finite level variance, a negative
    ///         difference variance.
    void validate() const {
        const char* caller = "PilotStatistics";
        require(!cost.empty(), caller, ": no levels (cost is empty)");
        const auto levels = static_cast<Index>(cost.size());
        require(level_variance.size() == cost.size(), caller, ": level_variance has ",
                level_variance.size(), " entries for ", cost.size(), " levels");
        require(difference_variance.rows() == levels && difference_variance.cols() == levels,
                caller, ": difference_variance is ", difference_variance.rows(), " x ",
                difference_variance.cols(), ", expected ", levels, " x ", levels);
        require(correlation.size() == 0 ||
                    (correlation.rows() == levels && correlation.cols() == levels),
                caller, ": correlation must be empty or ", levels, " x ", levels);
        require(bias.empty() || bias.size() == cost.size(), caller, ": bias has ", bias.size(),
                " entries for ", cost.size(), " levels (or give none)");
        require(bias_standard_error.size() == bias.size(), caller, ": bias_standard_error has ",
                bias_standard_error.size(), " entries, bias ", bias.size());
        for (std::size_t j = 0; j < bias.size(); ++j)
            require(!std::isinf(bias[j]) && !(bias_standard_error[j] < 0) &&
                        !std::isinf(bias_standard_error[j]),
                    caller, ": level ", j, " has bias ", bias[j], " +- ", bias_standard_error[j],
                    " (finite, a standard error >= 0, or NaN for unknown)");
        for (std::size_t l = 0; l < cost.size(); ++l) {
            require(std::isfinite(cost[l]) && cost[l] > 0, caller, ": level ", l, " has cost ",
                    cost[l], " (a simulation cost must be positive and finite)");
            require(std::isfinite(level_variance[l]) && level_variance[l] >= 0, caller, ": level ",
                    l, " has level_variance ", level_variance[l], " (must be finite and >= 0)");
        }
        for (Index l = 1; l < levels; ++l)
            for (Index j = 0; j < l; ++j) {
                const double v = difference_variance(j, l);
                require(std::isnan(v) || (std::isfinite(v) && v >= 0), caller,
                        ": difference_variance(", j, ", ", l, ") is ", v,
                        " (must be >= 0, or NaN for unknown)");
            }
    }

    /// True when the bias E[f_L - f_j] of stopping at level j < L was measured.
    [[nodiscard]] bool bias_known(std::size_t j) const {
        return j + 1 < level_count() && bias.size() == level_count() && !std::isnan(bias[j]) &&
               !std::isnan(bias_standard_error[j]);
    }
};

/// Options of plan_allocation.
struct AllocationOptions {
    /// Each kept level gets at least this many samples (>= 1; default 2, so that every level's
    /// variance can be estimated). Plans that cannot afford it are infeasible.
    Index min_samples = 2;
    /// A plan with more levels must predict a variance at least this factor below the best plan
    /// with fewer levels to be chosen (>= 1; default 1.1). Pilot variances are noisy, and an extra
    /// level costs pairs, network capacity and gradient conflicts that the variance formula does
    /// not see; 1 picks the smallest predicted variance.
    double min_gain = 1.1;
    /// Also consider plans that stop below the top level (a cheap level nearly as good as the
    /// top one, whose bias costs less than the variance of the corrections that would remove
    /// it), when PilotStatistics holds the bias (see the file comment). Such a plan replaces the
    /// unbiased choice only if it predicts a mean squared error `min_gain` times smaller.
    bool allow_truncation = true;
    /// The squared bias of a plan that stops at level j is taken as (|m| + z s)^2, with m the
    /// pilot's mean of f_L - f_j, s its standard error and z this factor (>= 0). The default
    /// z = 0 is the plug-in m^2, whose expectation b^2 + s^2 already over-charges by the
    /// pilot's noise. Measured on the scoreboard (15 seeds, examples/scoreboard.cpp, with the
    /// bias taken at the pooled pilot network): z = 1 never truncated where it paid (4 of 8
    /// problems passed against 5 of 8 at z = 0), while the unbiased m^2 - s^2 truncated onto a
    /// wrong cheap level (Student-t, poorly coupled: median KL 2.1 against 0.41).
    double bias_confidence = 0;

    /// \throws std::invalid_argument naming the field.
    void validate() const {
        require(min_samples >= 1, "AllocationOptions: min_samples must be >= 1, got ", min_samples);
        require(std::isfinite(min_gain) && min_gain >= 1,
                "AllocationOptions: min_gain must be finite and >= 1, got ", min_gain);
        require(std::isfinite(bias_confidence) && bias_confidence >= 0,
                "AllocationOptions: bias_confidence must be finite and >= 0, got ",
                bias_confidence);
    }
};

/// One kept level of a plan.
struct PlanLevel {
    std::size_t level = 0;  ///< index l of G_l in the simulator
    /// Index of the level it is paired with (the kept level below), or -1 at the base.
    long coarse_level = -1;
    double variance = 0;        ///< V: Var[f_l] at the base, Var[f_l - f_coarse] above
    double level_variance = 0;  ///< Var[f_l]
    double cost = 0;            ///< c: cost of one sample (C_l, or C_l + C_coarse for a pair)
    double ideal_samples = 0;   ///< the continuous optimum B sqrt(V / c) / sum sqrt(V c)
    Index samples = 0;          ///< n: ideal_samples rounded down, at least min_samples
};

/// One subset of levels the allocator evaluated.
struct PlanCandidate {
    std::vector<std::size_t> levels;  ///< kept levels, ascending; the last is L unless truncated
    bool feasible = false;            ///< every coupling known and min_samples affordable
    double predicted_variance = std::numeric_limits<double>::infinity();  ///< sum V / n
    double bias_squared = 0;  ///< 0 when the last kept level is L, else the bound on E[f_L - f_j]^2
    double total_cost = 0;    ///< sum n c
    std::string note;         ///< why it is infeasible (empty otherwise)

    /// predicted_variance + bias_squared.
    [[nodiscard]] double predicted_error() const { return predicted_variance + bias_squared; }
};

/// The allocator's answer: which levels, how many samples each, what it predicts, and why.
struct Plan {
    double budget = 0;              ///< B, in the units of the costs
    std::vector<PlanLevel> levels;  ///< kept levels, cheapest first; the last one is L
    std::size_t top_level = 0;      ///< L, the level the loss targets
    double total_cost = 0;          ///< sum n c <= budget
    double predicted_variance = 0;  ///< sum V / n: variance of the loss estimate at the pilot net
    /// The bound on the squared bias E[f_L - f_j]^2 when the plan stops at level j < L, else 0.
    double bias_squared = 0;
    Index mc_samples = 0;    ///< floor(B / C_L): plain MC on the top level
    double mc_variance = 0;  ///< Var[f_L] / mc_samples
    /// mc_variance / (predicted_variance + bias_squared): the predicted reduction of the mean
    /// squared error of the loss estimate against plain MC on the top level (> 1: the plan wins).
    double variance_reduction = 1;
    std::vector<PlanCandidate> candidates;  ///< every subset evaluated, in search order
    std::vector<std::string> reasons;       ///< one human-readable line per decision

    /// True when more than one level is kept (otherwise: plain MC on one level).
    [[nodiscard]] bool multilevel() const { return levels.size() > 1; }
    /// True when the plan stops below the top level (it trusts a cheaper level's bias).
    [[nodiscard]] bool truncated() const {
        return !levels.empty() && levels.back().level < top_level;
    }
    /// The kept levels' simulator indices, cheapest first.
    [[nodiscard]] std::vector<std::size_t> kept_levels() const {
        std::vector<std::size_t> out;
        for (const auto& l : levels) out.push_back(l.level);
        return out;
    }
    /// n per kept level, cheapest first (the samples_per_level of the planned dataset).
    [[nodiscard]] std::vector<Index> samples_per_level() const {
        std::vector<Index> out;
        for (const auto& l : levels) out.push_back(l.samples);
        return out;
    }
    /// The reasons, one per line.
    [[nodiscard]] std::string describe() const {
        std::string out;
        for (const auto& r : reasons) out += r + "\n";
        return out;
    }
};

namespace detail {

inline std::string format_levels(const std::vector<std::size_t>& levels) {
    std::string out = "{";
    for (std::size_t i = 0; i < levels.size(); ++i) {
        if (i > 0) out += ", ";
        out += std::to_string(levels[i]);
    }
    return out + "}";
}

// "n_0/n_1/...": the samples of each level of an allocation.
inline std::string format_counts(const std::vector<PlanLevel>& levels) {
    std::string out;
    for (const auto& l : levels) {
        if (!out.empty()) out += "/";
        out += std::to_string(l.samples);
    }
    return out;
}

inline std::string format_number(double v) {
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "%.4g", v);
    return buffer;
}

// V and c of each kept level of a subset; false (with a note) if a coupling is unknown.
inline bool subset_constants(const PilotStatistics& s, const std::vector<std::size_t>& levels,
                             std::vector<PlanLevel>& out, std::string& note) {
    out.assign(levels.size(), PlanLevel{});
    for (std::size_t i = 0; i < levels.size(); ++i) {
        PlanLevel& p = out[i];
        p.level = levels[i];
        p.level_variance = s.level_variance[p.level];
        if (i == 0) {
            p.variance = p.level_variance;
            p.cost = s.cost[p.level];
            continue;
        }
        const std::size_t j = levels[i - 1];
        p.coarse_level = static_cast<long>(j);
        p.variance = s.difference_variance(static_cast<Index>(j), static_cast<Index>(p.level));
        p.cost = s.cost[p.level] + s.cost[j];
        if (std::isnan(p.variance)) {
            note = message("Var[f_", p.level, " - f_", j, "] was not measured");
            return false;
        }
    }
    return true;
}

// Optimal n for fixed V, c and budget with n >= min_samples: levels whose optimum falls below
// the minimum are fixed at it and the rest of the budget is re-allocated among the others.
inline bool allocate(std::vector<PlanLevel>& levels, double budget, Index min_samples,
                     std::string& note) {
    const auto min_n = static_cast<double>(min_samples);
    double floor_cost = 0;
    for (const auto& l : levels) floor_cost += min_n * l.cost;
    if (floor_cost > budget) {
        note = message("min_samples = ", min_samples, " per level costs ",
                       format_number(floor_cost), " > budget ", format_number(budget));
        return false;
    }
    std::vector<bool> fixed(levels.size(), false);
    for (bool changed = true; changed;) {
        changed = false;
        double free_budget = budget, sum = 0;
        for (std::size_t i = 0; i < levels.size(); ++i) {
            if (fixed[i])
                free_budget -= min_n * levels[i].cost;
            else
                sum += std::sqrt(levels[i].variance * levels[i].cost);
        }
        for (std::size_t i = 0; i < levels.size(); ++i) {
            PlanLevel& l = levels[i];
            if (fixed[i]) {
                l.ideal_samples = min_n;
                continue;
            }
            // All free variances zero: nothing to gain, spend the minimum.
            l.ideal_samples = sum > 0 ? free_budget * std::sqrt(l.variance / l.cost) / sum : min_n;
            if (l.ideal_samples < min_n) {
                fixed[i] = true;
                changed = true;
            }
        }
    }
    for (auto& l : levels)
        l.samples = std::max(min_samples, static_cast<Index>(std::floor(l.ideal_samples)));
    return true;
}

}  // namespace detail

/// Chooses the levels and the samples per level that minimise the predicted mean squared error
/// of the loss estimate for a budget (see the file comment for the model).
///
/// Search: every subset of {0, ..., L - 1} together with L; each gets the optimal n (rounded
/// down, at least `min_samples`; levels whose optimum is below the minimum are fixed there and
/// the rest of the budget is re-allocated), so every plan's total cost sum n c is <= budget. A
/// subset that pairs j with l needs Var[f_l - f_j] (NaN: skipped). With `allow_truncation` and
/// a measured bias, the subsets that stop at a level j < L are evaluated too, with the bound on
/// E[f_L - f_j]^2 added to their variance. Among the unbiased plans the smallest predicted
/// error wins, except that a plan with fewer levels within a factor `min_gain` of it is
/// preferred; a truncated plan (chosen the same way among the truncated ones) replaces it only
/// if it predicts an error `min_gain` times smaller. {L} is plain MC on the top level: it is
/// chosen when no other plan beats it by `min_gain`.
/// \param statistics costs and variances (validated).
/// \param budget B > 0, in the units of statistics.cost.
/// \throws std::invalid_argument starting with "plan_allocation:" for invalid statistics or
///         options, a non-positive budget, a budget that cannot pay for min_samples runs of the
///         top level, or more than 17 levels.
[[nodiscard]] inline Plan plan_allocation(const PilotStatistics& statistics, double budget,
                                          const AllocationOptions& options = {}) {
    const char* caller = "plan_allocation";
    try {
        statistics.validate();
        options.validate();
    } catch (const std::invalid_argument& e) {
        throw std::invalid_argument(message(caller, ": ", e.what()));
    }
    const std::size_t levels = statistics.level_count();
    const std::size_t top = levels - 1;
    require(std::isfinite(budget) && budget > 0, caller,
            ": budget must be positive and finite, got ", budget);
    require(levels <= 17, caller, ": at most 17 levels (2^16 subsets), got ", levels);
    const double top_cost = statistics.cost[top];
    require(budget >= static_cast<double>(options.min_samples) * top_cost, caller, ": budget ",
            budget, " cannot pay for min_samples = ", options.min_samples,
            " simulations of the top level ", top, " (cost ", top_cost, " each)");

    Plan plan;
    plan.budget = budget;
    plan.top_level = top;
    plan.mc_samples = static_cast<Index>(std::floor(budget / top_cost));
    plan.mc_variance = statistics.level_variance[top] / static_cast<double>(plan.mc_samples);

    // The bound on the squared bias of stopping at level j < L (see bias_confidence).
    auto bias_squared = [&](std::size_t j) {
        const double bound = std::abs(statistics.bias[j]) +
                             options.bias_confidence * statistics.bias_standard_error[j];
        return bound * bound;
    };

    // Every subset whose last kept level is the top one (candidate 0 is {L}, plain MC), then,
    // for each lower last level whose bias is known, the subsets that stop there.
    std::vector<std::vector<PlanLevel>> allocations;
    for (std::size_t last = top + 1; last-- > 0;) {
        if (last < top && !(options.allow_truncation && statistics.bias_known(last))) continue;
        const std::size_t subsets = std::size_t{1} << last;
        for (std::size_t mask = 0; mask < subsets; ++mask) {
            PlanCandidate candidate;
            for (std::size_t j = 0; j < last; ++j)
                if ((mask >> j) & 1U) candidate.levels.push_back(j);
            candidate.levels.push_back(last);
            std::vector<PlanLevel> allocation;
            candidate.feasible =
                detail::subset_constants(statistics, candidate.levels, allocation,
                                         candidate.note) &&
                detail::allocate(allocation, budget, options.min_samples, candidate.note);
            if (candidate.feasible) {
                candidate.predicted_variance = 0;
                for (const auto& l : allocation) {
                    candidate.predicted_variance += l.variance / static_cast<double>(l.samples);
                    candidate.total_cost += static_cast<double>(l.samples) * l.cost;
                }
                if (last < top) candidate.bias_squared = bias_squared(last);
            }
            plan.candidates.push_back(std::move(candidate));
            allocations.push_back(std::move(allocation));
        }
    }
    const std::size_t count = plan.candidates.size();
    auto unbiased = [&](const PlanCandidate& c) { return c.levels.back() == top; };

    // Among the unbiased plans: the best, then the fewest levels within min_gain of it. A
    // truncated plan replaces that choice only if it beats it by min_gain as well, so with no
    // truncation worth it the plan is the one the unbiased search gives.
    auto choose = [&](bool truncated) {
        std::size_t best = count;
        for (std::size_t c = 0; c < count; ++c)
            if (unbiased(plan.candidates[c]) != truncated && plan.candidates[c].feasible &&
                (best == count ||
                 plan.candidates[c].predicted_error() < plan.candidates[best].predicted_error()))
                best = c;
        if (best == count) return best;
        std::size_t chosen = best;
        const double tolerance = plan.candidates[best].predicted_error() * options.min_gain;
        for (std::size_t c = 0; c < count; ++c) {
            const auto& candidate = plan.candidates[c];
            if (unbiased(candidate) == truncated || !candidate.feasible ||
                candidate.predicted_error() > tolerance)
                continue;
            const auto& current = plan.candidates[chosen];
            if (candidate.levels.size() < current.levels.size() ||
                (candidate.levels.size() == current.levels.size() &&
                 candidate.predicted_error() < current.predicted_error()))
                chosen = c;
        }
        return chosen;
    };
    std::size_t chosen = choose(false);  // {L} is always feasible (budget checked above)
    const std::size_t cut = choose(true);
    if (cut != count && plan.candidates[cut].predicted_error() * options.min_gain <
                            plan.candidates[chosen].predicted_error())
        chosen = cut;
    const PlanCandidate& choice = plan.candidates[chosen];
    plan.levels = allocations[chosen];
    plan.total_cost = choice.total_cost;
    plan.predicted_variance = choice.predicted_variance;
    plan.bias_squared = choice.bias_squared;
    plan.variance_reduction = choice.predicted_error() > 0
                                  ? plan.mc_variance / choice.predicted_error()
                                  : std::numeric_limits<double>::infinity();

    // Reasons.
    using detail::format_number;
    auto& r = plan.reasons;
    const auto& mc = plan.candidates[0];  // {L}
    r.push_back(message("plain MC on level ", top, ": n = ", plan.mc_samples, " at cost ",
                        format_number(top_cost), ", predicted variance ",
                        format_number(mc.predicted_variance), " (Var[f_", top,
                        "] = ", format_number(statistics.level_variance[top]), ")"));
    for (std::size_t l = 1; l < levels; ++l)
        for (std::size_t j = 0; j < l; ++j) {
            const double v =
                statistics.difference_variance(static_cast<Index>(j), static_cast<Index>(l));
            if (std::isnan(v)) continue;
            const double ratio = statistics.level_variance[l] > 0
                                     ? v / statistics.level_variance[l]
                                     : std::numeric_limits<double>::quiet_NaN();
            r.push_back(message("coupling of levels ", j, " and ", l, ": Var[f_", l, " - f_", j,
                                "] = ", format_number(v), " = ", format_number(ratio), " x Var[f_",
                                l, "] (pair cost ",
                                format_number(statistics.cost[l] + statistics.cost[j]), ")"));
        }
    if (options.allow_truncation)
        for (std::size_t j = 0; j < top; ++j) {
            if (!statistics.bias_known(j)) continue;
            r.push_back(message("bias of stopping at level ", j, ": E[f_", top, " - f_", j,
                                "] = ", format_number(statistics.bias[j]), " +- ",
                                format_number(statistics.bias_standard_error[j]),
                                "; squared-bias bound ", format_number(bias_squared(j))));
        }
    for (const auto& l : plan.levels) {
        std::string line;
        if (l.coarse_level < 0) {
            line = message("level ", l.level, " (base): V = Var[f_", l.level,
                           "] = ", format_number(l.variance), ", c = ", format_number(l.cost));
        } else {
            line = message(
                "level ", l.level, " paired with level ", l.coarse_level, ": V = Var[f_", l.level,
                " - f_", l.coarse_level, "] = ", format_number(l.variance), " (",
                format_number(l.level_variance > 0 ? l.variance / l.level_variance
                                                   : std::numeric_limits<double>::quiet_NaN()),
                " x Var[f_", l.level, "]");
            if (statistics.correlation.size() > 0)
                line +=
                    message(", correlation ",
                            format_number(statistics.correlation(static_cast<Index>(l.coarse_level),
                                                                 static_cast<Index>(l.level))));
            line += message("), c = ", format_number(l.cost));
        }
        line += message(", n = ", l.samples, " (optimum ", format_number(l.ideal_samples), ")");
        r.push_back(line);
    }
    for (std::size_t c = 0; c < count; ++c) {
        const auto& candidate = plan.candidates[c];
        r.push_back(
            candidate.feasible
                ? message("candidate ", detail::format_levels(candidate.levels),
                          ": n = ", detail::format_counts(allocations[c]), ", variance ",
                          format_number(candidate.predicted_variance),
                          candidate.bias_squared > 0
                              ? message(" + squared bias ", format_number(candidate.bias_squared))
                              : std::string(),
                          ", error ", format_number(candidate.predicted_error()))
                : message("candidate ", detail::format_levels(candidate.levels), ": infeasible (",
                          candidate.note, ")"));
    }
    const auto kept = plan.kept_levels();
    auto keeps = [](const PlanCandidate& c, std::size_t j) {
        return std::find(c.levels.begin(), c.levels.end(), j) != c.levels.end();
    };
    for (std::size_t j = 0; j <= top; ++j) {
        if (std::find(kept.begin(), kept.end(), j) != kept.end()) continue;
        // The best plan that keeps j.
        const PlanCandidate* with = nullptr;
        for (const auto& c : plan.candidates)
            if (keeps(c, j) && c.feasible &&
                (!with || c.predicted_error() < with->predicted_error()))
                with = &c;
        if (!with) {
            r.push_back(message("level ", j, " dropped: no feasible plan keeps it"));
            continue;
        }
        const double ratio = with->predicted_error() / choice.predicted_error();
        const std::string what = j == top ? "the top level" : "its correction";
        if (ratio >= 1)
            r.push_back(message("level ", j, " dropped: ", what,
                                " does not pay for itself; the best plan keeping it, ",
                                detail::format_levels(with->levels), ", predicts an error ",
                                format_number(with->predicted_error()), " = ", format_number(ratio),
                                " x the chosen plan's"));
        else
            r.push_back(message("level ", j, " dropped: the best plan keeping it, ",
                                detail::format_levels(with->levels), ", predicts only ",
                                format_number(ratio), " x the chosen plan's error; ",
                                j == top ? "an unbiased plan is preferred unless a truncated one "
                                           "gains"
                                         : "an extra level must gain",
                                " a factor min_gain = ", options.min_gain));
    }
    if (plan.multilevel() || plan.truncated()) {
        const bool cut = plan.truncated();
        r.push_back(message(
            "chosen: levels ", detail::format_levels(choice.levels), ", n = ",
            detail::format_counts(plan.levels), ", cost ", format_number(plan.total_cost), " of ",
            format_number(budget), cut ? message(", stopping below the top level ", top) : "",
            ", predicted variance ", format_number(plan.predicted_variance),
            cut ? message(" + squared-bias bound ", format_number(plan.bias_squared)) : "", ": ",
            format_number(plan.variance_reduction), " x below plain MC on level ", top));
    } else {
        const PlanCandidate* best_other = nullptr;
        for (std::size_t c = 1; c < count; ++c)
            if (plan.candidates[c].feasible &&
                (!best_other ||
                 plan.candidates[c].predicted_error() < best_other->predicted_error()))
                best_other = &plan.candidates[c];
        if (best_other)
            r.push_back(message(
                "chosen: plain MC on level ", top, ": no other plan beats it by min_gain = ",
                options.min_gain, " (best: ", detail::format_levels(best_other->levels), " at ",
                format_number(best_other->predicted_error() / mc.predicted_variance),
                " x MC's error)"));
        else
            r.push_back(
                message("chosen: plain MC on level ", top, ": no multilevel plan is feasible (",
                        count > 1 ? plan.candidates[1].note : std::string("one level"), ")"));
    }
    return plan;
}

}  // namespace mlsbi::training
