// SPDX-License-Identifier: MIT
// Exact-answer scoreboard: does multilevel training with the library's DEFAULT recipe beat plain
// training at equal simulation cost? Eight problems with exact likelihoods or posteriors
// (examples/scoreboard_problems.hpp: linear-Gaussian NPE, OU-by-Euler NLE with three levels,
// g-and-k NLE, Student-t NPE; each well and poorly coupled; cost ratios 4x to 100x). Every method
// runs through the front ends (sbi::Nle or sbi::Npe, chosen by the problem's task): a fresh front
// end per (problem, method, seed), the same initial weights for every method of a seed. At the
// same budget B (= budget_top simulations of the top level):
//   ml        simulate(levels, {n_0, ..., n_L}) then train() with the default recipe (robust),
//             n_0 = s B / c_0 and n_l = (1 - s) B / (L (c_l + c_{l-1})) seed-matched pairs per
//             level l >= 1 (s = --level0-share, default 0.3: a fixed split, not the allocator's);
//   mc_top    plain MC (train_single_level) on B / c_L top-level simulations;
//   mc_cheap  plain MC on B / c_0 cheapest-level simulations;
//   tl        transfer learning (train_transfer): 40% of B on the cheapest level, 60% on the top;
//   ml_plan   the allocator's plan: simulate(levels, sbi::Budget{B}) (pilot of n_pilot per
//             stream, about 15% of B (--pilot-share), reused; its brief training early-stopped,
//             at most --pilot-epochs, the library's 200 by default), then the default recipe on the
//             kept levels, or plain MC when the plan keeps one level (the top one, or a cheaper one
//             whose measured bias is small: AllocationOptions::allow_truncation);
// and, with --ablation, the recipe's parts switched off one at a time (on the same data as ml or
// ml_plan). Metric: expected KL to the
// exact answer, NLE E_theta KL(p(x | theta) || q(x | theta)), NPE E_x KL(p(theta | x) || q(theta
// | x)), by Monte Carlo over exact draws (the same test draws for every method). Reported:
// median and IQR over seeds, a paired bootstrap 90% interval of median(ml) - median(best of
// mc_top, mc_cheap), and the acceptance rule (ml no worse than that beyond seed noise; on the
// well-coupled problems ml at least 1.3x better than mc_top). Writes a per-run CSV, a summary CSV
// and (with gnuplot) a PNG.
//
//   scoreboard [--quick] [--seeds 5] [--budget 100] [--level0-share 0.3] [--ablation]
//              [--methods abl_es,abl_paper] [--only name] [--out prefix]
//              [--pilot-share 0.15] [--pilot-epochs 200] [--pilot-fixed] [--plan-reasons]
//              [--no-align]
// --no-align: ML training without the level alignment (MlmcTrainingOptions::align_levels), the
// default before the fifth round of docs/robust_training.md.
// --pilot-fixed: the pilot trains for exactly --pilot-epochs, without early stopping (as before
// PilotOptions::early_stopping; the earlier scoreboards ran --pilot-fixed --pilot-epochs 50).
// The plan chosen per problem and seed goes to <prefix>_plans.csv.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "corner_plot.hpp"
#include "mlsbi/flows/mixture_density_network.hpp"
#include "mlsbi/sbi.hpp"
#include "mlsbi/training.hpp"
#include "scoreboard_problems.hpp"

using namespace mlsbi;
using examples::ScoreboardProblem;

