// SPDX-License-Identifier: MIT
/// \file
/// \brief Pilot -> plan -> dataset: measure costs and loss variances on a small seed-matched
/// pilot at a briefly trained network, plan the allocation for a budget (allocation.hpp), and
/// generate the planned dataset, reusing the pilot's simulations.
///
/// Reuse. Sample i of stream l (theta, seed) = derive_seed(master, l, i, tag), exactly as in
/// simulators::generate_multilevel_dataset. The pilot runs the first n_pilot indices of every
/// stream l, at G_l and at every cheaper level G_j (j < l) on the same (theta, seed), which is
/// what the merged couplings of a plan that drops levels need. The planned dataset keeps levels
/// k_0 < ... < k_m: its level i is stream k_i, with x_fine = G_{k_i} and x_coarse = G_{k_{i-1}}.
/// Its first n_pilot columns are copied from the pilot and only indices n_pilot, n_pilot + 1, ...
/// are simulated, so when every level is kept it is bit-identical to generate_multilevel_dataset
/// with the same master seed and n_l. The stream of a level the plan drops is not wasted: stream
/// m joins the highest kept level k_i <= m after that level's own columns (as pairs G_{k_i},
/// G_{k_{i-1}}, which stream m ran on the same (theta, seed); as plain G_{k_0} runs for i = 0),
/// so every pilot simulation at a kept level's fidelity is in the dataset, each stream in one
/// level only. Only the runs above the last kept level (a truncated plan's top-level runs) and
/// the streams below k_0 stay unused.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "mlsbi/core/errors.hpp"
#include "mlsbi/core/types.hpp"
#include "mlsbi/distributions/prior.hpp"
#include "mlsbi/losses/loss_terms.hpp"
#include "mlsbi/losses/mc_loss.hpp"
#include "mlsbi/losses/mlmc_loss.hpp"
#include "mlsbi/simulators/multilevel_dataset.hpp"
#include "mlsbi/simulators/multilevel_simulator.hpp"
#include "mlsbi/training/allocation.hpp"
#include "mlsbi/training/baselines.hpp"
#include "mlsbi/training/standardization.hpp"
#include "mlsbi/training/trainer.hpp"

namespace mlsbi::training {

/// Where the per-simulation costs C_l come from.
enum class CostSource {
    automatic,  ///< the levels' nominal costs when every level declares one (make_level's cost
                ///< argument), else the measured wall time
    nominal,    ///< the declared nominal costs (every level must declare one)
    measured,   ///< wall seconds per simulation measured in the pilot (at its thread count)
};

/// Which pilot data the brief training uses.
enum class PilotTraining {
    pooled,      ///< every stream's own level (G_l on stream l), pooled: a network near all levels
    level_zero,  ///< stream 0 only (the cheapest level)
    top_level,   ///< stream L only (the level we trust)
};

/// Where the bias E[f_L - f_j] of stopping at level j is evaluated (see run_pilot).
enum class PilotBias {
    /// Two-fold: the pilot network is fine-tuned on half of stream L (early-stopped on the other
    /// half) and the gap is measured on the other half, and the other way round, so no gap is
    /// measured on a sample it was tuned on.
    cross_fitted,
    /// The pilot network fine-tuned on all of stream L, the gap measured on the same samples:
    /// overfitting the few top-level samples makes an exact level look biased (conservative).
    in_sample,
};

/// Options of run_pilot.
struct PilotOptions {
    Index samples_per_level = 64;  ///< n_pilot per stream, >= 4; each is reused by the dataset
    std::uint64_t seed = 0;        ///< master seed; use the same one for the final dataset
    CostSource cost = CostSource::automatic;
    PilotTraining train_on = PilotTraining::pooled;
    /// The brief training: 200 full-batch epochs of Adam at learning rate 1e-3, MC loss, no
    /// gradient adjustment (one term). The z-scoring is fitted on stream L's top-level data.
    TrainingOptions training{
        .max_epochs = 200, .adam = {.learning_rate = 1e-3}, .progress = false, .label = "pilot"};
    /// Stop the brief training early on a held-out `validation_fraction` of its data (patience
    /// `training.patience`, best weights restored), so that max_epochs is a cap. With 8 to 14
    /// samples per stream a fixed count of full-batch epochs overfits, and one pair's
    /// f_l - f_{l-1} then dominates the correction variance (on the scoreboard,
    /// Var[f_1 - f_0] = 83 Var[f_1] on one linear-Gaussian seed at 200 epochs). Off: train
    /// every sample for exactly max_epochs (the behaviour before this option).
    bool early_stopping = true;
    double validation_fraction = 0.2;  ///< in (0, 1), at least one sample
    PilotBias bias = PilotBias::cross_fitted;
    losses::LossOptions loss{};
    int threads = 0;  ///< OpenMP threads of the pilot's simulations; 0 = OpenMP default

