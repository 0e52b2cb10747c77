// SPDX-License-Identifier: MIT
// Exact-answer scoreboard: does multilevel training with the library's DEFAULT recipe beat plain
// training at equal simulation cost? Eight problems with exact likelihoods or posteriors
// (examples/scoreboard_problems.hpp: linear-Gaussian NPE, OU-by-Euler NLE with three levels,
// g-and-k NLE, Student-t NPE; each well and poorly coupled; cost ratios 4x to 100x). For each
// problem and seed, at the same budget B (= budget_top simulations of the top level):
//   ml        train_mlmc with default options (the robust recipe), n_0 = s B / c_0 and
//             n_l = (1 - s) B / (L (c_l + c_{l-1})) seed-matched pairs per level l >= 1
//             (s = --level0-share, default 0.3: a fixed split, not the allocator's plan);
//   mc_top    plain MC (train_mc) on B / c_L top-level simulations;
//   mc_cheap  plain MC on B / c_0 cheapest-level simulations;
//   tl        transfer learning (train_transfer): 40% of B on the cheapest level, 60% on the top;
//   ml_plan   the allocator's plan: plan_and_generate (pilot of n_pilot per stream, about 15% of
//             B (--pilot-share), reused; brief training of --pilot-epochs 50) -> plan_allocation
//             -> dataset, all within B; then the default recipe on the kept levels, or
//             train_mc when the plan is plain MC on one level (the top one, or a cheaper one
//             whose measured bias is small: AllocationOptions::allow_truncation);
// and, with --ablation, the recipe's parts switched off one at a time. Metric: expected KL to the
// exact answer, NLE E_theta KL(p(x | theta) || q(x | theta)), NPE E_x KL(p(theta | x) || q(theta
// | x)), by Monte Carlo over exact draws (the same test draws for every method). Reported:
// median and IQR over seeds, a paired bootstrap 90% interval of median(ml) - median(best of
// mc_top, mc_cheap), and the acceptance rule (ml no worse than that beyond seed noise; on the
// well-coupled problems ml at least 1.3x better than mc_top). Writes a per-run CSV, a summary CSV
// and (with gnuplot) a PNG.
//
//   scoreboard [--quick] [--seeds 5] [--budget 100] [--level0-share 0.3] [--ablation]
//              [--methods abl_es,abl_paper] [--only name] [--out prefix]
//              [--pilot-share 0.15] [--pilot-epochs 50] [--plan-reasons]
// The plan chosen per problem and seed goes to <prefix>_plans.csv.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "corner_plot.hpp"
#include "mlsbi/flows/conditional_estimator.hpp"
#include "mlsbi/flows/mixture_density_network.hpp"
#include "mlsbi/training.hpp"
#include "scoreboard_problems.hpp"

using namespace mlsbi;
using examples::ScoreboardProblem;

