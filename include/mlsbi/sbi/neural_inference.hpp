// SPDX-License-Identifier: MIT
/// \file
/// \brief NeuralInference: the part of the NLE and NPE front ends that does not depend on the
/// task: holding the prior and the (multilevel) simulations, building the estimator with its
/// dimensions inferred from the data, and training it with the default recipe.
#pragma once

#include <cmath>
#include <concepts>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>
#include <vector>

#include "mlsbi/core/errors.hpp"
#include "mlsbi/distributions/prior.hpp"
#include "mlsbi/flows/conditional_estimator.hpp"
#include "mlsbi/losses/loss_terms.hpp"
#include "mlsbi/sbi/seeds.hpp"
#include "mlsbi/simulators/multilevel_dataset.hpp"
#include "mlsbi/simulators/multilevel_simulator.hpp"
#include "mlsbi/training/allocation.hpp"
#include "mlsbi/training/baselines.hpp"
#include "mlsbi/training/pilot.hpp"

namespace mlsbi::sbi {

/// A total simulation budget, pilot included, in the simulator's cost units: what
/// NeuralInference::simulate plans for instead of explicit sample sizes. A type of its own so that
/// `simulate(simulator, {500})` always means 500 samples of a one-level simulator, never a budget.
struct Budget {
    double cost = 0;  ///< > 0 and finite
};

/// Options of a front end (Nle, Npe). Every seed derives from `seed` unless overridden.
/// \tparam Density a flows::ConditionalDensity; its Options' input_dim and context_dim are
///         filled in from the data, the rest (architecture) is taken as given.
/// \tparam Embedding a flows::ContextEmbedding applied to the context (theta for NLE, x for
///         NPE, e.g. summary statistics of a long x); with one, the density's context_dim is the
///         embedding's output dimension and the embedding's input must match the data.
template <class Density, class Embedding = flows::NoEmbedding<typename Density::Scalar>>
struct Options {
    std::uint64_t seed = 0;                          ///< master seed
    typename Density::Options density{};             ///< architecture; the dimensions are inferred
    typename Embedding::Options embedding{};         ///< the context embedding (none by default)
    std::optional<std::uint64_t> network_seed{};     ///< overrides the initial weights' seed
    std::optional<std::uint64_t> simulation_seed{};  ///< overrides the simulations' seed
    std::optional<std::uint64_t> training_seed{};    ///< overrides split and shuffle seeds
    std::optional<std::uint64_t> sampling_seed{};    ///< overrides the posterior's default seed
    simulators::NonFinitePolicy non_finite = simulators::NonFinitePolicy::error;
    int threads = 0;  ///< simulation threads; 0 = OpenMP default

    /// The seeds this run uses.
    [[nodiscard]] Seeds seeds() const {
        return Seeds{seed, network_seed, simulation_seed, training_seed, sampling_seed};
    }
    /// \throws std::invalid_argument if threads < 0.
    void validate() const {
        require(threads >= 0, "sbi::Options: threads must be >= 0, got ", threads);
    }
};

/// Simulations, estimator and training shared by Nle and Npe (sbi's NeuralInference).
///
/// Data are multilevel by default: simulate(simulator, {n_0, ..., n_L}) runs a
/// simulators::MultilevelModel seed-matched at every level (Sec. 3 of Hikida et al. 2025) and
/// train() minimises the MLMC loss (Eq. (6)) with gradient adjustment (Algorithm 1) through
/// training::train_mlmc with its default options. One level is the special case: data with a
/// single level (a one-level simulator, or append_simulations(theta, x)) train through
/// training::train_mc, the standard early-stopped NLE/NPE recipe.
/// \tparam task losses::Task::nle (y = x, c = theta) or losses::Task::npe (y = theta, c = x).
/// \tparam Density a flows::ConditionalDensity.
/// \tparam P a distributions::Prior.
/// \tparam Embedding a flows::ContextEmbedding (see Options).
template <losses::Task task, class Density, distributions::Prior P,
          class Embedding = flows::NoEmbedding<typename Density::Scalar>>
class NeuralInference {
public:
    /// The estimator, tagged with its task: a flows::LikelihoodEstimator for NLE, a
    /// flows::PosteriorEstimator for NPE.
    using Estimator =
        flows::ConditionalEstimator<Density, Embedding,
                                    task == losses::Task::nle ? flows::EstimatorTask::likelihood
                                                              : flows::EstimatorTask::posterior>;
    using OptionsType = Options<Density, Embedding>;
    using PriorType = P;

    explicit NeuralInference(P prior, OptionsType options = {})
        : m_prior(std::move(prior)), m_options((options.validate(), std::move(options))) {
        require(m_prior.dim() >= 1, "NeuralInference: the prior has dimension ", m_prior.dim());
    }