namespace {

using Density = flows::MixtureDensityNetwork<float>;

// Levels first_level .. first_level + Levels - 1 of a ScoreboardProblem as a
// simulators::MultilevelModel (nominal costs): all of them for ML, one for plain MC.
template <std::size_t Levels>
struct ProblemModel {
    static constexpr std::size_t levels = Levels;
    const ScoreboardProblem* problem;
    int first_level = 0;
    [[nodiscard]] Index output_dim(std::size_t) const { return problem->x_dim; }
    void simulate(std::size_t level, const ConstVectorRef<double>& theta, std::uint64_t seed,
                  VectorRef<double> x) const {
        problem->simulate(first_level + static_cast<int>(level), theta, seed, x);
    }
    [[nodiscard]] std::optional<double> nominal_cost(std::size_t level) const {
        return problem->cost[std::size_t(first_level) + level];
    }
};

struct ProblemPrior {
    const ScoreboardProblem* problem;
    [[nodiscard]] Index dim() const { return problem->theta_dim; }
    void sample(RandomStream& rng, VectorRef<double> theta) const { problem->prior(rng, theta); }
    // Not used by simulation or planning.
    [[nodiscard]] double log_density(const ConstVectorRef<double>&) const { return 0; }
    [[nodiscard]] bool in_support(const ConstVectorRef<double>&) const { return true; }
};

// The front end of the problem's task; the scoreboard picks NLE or NPE per problem at run time.
using NleFront = sbi::Nle<Density, ProblemPrior>;
using NpeFront = sbi::Npe<Density, ProblemPrior>;

// f(ProblemModel<levels>{&p}) for the problem's level count (2 or 3: a compile-time constant of
// the model).
template <class F>
decltype(auto) with_all_levels(const ScoreboardProblem& p, F&& f) {
    require(p.levels() == 2 || p.levels() == 3, "scoreboard: ", p.name, " has ", p.levels(),
            " levels (2 or 3 supported)");
    if (p.levels() == 2) return f(ProblemModel<2>{&p});
    return f(ProblemModel<3>{&p});
}

// n plain simulations (theta ~ prior) of one level, for TL's low-fidelity data and the test set.
simulators::LevelData simulate_level(const ScoreboardProblem& p, int level, Index n,
                                     std::uint64_t seed) {
    auto data = simulators::generate_multilevel_dataset(
        ProblemModel<1>{&p, level}, ProblemPrior{&p},
        {.samples_per_level = {n}, .seed = seed, .threads = 1});
    return std::move(data.levels.front());
}

// What the allocator chose for one (problem, seed).
struct PlanRecord {
    std::string problem;
    int seed = 0;
    Index pilot_samples = 0;
    double pilot_cost = 0, spent = 0, budget = 0, variance_reduction = 1;
    std::vector<std::size_t> levels;
    std::vector<Index> samples;
};

struct Config {
    int seeds = 5;
    Index budget_top = 100;  ///< B in units of top-level simulations
    Index test_points = 100;
    Index draws = 100;  ///< exact draws per test point
    int ml_epochs = 1000;
    int mc_epochs = 2000;
    int patience = 30;
    double learning_rate = 3e-3;
    double level0_share = 0.3;  ///< of the budget, to level 0 in the ML data (the rest split
                                ///< equally over the correction levels)
    bool ablation = false;
    bool plan_reasons = false;  ///< print the allocator's reasons for every plan
    double pilot_share = 0.15;  ///< of the budget, to the pilot (at least 8 per stream)
    /// The pilot's brief training: 0 keeps PilotOptions' default (at most 200 epochs, early
    /// stopped on a held-out fifth of the pilot). Without early stopping (--pilot-fixed) a pilot
    /// of 8 to 14 samples per stream overfits in 200 full-batch epochs and its correction
    /// variances blow up (plain MC was then chosen on 4 of 5 linear_gaussian_well seeds at 200
    /// epochs, on none at 50).
    int pilot_epochs = 0;
    bool pilot_early_stopping = true;
    bool align_levels = true;  // --no-align turns MlmcTrainingOptions::align_levels off
    training::PilotBias pilot_bias = training::PilotBias::cross_fitted;
    /// RobustMlmcOptions::patience_fraction (negative: the library's default).
    double patience_fraction = -1;
    std::string only;
    std::string methods;  ///< comma-separated names to run (empty: all); the main five always
    std::string out = "scoreboard";
};

Config parse(int argc, char** argv) {
    Config c;
    auto next = [&](int& i) -> std::string {
        if (i + 1 >= argc) throw std::invalid_argument(message(argv[i], " needs a value"));
        return argv[++i];
    };
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--quick") {  // CI size
            c.seeds = 2, c.budget_top = 40, c.test_points = 20, c.draws = 20;
            c.ml_epochs = 80, c.mc_epochs = 80, c.patience = 10;
        } else if (a == "--seeds") {
            c.seeds = std::stoi(next(i));
        } else if (a == "--budget") {
            c.budget_top = std::stol(next(i));
        } else if (a == "--level0-share") {
            c.level0_share = std::stod(next(i));
        } else if (a == "--pilot-share") {
            c.pilot_share = std::stod(next(i));
        } else if (a == "--pilot-epochs") {
            c.pilot_epochs = std::stoi(next(i));
        } else if (a == "--pilot-bias") {
            const std::string v = next(i);
            require(v == "in_sample" || v == "cross_fitted",
                    "--pilot-bias: in_sample or cross_fitted, got ", v);
            c.pilot_bias = v == "in_sample" ? training::PilotBias::in_sample
                                            : training::PilotBias::cross_fitted;
        } else if (a == "--patience-fraction") {
            c.patience_fraction = std::stod(next(i));
        } else if (a == "--pilot-fixed") {
            c.pilot_early_stopping = false;
        } else if (a == "--no-align") {
            c.align_levels = false;
        } else if (a == "--plan-reasons") {
            c.plan_reasons = true;
        } else if (a == "--ablation") {
            c.ablation = true;
        } else if (a == "--methods") {
            c.methods = next(i);
        } else if (a == "--only") {
            c.only = next(i);
        } else if (a == "--out") {
            c.out = next(i);
        } else {
            throw std::invalid_argument(message("unknown argument '", a, "' (see the header)"));
        }
    }
    require(c.seeds >= 1 && c.budget_top >= 10, "scoreboard: bad configuration");
    return c;
}

