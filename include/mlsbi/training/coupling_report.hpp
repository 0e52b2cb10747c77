// SPDX-License-Identifier: MIT
/// \file
/// \brief Coupling diagnostics of multilevel training: per level, how well the seed-matched
/// pairs are coupled at the network (correlation of the paired losses, correction variance
/// against level variance, x_l - x_{l-1}, cost); over training, how often Algorithm 1's
/// projection fired, the cosine of the base and correction gradients, and the term norms. A
/// table, a CSV and warnings at documented thresholds.
///
/// Why these numbers: the MLMC loss of Hikida et al. (2025), Eq. (3), pays off only when
/// Var[f_l - f_{l-1}] is much smaller than Var[f_l] (Theorem 2), which needs both levels to
/// consume the same noise; and Algorithm 1 projects the gradients whenever the base gradient and
/// the correction gradient conflict, so a projection on almost every step with a cosine near -1
/// says the corrections fight the base term rather than refine it.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "mlsbi/core/errors.hpp"
#include "mlsbi/core/types.hpp"
#include "mlsbi/losses/loss_terms.hpp"
#include "mlsbi/losses/mlmc_loss.hpp"
#include "mlsbi/training/level_alignment.hpp"
#include "mlsbi/training/trainer.hpp"

namespace mlsbi::training {

/// Warning thresholds of coupling_report (all documented defaults; a warning is a hint, not an
/// error).
struct CouplingReportOptions {
    /// Warn when Var[f_l - f_{l-1}] / Var[f_l] exceeds this (default 0.5). Independent noise
    /// gives about 2 (the two variances add); a correction this noisy saves little or nothing.
    double variance_ratio_warning = 0.5;
    /// Warn when corr(f_l, f_{l-1}) on the pairs is below this (default 0.5).
    double correlation_warning = 0.5;
    /// Warn when RMS(x_l - x_{l-1}) exceeds this multiple of the spread of x_l (default 1):
    /// the levels then differ by more than the data vary, a fidelity gap the network must bridge.
    double relative_rms_warning = 1.0;
    /// Warn when the projection fired on more than this fraction of steps (default 0.5).
    double projection_rate_warning = 0.5;
    /// Warn when the mean cosine of the base and correction gradients is below this (default
    /// -0.5): they point against each other on most steps.
    double cosine_warning = -0.5;
    /// Cost of one simulation of each level (optional; e.g. the pilot's). Empty: taken from the
    /// dataset's generation reports (wall seconds per simulation) when it has them.
    std::vector<double> cost{};
    /// Measure on the levels as ML training saw them: the cheaper levels aligned to the top one
    /// (align_levels, as MlmcTrainingOptions::align_levels does by default). Set false for a
    /// model trained without alignment (MlmcTrainingOptions::paper()). A network trained on
    /// aligned levels, measured on the raw ones, shows a correction variance that is the
    /// alignment's, not the coupling's (the three-level example: 111% against 29%). The map is
    /// refitted on all of `data`; the robust recipe fitted it without its held-out top-level
    /// pairs, so the two differ slightly.
    bool align_levels = true;

