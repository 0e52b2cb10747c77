// SPDX-License-Identifier: MIT
// Three-level planning (README "Planning a multilevel budget"; docs/multilevel_planning.md): an
// SDE solved by Euler-Maruyama at 8, 64 and 512 steps, every level driven by the same Brownian
// path (BrownianPath: coarse increments are exact sums of fine ones), nominal cost = steps.
// Given a total simulation budget, a pilot measures the coupling at a briefly trained network,
// the allocator (Theorem 2 of Hikida et al. 2025) chooses the levels and n_l and says why, the
// planned dataset reuses the pilot's simulations, ML-NLE trains on it, and the coupling report
// shows what happened. As a check, plain NLE on the top level alone at the same budget is
// trained too and both are scored by their mean NLL on fresh top-level simulations.
//
//   three_level [--quick] [--budget B] [--seed S] [--csv FILE]
#include <cstdio>
#include <cstdlib>
#include <string>

#include "mlsbi/distributions/box_uniform.hpp"
#include "mlsbi/flows/conditional_estimator.hpp"
#include "mlsbi/flows/maf.hpp"
#include "mlsbi/rng/brownian.hpp"
#include "mlsbi/simulators/function_level.hpp"
#include "mlsbi/simulators/multilevel_dataset.hpp"
#include "mlsbi/simulators/multilevel_simulator.hpp"
#include "mlsbi/training.hpp"

using namespace mlsbi;
using Flow = flows::MaskedAutoregressiveFlow<float>;
using Estimator = flows::ConditionalEstimator<Flow>;

namespace {

// dX = theta_0 (1 - X) dt + theta_1 X dW on [0, 1], X(0) = 0.5 (a mean-reverting process with
// multiplicative noise); x = (X(1), time average of X). Level l uses 8 * 8^l Euler steps of the
// SAME Brownian path for the same seed: the coupling invariant.
template <Index level>
void euler(const ConstVectorRef<double>& theta, std::uint64_t seed, VectorRef<double> x) {
    const Matrix<double> dw = BrownianPath(seed, 1, 1.0, 8, 8).increments(level);
    const double dt = 1.0 / static_cast<double>(dw.cols());
    double state = 0.5, sum = 0;
    for (Index i = 0; i < dw.cols(); ++i) {
        state += theta(0) * (1.0 - state) * dt + theta(1) * state * dw(0, i);
        sum += state * dt;
    }
    x(0) = state;
    x(1) = sum;
}

Estimator make_estimator() {
    return Estimator(Flow::Options{.input_dim = 2, .context_dim = 2, .transforms = 3, .hidden = 32},
                     /*seed=*/7);
}

}  // namespace