// Exact test draws: y (modelled variable) and c (context) columns with log p of each.
struct TestSet {
    Matrix<float> y, c;
    Vector<double> log_p;
};

TestSet make_test_set(const ScoreboardProblem& p, const Config& config) {
    const Index t_count = config.test_points, m = config.draws;
    const int top = p.levels() - 1;
    const auto points = simulate_level(p, top, t_count, 424242);
    const bool nle = p.task == losses::Task::nle;
    TestSet s;
    s.y.resize(nle ? p.x_dim : p.theta_dim, t_count * m);
    s.c.resize(nle ? p.theta_dim : p.x_dim, t_count * m);
    s.log_p.resize(t_count * m);
    for (Index t = 0; t < t_count; ++t) {
        RandomStream rng(derive_seed(777, static_cast<std::uint64_t>(t)));
        if (nle) {
            Vector<double> x(p.x_dim);
            for (Index j = 0; j < m; ++j) {
                const Index k = t * m + j;
                p.simulate(top, points.theta.col(t),
                           derive_seed(555, static_cast<std::uint64_t>(k)), x);
                s.y.col(k) = x.cast<float>();
                s.c.col(k) = points.theta.col(t).cast<float>();
                s.log_p(k) = p.log_likelihood(x, points.theta.col(t));
            }
        } else {
            Matrix<double> draws(p.theta_dim, m);
            Vector<double> log_density(m);
            p.posterior(points.x_fine.col(t), rng, draws, log_density);
            s.y.middleCols(t * m, m) = draws.cast<float>();
            s.c.middleCols(t * m, m) = points.x_fine.col(t).cast<float>().replicate(1, m);
            s.log_p.segment(t * m, m) = log_density;
        }
    }
    return s;
}

template <class Estimator>
double expected_kl(const Estimator& q, const TestSet& s) {
    const Vector<double> log_q = q.log_prob(s.y, s.c).template cast<double>();
    return (s.log_p - log_q).mean();
}