    /// \throws std::invalid_argument naming the field.
    void validate() const {
        require(variance_ratio_warning > 0,
                "CouplingReportOptions: variance_ratio_warning must be > 0");
        require(correlation_warning <= 1,
                "CouplingReportOptions: correlation_warning must be <= 1");
        require(relative_rms_warning > 0,
                "CouplingReportOptions: relative_rms_warning must be > 0");
        require(projection_rate_warning >= 0 && projection_rate_warning <= 1,
                "CouplingReportOptions: projection_rate_warning must be in [0, 1]");
        require(cosine_warning >= -1 && cosine_warning <= 1,
                "CouplingReportOptions: cosine_warning must be in [-1, 1]");
    }
};

/// Coupling of one level at the current network. Level 0 has no pair: its pair fields are NaN.
struct LevelCoupling {
    Index level = 0;
    Index size = 0;             ///< n_l
    double level_variance = 0;  ///< Var[f_l] on level l's x_l
    double correction_variance = std::numeric_limits<double>::quiet_NaN();  ///< Var[f_l - f_{l-1}]
    double variance_ratio = std::numeric_limits<double>::quiet_NaN();   ///< the ratio of the two
    double correlation = std::numeric_limits<double>::quiet_NaN();      ///< corr(f_l, f_{l-1})
    double mean_difference = std::numeric_limits<double>::quiet_NaN();  ///< mean of x_l - x_{l-1}
                                                                        ///< over samples and rows
    double rms_difference = std::numeric_limits<double>::quiet_NaN();   ///< its root mean square
    double relative_rms = std::numeric_limits<double>::quiet_NaN();  ///< rms / spread of x_l (RMS
                                                                     ///< over rows of the std)
    double cost = std::numeric_limits<double>::quiet_NaN();  ///< per simulation (NaN: unknown)
};

/// Gradient statistics over a training run (from the trainer's StepReport).
struct GradientCoupling {
    long steps = 0;
    double projection_rate = 0;           ///< fraction of steps where the projection was applied
    double conflict_rate = 0;             ///< fraction of steps with <g_0, g_c> < 0
    double mean_cosine = 0;               ///< mean cos(g_0, g_c)
    double late_projection_rate = 0;      ///< projection rate over the last quarter of the steps
    double late_mean_cosine = 0;          ///< mean cosine over the last quarter
    double mean_norm_base = 0;            ///< mean ||g_0||
    double mean_norm_correction = 0;      ///< mean ||g_c|| (after rescaling)
    std::vector<double> mean_norm_plus;   ///< mean ||g_l^+||, index l - 1
    std::vector<double> mean_norm_minus;  ///< mean ||g_l^-|| before rescaling, index l - 1
};

/// Collects the gradient-adjustment diagnostics of every step: pass `callbacks()` to train or
/// train_mlmc. Stores two numbers per step (the cosine and whether it projected) plus running
/// sums, so a long run costs little memory.
class GradientMonitor {
public:
    /// Records one step (steps without adjustment diagnostics are ignored).
    void record(const StepReport& step) {
        if (step.adjustment == nullptr) return;
        const auto& d = *step.adjustment;
        m_cosine.push_back(d.cosine);
        m_projected.push_back(d.projected ? 1 : 0);
        m_conflicts += d.conflict ? 1 : 0;
        m_norm_base += d.norm_base;
        m_norm_correction += d.norm_correction;
        if (m_norm_plus.size() < d.norm_plus.size()) {
            m_norm_plus.resize(d.norm_plus.size(), 0.0);
            m_norm_minus.resize(d.norm_minus.size(), 0.0);
        }
        for (std::size_t l = 0; l < d.norm_plus.size(); ++l) {
            m_norm_plus[l] += d.norm_plus[l];
            m_norm_minus[l] += d.norm_minus[l];
        }
    }

    /// Callbacks that record every step, then call `chained` (optional). They refer to this
    /// monitor, which must outlive the training run and stay where it is (no move).
    [[nodiscard]] TrainingCallbacks callbacks(TrainingCallbacks chained = {}) {
        TrainingCallbacks out = chained;
        out.on_step = [this, next = std::move(chained.on_step)](const StepReport& step) {
            record(step);
            if (next) next(step);
        };
        return out;
    }

    /// cos(g_0, g_c) of each recorded step.
    [[nodiscard]] const std::vector<double>& cosines() const { return m_cosine; }
    /// 1 where the step projected.
    [[nodiscard]] const std::vector<unsigned char>& projected() const { return m_projected; }

    /// The statistics so far.
    [[nodiscard]] GradientCoupling statistics() const {
        GradientCoupling g;
        const auto n = static_cast<long>(m_cosine.size());
        g.steps = n;
        if (n == 0) return g;
        const auto mean_range = [&](long first, auto value) {
            double sum = 0;
            for (long i = first; i < n; ++i) sum += value(static_cast<std::size_t>(i));
            return sum / static_cast<double>(n - first);
        };
        const auto cosine = [&](std::size_t i) { return m_cosine[i]; };
        const auto projected = [&](std::size_t i) { return double(m_projected[i]); };
        const long late = n - std::max(1L, n / 4);
        g.projection_rate = mean_range(0, projected);
        g.mean_cosine = mean_range(0, cosine);
        g.late_projection_rate = mean_range(late, projected);
        g.late_mean_cosine = mean_range(late, cosine);
        g.conflict_rate = static_cast<double>(m_conflicts) / static_cast<double>(n);
        g.mean_norm_base = m_norm_base / static_cast<double>(n);
        g.mean_norm_correction = m_norm_correction / static_cast<double>(n);
        for (std::size_t l = 0; l < m_norm_plus.size(); ++l) {
            g.mean_norm_plus.push_back(m_norm_plus[l] / static_cast<double>(n));
            g.mean_norm_minus.push_back(m_norm_minus[l] / static_cast<double>(n));
        }
        return g;
    }

private:
    std::vector<double> m_cosine;
    std::vector<unsigned char> m_projected;
    long m_conflicts = 0;
    double m_norm_base = 0, m_norm_correction = 0;
    std::vector<double> m_norm_plus, m_norm_minus;
};

/// The report: per-level coupling, optional gradient statistics, warnings.
struct CouplingReport {
    std::vector<LevelCoupling> levels;
    std::optional<GradientCoupling> gradients;
    std::vector<std::string> warnings;  ///< one line each, starting with "level l:" or "training:"

