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
#include "mlsbi/flows/maf.hpp"
#include "mlsbi/rng/brownian.hpp"
#include "mlsbi/sbi.hpp"
#include "mlsbi/simulators/function_level.hpp"
#include "mlsbi/simulators/multilevel_simulator.hpp"
#include "mlsbi/training.hpp"

using namespace mlsbi;
using Flow = flows::MaskedAutoregressiveFlow<float>;

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
    const sbi::Options<Flow> architecture{.seed = seed, .density = {.transforms = 3, .hidden = 32}};

    // 1. Pilot -> plan -> dataset, within one budget (nominal costs: the Euler step counts).
    training::PlanningOptions planning;
    planning.pilot.samples_per_level = quick ? 32 : 64;
    planning.pilot.training.max_epochs = quick ? 100 : 200;
    planning.pilot.training.adam.learning_rate = 3e-3;
    auto nle = sbi::make_nle(prior, architecture);
    nle.simulate(simulator, sbi::Budget{budget}, planning);
    std::printf("plan for budget %g (pilot %s):\n%s\n", budget,
                training::to_string(nle.pilot().training.status), nle.plan().describe().c_str());

    // 2. Train on the planned dataset: ML-NLE with explicit options (held-out MLMC loss with
    //    early stopping, best weights restored), or plain NLE when the plan is plain MC.
    training::GradientMonitor monitor;
    training::BaselineOptions mc_options;
    mc_options.training_batch_size = 0;  // full batch, as measured
    mc_options.training.adam.learning_rate = 3e-3;
    mc_options.training.progress = false;
    if (nle.plan().multilevel()) {
        training::MlmcTrainingOptions options;
        options.training.max_epochs = quick ? 150 : 1000;
        options.training.adam.learning_rate = 3e-3;
        options.training.early_stopping = true;
        options.training.patience = 50;
        options.training.progress = false;
        options.validation = training::MlmcValidation::held_out_mlmc;
        nle.train(options, monitor.callbacks());
    } else {
        nle.train_single_level(mc_options);
    }
    const training::TrainingSummary& summary = nle.training_summary();
    std::printf("training: %s, %d epochs\n\n", training::to_string(summary.status), summary.epochs);

    // 3. The coupling report at the trained network (costs: the nominal ones of the kept levels).
    if (nle.plan().multilevel()) {
        training::CouplingReportOptions report_options;
        std::string kept;
        for (const auto& level : nle.plan().levels) {
            report_options.cost.push_back(nle.pilot().statistics.cost[level.level]);
            kept += (kept.empty() ? "" : ", ") + std::to_string(level.level);
        }
        const auto report = training::coupling_report(nle.estimator(), nle.data(),
                                                      losses::Task::nle, &monitor, report_options);
        std::printf("coupling report (dataset levels = simulator levels %s):\n%s\n", kept.c_str(),
                    report.table().c_str());
        report.write_csv(csv);
        std::printf("wrote %s\n", csv.c_str());
    }

    // 4. Check against plain NLE on the top level at the same budget: mean NLL on fresh
    //    top-level simulations (lower is better; a different seed stream from the training data).
    const auto n_mc = static_cast<Index>(budget / 512.0);
    const auto top_only = simulators::MultilevelSimulator(simulators::make_level(2, euler<2>, 512.0));
    sbi::Options<Flow> mc_architecture = architecture;
    mc_architecture.simulation_seed = seed + 100;  // its own simulations, not the pilot's
    auto mc = sbi::make_nle(prior, mc_architecture);
    mc.simulate(top_only, {n_mc});
    const auto& mc_summary = mc.train_single_level(mc_options);
    const auto test =
        simulators::generate_dataset(simulator.level<2>(), prior, quick ? 1000 : 5000, seed + 200);
    losses::McLoss test_nll(nle.estimator(), test.theta, test.x, losses::Task::nle);
    std::printf(
        "\nheld-out NLL on %ld fresh top-level simulations: planned %.4f, plain NLE on %ld "
        "top-level simulations %.4f (%s, %d epochs)\n",
        static_cast<long>(test.size()), test_nll.value(nle.estimator()), static_cast<long>(n_mc),
        test_nll.value(mc.estimator()), training::to_string(mc_summary.status), mc_summary.epochs);
    std::printf("spent %g of %g\n", nle.spent(), budget);
    return summary.ok() && mc_summary.ok() ? 0 : 1;
}