// The front-end options of one (method, seed): its own simulations (tag), the same initial
// weights for every method of a seed, one thread.
template <class Front>
typename Front::OptionsType front_options(int seed, std::uint64_t tag) {
    typename Front::OptionsType o{.seed = derive_seed(static_cast<std::uint64_t>(seed), tag),
                                  .density = {.components = 3, .hidden = {32, 32}},
                                  .network_seed = static_cast<std::uint64_t>(seed) * 31};
    o.threads = 1;
    return o;
}

// "status/kept model" of the robust recipe, the status alone otherwise.
template <class Front>
std::string outcome(const Front& front) {
    std::string s = training::to_string(front.training_summary().status);
    if (front.robust_summary()) {
        s += message("/", training::to_string(front.robust_summary()->choice));
        for (double beta : front.robust_summary()->control_variate_weights)
            s += message("/beta=", beta);
    }
    return s;
}

// A method: simulates into a fresh front end of either task and trains it; returns the outcome.
struct Method {
    std::string name;
    std::function<std::string(const ScoreboardProblem&, int seed, NleFront&)> nle;
    std::function<std::string(const ScoreboardProblem&, int seed, NpeFront&)> npe;
    std::uint64_t tag = 0;  ///< the simulation seed's tag
};

template <class F>
Method make_method(std::string name, std::uint64_t tag, F f) {
    return Method{std::move(name), f, f, tag};
}

struct Run {
    std::string problem, method;
    int seed = 0;
    double kl = 0, seconds = 0;
    std::string status;
};

double quantile(std::vector<double> v, double q) {
    std::sort(v.begin(), v.end());
    const double pos = q * double(v.size() - 1);
    const auto i = static_cast<std::size_t>(pos);
    const double frac = pos - double(i);
    return i + 1 < v.size() ? v[i] * (1 - frac) + v[i + 1] * frac : v[i];
}

}  // namespace