    /// A fixed-width table of the levels, the gradient statistics and the warnings.
    [[nodiscard]] std::string table() const {
        std::string out;
        char line[256];
        std::snprintf(line, sizeof line, "%5s %7s %10s %10s %8s %8s %10s %10s %8s %10s\n", "level",
                      "n", "Var f_l", "Var corr", "ratio", "corr", "mean dx", "rms dx", "rel rms",
                      "cost");
        out += line;
        for (const auto& l : levels) {
            std::snprintf(line, sizeof line,
                          "%5ld %7ld %10.4g %10.4g %8.3g %8.3g %10.3g %10.3g %8.3g %10.3g\n",
                          static_cast<long>(l.level), static_cast<long>(l.size), l.level_variance,
                          l.correction_variance, l.variance_ratio, l.correlation, l.mean_difference,
                          l.rms_difference, l.relative_rms, l.cost);
            out += line;
        }
        if (gradients) {
            const auto& g = *gradients;
            std::snprintf(line, sizeof line,
                          "training: %ld steps, projection rate %.3g (last quarter %.3g), "
                          "conflicts %.3g, mean cos(g_0, g_c) %.3g (last quarter %.3g)\n",
                          g.steps, g.projection_rate, g.late_projection_rate, g.conflict_rate,
                          g.mean_cosine, g.late_mean_cosine);
            out += line;
            std::snprintf(line, sizeof line, "mean norms: |g_0| %.3g, |g_c| %.3g", g.mean_norm_base,
                          g.mean_norm_correction);
            out += line;
            for (std::size_t l = 0; l < g.mean_norm_plus.size(); ++l) {
                std::snprintf(line, sizeof line, ", |g_%zu^+| %.3g, |g_%zu^-| %.3g", l + 1,
                              g.mean_norm_plus[l], l + 1, g.mean_norm_minus[l]);
                out += line;
            }
            out += "\n";
        }
        if (warnings.empty()) out += "no warnings\n";
        for (const auto& w : warnings) out += "warning: " + w + "\n";
        return out;
    }

    /// Long-format CSV: `section,level,quantity,value`, one row per number (section "level" or
    /// "training"; level -1 for run-wide numbers).
    [[nodiscard]] std::string csv() const {
        std::string out = "section,level,quantity,value\n";
        const auto row = [&](const char* section, long level, const char* quantity, double v) {
            char line[160];
            std::snprintf(line, sizeof line, "%s,%ld,%s,%.10g\n", section, level, quantity, v);
            out += line;
        };
        for (const auto& l : levels) {
            const auto k = static_cast<long>(l.level);
            row("level", k, "size", static_cast<double>(l.size));
            row("level", k, "level_variance", l.level_variance);
            row("level", k, "correction_variance", l.correction_variance);
            row("level", k, "variance_ratio", l.variance_ratio);
            row("level", k, "correlation", l.correlation);
            row("level", k, "mean_difference", l.mean_difference);
            row("level", k, "rms_difference", l.rms_difference);
            row("level", k, "relative_rms", l.relative_rms);
            row("level", k, "cost", l.cost);
        }
        if (gradients) {
            const auto& g = *gradients;
            row("training", -1, "steps", static_cast<double>(g.steps));
            row("training", -1, "projection_rate", g.projection_rate);
            row("training", -1, "late_projection_rate", g.late_projection_rate);
            row("training", -1, "conflict_rate", g.conflict_rate);
            row("training", -1, "mean_cosine", g.mean_cosine);
            row("training", -1, "late_mean_cosine", g.late_mean_cosine);
            row("training", 0, "mean_norm_base", g.mean_norm_base);
            row("training", -1, "mean_norm_correction", g.mean_norm_correction);
            for (std::size_t l = 0; l < g.mean_norm_plus.size(); ++l) {
                row("training", static_cast<long>(l + 1), "mean_norm_plus", g.mean_norm_plus[l]);
                row("training", static_cast<long>(l + 1), "mean_norm_minus", g.mean_norm_minus[l]);
            }
        }
        return out;
    }