    /// Simulates n_l seed-matched samples at every level l (theta ~ prior) and appends them to
    /// the data. Round r of simulate() uses derive_seed(simulation seed, r), so repeated calls
    /// add fresh samples. To let the planner choose n_0..n_L, give a budget instead (below).
    /// \throws std::invalid_argument on a level count that differs from the data's, or as
    ///         simulators::generate_multilevel_dataset; SimulationError from the simulator.
    template <simulators::MultilevelModel Simulator>
    NeuralInference& simulate(const Simulator& simulator, std::vector<Index> samples_per_level) {
        const std::uint64_t seed = derive_seed(m_options.seeds().simulation_seed(), m_rounds);
        append(simulators::generate_multilevel_dataset(
                   simulator, m_prior,
                   {.samples_per_level = std::move(samples_per_level),
                    .seed = seed,
                    .non_finite = m_options.non_finite,
                    .threads = m_options.threads}),
               "simulate");
        ++m_rounds;
        return *this;
    }

    /// Simulates for a total cost budget B, pilot included, in the simulator's cost units (the
    /// levels' nominal_cost() when every level declares one, else measured wall seconds):
    /// training::plan_and_generate runs a pilot at every level, plans n_l (Giles' rule, with its
    /// rules for dropping a level that does not pay), and the planned dataset becomes the data.
    /// The plan, with one line of reasons per decision, is in plan(). When it keeps one level
    /// the data are single-level and train() runs the MC recipe. The pilot's seed (which the
    /// dataset shares) derives from the simulation seed, and its estimator has this front end's
    /// architecture.
    /// \throws std::logic_error if there are data already (a plan is for a fresh run);
    ///         std::invalid_argument if planning.pilot.seed is set, or as
    ///         training::plan_and_generate.
    /// Budget is a template parameter only so that a braced list never selects this overload.
    template <simulators::MultilevelModel Simulator, std::same_as<Budget> B>
    NeuralInference& simulate(const Simulator& simulator, const B& budget,
                              training::PlanningOptions planning = {}) {
        require(std::isfinite(budget.cost) && budget.cost > 0,
                "NeuralInference::simulate: the budget must be positive and finite, got ",
                budget.cost);
        if (!m_data.levels.empty())
            throw std::logic_error(
                "NeuralInference::simulate(budget): there are simulations already; a budget "
                "plans a fresh run (give explicit samples_per_level to add more)");
        require(planning.pilot.seed == 0,
                "NeuralInference::simulate(budget): PlanningOptions::pilot.seed is set by the "
                "front end (from its simulation seed); override sbi::Options::simulation_seed "
                "instead");
        planning.pilot.seed = derive_seed(m_options.seeds().simulation_seed(), m_rounds);
        planning.generation.non_finite = m_options.non_finite;
        planning.generation.threads = m_options.threads;
        if (planning.pilot.threads == 0) planning.pilot.threads = m_options.threads;
        const Index theta_dim = m_prior.dim();
        const Index x_dim = simulator.output_dim(Simulator::levels - 1);
        const Estimator pilot_estimator = make_estimator(theta_dim, x_dim);
        training::PlannedDataset planned = training::plan_and_generate(
            simulator, m_prior, pilot_estimator, task, budget.cost, planning);
        append(planned.dataset, "simulate");
        m_plan = std::move(planned.plan);
        m_pilot = std::move(planned.pilot);
        m_spent = planned.spent;
        ++m_rounds;
        return *this;
    }

    /// The plan of simulate(simulator, budget). \throws std::logic_error if none was made.
    [[nodiscard]] const training::Plan& plan() const {
        if (!m_plan)
            throw std::logic_error(
                "NeuralInference::plan: no budget was planned (simulate with a budget)");
        return *m_plan;
    }

    /// The pilot of simulate(simulator, budget): its statistics (costs, variances, biases) and
    /// brief training. \throws std::logic_error if no budget was planned.
    [[nodiscard]] const training::Pilot& pilot() const {
        if (!m_pilot)
            throw std::logic_error(
                "NeuralInference::pilot: no budget was planned (simulate with a budget)");
        return *m_pilot;
    }

    /// What simulate(simulator, budget) spent, pilot included, in the cost units (<= the budget).
    /// \throws std::logic_error if no budget was planned.
    [[nodiscard]] double spent() const {
        (void)pilot();
        return m_spent;
    }

    /// Appends single-level simulations made elsewhere: theta p x n, x d x n (one per column).
    /// \throws std::invalid_argument on shapes, non-finite values, or existing multilevel data.
    NeuralInference& append_simulations(const ConstMatrixRef<double>& theta,
                                        const ConstMatrixRef<double>& x) {
        simulators::LevelData level;
        level.theta = theta;
        level.x_fine = x;
        std::vector<simulators::LevelData> levels;
        levels.push_back(std::move(level));
        return append_simulations(simulators::dataset_from_arrays(std::move(levels)));
    }