int main(int argc, char** argv) {
    bool quick = false;
    double budget = 512.0 * 600;  // the cost of 600 top-level simulations
    std::uint64_t seed = 1;
    std::string csv = "three_level_coupling.csv";
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg == "--quick") {
            quick = true;
            budget = 512.0 * 200;
        } else if (arg == "--budget" && i + 1 < argc) {
            budget = std::atof(argv[++i]);
        } else if (arg == "--seed" && i + 1 < argc) {
            seed = std::strtoull(argv[++i], nullptr, 10);
        } else if (arg == "--csv" && i + 1 < argc) {
            csv = argv[++i];
        } else {
            std::fprintf(stderr,
                         "usage: three_level [--quick] [--budget B] [--seed S] [--csv FILE]\n");
            return 2;
        }
    }

    const auto simulator = simulators::MultilevelSimulator(
        simulators::make_level(2, euler<0>, /*cost=*/8.0),     // 8 steps
        simulators::make_level(2, euler<1>, /*cost=*/64.0),    // 64 steps
        simulators::make_level(2, euler<2>, /*cost=*/512.0));  // 512 steps: the one we trust
    const distributions::BoxUniform prior({0.5, 0.1}, {4.0, 1.0});

    // 1. Pilot -> plan -> dataset, within one budget (nominal costs: the Euler step counts).
    training::PlanningOptions planning;
    planning.pilot.samples_per_level = quick ? 32 : 64;
    planning.pilot.seed = seed;
    planning.pilot.training.max_epochs = quick ? 100 : 200;
    planning.pilot.training.adam.learning_rate = 3e-3;
    const auto planned = training::plan_and_generate(simulator, prior, make_estimator(),
                                                     losses::Task::nle, budget, planning);
    std::printf("plan for budget %g (pilot %s):\n%s\n", budget,
                training::to_string(planned.pilot.training.status),
                planned.plan.describe().c_str());

    // 2. Train on the planned dataset: ML-NLE with explicit options (held-out MLMC loss with
    //    early stopping, best weights restored), or plain NLE when the plan is plain MC.
    Estimator likelihood = make_estimator();
    training::GradientMonitor monitor;
    training::TrainingSummary summary;
    if (planned.plan.multilevel()) {
        training::MlmcTrainingOptions options;
        options.training.max_epochs = quick ? 150 : 1000;
        options.training.adam.learning_rate = 3e-3;
        options.training.early_stopping = true;
        options.training.patience = 50;
        options.training.progress = false;
        options.validation = training::MlmcValidation::held_out_mlmc;
        summary = training::train_mlmc(likelihood, planned.dataset, losses::Task::nle, options,
                                       monitor.callbacks());
    } else {
        training::BaselineOptions options;
        options.training_batch_size = 0;  // full batch, as measured
        options.training.adam.learning_rate = 3e-3;
        options.training.progress = false;
        const auto& top = planned.dataset.levels[0];
        summary = training::train_mc(likelihood, top.theta, top.x_fine, losses::Task::nle, options);
    }
    std::printf("training: %s, %d epochs\n\n", training::to_string(summary.status), summary.epochs);

    // 3. The coupling report at the trained network (costs: the nominal ones of the kept levels).
    if (planned.plan.multilevel()) {
        training::CouplingReportOptions report_options;
        for (const auto& level : planned.plan.levels)
            report_options.cost.push_back(planned.pilot.statistics.cost[level.level]);
        const auto report = training::coupling_report(likelihood, planned.dataset,
                                                      losses::Task::nle, &monitor, report_options);
        std::printf(
            "coupling report (dataset levels = simulator levels %s):\n%s\n",
            [&] {
                std::string s;
                for (const auto l : planned.plan.kept_levels()) {
                    if (!s.empty()) s += ", ";
                    s += std::to_string(l);
                }
                return s;
            }()
                .c_str(),
            report.table().c_str());
        report.write_csv(csv);
        std::printf("wrote %s\n", csv.c_str());
    }

    // 4. Check against plain NLE on the top level at the same budget: mean NLL on fresh
    //    top-level simulations (lower is better; a different seed stream from the training data).
    const auto n_mc = static_cast<Index>(budget / 512.0);
    const auto mc_data =
        simulators::generate_dataset(simulator.level<2>(), prior, n_mc, seed + 100);
    Estimator mc = make_estimator();
    training::BaselineOptions mc_options;
    mc_options.training_batch_size = 0;  // full batch, as measured
    mc_options.training.adam.learning_rate = 3e-3;
    mc_options.training.progress = false;
    const auto mc_summary =
        training::train_mc(mc, mc_data.theta, mc_data.x, losses::Task::nle, mc_options);
    const auto test =
        simulators::generate_dataset(simulator.level<2>(), prior, quick ? 1000 : 5000, seed + 200);
    losses::McLoss<Estimator> test_nll(likelihood, test.theta, test.x, losses::Task::nle);
    std::printf(
        "\nheld-out NLL on %ld fresh top-level simulations: planned %.4f, plain NLE on %ld "
        "top-level simulations %.4f (%s, %d epochs)\n",
        static_cast<long>(test.size()), test_nll.value(likelihood), static_cast<long>(n_mc),
        test_nll.value(mc), training::to_string(mc_summary.status), mc_summary.epochs);
    std::printf("spent %g of %g\n", planned.spent, budget);
    return summary.ok() && mc_summary.ok() ? 0 : 1;
}