int main(int argc, char** argv) {
    const Config config = parse(argc, argv);
    const auto start = std::chrono::steady_clock::now();
    training::TrainingOptions common;
    common.adam.learning_rate = config.learning_rate;
    common.progress = false;
    common.patience = config.patience;
    const losses::LossOptions loss_options{.threads = 1};
    auto budget_of = [&](const ScoreboardProblem& p) {
        return double(config.budget_top) * p.cost.back();
    };

    std::vector<Method> methods;
    // n_0 = s B / c_0 and n_l = (1 - s) B / (L (c_l + c_{l-1})): a fixed split.
    auto fixed_split = [&](const ScoreboardProblem& p) {
        const int levels = p.levels();
        std::vector<Index> n;
        for (int l = 0; l < levels; ++l) {
            const double c =
                l == 0 ? p.cost[0] : p.cost[std::size_t(l)] + p.cost[std::size_t(l - 1)];
            const double share =
                l == 0 ? config.level0_share : (1 - config.level0_share) / double(levels - 1);
            n.push_back(std::max<Index>(10, static_cast<Index>(share * budget_of(p) / c)));
        }
        return n;
    };
    auto ml_options = [&](training::MlmcTrainingOptions options, bool common_adam) {
        if (common_adam) options.training.adam = common.adam;
        options.training.progress = false;
        options.training.max_epochs = config.ml_epochs;
        options.loss = loss_options;
        options.robust.patience = config.patience;
        options.robust.pretraining_epochs = config.mc_epochs;
        if (!config.align_levels) options.align_levels = false;
        if (config.patience_fraction >= 0)
            options.robust.patience_fraction = config.patience_fraction;
        return options;
    };
    auto ml_method = [&](std::string name, training::MlmcTrainingOptions options,
                         bool common_adam = true) {
        options = ml_options(options, common_adam);
        return make_method(std::move(name), 1, [=](const ScoreboardProblem& p, int, auto& front) {
            with_all_levels(p, [&](auto model) { front.simulate(model, fixed_split(p)); });
            front.train(options);
            return outcome(front);
        });
    };
    training::BaselineOptions mc;
    mc.training = common;
    mc.training.max_epochs = config.mc_epochs;
    mc.training.early_stopping = true;
    mc.training_batch_size = 0;  // full batch, as the scoreboard was measured
    mc.loss = loss_options;
    auto mc_method = [&](std::string name, bool top) {
        return make_method(std::move(name), top ? 3 : 2,
                           [=, &config](const ScoreboardProblem& p, int, auto& front) {
                               const int level = top ? p.levels() - 1 : 0;
                               const auto n =
                                   static_cast<Index>(double(config.budget_top) * p.cost.back() /
                                                      p.cost[std::size_t(level)]);
                               front.simulate(ProblemModel<1>{&p, level}, {n});
                               front.train_single_level(mc);
                               return outcome(front);
                           });
    };
    methods.push_back(ml_method("ml", {}));
    methods.push_back(mc_method("mc_top", true));
    methods.push_back(mc_method("mc_cheap", false));
    std::vector<PlanRecord> plans;
    // The allocator's plan (the front end's simulate with a budget), then the default recipe on
    // the levels it keeps, or plain MC when the plan keeps one level (the top one, or a cheaper
    // one whose measured bias is small: AllocationOptions::allow_truncation).
    auto plan_method = [&](std::string name, training::MlmcTrainingOptions options, bool record,
                           bool truncation = true) {
        options = ml_options(options, true);
        return make_method(
            std::move(name), 6,
            [&plans, options, record, truncation, &mc, &config](const ScoreboardProblem& p,
                                                                int seed, auto& front) {
                const double budget = double(config.budget_top) * p.cost.back();
                // One pilot index runs stream l at levels 0..l: about 15% of B, at least 8.
                double per_index = 0;
                for (int l = 0; l < p.levels(); ++l)
                    for (int j = 0; j <= l; ++j) per_index += p.cost[std::size_t(j)];
                training::PlanningOptions planning;
                planning.pilot.samples_per_level =
                    std::max<Index>(8, static_cast<Index>(config.pilot_share * budget / per_index));
                if (config.pilot_epochs > 0)
                    planning.pilot.training.max_epochs = config.pilot_epochs;
                planning.pilot.early_stopping = config.pilot_early_stopping;
                planning.pilot.bias = config.pilot_bias;
                planning.pilot.cost = training::CostSource::nominal;
                planning.pilot.loss = options.loss;
                planning.allocation.allow_truncation = truncation;
                with_all_levels(
                    p, [&](auto model) { front.simulate(model, sbi::Budget{budget}, planning); });
                const training::Plan& plan = front.plan();
                if (config.plan_reasons && record)
                    std::fprintf(stderr, "%s plan:\n%s", p.name.c_str(), plan.describe().c_str());
                if (record)
                    plans.push_back({p.name, seed, front.pilot().samples_per_level,
                                     front.pilot().total_cost, front.spent(), budget,
                                     plan.variance_reduction, plan.kept_levels(),
                                     plan.samples_per_level()});
                if (!plan.multilevel()) {
                    front.train_single_level(mc);
                    return "plain_mc/" + outcome(front);
                }
                front.train(options);
                return outcome(front);
            });
    };
    methods.push_back(make_method("tl", 4, [&](const ScoreboardProblem& p, int, auto& front) {
        const double budget = budget_of(p);
        const int top = p.levels() - 1;
        const auto low =
            simulate_level(p, 0, static_cast<Index>(0.4 * budget / p.cost[0]),
                           derive_seed(front.options().seeds().simulation_seed(), 0x6c6f77ULL));
        front.simulate(ProblemModel<1>{&p, top},
                       {static_cast<Index>(0.6 * budget / p.cost.back())});
        training::TransferOptions o;
        o.pretraining = mc;
        o.fine_tuning = mc;
        front.train_transfer(low.theta, low.x_fine, o);
        return outcome(front);
    }));
    methods.push_back(plan_method("ml_plan", {}, true));
    if (config.ablation) {
        auto all_cheap = training::MlmcTrainingOptions{};
        all_cheap.robust.warm_start_all_cheap = true;
        methods.push_back(ml_method("abl_allcheap", all_cheap));
        methods.push_back(plan_method("abl_plan_allcheap", all_cheap, false));
        auto margin = training::MlmcTrainingOptions{};
        margin.robust.selection_margin = 1;
        methods.push_back(ml_method("abl_margin", margin));
        methods.push_back(plan_method("abl_plan_margin", margin, false));
        auto margin_all_cheap = margin;
        margin_all_cheap.robust.warm_start_all_cheap = true;
        methods.push_back(ml_method("abl_margin_allcheap", margin_all_cheap));
        methods.push_back(plan_method("abl_plan_margin_allcheap", margin_all_cheap, false));
        methods.push_back(plan_method("abl_plan_notrunc", {}, false, false));
        auto control_variates = training::MlmcTrainingOptions{};
        control_variates.robust.control_variates = true;
        methods.push_back(ml_method("abl_cv", control_variates));
        methods.push_back(plan_method("abl_plan_cv", control_variates, false));
        auto cv_norescale = control_variates;
        cv_norescale.training.adjustment.rescale = false;
        methods.push_back(ml_method("abl_cv_norescale", cv_norescale));
        methods.push_back(plan_method("abl_plan_cv_norescale", cv_norescale, false));
        methods.push_back(ml_method("abl_paper", training::MlmcTrainingOptions::paper()));
        auto es = training::MlmcTrainingOptions{};
        es.robust.warm_start = false;
        es.robust.safety_net = false;
        methods.push_back(ml_method("abl_es", es));
        auto es_warm = training::MlmcTrainingOptions{};
        es_warm.robust.safety_net = false;
        methods.push_back(ml_method("abl_es_warm", es_warm));
        auto no_project = es_warm;
        no_project.training.adjustment.project = false;
        methods.push_back(ml_method("abl_es_warm_noproj", no_project));
        auto no_rescale = es_warm;
        no_rescale.training.adjustment.rescale = false;
        methods.push_back(ml_method("abl_es_warm_norescale", no_rescale));
        auto none = es_warm;
        none.training.adjustment = {.rescale = false, .project = false};
        methods.push_back(ml_method("abl_es_warm_noadj", none));
        auto net_noproj = training::MlmcTrainingOptions{};
        net_noproj.training.adjustment.project = false;
        methods.push_back(ml_method("abl_default_noproj", net_noproj));
        auto multilevel = training::MlmcTrainingOptions{};
        multilevel.robust.criterion = training::RobustCriterion::multilevel;
        methods.push_back(ml_method("abl_mlcrit", multilevel));
        auto multilevel_nonet = multilevel;
        multilevel_nonet.robust.safety_net = false;
        methods.push_back(ml_method("abl_mlcrit_nonet", multilevel_nonet));
        auto slow = training::MlmcTrainingOptions{};
        slow.training.adam.learning_rate = config.learning_rate / 3;
        methods.push_back(ml_method("abl_default_lr/3", slow, false));
    }

    if (!config.methods.empty()) {
        const std::string wanted = "," + config.methods + ",";
        std::erase_if(methods, [&](const Method& m) {
            static const std::string main_methods = ",ml,mc_top,mc_cheap,tl,ml_plan,";
            return main_methods.find("," + m.name + ",") == std::string::npos &&
                   wanted.find("," + m.name + ",") == std::string::npos;
        });
    }
    std::vector<Run> runs;
    std::vector<ScoreboardProblem> problems;
    for (auto& p : examples::scoreboard_problems())
        if (config.only.empty() || p.name.find(config.only) != std::string::npos)
            problems.push_back(p);
    // One run: a fresh front end of the problem's task, the method's simulations and training,
    // then the expected KL of its estimator.
    auto run = [&](const ScoreboardProblem& p, int seed, const Method& m, const TestSet& test,
                   auto front_type, const auto& train) {
        using Front = typename decltype(front_type)::type;
        Front front(ProblemPrior{&p}, front_options<Front>(seed, m.tag));
        const std::string status = train(p, seed, front);
        return std::pair{status, expected_kl(front.estimator(), test)};
    };
    for (const auto& p : problems) {
        const TestSet test = make_test_set(p, config);
        for (int seed = 1; seed <= config.seeds; ++seed) {
            for (const Method& m : methods) {
                const auto t0 = std::chrono::steady_clock::now();
                const auto [status, kl] =
                    p.task == losses::Task::nle
                        ? run(p, seed, m, test, std::type_identity<NleFront>{}, m.nle)
                        : run(p, seed, m, test, std::type_identity<NpeFront>{}, m.npe);
                const double seconds =
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
                runs.push_back({p.name, m.name, seed, kl, seconds, status});
                std::fprintf(stderr, "%-22s seed %d %-24s KL %9.4f  %6.2fs  %s\n", p.name.c_str(),
                             seed, m.name.c_str(), kl, seconds, status.c_str());
            }
        }
    }

    // Per-run CSV.
    {
        std::ofstream csv(config.out + "_runs.csv");
        csv << "problem,method,seed,kl,seconds,status\n";
        for (const auto& r : runs)
            csv << r.problem << ',' << r.method << ',' << r.seed << ',' << r.kl << ',' << r.seconds
                << ',' << r.status << '\n';
    }
    // Summary: medians, IQR, bootstrap, acceptance.
    auto values = [&](const std::string& problem, const std::string& method) {
        std::vector<double> v(static_cast<std::size_t>(config.seeds));
        for (const auto& r : runs)
            if (r.problem == problem && r.method == method) v[std::size_t(r.seed - 1)] = r.kl;
        return v;
    };
    auto seconds_of = [&](const std::string& method) {
        double s = 0;
        for (const auto& r : runs)
            if (r.method == method) s += r.seconds;
        return s;
    };
    std::ofstream summary(config.out + "_summary.csv");
    summary << "problem,method,median,q25,q75\n";
    std::ofstream accept(config.out + "_acceptance.csv");
    accept << "problem,method,well_coupled,best_baseline,diff_lo90,diff_hi90,ratio_mc_top,pass\n";
    std::printf("\n%-22s", "problem");
    for (const Method& m : methods) std::printf(" %21s", m.name.c_str());
    std::printf(" %10s %21s %8s %s %21s %8s %s\n", "best base", "boot90(ml-best)", "top/ml", "pass",
                "boot90(plan-best)", "top/plan", "pass");
    std::map<std::string, int> passed;
    for (const auto& p : problems) {
        std::printf("%-22s", p.name.c_str());
        std::map<std::string, double> median;
        for (const Method& m : methods) {
            const std::string& name = m.name;
            const auto v = values(p.name, name);
            median[name] = quantile(v, 0.5);
            summary << p.name << ',' << name << ',' << median[name] << ',' << quantile(v, 0.25)
                    << ',' << quantile(v, 0.75) << '\n';
            std::printf(" %7.4f [%5.3f,%5.3f]", median[name], quantile(v, 0.25), quantile(v, 0.75));
        }
        const std::string best = median["mc_top"] <= median["mc_cheap"] ? "mc_top" : "mc_cheap";
        const auto base = values(p.name, best);
        for (const std::string ml_name : {"ml", "ml_plan"}) {
            const auto ml = values(p.name, ml_name);
            std::vector<double> diffs;
            RandomStream rng(12345);
            const std::size_t n = ml.size();
            for (int b = 0; b < 4000; ++b) {
                std::vector<double> a(n), c(n);
                for (std::size_t i = 0; i < n; ++i) {
                    const auto k = static_cast<std::size_t>(rng.uniform_index(n));
                    a[i] = ml[k];
                    c[i] = base[k];
                }
                diffs.push_back(quantile(a, 0.5) - quantile(c, 0.5));
            }
            const double lo = quantile(diffs, 0.05), hi = quantile(diffs, 0.95);
            const double ratio = median["mc_top"] / median[ml_name];
            const bool ok = lo <= 0 && (!p.well_coupled || ratio >= 1.3);
            passed[ml_name] += ok ? 1 : 0;
            if (ml_name == "ml") std::printf(" %10s", best.c_str());
            std::printf(" [%8.4f,%8.4f] %8.2f %s", lo, hi, ratio, ok ? "PASS" : "FAIL");
            accept << p.name << ',' << ml_name << ',' << p.well_coupled << ',' << best << ',' << lo
                   << ',' << hi << ',' << ratio << ',' << (ok ? "pass" : "fail") << '\n';
        }
        std::printf("\n");
    }
    const double total =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf(
        "\n%d/%zu problems pass with ml, %d/%zu with ml_plan; wall time %.1f s (one "
        "thread); training seconds by method:",
        passed["ml"], problems.size(), passed["ml_plan"], problems.size(), total);
    for (const Method& m : methods) std::printf(" %s %.1f", m.name.c_str(), seconds_of(m.name));
    std::printf("\n");

    // The allocator's plans.
    {
        std::ofstream csv(config.out + "_plans.csv");
        csv << "problem,seed,pilot_per_level,pilot_cost,spent,budget,kept_levels,n,"
               "predicted_variance_reduction\n";
        std::printf(
            "\nallocator's plans (kept levels: n per level; predicted variance reduction "
            "against MC top with the whole budget):\n");
        for (const auto& r : plans) {
            std::string kept, n;
            for (std::size_t i = 0; i < r.levels.size(); ++i) {
                if (i > 0) kept += ' ', n += ' ';
                kept += std::to_string(r.levels[i]);
                n += std::to_string(r.samples[i]);
            }
            csv << r.problem << ',' << r.seed << ',' << r.pilot_samples << ',' << r.pilot_cost
                << ',' << r.spent << ',' << r.budget << ',' << kept << ',' << n << ','
                << r.variance_reduction << '\n';
            std::printf(
                "%-22s seed %d  pilot %3lld/level (cost %6.0f)  spent %6.0f of %6.0f  "
                "levels {%s}  n = %-14s  reduction %.2fx\n",
                r.problem.c_str(), r.seed, static_cast<long long>(r.pilot_samples), r.pilot_cost,
                r.spent, r.budget, kept.c_str(), n.c_str(), r.variance_reduction);
        }
    }

    // Plot: median KL with IQR bars per problem and method (log scale).
    if (examples::gnuplot_available()) {
        const std::string data = config.out + "_plot.dat", script = config.out + "_plot.gp";
        std::ofstream d(data);
        const std::size_t main_methods = 5;
        for (std::size_t m = 0; m < main_methods; ++m) {
            for (std::size_t i = 0; i < problems.size(); ++i) {
                const auto v = values(problems[i].name, methods[m].name);
                d << double(i) + 0.14 * (double(m) - 2) << ' ' << quantile(v, 0.5) << ' '
                  << std::max(1e-4, quantile(v, 0.25)) << ' ' << quantile(v, 0.75) << '\n';
            }
            d << "\n\n";
        }
        d.close();
        std::ofstream g(script);
        g << "set terminal pngcairo size 1200,500\nset output '" << config.out << ".png'\n"
          << "set termoption noenhanced\nset xrange [-0.5:" << double(problems.size()) - 0.5
          << "]\nset logscale y\nset ylabel 'expected KL to the exact answer (median, IQR)'\n"
          << "set xtics rotate by -30 (";
        for (std::size_t i = 0; i < problems.size(); ++i)
            g << (i ? ", " : "") << '"' << problems[i].name << "\" " << i;
        g << ")\nset key top left\nset title 'Equal-cost scoreboard, " << config.seeds
          << " seeds'\nplot ";
        for (std::size_t m = 0; m < main_methods; ++m)
            g << (m ? ", " : "") << "'" << data << "' index " << m
              << " using 1:2:3:4 with yerrorbars pt 7 title '" << methods[m].name << "'";
        g << '\n';
        g.close();
        if (std::system(("gnuplot '" + script + "'").c_str()) != 0)
            std::fprintf(stderr, "gnuplot failed\n");
    }
    return 0;
}