    /// Appends seed-matched multilevel data made elsewhere (e.g. simulators::dataset_from_arrays).
    /// \throws std::invalid_argument as simulators::validate_dataset, or on a level count or
    ///         dimension that differs from the data's.
    NeuralInference& append_simulations(const simulators::MultilevelDataset& data) {
        simulators::validate_dataset(data);
        append(data, "append_simulations");
        return *this;
    }

    /// Trains with the default recipe: training::train_mlmc with default options (only its seeds
    /// set from the master seed) on multilevel data, training::train_mc with default options on
    /// single-level data. Builds the estimator on first use, its dimensions taken from the data;
    /// later calls continue from the current weights (the z-scoring is refitted).
    /// \throws std::logic_error without data; std::invalid_argument as the recipes.
    const training::TrainingSummary& train() {
        if (level_count() == 1) {
            training::BaselineOptions options;
            options.split_seed = m_options.seeds().training_seed();
            return train_single_level(options);
        }
        training::MlmcTrainingOptions options;
        options.split_seed = m_options.seeds().training_seed();
        options.training.shuffle_seed = derive_seed(m_options.seeds().training_seed(), 1);
        return train(options);
    }

    /// ML training with explicit options (the seeds are used as given) and optional callbacks
    /// (e.g. training::GradientMonitor::callbacks() for the coupling report).
    /// \throws std::logic_error without multilevel data.
    const training::TrainingSummary& train(const training::MlmcTrainingOptions& options,
                                           const training::TrainingCallbacks& callbacks = {}) {
        if (level_count() < 2)
            throw std::logic_error(
                "NeuralInference::train: MlmcTrainingOptions need multilevel data (>= 2 levels)");
        Estimator& estimator = build_estimator();
        m_robust.reset();
        if (options.runs_robust_recipe()) {
            m_robust = training::train_mlmc_robust(estimator, m_data, task, options, callbacks);
            m_summary = training::kept_model_summary(*m_robust);
        } else {
            m_summary = training::train_mlmc(estimator, m_data, task, options, callbacks);
        }
        return *m_summary;
    }

    /// Single-level (MC) training on the highest-fidelity level alone, with explicit options
    /// (the other levels, if any, are ignored: the MC baseline of a multilevel run).
    /// \throws std::logic_error without data.
    const training::TrainingSummary& train_single_level(
        const training::BaselineOptions& options,
        const training::TrainingCallbacks& callbacks = {}) {
        Estimator& estimator = build_estimator();
        m_robust.reset();
        const simulators::LevelData& finest = m_data.levels.back();
        m_summary =
            training::train_mc(estimator, finest.theta, finest.x_fine, task, options, callbacks);
        return *m_summary;
    }

    /// Transfer learning (TL, Krouglova et al.): pretrains on the low-fidelity simulations
    /// (theta_low, x_low), then fine-tunes the same network on the highest level of the data,
    /// each phase an early-stopped baseline run (training::train_transfer). training_summary()
    /// is then the fine-tuning's.
    /// \throws std::logic_error without data; std::invalid_argument as train_transfer.
    training::TransferSummary train_transfer(const ConstMatrixRef<double>& theta_low,
                                             const ConstMatrixRef<double>& x_low,
                                             const training::TransferOptions& options = {},
                                             const training::TrainingCallbacks& callbacks = {}) {
        Estimator& estimator = build_estimator();
        m_robust.reset();
        const simulators::LevelData& finest = m_data.levels.back();
        training::TransferSummary out = training::train_transfer(
            estimator, theta_low, x_low, finest.theta, finest.x_fine, task, options, callbacks);
        m_summary = out.fine_tuning;
        return out;
    }