    /// \throws std::invalid_argument naming the field.
    void validate() const {
        require(samples_per_level >= 4, "PilotOptions: samples_per_level must be >= 4, got ",
                samples_per_level);
        require(threads >= 0, "PilotOptions: threads must be >= 0, got ", threads);
        require(validation_fraction > 0 && validation_fraction < 1,
                "PilotOptions: validation_fraction must be in (0, 1), got ", validation_fraction);
        training.validate();
        loss.validate();
    }
};

/// The pilot's simulations of one stream l: the first n_pilot (theta, seed) of level l's seed
/// stream, run at every level j <= l.
struct PilotStream {
    Matrix<double> theta;              ///< p x n_pilot
    std::vector<std::uint64_t> seeds;  ///< simulator seed of each column
    std::vector<Matrix<double>> x;     ///< x[j] = G_j(theta, seed), d x n_pilot, j = 0..l
};

/// What the pilot measured.
struct Pilot {
    std::uint64_t seed = 0;                           ///< master seed
    Index samples_per_level = 0;                      ///< n_pilot
    std::vector<PilotStream> streams;                 ///< streams[l], l = 0..L
    std::vector<double> seconds_per_simulation;       ///< measured wall time of one run of G_l
    std::vector<std::optional<double>> nominal_cost;  ///< what each level declares
    CostSource cost_source = CostSource::measured;  ///< the source actually used (never automatic)
    PilotStatistics statistics;  ///< the costs used and the variances at the pilot network
    std::vector<losses::LevelDiagnostics> couplings;  ///< MlmcLoss::level_diagnostics: entry 0
                                                      ///< is stream 0, then pair (j, l) for
                                                      ///< l = 1..L, j = 0..l-1, in that order
    TrainingSummary training;                         ///< the brief training
    double total_cost = 0;  ///< cost of all pilot simulations, in the cost units