    /// Writes csv() to `path`. \throws std::runtime_error if the file cannot be written.
    void write_csv(const std::string& path) const {
        std::ofstream file(path);
        if (!file)
            throw std::runtime_error(message("CouplingReport::write_csv: cannot open ", path));
        file << csv();
        if (!file)
            throw std::runtime_error(message("CouplingReport::write_csv: cannot write ", path));
    }
};

/// Measures the coupling of seed-matched data at `estimator` (MlmcLoss::level_diagnostics plus
/// the x differences; on the aligned levels unless options.align_levels is false), adds the
/// gradient statistics of `monitor` when given, and raises the warnings of `options`. Costs:
/// options.cost, else the dataset's reports (wall seconds per simulation; for l >= 1 the mean
/// over both levels' runs) when Data has them.
/// \throws std::invalid_argument as MlmcLoss (fewer than 2 levels, shapes), or for invalid
///         options or an options.cost whose size differs from the number of levels.
template <losses::TrainableEstimator Estimator, losses::MultilevelData Data>
[[nodiscard]] CouplingReport coupling_report(const Estimator& estimator, const Data& data,
                                             losses::Task task,
                                             const GradientMonitor* monitor = nullptr,
                                             const CouplingReportOptions& options = {}) {
    options.validate();
    const std::size_t level_count = data.levels.size();
    require(options.cost.empty() || options.cost.size() == level_count,
            "coupling_report: options.cost has ", options.cost.size(), " entries for ", level_count,
            " levels");
    if (options.align_levels) {  // measure the levels as training saw them
        CouplingReportOptions as_given = options;
        as_given.align_levels = false;
        return coupling_report(estimator, aligned_copy(data), task, monitor, as_given);
    }
    losses::MlmcLoss<Estimator> loss(estimator, data, task);
    const auto diagnostics = loss.level_diagnostics(estimator);

    CouplingReport report;
    for (std::size_t l = 0; l < level_count; ++l) {
        const auto& d = diagnostics[l];
        const auto& level = data.levels[l];
        LevelCoupling c;
        c.level = static_cast<Index>(l);
        c.size = d.size;
        c.level_variance = d.variance_fine;
        if (!options.cost.empty()) {
            c.cost = options.cost[l];
        } else if constexpr (requires { data.reports[l].seconds_per_simulation; }) {
            if (data.reports.size() == level_count && data.reports[l].simulations > 0)
                c.cost = data.reports[l].seconds_per_simulation;
        }
        if (l > 0) {
            c.correction_variance = d.variance;
            c.correlation = d.correlation;
            c.variance_ratio = d.variance_fine > 0 ? d.variance / d.variance_fine
                                                   : std::numeric_limits<double>::quiet_NaN();
            const Matrix<double> dx = level.x_fine - level.x_coarse;
            c.mean_difference = dx.mean();
            c.rms_difference = std::sqrt(dx.squaredNorm() / static_cast<double>(dx.size()));
            const Index n = level.x_fine.cols();
            if (n > 1) {
                const Vector<double> mean = level.x_fine.rowwise().mean();
                const double spread = std::sqrt(
                    (level.x_fine.colwise() - mean).squaredNorm() /
                    (static_cast<double>(n - 1) * static_cast<double>(level.x_fine.rows())));
                if (spread > 0) c.relative_rms = c.rms_difference / spread;
            }
            const auto percent = [](double v) { return message(std::lround(100 * v), "%"); };
            if (c.variance_ratio > options.variance_ratio_warning)
                report.warnings.push_back(message(
                    "level ", l, ": correction variance is ", percent(c.variance_ratio),
                    " of the level variance (threshold ", percent(options.variance_ratio_warning),
                    "); is the seed matching broken? (both levels must consume the same noise "
                    "for the same seed)"));
            if (c.correlation < options.correlation_warning)
                report.warnings.push_back(message(
                    "level ", l, ": correlation of the paired losses is ", c.correlation,
                    " (threshold ", options.correlation_warning, "); the pair is weakly coupled"));
            if (c.relative_rms > options.relative_rms_warning)
                report.warnings.push_back(
                    message("level ", l, ": RMS(x_", l, " - x_", l - 1, ") is ", c.relative_rms,
                            " x the spread of x_", l, " (threshold ", options.relative_rms_warning,
                            "); the levels differ by more than the data vary"));
        }
        report.levels.push_back(c);
    }
    if (monitor != nullptr) {
        report.gradients = monitor->statistics();
        const auto& g = *report.gradients;
        if (g.steps > 0 && g.projection_rate > options.projection_rate_warning)
            report.warnings.push_back(message(
                "training: the gradient projection fired on ", std::lround(100 * g.projection_rate),
                "% of ", g.steps, " steps (threshold ", options.projection_rate_warning,
                "); the base and correction gradients conflict"));
        if (g.steps > 0 && g.mean_cosine < options.cosine_warning)
            report.warnings.push_back(message("training: mean cos(g_0, g_c) is ", g.mean_cosine,
                                              " (threshold ", options.cosine_warning,
                                              "); the corrections pull against the base term"));
    }
    return report;
}

}  // namespace mlsbi::training