    [[nodiscard]] const P& prior() const { return m_prior; }
    [[nodiscard]] const OptionsType& options() const { return m_options; }
    /// All simulations so far (levels 0..L).
    [[nodiscard]] const simulators::MultilevelDataset& data() const { return m_data; }
    /// L + 1 (0 before any data).
    [[nodiscard]] std::size_t level_count() const { return m_data.levels.size(); }
    [[nodiscard]] bool trained() const { return m_summary.has_value(); }
    /// The summary of the last train(). \throws std::logic_error before training.
    [[nodiscard]] const training::TrainingSummary& training_summary() const {
        if (!m_summary) throw std::logic_error("NeuralInference::training_summary: not trained");
        return *m_summary;
    }
    /// What the robust recipe did in the last train(): every phase's summary, the held-out
    /// criterion of each candidate and the model it kept. Empty when the last training ran
    /// another recipe (the paper's, MC or TL) or before training.
    [[nodiscard]] const std::optional<training::RobustMlmcSummary>& robust_summary() const {
        return m_robust;
    }
    /// The estimator. \throws std::logic_error before it is built (by train()).
    [[nodiscard]] const Estimator& estimator() const {
        if (!m_estimator)
            throw std::logic_error("NeuralInference::estimator: not built yet (call train())");
        return *m_estimator;
    }

protected:
    /// A snapshot of the trained estimator for a posterior. \throws std::logic_error before
    /// training.
    [[nodiscard]] std::shared_ptr<const Estimator> snapshot(const char* who) const {
        if (!m_summary)
            throw std::logic_error(message(who, ": train() first (no trained estimator)"));
        return std::make_shared<const Estimator>(*m_estimator);
    }

private:
    void append(const simulators::MultilevelDataset& data, const char* who) {
        if (m_data.levels.empty()) {
            require(data.levels.front().theta.rows() == m_prior.dim(), "NeuralInference::", who,
                    ": theta has ", data.levels.front().theta.rows(),
                    " rows but the prior has dimension ", m_prior.dim());
            m_data = data;
            if (m_data.reports.size() != m_data.levels.size())
                m_data.reports.resize(m_data.levels.size());
            return;
        }
        require(data.levels.size() == m_data.levels.size(), "NeuralInference::", who, ": ",
                data.levels.size(), " levels, but the data so far have ", m_data.levels.size());
        for (std::size_t l = 0; l < data.levels.size(); ++l) {
            simulators::LevelData& mine = m_data.levels[l];
            const simulators::LevelData& more = data.levels[l];
            require(
                more.theta.rows() == mine.theta.rows() && more.x_fine.rows() == mine.x_fine.rows(),
                "NeuralInference::", who, ": level ", l, " has theta/x of dimension ",
                more.theta.rows(), "/", more.x_fine.rows(), ", the data so far ", mine.theta.rows(),
                "/", mine.x_fine.rows());
            append_columns(mine.theta, more.theta);
            append_columns(mine.x_fine, more.x_fine);
            if (l > 0) append_columns(mine.x_coarse, more.x_coarse);
            // Seeds stay meaningful only if every sample has one.
            if (!mine.seeds.empty() && !more.seeds.empty())
                mine.seeds.insert(mine.seeds.end(), more.seeds.begin(), more.seeds.end());
            else
                mine.seeds.clear();
            if (l < data.reports.size()) {
                simulators::LevelReport& report = m_data.reports[l];
                report.requested += data.reports[l].requested;
                report.kept += data.reports[l].kept;
                report.dropped += data.reports[l].dropped;
                report.simulations += data.reports[l].simulations;
                report.seconds += data.reports[l].seconds;
                report.seconds_per_simulation =
                    report.simulations > 0 ? report.seconds / double(report.simulations) : 0.0;
            }
        }
    }

    static void append_columns(Matrix<double>& into, const Matrix<double>& more) {
        const Index n = into.cols();
        into.conservativeResize(more.rows(), n + more.cols());
        into.rightCols(more.cols()) = more;
    }

    // The estimator with input/context dimensions from the data (NLE: y = x, c = theta; NPE:
    // y = theta, c = x), built once.
    Estimator& build_estimator() {
        if (m_data.levels.empty())
            throw std::logic_error(
                "NeuralInference::train: no simulations (call simulate or append_simulations)");
        if (!m_estimator)
            m_estimator = std::make_unique<Estimator>(make_estimator(
                m_data.levels.front().theta.rows(), m_data.levels.front().x_fine.rows()));
        return *m_estimator;
    }

    [[nodiscard]] Estimator make_estimator(Index theta_dim, Index x_dim) const {
        typename Density::Options density = m_options.density;
        density.input_dim = task == losses::Task::nle ? x_dim : theta_dim;
        const Index context = task == losses::Task::nle ? theta_dim : x_dim;
        if constexpr (std::is_same_v<Embedding, flows::NoEmbedding<typename Density::Scalar>>) {
            density.context_dim = context;
            return Estimator(density, m_options.seeds().network_seed());
        } else {
            ParameterLayout scratch;  // a probe, to read the embedding's dimensions
            const Embedding probe(scratch, m_options.embedding);
            require(probe.input_dim() == context, "NeuralInference: the embedding takes ",
                    probe.input_dim(), " inputs but ", task == losses::Task::nle ? "theta" : "x",
                    " has dimension ", context);
            density.context_dim = probe.output_dim();
            return Estimator(m_options.embedding, density, m_options.seeds().network_seed());
        }
    }

    P m_prior;
    OptionsType m_options;
    simulators::MultilevelDataset m_data;
    std::uint64_t m_rounds = 0;
    std::unique_ptr<Estimator> m_estimator;
    std::optional<training::TrainingSummary> m_summary;
    std::optional<training::RobustMlmcSummary> m_robust;
    std::optional<training::Plan> m_plan;
    std::optional<training::Pilot> m_pilot;
    double m_spent = 0;
};

}  // namespace mlsbi::sbi