namespace {

using Density = flows::MixtureDensityNetwork<float>;
using Estimator = flows::ConditionalEstimator<Density>;

// A ScoreboardProblem as a simulators::MultilevelModel with `Levels` levels (nominal costs) and
// its prior as a distributions::Prior, for the pilot and the planned dataset.
template <std::size_t Levels>
struct ProblemModel {
    static constexpr std::size_t levels = Levels;
    const ScoreboardProblem* problem;
    [[nodiscard]] Index output_dim(std::size_t) const { return problem->x_dim; }
    void simulate(std::size_t level, const ConstVectorRef<double>& theta, std::uint64_t seed,
                  VectorRef<double> x) const {
        problem->simulate(static_cast<int>(level), theta, seed, x);
    }
    [[nodiscard]] std::optional<double> nominal_cost(std::size_t level) const {
        return problem->cost[level];
    }
};

struct ProblemPrior {
    const ScoreboardProblem* problem;
    [[nodiscard]] Index dim() const { return problem->theta_dim; }
    void sample(RandomStream& rng, VectorRef<double> theta) const { problem->prior(rng, theta); }
    // Not used by the pilot or dataset generation.
    [[nodiscard]] double log_density(const ConstVectorRef<double>&) const { return 0; }
    [[nodiscard]] bool in_support(const ConstVectorRef<double>&) const { return true; }
};

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
    /// The pilot's brief training (PilotOptions' default is 200): a pilot of 8 to 14 samples per
    /// stream overfits in 200 full-batch epochs and its correction variances blow up (seen on
    /// the scoreboard: plain MC chosen on 4 of 5 linear_gaussian_well seeds at 200, none at 50).
    int pilot_epochs = 50;
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

// n samples of `level` (level >= 1: seed-matched pairs with level - 1), master seed and tag.
simulators::LevelData simulate_level(const ScoreboardProblem& p, int level, Index n,
                                     std::uint64_t master, std::uint64_t tag) {
    simulators::LevelData a;
    a.theta.resize(p.theta_dim, n);
    a.x_fine.resize(p.x_dim, n);
    if (level > 0) a.x_coarse.resize(p.x_dim, n);
    for (Index i = 0; i < n; ++i) {
        const std::uint64_t seed = derive_seed(master, tag, static_cast<std::uint64_t>(level),
                                               static_cast<std::uint64_t>(i));
        RandomStream rng(derive_seed(seed, 0x7468ULL));
        p.prior(rng, a.theta.col(i));
        p.simulate(level, a.theta.col(i), seed, a.x_fine.col(i));
        if (level > 0) p.simulate(level - 1, a.theta.col(i), seed, a.x_coarse.col(i));
    }
    return a;
}

// Exact test draws: y (modelled variable) and c (context) columns with log p of each.
struct TestSet {
    Matrix<float> y, c;
    Vector<double> log_p;
};

TestSet make_test_set(const ScoreboardProblem& p, const Config& config) {
    const Index t_count = config.test_points, m = config.draws;
    const int top = p.levels() - 1;
    const auto points = simulate_level(p, top, t_count, 424242, 99);
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
                p.simulate(top, points.theta.col(t), derive_seed(555, static_cast<std::uint64_t>(k)),
                           x);
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

double expected_kl(const Estimator& q, const TestSet& s) {
    const Vector<double> log_q = q.log_prob(s.y, s.c).cast<double>();
    return (s.log_p - log_q).mean();
}

Estimator make_estimator(const ScoreboardProblem& p, std::uint64_t seed) {
    const bool nle = p.task == losses::Task::nle;
    return Estimator(Density::Options{.input_dim = nle ? p.x_dim : p.theta_dim,
                                      .context_dim = nle ? p.theta_dim : p.x_dim,
                                      .components = 3,
                                      .hidden = {32, 32}},
                     seed);
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

    // The methods: name -> trains q on fresh data for (problem, seed), returns a status string.
    using Trainer = std::function<std::string(const ScoreboardProblem&, std::uint64_t, Estimator&)>;
    std::vector<std::pair<std::string, Trainer>> methods;
    auto multilevel_data = [&](const ScoreboardProblem& p, std::uint64_t seed) {
        const int levels = p.levels();
        const double budget = double(config.budget_top) * p.cost.back();
        simulators::MultilevelDataset data;
        for (int l = 0; l < levels; ++l) {
            const double c = l == 0 ? p.cost[0] : p.cost[std::size_t(l)] + p.cost[std::size_t(l - 1)];
            const double share =
                l == 0 ? config.level0_share : (1 - config.level0_share) / double(levels - 1);
            const auto n = std::max<Index>(10, static_cast<Index>(share * budget / c));
            data.levels.push_back(simulate_level(p, l, n, seed, 1));
        }
        return data;
    };
    auto ml_method = [&](training::MlmcTrainingOptions options, bool common_adam = true) -> Trainer {
        if (common_adam) options.training.adam = common.adam;
        options.training.progress = false;
        options.training.max_epochs = config.ml_epochs;
        options.loss = loss_options;
        options.robust.patience = config.patience;
        options.robust.pretraining_epochs = config.mc_epochs;
        return [=](const ScoreboardProblem& p, std::uint64_t seed, Estimator& q) {
            const auto data = multilevel_data(p, seed);
            if (options.recipe == training::MlmcRecipe::paper) {
                const auto s = training::train_mlmc(q, data, p.task, options);
                return std::string(training::to_string(s.status));
            }
            const auto s = training::train_mlmc_robust(q, data, p.task, options);
            return message(training::to_string(s.multilevel.status), "/",
                           training::to_string(s.choice));
        };
    };
    training::BaselineOptions mc;
    mc.training = common;
    mc.training.max_epochs = config.mc_epochs;
    mc.training.early_stopping = true;
    mc.training_batch_size = 0;  // full batch, as the scoreboard was measured
    mc.loss = loss_options;
    auto mc_method = [&](bool top) -> Trainer {
        return [=](const ScoreboardProblem& p, std::uint64_t seed, Estimator& q) {
            const double budget = double(config.budget_top) * p.cost.back();
            const int level = top ? p.levels() - 1 : 0;
            const auto n = static_cast<Index>(budget / p.cost[std::size_t(level)]);
            // Level-0 draws of a fresh stream (tag 2); the top level's are plain simulations too.
            auto d = simulate_level(p, level, n, seed, top ? 3 : 2);
            const auto s = training::train_mc(q, d.theta, d.x_fine, p.task, mc);
            return std::string(training::to_string(s.status));
        };
    };
    methods.emplace_back("ml", ml_method({}));
    methods.emplace_back("mc_top", mc_method(true));
    methods.emplace_back("mc_cheap", mc_method(false));
    std::vector<PlanRecord> plans;
    // The allocator's plan, then the default recipe on the levels it keeps.
    auto plan_method = [&](training::MlmcTrainingOptions options, bool record,
                           bool truncation = true) -> Trainer {
        options.training.adam = common.adam;
        options.training.progress = false;
        options.training.max_epochs = config.ml_epochs;
        options.loss = loss_options;
        options.robust.patience = config.patience;
        options.robust.pretraining_epochs = config.mc_epochs;
        return [&plans, options, record, truncation, &mc, &config](
                   const ScoreboardProblem& p, std::uint64_t seed, Estimator& q) {
            const double budget = double(config.budget_top) * p.cost.back();
            // One pilot index runs stream l at levels 0..l: about 15% of B, at least 8.
            double per_index = 0;
            for (int l = 0; l < p.levels(); ++l)
                for (int j = 0; j <= l; ++j) per_index += p.cost[std::size_t(j)];
            training::PlanningOptions planning;
            planning.pilot.samples_per_level =
                std::max<Index>(8, static_cast<Index>(config.pilot_share * budget / per_index));
            planning.pilot.training.max_epochs = config.pilot_epochs;
            planning.pilot.seed = derive_seed(seed, 0x706c616eULL);
            planning.pilot.cost = training::CostSource::nominal;
            planning.pilot.loss = options.loss;
            planning.generation.threads = 1;
            planning.pilot.threads = 1;
            planning.allocation.allow_truncation = truncation;
            auto run = [&](auto model) {
                return training::plan_and_generate(model, ProblemPrior{&p}, q, p.task, budget,
                                                   planning);
            };
            const training::PlannedDataset planned =
                p.levels() == 2 ? run(ProblemModel<2>{&p}) : run(ProblemModel<3>{&p});
            if (config.plan_reasons && record)
                std::fprintf(stderr, "%s seed %d plan:\n%s", p.name.c_str(), int(seed),
                             planned.plan.describe().c_str());
            if (record)
                plans.push_back({p.name, int(seed), planned.pilot.samples_per_level,
                                 planned.pilot.total_cost, planned.spent, budget,
                                 planned.plan.variance_reduction, planned.plan.kept_levels(),
                                 planned.plan.samples_per_level()});
            if (!planned.plan.multilevel()) {
                const auto& top = planned.dataset.levels.front();
                const auto s = training::train_mc(q, top.theta, top.x_fine, p.task, mc);
                return message("plain_mc/", training::to_string(s.status));
            }
            const auto s = training::train_mlmc_robust(q, planned.dataset, p.task, options);
            return message(training::to_string(s.multilevel.status), "/",
                           training::to_string(s.choice));
        };
    };
    methods.emplace_back("tl", [&](const ScoreboardProblem& p, std::uint64_t seed, Estimator& q) {
        const double budget = double(config.budget_top) * p.cost.back();
        const int top = p.levels() - 1;
        auto low = simulate_level(p, 0, static_cast<Index>(0.4 * budget / p.cost[0]), seed, 4);
        auto high = simulate_level(p, top, static_cast<Index>(0.6 * budget / p.cost.back()), seed, 5);
        training::TransferOptions o;
        o.pretraining = mc;
        o.fine_tuning = mc;
        const auto s =
            training::train_transfer(q, low.theta, low.x_fine, high.theta, high.x_fine, p.task, o);
        return std::string(training::to_string(s.fine_tuning.status));
    });
    methods.emplace_back("ml_plan", plan_method({}, true));
    if (config.ablation) {
        auto all_cheap = training::MlmcTrainingOptions{};
        all_cheap.robust.warm_start_all_cheap = true;
        methods.emplace_back("abl_allcheap", ml_method(all_cheap));
        methods.emplace_back("abl_plan_allcheap", plan_method(all_cheap, false));
        auto margin = training::MlmcTrainingOptions{};
        margin.robust.selection_margin = 1;
        methods.emplace_back("abl_margin", ml_method(margin));
        methods.emplace_back("abl_plan_margin", plan_method(margin, false));
        auto margin_all_cheap = margin;
        margin_all_cheap.robust.warm_start_all_cheap = true;
        methods.emplace_back("abl_margin_allcheap", ml_method(margin_all_cheap));
        methods.emplace_back("abl_plan_margin_allcheap", plan_method(margin_all_cheap, false));
        methods.emplace_back("abl_plan_notrunc", plan_method({}, false, false));
        auto paper = training::MlmcTrainingOptions::paper();
        methods.emplace_back("abl_paper", ml_method(paper));
        auto es = training::MlmcTrainingOptions{};
        es.robust.warm_start = false;
        es.robust.safety_net = false;
        methods.emplace_back("abl_es", ml_method(es));
        auto es_warm = training::MlmcTrainingOptions{};
        es_warm.robust.safety_net = false;
        methods.emplace_back("abl_es_warm", ml_method(es_warm));
        auto no_project = es_warm;
        no_project.training.adjustment.project = false;
        methods.emplace_back("abl_es_warm_noproj", ml_method(no_project));
        auto no_rescale = es_warm;
        no_rescale.training.adjustment.rescale = false;
        methods.emplace_back("abl_es_warm_norescale", ml_method(no_rescale));
        auto none = es_warm;
        none.training.adjustment = {.rescale = false, .project = false};
        methods.emplace_back("abl_es_warm_noadj", ml_method(none));
        auto net_noproj = training::MlmcTrainingOptions{};
        net_noproj.training.adjustment.project = false;
        methods.emplace_back("abl_default_noproj", ml_method(net_noproj));
        auto multilevel = training::MlmcTrainingOptions{};
        multilevel.robust.criterion = training::RobustCriterion::multilevel;
        methods.emplace_back("abl_mlcrit", ml_method(multilevel));
        auto multilevel_nonet = multilevel;
        multilevel_nonet.robust.safety_net = false;
        methods.emplace_back("abl_mlcrit_nonet", ml_method(multilevel_nonet));
        auto slow = training::MlmcTrainingOptions{};
        slow.training.adam.learning_rate = config.learning_rate / 3;
        methods.emplace_back("abl_default_lr/3", ml_method(slow, false));
    }

    if (!config.methods.empty()) {
        const std::string wanted = "," + config.methods + ",";
        std::erase_if(methods, [&](const auto& m) {
            static const std::string main_methods = ",ml,mc_top,mc_cheap,tl,ml_plan,";
            return main_methods.find("," + m.first + ",") == std::string::npos &&
                   wanted.find("," + m.first + ",") == std::string::npos;
        });
    }
    std::vector<Run> runs;
    std::vector<ScoreboardProblem> problems;
    for (auto& p : examples::scoreboard_problems())
        if (config.only.empty() || p.name.find(config.only) != std::string::npos)
            problems.push_back(p);
    for (const auto& p : problems) {
        const TestSet test = make_test_set(p, config);
        for (int seed = 1; seed <= config.seeds; ++seed) {
            for (const auto& [name, trainer] : methods) {
                Estimator q = make_estimator(p, static_cast<std::uint64_t>(seed) * 31);
                const auto t0 = std::chrono::steady_clock::now();
                const std::string status = trainer(p, static_cast<std::uint64_t>(seed), q);
                const double seconds =
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
                runs.push_back({p.name, name, seed, expected_kl(q, test), seconds, status});
                std::fprintf(stderr, "%-22s seed %d %-24s KL %9.4f  %6.2fs  %s\n", p.name.c_str(),
                             seed, name.c_str(), runs.back().kl, seconds, status.c_str());
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
    for (const auto& [name, trainer] : methods) std::printf(" %21s", name.c_str());
    std::printf(" %10s %21s %8s %s %21s %8s %s\n", "best base", "boot90(ml-best)", "top/ml", "pass",
                "boot90(plan-best)", "top/plan", "pass");
    std::map<std::string, int> passed;
    for (const auto& p : problems) {
        std::printf("%-22s", p.name.c_str());
        std::map<std::string, double> median;
        for (const auto& [name, trainer] : methods) {
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
    for (const auto& [name, trainer] : methods) std::printf(" %s %.1f", name.c_str(), seconds_of(name));
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
                const auto v = values(problems[i].name, methods[m].first);
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
              << " using 1:2:3:4 with yerrorbars pt 7 title '" << methods[m].first << "'";
        g << '\n';
        g.close();
        if (std::system(("gnuplot '" + script + "'").c_str()) != 0)
            std::fprintf(stderr, "gnuplot failed\n");
    }
    return 0;
}