    /// L + 1.
    [[nodiscard]] std::size_t level_count() const { return streams.size(); }
};

/// Runs the pilot: simulates the first `samples_per_level` indices of every stream (stream l at
/// levels 0..l on the same theta and seed), times every level, trains a copy of `estimator`
/// briefly, and measures Var[f_l], Var[f_l - f_j] and corr(f_j, f_l) for all j < l, pooled
/// over every stream that ran both levels (ratio estimates, see the code), and the bias
/// E[f_L - f_j] of stopping at each cheaper level with its standard error, on stream L at the
/// pilot network fine-tuned on stream L, cross-fitted by default (PilotOptions::bias; see the
/// code for why not at the pilot network).
/// `couplings` keeps the per-stream MlmcLoss::level_diagnostics for the coupling report.
/// \param estimator an untrained network of the kind the final training uses; taken by value
///        (the pilot trains its own copy).
/// \throws std::invalid_argument starting with "run_pilot:" for bad options, a prior or levels
///         whose dimensions do not fit, or (CostSource::nominal) a level without a finite
///         nominal cost; simulators::SimulationError when a simulation throws or returns a
///         non-finite value (the pilot does not drop samples: dropping would desynchronise the
///         levels of a stream).
template <simulators::MultilevelModel Multilevel, distributions::Prior P,
          losses::TrainableEstimator Estimator>
[[nodiscard]] Pilot run_pilot(const Multilevel& model, const P& prior, Estimator estimator,
                              losses::Task task, const PilotOptions& options = {}) {
    const char* caller = "run_pilot";
    options.validate();
    constexpr std::size_t levels = Multilevel::levels;
    const Index n = options.samples_per_level;
    const Index d = model.output_dim(0);
    require(d >= 1, caller, ": level 0 has output_dim ", d);
    for (std::size_t l = 0; l < levels; ++l)
        require(model.output_dim(l) == d, caller, ": level ", l, " has output_dim ",
                model.output_dim(l), " but level 0 has ", d);

    Pilot pilot;
    pilot.seed = options.seed;
    pilot.samples_per_level = n;
    pilot.streams.resize(levels);
    std::vector<double> seconds(levels, 0.0), runs(levels, 0.0);
    for (std::size_t l = 0; l < levels; ++l) {
        PilotStream& stream = pilot.streams[l];
        stream.x.resize(l + 1);
        for (std::size_t j = 0; j <= l; ++j) {
            auto sim = [&](const ConstVectorRef<double>& theta, std::uint64_t s,
                           VectorRef<double> x) { model.simulate(j, theta, s, x); };
            simulators::LevelReport report;
            simulators::LevelData data = simulators::detail::generate_level(
                caller, l, static_cast<std::uint64_t>(l), n, d, false, options.seed, prior,
                simulators::NonFinitePolicy::error, options.threads, sim, sim, report);
            seconds[j] += report.seconds;
            runs[j] += static_cast<double>(n);
            stream.x[j] = std::move(data.x_fine);
            if (j == l) {
                stream.theta = std::move(data.theta);
                stream.seeds = std::move(data.seeds);
            }
        }
    }

    // Costs.
    pilot.seconds_per_simulation.resize(levels);
    pilot.nominal_cost.resize(levels);
    bool all_nominal = true;
    for (std::size_t l = 0; l < levels; ++l) {
        // A floor keeps a level too fast for the clock from costing 0.
        pilot.seconds_per_simulation[l] = std::max(seconds[l] / runs[l], 1e-12);
        if constexpr (requires {
                          { model.nominal_cost(l) } -> std::same_as<std::optional<double>>;
                      })
            pilot.nominal_cost[l] = model.nominal_cost(l);
        all_nominal = all_nominal && pilot.nominal_cost[l].has_value();
    }
    pilot.cost_source = options.cost == CostSource::automatic
                            ? (all_nominal ? CostSource::nominal : CostSource::measured)
                            : options.cost;
    auto& stats = pilot.statistics;
    stats.cost.resize(levels);
    for (std::size_t l = 0; l < levels; ++l) {
        if (pilot.cost_source == CostSource::nominal) {
            require(pilot.nominal_cost[l].has_value(), caller, ": level ", l,
                    " declares no nominal cost (pass cost to make_level, or use "
                    "CostSource::measured)");
            stats.cost[l] = *pilot.nominal_cost[l];
            require(stats.cost[l] > 0, caller, ": level ", l, " has nominal cost ", stats.cost[l],
                    " (must be positive)");
        } else {
            stats.cost[l] = pilot.seconds_per_simulation[l];
        }
    }
    for (std::size_t l = 0; l < levels; ++l)
        for (std::size_t j = 0; j <= l; ++j)
            pilot.total_cost += static_cast<double>(n) * stats.cost[j];

    // Brief training on the chosen pilot data; z-scoring from the top level.
    const PilotStream& top = pilot.streams[levels - 1];
    {
        Matrix<double> theta, x;
        if (options.train_on == PilotTraining::pooled) {
            theta.resize(prior.dim(), n * static_cast<Index>(levels));
            x.resize(d, n * static_cast<Index>(levels));
            for (std::size_t l = 0; l < levels; ++l) {
                theta.middleCols(static_cast<Index>(l) * n, n) = pilot.streams[l].theta;
                x.middleCols(static_cast<Index>(l) * n, n) = pilot.streams[l].x[l];
            }
        } else {
            const PilotStream& s =
                options.train_on == PilotTraining::level_zero ? pilot.streams[0] : top;
            theta = s.theta;
            x = s.x.back();
        }
        fit_standardization(estimator, top.theta, top.x.back(), task, "run_pilot");
        if (options.early_stopping) {  // the MC baseline, full batch, on this z-scoring
            BaselineOptions brief;
            brief.training = options.training;
            brief.training.early_stopping = true;
            brief.validation_fraction = options.validation_fraction;
            brief.split_seed = derive_seed(options.seed, 0x7069766cULL);
            brief.training_batch_size = 0;
            brief.loss = options.loss;
            brief.fit_standardization = false;
            pilot.training = train_mc(estimator, theta, x, task, brief);
        } else {
            losses::McLoss<Estimator> loss(estimator, theta, x, task, options.loss);
            pilot.training = train(estimator, loss, options.training);
        }
    }

    // Every coupling (j, l) as one level of a multilevel dataset, measured in one pass.
    simulators::MultilevelDataset couplings;
    couplings.levels.push_back(
        simulators::LevelData{pilot.streams[0].theta, pilot.streams[0].x[0], {}, {}});
    for (std::size_t l = 1; l < levels; ++l)
        for (std::size_t j = 0; j < l; ++j)
            couplings.levels.push_back(simulators::LevelData{
                pilot.streams[l].theta, pilot.streams[l].x[l], pilot.streams[l].x[j], {}});
    const auto L = static_cast<Index>(levels);
    constexpr double nan = std::numeric_limits<double>::quiet_NaN();
    stats.level_variance.assign(levels, 0.0);
    stats.difference_variance.setConstant(L, L, nan);
    stats.correlation.setConstant(L, L, nan);
    if (levels == 1) {
        losses::McLoss<Estimator> loss(estimator, top.theta, top.x.back(), task, options.loss);
        pilot.couplings = loss.level_diagnostics(estimator);
        stats.level_variance[0] = pilot.couplings[0].variance;
        return pilot;
    }
    losses::MlmcLoss<Estimator> loss(estimator, couplings, task, options.loss);
    pilot.couplings = loss.level_diagnostics(estimator);

    // The allocator's statistics. Stream m runs G_0..G_m on its own (theta, seed), all drawn
    // alike, so G_0 has n (L + 1) samples and G_L only n. At a briefly trained network the
    // per-sample losses are heavy-tailed: with ten or so samples per stream, Var[f_0] on
    // stream 0 and Var[f_L] on stream L differed by factors of 5 although f_0 and f_L agreed
    // sample by sample. Every variance is therefore a ratio estimate: Var[f_0] over all
    // streams, times the ratio of the quantity's variance to Var[f_0] on the streams that ran
    // it (the same samples, so the tails cancel). The bias E[f_L - f_j] needs G_L: stream L.
    std::vector<std::vector<Vector<double>>> f(levels);  // f[m][j]: per-sample loss of G_j
    for (std::size_t m = 0; m < levels; ++m)
        for (std::size_t j = 0; j <= m; ++j) {
            losses::McLoss<Estimator> level_loss(estimator, pilot.streams[m].theta,
                                                 pilot.streams[m].x[j], task, options.loss);
            f[m].push_back(level_loss.per_sample_losses(estimator));
        }
    // Sum of squared deviations from each stream's mean of value(m), over streams m >= from.
    auto squares = [&](std::size_t from, auto&& value) {
        double sum = 0;
        for (std::size_t m = from; m < levels; ++m) {
            const Vector<double> v = value(m);
            sum += (v.array() - v.mean()).square().sum();
        }
        return sum;
    };
    const double base_dof = static_cast<double>(levels) * static_cast<double>(n - 1);
    const double base_variance = squares(0, [&](std::size_t m) { return f[m][0]; }) / base_dof;
    auto ratio_estimate = [&](std::size_t from, auto&& value) {
        const double reference = squares(from, [&](std::size_t m) { return f[m][0]; });
        const double own = squares(from, value);
        if (reference > 0) return base_variance * own / reference;
        return own / (static_cast<double>(levels - from) * static_cast<double>(n - 1));
    };
    for (std::size_t j = 0; j < levels; ++j)
        stats.level_variance[j] = ratio_estimate(j, [&](std::size_t m) { return f[m][j]; });
    stats.bias.assign(levels, 0.0);
    stats.bias_standard_error.assign(levels, 0.0);
    for (std::size_t l = 1; l < levels; ++l)
        for (std::size_t j = 0; j < l; ++j) {
            const auto jj = static_cast<Index>(j), ll = static_cast<Index>(l);
            auto difference = [&](std::size_t m) -> Vector<double> { return f[m][l] - f[m][j]; };
            stats.difference_variance(jj, ll) = ratio_estimate(l, difference);
            double cov = 0, vf = 0, vc = 0;
            for (std::size_t m = l; m < levels; ++m) {
                const Vector<double> a = f[m][l].array() - f[m][l].mean();
                const Vector<double> b = f[m][j].array() - f[m][j].mean();
                cov += a.dot(b), vf += a.squaredNorm(), vc += b.squaredNorm();
            }
            stats.correlation(jj, ll) = vf > 0 && vc > 0 ? cov / std::sqrt(vf * vc) : 0.0;
        }
    // The bias of stopping at level j: the mean gap f_L - f_j on stream L at a network fitted
    // to G_L (the pilot network fine-tuned on stream L). Near q = p_L the gap is
    // H(p_L) - CE(p_j, p_L): zero for an exact level, minus many nats for a level off the top
    // level's support. At the pooled pilot network, which covers both levels, it cancels: a
    // level shifted by six noise widths measured -0.16 nats there. A cancellation-free
    // Jeffreys form (the gap at a network fitted to G_j minus the gap at one fitted to G_L)
    // was tried: with 8 to 14 top-level pilot samples its standard error was as large as the
    // bias (0.38 +- 0.42 nats on a nearly exact cheap level), and it never truncated.
    // Measuring the gap on the samples the network was tuned on (PilotBias::in_sample) makes
    // f_L small there, so an exact level looks biased; cross-fitting measures each half at a
    // network tuned on the other half, early-stopped on the measured half (without stopping,
    // a tuning on six samples gave gaps of -1358 +- 1352 nats on a nearly exact level).
    {
        TrainingOptions tune = options.training;
        tune.label = options.training.label + "-top";
        std::vector<Vector<double>> gaps(levels - 1, Vector<double>(n));
        // Fine-tunes a copy of the pilot network on stream L's columns `fit` (early-stopped on
        // `measure` when they differ) and writes the gap of every level j < L at `measure`.
        auto measure_gaps = [&](const std::vector<Index>& fit, const std::vector<Index>& measure,
                                bool stop_on_measured) {
            Estimator q_top = estimator;
            const Matrix<double> theta_fit = top.theta(Eigen::all, fit);
            const Matrix<double> x_fit = top.x.back()(Eigen::all, fit);
            losses::McLoss<Estimator> fit_loss(q_top, theta_fit, x_fit, task, options.loss);
            const Matrix<double> theta_at = top.theta(Eigen::all, measure);
            const Matrix<double> x_at = top.x.back()(Eigen::all, measure);
            losses::McLoss<Estimator> fine(q_top, theta_at, x_at, task, options.loss);
            if (!stop_on_measured) {
                (void)train(q_top, fit_loss, tune);
            } else {  // a few samples overfit fast
                TrainingOptions stopped = tune;
                stopped.early_stopping = true;
                (void)train(q_top, fit_loss, &fine, stopped);
            }
            const Vector<double> f_top = fine.per_sample_losses(q_top);
            for (std::size_t j = 0; j + 1 < levels; ++j) {
                const Matrix<double> x_coarse = top.x[j](Eigen::all, measure);
                losses::McLoss<Estimator> coarse(q_top, theta_at, x_coarse, task, options.loss);
                const Vector<double> gap = f_top - coarse.per_sample_losses(q_top);
                for (std::size_t i = 0; i < measure.size(); ++i)
                    gaps[j](measure[i]) = gap(Index(i));
            }
        };
        std::vector<Index> all(static_cast<std::size_t>(n));
        for (Index i = 0; i < n; ++i) all[std::size_t(i)] = i;
        if (options.bias == PilotBias::in_sample) {
            measure_gaps(all, all, false);
        } else {
            const std::vector<Index> first(all.begin(), all.begin() + n / 2);
            const std::vector<Index> second(all.begin() + n / 2, all.end());
            measure_gaps(second, first, true);
            measure_gaps(first, second, true);
        }
        for (std::size_t j = 0; j + 1 < levels; ++j) {
            const Vector<double>& gap = gaps[j];
            stats.bias[j] = gap.mean();
            stats.bias_standard_error[j] = std::sqrt((gap.array() - gap.mean()).square().sum() /
                                                     static_cast<double>((n - 1) * n));
        }
    }
    return pilot;
}

/// The cost of what `plan` adds to the pilot: sum over kept levels of max(0, n - n_pilot) c
/// (the pilot's columns are reused).
[[nodiscard]] inline double added_cost(const Plan& plan, const Pilot& pilot) {
    double cost = 0;
    for (const auto& l : plan.levels)
        cost +=
            static_cast<double>(std::max<Index>(0, l.samples - pilot.samples_per_level)) * l.cost;
    return cost;
}

namespace detail {

// The simulator level of kept level i + 1, or L + 1 after the last kept level: the pilot streams
// k_i + 1 .. that - 1 belong to dropped levels and join kept level i.
[[nodiscard]] inline std::size_t next_kept_level(const Plan& plan, const Pilot& pilot,
                                                 std::size_t i) {
    return i + 1 < plan.levels.size() ? plan.levels[i + 1].level : pilot.level_count();
}

}  // namespace detail

/// The pilot columns that generate_planned_dataset adds to kept level i from the streams of the
/// levels the plan drops above it (see the file comment).
[[nodiscard]] inline Index reused_dropped_columns(const Plan& plan, const Pilot& pilot,
                                                  std::size_t i) {
    return static_cast<Index>(detail::next_kept_level(plan, pilot, i) - plan.levels[i].level - 1) *
           pilot.samples_per_level;
}

/// Generates the dataset a plan asks for: one dataset level per kept level (level i pairs G_{k_i}
/// with G_{k_{i-1}}; a plain-MC plan gives one level of G_L), n_i = max(plan n_i, n_pilot)
/// samples, the first n_pilot copied from the pilot and the rest simulated, then the pilot
/// streams of dropped levels (see the file comment). Reports count the new simulations only;
/// `requested` and `kept` are the totals.
/// \throws std::invalid_argument starting with "generate_planned_dataset:" if the plan names a
///         level the pilot lacks; simulators::SimulationError as generate_multilevel_dataset.
template <simulators::MultilevelModel Multilevel, distributions::Prior P>
[[nodiscard]] simulators::MultilevelDataset generate_planned_dataset(
    const Multilevel& model, const P& prior, const Pilot& pilot, const Plan& plan,
    const simulators::DatasetOptions& options = {}) {
    const char* caller = "generate_planned_dataset";
    options.validate();
    require(!plan.levels.empty(), caller, ": the plan keeps no level");
    require(pilot.level_count() == Multilevel::levels, caller, ": the pilot has ",
            pilot.level_count(), " levels but the simulator has ", Multilevel::levels);
    const Index d = model.output_dim(0);
    const Index n_pilot = pilot.samples_per_level;
    simulators::MultilevelDataset dataset;
    dataset.reports.resize(plan.levels.size());
    for (std::size_t i = 0; i < plan.levels.size(); ++i) {
        const PlanLevel& planned = plan.levels[i];
        const std::size_t fine_level = planned.level;
        require(fine_level < pilot.level_count(), caller, ": the plan keeps level ", fine_level,
                " but the pilot has levels 0..", pilot.level_count() - 1);
        const bool paired = i > 0;
        const std::size_t coarse_level = paired ? plan.levels[i - 1].level : 0;
        const PilotStream& stream = pilot.streams[fine_level];
        const Index n = std::max(planned.samples, n_pilot);
        simulators::LevelData level;
        level.theta.resize(stream.theta.rows(), n);
        level.x_fine.resize(d, n);
        if (paired) level.x_coarse.resize(d, n);
        level.theta.leftCols(n_pilot) = stream.theta;
        level.x_fine.leftCols(n_pilot) = stream.x[fine_level];
        if (paired) level.x_coarse.leftCols(n_pilot) = stream.x[coarse_level];
        level.seeds = stream.seeds;
        simulators::LevelReport& report = dataset.reports[i];
        if (n > n_pilot) {
            auto fine = [&](const ConstVectorRef<double>& theta, std::uint64_t s,
                            VectorRef<double> x) { model.simulate(fine_level, theta, s, x); };
            auto coarse = [&](const ConstVectorRef<double>& theta, std::uint64_t s,
                              VectorRef<double> x) { model.simulate(coarse_level, theta, s, x); };
            simulators::LevelData extra = simulators::detail::generate_level(
                caller, i, static_cast<std::uint64_t>(fine_level), n - n_pilot, d, paired,
                pilot.seed, prior, options.non_finite, options.threads, fine, coarse, report,
                n_pilot);
            const Index added = extra.size();  // fewer than n - n_pilot if some were dropped
            level.theta.conservativeResize(Eigen::NoChange, n_pilot + added);
            level.x_fine.conservativeResize(Eigen::NoChange, n_pilot + added);
            level.theta.rightCols(added) = extra.theta;
            level.x_fine.rightCols(added) = extra.x_fine;
            if (paired) {
                level.x_coarse.conservativeResize(Eigen::NoChange, n_pilot + added);
                level.x_coarse.rightCols(added) = extra.x_coarse;
            }
            level.seeds.insert(level.seeds.end(), extra.seeds.begin(), extra.seeds.end());
        }
        // The streams of dropped levels m, k_i < m < k_{i+1} (or m > k_i for the last kept level).
        for (std::size_t m = fine_level + 1; m < detail::next_kept_level(plan, pilot, i); ++m) {
            const PilotStream& extra = pilot.streams[m];
            const Index at = level.size();
            level.theta.conservativeResize(Eigen::NoChange, at + n_pilot);
            level.x_fine.conservativeResize(Eigen::NoChange, at + n_pilot);
            level.theta.rightCols(n_pilot) = extra.theta;
            level.x_fine.rightCols(n_pilot) = extra.x[fine_level];
            if (paired) {
                level.x_coarse.conservativeResize(Eigen::NoChange, at + n_pilot);
                level.x_coarse.rightCols(n_pilot) = extra.x[coarse_level];
            }
            level.seeds.insert(level.seeds.end(), extra.seeds.begin(), extra.seeds.end());
        }
        report.requested = n;
        report.kept = level.size();
        dataset.levels.push_back(std::move(level));
    }
    return dataset;
}

/// Options of plan_and_generate.
struct PlanningOptions {
    PilotOptions pilot{};
    AllocationOptions allocation{};
    simulators::DatasetOptions generation{};  ///< of the simulations added after the pilot

    /// \throws std::invalid_argument naming the field.
    void validate() const {
        pilot.validate();
        allocation.validate();
        generation.validate();
    }
};

/// What plan_and_generate did.
struct PlannedDataset {
    Pilot pilot;
    /// The plan; its samples are the dataset's (at least n_pilot per kept level), and
    /// mc_samples, mc_variance and variance_reduction compare with plain MC on the top level
    /// spending the whole budget (no pilot), the honest reference.
    Plan plan;
    simulators::MultilevelDataset dataset;  ///< one level per kept level; one level for plain MC
    double spent = 0;  ///< pilot cost + added cost, in the cost units (<= the budget)
};

/// Pilot -> plan -> dataset for a total simulation budget B that includes the pilot: plans with
/// B minus the pilot simulations the plan cannot reuse (levels it drops, couplings it does not
/// use), lowering the planning budget until pilot + added cost <= B, then generates the dataset.
/// A planned n_l below n_pilot is raised to n_pilot (those simulations are already paid for).
/// Train on the result with train_mlmc (plan.multilevel()) or train_mc on dataset.levels[0].
/// \throws std::invalid_argument starting with "plan_and_generate:" when the budget does not
///         cover the pilot plus min_samples top-level runs; as run_pilot and plan_allocation.
template <simulators::MultilevelModel Multilevel, distributions::Prior P,
          losses::TrainableEstimator Estimator>
[[nodiscard]] PlannedDataset plan_and_generate(const Multilevel& model, const P& prior,
                                               const Estimator& estimator, losses::Task task,
                                               double budget, const PlanningOptions& options = {}) {
    const char* caller = "plan_and_generate";
    options.validate();
    require(std::isfinite(budget) && budget > 0, caller, ": budget must be positive, got ", budget);
    PlannedDataset out;
    out.pilot = run_pilot(model, prior, estimator, task, options.pilot);
    const Pilot& pilot = out.pilot;
    require(pilot.total_cost < budget, caller, ": the pilot alone cost ", pilot.total_cost,
            " of the budget ", budget, " (", pilot.samples_per_level,
            " samples per level); raise the budget or lower PilotOptions::samples_per_level");
    // Reused pilot cost of a plan: the min(n, n_pilot) columns of each kept level.
    auto spent = [&](const Plan& plan) { return pilot.total_cost + added_cost(plan, pilot); };
    double planning_budget = budget;
    Plan plan;
    for (int iteration = 0;; ++iteration) {
        try {
            plan = plan_allocation(pilot.statistics, planning_budget, options.allocation);
        } catch (const std::invalid_argument& e) {
            throw std::invalid_argument(message(caller, ": after the pilot (cost ",
                                                pilot.total_cost, " of ", budget, "): ", e.what()));
        }
        const double over = spent(plan) - budget;
        if (over <= 0) break;
        require(iteration < 50, caller, ": could not fit the plan into the budget");
        planning_budget -= std::max(over, 1e-9 * budget);
    }
    // The dataset's n: at least the pilot's (already simulated); then the streams of dropped
    // levels join (their runs at the kept fidelities count as reused).
    double reused = 0;
    Index joined = 0;
    for (std::size_t i = 0; i < plan.levels.size(); ++i) {
        auto& l = plan.levels[i];
        const Index extra = reused_dropped_columns(plan, pilot, i);
        joined += extra;
        reused +=
            static_cast<double>(std::min(l.samples, pilot.samples_per_level) + extra) * l.cost;
        l.samples = std::max(l.samples, pilot.samples_per_level);
    }
    out.spent = spent(plan);
    out.dataset = generate_planned_dataset(model, prior, pilot, plan, options.generation);
    plan.predicted_variance = 0;
    plan.total_cost = 0;
    for (std::size_t i = 0; i < plan.levels.size(); ++i) {
        auto& l = plan.levels[i];
        l.samples = out.dataset.levels[i].size();  // what training gets, joined streams included
        plan.predicted_variance += l.variance / static_cast<double>(l.samples);
        plan.total_cost += static_cast<double>(l.samples) * l.cost;
    }
    // The honest reference: plain MC on the top level with the WHOLE budget and no pilot.
    const double top_cost = pilot.statistics.cost.back();
    plan.mc_samples = std::max<Index>(1, static_cast<Index>(std::floor(budget / top_cost)));
    plan.mc_variance =
        pilot.statistics.level_variance.back() / static_cast<double>(plan.mc_samples);
    plan.variance_reduction = plan.mc_variance / (plan.predicted_variance + plan.bias_squared);
    plan.reasons.push_back(message(
        "budget ", detail::format_number(budget), ": pilot ",
        detail::format_number(pilot.total_cost), " (", pilot.samples_per_level, " per level, ",
        detail::format_number(100 * reused / pilot.total_cost), "% reused in the dataset",
        joined > 0
            ? message(", ", joined, " samples of dropped levels' streams joined the kept levels")
            : std::string(),
        "), added ", detail::format_number(out.spent - pilot.total_cost), ", spent ",
        detail::format_number(out.spent), "; costs ",
        pilot.cost_source == CostSource::nominal ? "nominal" : "measured (wall seconds)"));
    plan.reasons.push_back(message(
        "dataset: n = ", detail::format_counts(plan.levels), ", predicted variance ",
        detail::format_number(plan.predicted_variance),
        plan.truncated()
            ? message(" + squared-bias bound ", detail::format_number(plan.bias_squared))
            : std::string(),
        " against plain MC on level ", pilot.level_count() - 1, " with the whole budget (n = ",
        plan.mc_samples, ", no pilot) ", detail::format_number(plan.mc_variance), ": ",
        detail::format_number(plan.variance_reduction), " x reduction"));
    out.plan = std::move(plan);
    return out;
}

}  // namespace mlsbi::training
