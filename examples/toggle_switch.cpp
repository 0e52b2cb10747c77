// SPDX-License-Identifier: MIT
// Toggle-switch multilevel NLE (Hikida et al. 2025, Sec. 5, Tables 3 and 4): a three-level
// Markov-chain simulator (T = 50, 80, 300 steps on one noise stream) and the paper's mixture
// density network q(x | theta) (2 components, hidden 20-20). At the budget of option A,
// cost = sum_l n_l (T_l + T_{l-1}) = 603,000 steps, it trains
//   ML-NLE with option A n = (10^4, 500, 100), B (9260, 200, 300), C (1077, 1077, 1077), and
//   ML-plan, the allocator's own n for that budget (sbi::Budget: a pilot of 64 per stream,
//   nominal costs T_l, included in the budget), trained like A, B and C;
//   plain NLE on one level at the same cost: 2010 sims at T = 300 (high), 7537 at T = 80
//   (medium), 12060 at T = 50 (low), 10% validation, early stopping with patience 20;
// plus the Table-4 ablation of the gradient adjustments (both, rescale only, projection only,
// none) on option A's data. ML runs use the paper's recipe, set explicitly: full batch, fixed
// epochs, no validation, Adam lr 1e-4 betas (0.85, 0.999), clipping at norm 5.
//
// Metric (as the paper): per prior test theta, the biased squared MMD with one Gaussian kernel
// whose length scale is the median heuristic, between 500 T = 300 simulations and 500 draws of
// the model; per method the mean (sd over test thetas) and median, pooled over seeds, and the
// sd across seeds of the per-seed means. Writes per-theta values, a summary, learning curves
// (training loss and the NLL of 2000 held-out T = 300 simulations) and a box plot.
//
//   toggle_switch [--quick] [--seeds 3] [--test-thetas 1000] [--draws 500] [--epochs 10000]
//                 [--ablation-epochs 2000] [--mc-max-epochs 10000] [--curve-every 100]
//                 [--methods A,B,C,plan,high,medium,low,ablation] [--zscore paper|top] [--threads 0]
//                 [--diagonal softplus|exp] [--recipe paper|robust] [--first-seed 0] [--out DIR]
//   toggle_switch --merge DIR1,DIR2,... [--out DIR]   (pool the per-theta CSVs of several runs,
//                 e.g. one process per seed, into one summary and box plot)
//
// --zscore: how ML training z-scores its data. `paper` (default) does what the paper's code does
// (its MLMC_standardize): EVERY tensor, level 0's x and theta and each correction level's x_{l-1},
// x_l and theta, is z-scored by its OWN mean and sd, and the model is sampled with the top level's
// statistics. `top` z-scores everything with the top level's statistics (the library's
// train_mlmc). The two differ here because the chain has not converged at T = 50 or 80, so the
// levels' x have different means and spreads; see the README's toggle-switch section.
// --recipe: the ML training recipe. `paper` (default here, to reproduce the paper) runs fixed
// epochs and keeps the last weights; `robust` is the library's default (train_mlmc: held-out
// high-fidelity criterion, warm start, plain-MC safety net), with --epochs as its ML-phase cap.
// --diagonal: the MDN's precision diagonal, softplus(s) + 0.01 as sbi/pyknos (the paper's code) or
// e^s (the library's default). Both choices matter for whether ML training diverges (README).
#include <algorithm>
#include <chrono>
#include <ctime>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "corner_plot.hpp"
#include "paper_zscoring.hpp"
#include "mlsbi/diagnostics/mmd.hpp"
#include "mlsbi/flows/conditional_estimator.hpp"
#include "mlsbi/flows/mixture_density_network.hpp"
#include "mlsbi/sbi.hpp"
#include "mlsbi/simulators/multilevel_dataset.hpp"
#include "mlsbi/simulators/toggle_switch.hpp"
#include "mlsbi/training.hpp"

using namespace mlsbi;
namespace ts = mlsbi::simulators::toggle_switch;
using Mdn = flows::MixtureDensityNetwork<float>;
using Estimator = flows::LikelihoodEstimator<Mdn>;
using Clock = std::chrono::steady_clock;

namespace {

struct Config {
    int seeds = 3;
    int first_seed = 0;  // runs seeds first_seed .. first_seed + seeds - 1 (one process per seed)
    std::vector<std::string> merge{};  // --merge: summarise these output directories instead
    Index test_thetas = 1000;
    Index draws = 500;  // simulator draws and model draws per test theta
    int ml_epochs = 10000;
    int ablation_epochs = 2000;
    int mc_max_epochs = 10000;
    int curve_every = 100;
    int threads = 0;  // OpenMP threads of the losses and the MMD (0: OMP_NUM_THREADS)
    std::vector<std::string> methods{"A", "B", "C", "plan", "high", "medium", "low", "ablation"};
    std::string out = "toggle_switch_out";
    std::string zscore = "paper";  // ML z-scoring: paper (every tensor by its own statistics) or top
    std::string diagonal = "softplus";  // MDN precision diagonal: softplus (pyknos, the paper) or exp
    std::string recipe = "paper";  // ML recipe: paper (fixed epochs, last weights) or robust (the default)
};

std::vector<std::string> split_list(const std::string& s) {
    std::vector<std::string> items;
    std::stringstream list(s);
    for (std::string item; std::getline(list, item, ',');) items.push_back(item);
    return items;
}

Config parse(int argc, char** argv) {
    Config c;
    auto next = [&](int& i) -> std::string {
        if (i + 1 >= argc) throw std::invalid_argument(message(argv[i], " needs a value"));
        return argv[++i];
    };
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--quick") {  // CI size: the paper's data sizes, few epochs, few test thetas
            c.seeds = 1, c.test_thetas = 8, c.draws = 100, c.ml_epochs = 30;
            c.ablation_epochs = 20, c.mc_max_epochs = 30, c.curve_every = 10;
        } else if (a == "--seeds") {
            c.seeds = std::stoi(next(i));
        } else if (a == "--first-seed") {
            c.first_seed = std::stoi(next(i));
        } else if (a == "--merge") {
            c.merge = split_list(next(i));
        } else if (a == "--test-thetas") {
            c.test_thetas = std::stol(next(i));
        } else if (a == "--draws") {
            c.draws = std::stol(next(i));
        } else if (a == "--epochs") {
            c.ml_epochs = std::stoi(next(i));
        } else if (a == "--ablation-epochs") {
            c.ablation_epochs = std::stoi(next(i));
        } else if (a == "--mc-max-epochs") {
            c.mc_max_epochs = std::stoi(next(i));
        } else if (a == "--curve-every") {
            c.curve_every = std::stoi(next(i));
        } else if (a == "--threads") {
            c.threads = std::stoi(next(i));
        } else if (a == "--methods") {
            c.methods = split_list(next(i));
        } else if (a == "--diagonal") {
            c.diagonal = next(i);
        } else if (a == "--zscore") {
            c.zscore = next(i);
        } else if (a == "--recipe") {
            c.recipe = next(i);
        } else if (a == "--out") {
            c.out = next(i);
        } else {
            throw std::invalid_argument(message("unknown argument '", a, "' (see the header comment)"));
        }
    }
    require(c.seeds >= 1 && c.test_thetas >= 1 && c.draws >= 2 && c.ml_epochs >= 1 &&
                c.ablation_epochs >= 1 && c.mc_max_epochs >= 1 && c.curve_every >= 1 && c.threads >= 0,
            "bad configuration");
    require(c.diagonal == "softplus" || c.diagonal == "exp", "--diagonal must be softplus or exp");
    require(c.zscore == "paper" || c.zscore == "top", "--zscore must be paper or top, got '", c.zscore, "'");
    require(c.recipe == "paper" || c.recipe == "robust", "--recipe must be paper or robust, got '", c.recipe,
            "'");
    require(c.recipe == "paper" || c.zscore == "top",
            "--recipe robust fits the library's top-level z-scoring: give --zscore top with it");
    for (const auto& m : c.methods)
        require(m == "A" || m == "B" || m == "C" || m == "plan" || m == "high" || m == "medium" ||
                    m == "low" || m == "ablation",
                "--methods: unknown method '", m, "'");
    return c;
}

bool wanted(const Config& c, const std::string& m) {
    return std::find(c.methods.begin(), c.methods.end(), m) != c.methods.end();
}

// The cost model of the paper: a T-step simulation costs T; a level-l pair costs T_l + T_{l-1}.
double ml_cost(const std::vector<Index>& n) {
    const auto& t = ts::paper_steps;
    return double(n[0] * t[0] + n[1] * (t[1] + t[0]) + n[2] * (t[2] + t[1]));
}

// One trained configuration: what it is and how to get its data.
struct Method {
    std::string name;       // A, B, C, high, medium, low, or ablation:<adjustment>
    std::vector<Index> n;   // ML: n_0, n_1, n_2; NLE: the one level's n
    std::size_t level = 0;  // NLE: the level trained on
    bool ml = true;
    bool rescale = true, project = true;
    int epochs = 0;
    std::uint64_t data_key = 0;  // seeds the data: the ablation reuses option A's
    bool planned = false;        // n chosen by the allocator for option A's budget
};

// Option A's budget, which every row spends.
const std::vector<Index> option_a{10000, 500, 100};

std::vector<Method> methods(const Config& c) {
    std::vector<Method> m;
    if (wanted(c, "A")) m.push_back({"A", {10000, 500, 100}, 0, true, true, true, c.ml_epochs, 1});
    if (wanted(c, "B")) m.push_back({"B", {9260, 200, 300}, 0, true, true, true, c.ml_epochs, 2});
    if (wanted(c, "C")) m.push_back({"C", {1077, 1077, 1077}, 0, true, true, true, c.ml_epochs, 3});
    if (wanted(c, "plan")) m.push_back({"ML-plan", {}, 0, true, true, true, c.ml_epochs, 4, true});
    if (wanted(c, "high")) m.push_back({"NLE-high", {2010}, 2, false, false, false, c.mc_max_epochs});
    if (wanted(c, "medium")) m.push_back({"NLE-medium", {7537}, 1, false, false, false, c.mc_max_epochs});
    if (wanted(c, "low")) m.push_back({"NLE-low", {12060}, 0, false, false, false, c.mc_max_epochs});
    if (wanted(c, "ablation")) {
        const std::vector<Index>& a = option_a;
        m.push_back({"abl-both", a, 0, true, true, true, c.ablation_epochs, 1});
        m.push_back({"abl-rescale", a, 0, true, true, false, c.ablation_epochs, 1});
        m.push_back({"abl-project", a, 0, true, false, true, c.ablation_epochs, 1});
        m.push_back({"abl-none", a, 0, true, false, false, c.ablation_epochs, 1});
    }
    return m;
}

Mdn::Options mdn_options(const Config& c) {
    // The paper's network (sbi/pyknos MultivariateGaussianMDN): 2 Gaussian components, MLP
    // 7-20-20-6 with ReLU, precision diagonal softplus(s) + 0.01.
    return {.input_dim = 1, .context_dim = ts::parameter_count, .components = 2, .hidden = {20, 20},
            .diagonal = c.diagonal == "softplus" ? Mdn::Diagonal::softplus : Mdn::Diagonal::exp};
}

// The front end's options: that network (dimensions inferred from the data), every method of a
// seed from the same initial weights.
sbi::Options<Mdn> architecture(const Config& c, std::uint64_t seed) {
    return {.density = mdn_options(c), .network_seed = derive_seed(seed, 2)};
}

// The paper's optimiser, written out so a change of the library's defaults does not move it.
training::TrainingOptions paper_recipe(int epochs, bool rescale, bool project) {
    training::TrainingOptions o;
    o.max_epochs = epochs;
    o.batches_per_epoch = 1;  // full batch
    o.early_stopping = false;
    o.adam = {.learning_rate = 1e-4, .beta1 = 0.85, .beta2 = 0.999, .epsilon = 1e-8};
    o.adjustment = {.rescale = rescale, .project = project};
    o.max_gradient_norm = 5.0;
    o.divergence_threshold = std::numeric_limits<double>::infinity();  // the paper ran all epochs
    o.progress = false;
    return o;
}

struct Stats {
    double mean = 0, sd = 0, median = 0;
};
Stats stats(std::vector<double> v) {
    Stats s;
    if (v.empty()) return s;
    for (double x : v) s.mean += x;
    s.mean /= double(v.size());
    for (double x : v) s.sd += (x - s.mean) * (x - s.mean);
    s.sd = v.size() > 1 ? std::sqrt(s.sd / double(v.size() - 1)) : 0.0;
    std::sort(v.begin(), v.end());
    const std::size_t n = v.size();
    s.median = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
    return s;
}

double seconds_since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

// Simulator draws at the top level for every test theta (computed once, shared by all runs).
struct TestSet {
    Matrix<double> thetas;       // 7 x N
    Matrix<double> simulations;  // draws x N
};

TestSet make_test_set(const Config& c) {
    TestSet t;
    t.thetas = distributions::sample_prior(ts::prior(), 20251201, c.test_thetas);
    t.simulations.resize(c.draws, c.test_thetas);
    const ts::Level top(ts::paper_steps[2]);
#pragma omp parallel for schedule(dynamic)
    for (Index j = 0; j < c.test_thetas; ++j) {
        Vector<double> x(1);
        for (Index d = 0; d < c.draws; ++d) {
            top.simulate(t.thetas.col(j), derive_seed(777, static_cast<std::uint64_t>(j),
                                                      static_cast<std::uint64_t>(d)),
                         x);
            t.simulations(d, j) = x(0);
        }
    }
    return t;
}

// MMD^2 (biased, median heuristic) per test theta between the simulator and the model.
std::vector<double> evaluate(const Estimator& q, const TestSet& t, Index draws, std::uint64_t seed) {
    std::vector<double> mmd(static_cast<std::size_t>(t.thetas.cols()));
    for (Index j = 0; j < t.thetas.cols(); ++j) {
        const Matrix<float> context = t.thetas.col(j).cast<float>().replicate(1, draws);
        const Matrix<double> model = q.sample(context, derive_seed(seed, static_cast<std::uint64_t>(j))).cast<double>();
        const Matrix<double> sims = t.simulations.col(j).transpose();
        mmd[static_cast<std::size_t>(j)] = diagnostics::mmd_squared_median(sims, model);
    }
    return mmd;
}

// Per-method results across seeds.
struct Row {
    Method method;
    std::vector<double> mmd{};         // pooled over seeds and test thetas
    std::vector<double> seed_means{};  // per seed, mean over test thetas
    std::vector<double> train_seconds{}, simulate_seconds{}, epoch_ms{};
    std::vector<int> epochs{};
    std::vector<std::string> status{};
    std::vector<std::string> plans{};  // ML-plan: the allocator's kept levels and n, per seed
};

bool box_plot(const std::string& png, const std::string& data, const std::vector<Row>& rows) {
    if (!examples::gnuplot_available()) return false;
    const std::string script = png + ".gp";
    std::ofstream gp(script);
    gp << "set terminal pngcairo size 1200,600\nset output '" << png << "'\n"
       << "set title 'Toggle switch: squared MMD per test theta (biased, median heuristic), all "
          "seeds'\n"
       << "set style data boxplot\nset style boxplot outliers pointtype 7\nset pointsize 0.2\n"
       << "set style fill solid 0.4\nset boxwidth 0.6\nset logscale y\nset ylabel 'MMD^2'\n"
       << "set datafile separator ','\nunset key\nset xtics (";
    for (std::size_t i = 0; i < rows.size(); ++i)
        gp << (i ? ", " : "") << '"' << rows[i].method.name << "\" " << i + 1;
    gp << ")\nplot for [i=1:" << rows.size() << "] '" << data
       << "' using (i):(column(i) > 0 ? column(i) : NaN) lc i\n";
    gp.close();
    return std::system(("gnuplot '" + script + "' 2> /dev/null").c_str()) == 0;
}

// Prints and writes the summary table and the box plot of `rows` (pooled over their seeds).
void report(const Config& config, const std::vector<Row>& rows) {
    // Per row: a merged ablation may have fewer seeds than the main methods.
    auto seed_count_of = [](const Row& row) { return static_cast<int>(row.seed_means.size()); };
    auto test_thetas_of = [](const Row& row) {
        return row.seed_means.empty() ? Index{0} : static_cast<Index>(row.mmd.size() / row.seed_means.size());
    };
    const Index test_thetas = rows.empty() ? 0 : test_thetas_of(rows.front());
    int seed_count = 0;
    for (const Row& row : rows) seed_count = std::max(seed_count, seed_count_of(row));
    std::ofstream summary_csv(config.out + "/toggle_switch_summary.csv");
    summary_csv << "method,n,cost,seeds,test_thetas,mean,sd_over_thetas,median,sd_of_seed_means,"
                   "epochs_mean,train_seconds_mean,epoch_ms_mean,simulate_seconds_mean,status\n";
    std::printf("\nSquared MMD over %ld test thetas x up to %d seed(s) (per row in the CSV): mean (sd over thetas), median, "
                "sd across seeds of the mean. Paper (Tables 3-4): A 0.16 (0.23), B 0.33 (0.26), "
                "C 0.29 (0.28); NLE high 0.43 (0.29), medium 0.37 (0.45), low 0.59 (0.65); ablation "
                "both 0.26, rescale 0.50, project 0.35, none 0.59.\n\n",
                static_cast<long>(test_thetas), seed_count);
    std::printf("%-12s %-18s %8s | %-14s %7s %9s | %7s %9s %9s %s\n", "method", "n", "cost", "mean (sd)",
                "median", "seed sd", "epochs", "train s", "ms/epoch", "status");
    for (const Row& row : rows) {
        const Stats pooled = stats(row.mmd);
        const Stats seeds = stats(row.seed_means);
        std::string n, status;
        for (Index v : row.method.n) {
            if (!n.empty()) n += '/';
            n += std::to_string(v);
        }
        for (const auto& plan : row.plans) n += (n.empty() ? "" : "; ") + plan;
        for (const auto& st : row.status) {
            if (!status.empty()) status += ' ';
            status += st;
        }
        const double cost = row.method.planned ? ml_cost(option_a)
                            : row.method.ml    ? ml_cost(row.method.n)
                                          : double(row.method.n[0] * ts::paper_steps[row.method.level]);
        double epochs = 0;
        for (int e : row.epochs) epochs += e;
        epochs /= double(row.epochs.size());
        std::printf("%-12s %-18s %8.0f | %.3f (%.3f) %7.3f %9.3f | %7.0f %9.1f %9.2f %s\n",
                    row.method.name.c_str(), n.c_str(), cost, pooled.mean, pooled.sd, pooled.median, seeds.sd,
                    epochs, stats(row.train_seconds).mean, stats(row.epoch_ms).mean, status.c_str());
        summary_csv << row.method.name << ',' << n << ',' << cost << ',' << seed_count_of(row) << ','
                    << test_thetas_of(row) << ',' << pooled.mean << ',' << pooled.sd << ',' << pooled.median
                    << ',' << seeds.sd << ',' << epochs << ',' << stats(row.train_seconds).mean << ','
                    << stats(row.epoch_ms).mean << ',' << stats(row.simulate_seconds).mean << ',' << status
                    << '\n';
    }

    // Box plot: one column per method, one row per (seed, test theta).
    const std::string box_data = config.out + "/toggle_switch_box.csv";
    {
        std::ofstream box(box_data);
        std::size_t count = 0;
        for (const Row& row : rows) count = std::max(count, row.mmd.size());
        for (std::size_t i = 0; i < count; ++i) {
            for (std::size_t r = 0; r < rows.size(); ++r) {
                if (r) box << ',';
                if (i < rows[r].mmd.size()) box << rows[r].mmd[i];  // blank: missing
            }
            box << '\n';
        }
    }
    const std::string png = config.out + "/toggle_switch_mmd.png";
    const bool plotted = box_plot(png, box_data, rows);
    std::printf("\nwrote %s/toggle_switch_{summary,box}.csv and %s\n", config.out.c_str(),
                plotted ? png.c_str() : "no PNG (gnuplot not found)");
}

// Rows rebuilt from the per-theta and per-run CSVs of earlier runs (e.g. one process per seed).
std::vector<Row> merge_runs(const Config& config) {
    std::vector<Row> rows;
    for (const Method& m : methods(Config{})) rows.push_back(Row{m});
    auto row_of = [&](const std::string& name) -> Row& {
        for (Row& r : rows)
            if (r.method.name == name) return r;
        throw std::invalid_argument(message("--merge: unknown method '", name, "'"));
    };
    for (const std::string& dir : config.merge) {
        std::ifstream runs(dir + "/toggle_switch_runs.csv"), mmd(dir + "/toggle_switch_mmd.csv");
        require(runs.is_open() && mmd.is_open(), "--merge: no toggle_switch_{runs,mmd}.csv in '", dir, "'");
        std::string line;
        std::getline(mmd, line);
        while (std::getline(mmd, line)) {
            const auto f = split_list(line);
            row_of(f[0]).mmd.push_back(std::stod(f.back()));
        }
        std::getline(runs, line);  // method,seed,status,epochs,train_s,epoch_ms,simulate_s,mean,median
        while (std::getline(runs, line)) {
            const auto f = split_list(line);
            Row& r = row_of(f[0]);
            r.status.push_back(f[2]);
            r.epochs.push_back(std::stoi(f[3]));
            r.train_seconds.push_back(std::stod(f[4]));
            r.epoch_ms.push_back(std::stod(f[5]));
            r.simulate_seconds.push_back(std::stod(f[6]));
            r.seed_means.push_back(std::stod(f[7]));
            if (r.method.planned && f.size() > 10) r.plans.push_back(f[10]);
        }
    }
    std::erase_if(rows, [](const Row& r) { return r.seed_means.empty(); });
    return rows;
}

}  // namespace

int main(int argc, char** argv) try {
    const Config config = parse(argc, argv);
#ifdef _OPENMP
    if (config.threads > 0) omp_set_num_threads(config.threads);
#endif
    std::filesystem::create_directories(config.out);
    if (!config.merge.empty()) {
        report(config, merge_runs(config));
        return 0;
    }
    const auto model = ts::make_multilevel();
    const auto prior = ts::prior();
    const losses::LossOptions loss_options{.chunk_size = 1024, .threads = config.threads};
    std::printf("toggle switch ML-NLE: MDN (K = 2, hidden 20-20), float; %d seed(s), %ld test "
                "thetas x %ld draws; ML %d epochs, ablation %d, NLE <= %d (patience 20)\n",
                config.seeds, static_cast<long>(config.test_thetas), static_cast<long>(config.draws),
                config.ml_epochs, config.ablation_epochs, config.mc_max_epochs);

    // The real cost of each level: wall time of 2000 simulations, one thread.
    {
        const Matrix<double> thetas = distributions::sample_prior(prior, 5, 2000);
        Vector<double> x(1);
        double base = 0;
        for (std::size_t l = 0; l < 3; ++l) {
            const auto start = Clock::now();
            for (Index j = 0; j < thetas.cols(); ++j)
                model.simulate(l, thetas.col(j), static_cast<std::uint64_t>(j), x);
            const double us = 1e6 * seconds_since(start) / double(thetas.cols());
            if (l == 0) base = us;
            std::printf("level %zu (T = %ld): %.2f us per simulation (%.2fx level 0; nominal %.2fx)\n", l,
                        static_cast<long>(ts::paper_steps[l]), us, us / base,
                        double(ts::paper_steps[l]) / double(ts::paper_steps[0]));
        }
    }

    auto start = Clock::now();
    const TestSet test = make_test_set(config);
    std::printf("test set: %ld x %ld T = 300 simulations in %.1f s\n", static_cast<long>(config.draws),
                static_cast<long>(config.test_thetas), seconds_since(start));
    // Held-out T = 300 simulations for the learning curves (the NLL of the level we trust).
    const auto curve_data = simulators::generate_dataset(model.level<2>(), prior, 2000, 99);

    std::ofstream per_theta(config.out + "/toggle_switch_mmd.csv");
    std::ofstream curves(config.out + "/toggle_switch_curves.csv");
    require(per_theta.is_open() && curves.is_open(), "cannot write into '", config.out, "'");
    per_theta << "method,seed,theta_index,a1,a2,b1,b2,mu,sigma,gamma,mmd2\n";
    curves << "method,seed,epoch,training_loss,high_fidelity_nll\n";
    std::ofstream runs(config.out + "/toggle_switch_runs.csv");
    runs << "method,seed,status,epochs,train_seconds,epoch_ms,simulate_seconds,mean,median,train_cpu_seconds,"
            "plan\n";

    // Fixes the shapes the held-out loss checks against (it never trains).
    const Estimator shape(mdn_options(config), 0);
    std::vector<Row> rows;
    for (const Method& m : methods(config)) rows.push_back(Row{m});
    for (int seed = config.first_seed; seed < config.first_seed + config.seeds; ++seed) {
        const auto s = static_cast<std::uint64_t>(seed);
        for (std::size_t r = 0; r < rows.size(); ++r) {
            Row& row = rows[r];
            const Method& m = row.method;
            auto nle = sbi::make_nle(prior, architecture(config, s));
            losses::McLoss<Estimator> held_out(shape, curve_data.theta, curve_data.x, losses::Task::nle,
                                               loss_options);
            training::TrainingCallbacks callbacks;
            std::vector<double> curve_nll;
            callbacks.on_epoch = [&](const training::EpochReport& e) {
                if (e.epoch % config.curve_every == 0 || e.epoch == 1) {
                    curves << m.name << ',' << seed << ',' << e.epoch << ',' << e.training_loss << ','
                           << held_out.value(nle.estimator()) << '\n';
                }
                return true;
            };
            training::TrainingSummary summary;
            std::clock_t cpu_start = std::clock();
            start = Clock::now();
            double simulate_seconds = 0;
            Estimator q = shape;  // the trained network, in the user's units
            // The NLE rows' recipe (also for a plan that keeps one level).
            auto single_level_options = [&] {
                training::BaselineOptions options;
                options.training = paper_recipe(config.mc_max_epochs, false, false);
                options.training.early_stopping = true;
                options.training.patience = 20;
                options.training.restore_best = true;
                options.validation_fraction = 0.1;
                options.training_batch_size = 0;  // full batch, as the paper
                options.split_seed = derive_seed(s, 4);
                options.loss = loss_options;
                return options;
            };
            // Same data for every ML option's seed (and for the ablation: option A's data).
            const std::uint64_t data_seed = derive_seed(s, 1, m.data_key);
            simulators::MultilevelDataset data;
            if (m.planned) {
                // The allocator's plan for option A's budget, pilot included (nominal costs T_l).
                auto options = architecture(config, s);
                options.simulation_seed = data_seed;
                options.threads = 1;
                auto planner = sbi::make_nle(prior, options);
                training::PlanningOptions planning;
                planning.pilot.threads = 1;
                planning.pilot.loss = loss_options;
                planner.simulate(model, sbi::Budget{ml_cost(option_a)}, planning);
                data = planner.data();
                std::fprintf(stderr, "seed %d allocator's plan:\n%s", seed,
                             planner.plan().describe().c_str());
                // "levels:n", e.g. 0+1+2:12000/300/90 (no commas: it is a CSV field).
                std::string plan;
                for (std::size_t l : planner.plan().kept_levels())
                    plan += (plan.empty() ? "" : "+") + std::to_string(l);
                for (std::size_t i = 0; i < data.levels.size(); ++i)
                    plan += (i ? "/" : ":") + std::to_string(data.levels[i].theta.cols());
                row.plans.push_back(plan);
                simulate_seconds = seconds_since(start);
            } else if (m.ml) {
                data = simulators::generate_multilevel_dataset(
                    model, prior, {.samples_per_level = m.n, .seed = data_seed, .threads = 1});
                simulate_seconds = seconds_since(start);
            }
            if (m.planned && data.levels.size() == 1) {
                start = Clock::now();
                cpu_start = std::clock();
                summary = nle.append_simulations(data).train_single_level(single_level_options(), callbacks);
                q = nle.estimator();
            } else if (m.ml) {
                training::MlmcTrainingOptions options;
                options.training = paper_recipe(m.epochs, m.rescale, m.project);
                options.validation = training::MlmcValidation::none;
                options.recipe = config.recipe == "robust" ? training::MlmcRecipe::robust
                                                           : training::MlmcRecipe::paper;
                // The paper's loop has no level alignment; the robust recipe keeps the default.
                options.align_levels = config.recipe == "robust";
                options.loss = loss_options;
                start = Clock::now();
                cpu_start = std::clock();
                if (config.zscore == "paper") {
                    // Train on pre-z-scored data with the identity standardizer, then sample with
                    // the top level's statistics; the learning curve then sees the final scaling.
                    // (A fresh front-end estimator has the identity standardizers.)
                    const auto top = examples::zscore_each_tensor(data);
                    const auto x_top = examples::to_float(top.x), theta_top = examples::to_float(top.theta);
                    options.fit_standardization = false;
                    callbacks.on_epoch = [&, x_top = x_top, theta_top = theta_top](const training::EpochReport& e) {
                        if (e.epoch % config.curve_every == 0 || e.epoch == 1) {
                            Estimator view = nle.estimator();
                            view.set_standardization(x_top, theta_top);
                            curves << m.name << ',' << seed << ',' << e.epoch << ',' << e.training_loss << ','
                                   << held_out.value(view) << '\n';
                        }
                        return true;
                    };
                    summary = nle.append_simulations(data).train(options, callbacks);
                    q = nle.estimator();
                    q.set_standardization(x_top, theta_top);
                } else {
                    summary = nle.append_simulations(data).train(options, callbacks);
                    q = nle.estimator();
                }
            } else {
                const auto single = simulators::generate_dataset(
                    m.level == 0 ? model.level<0>() : m.level == 1 ? model.level<1>() : model.level<2>(),
                    prior, m.n[0], derive_seed(s, 3, m.level), {.threads = 1});
                simulate_seconds = seconds_since(start);
                start = Clock::now();
                cpu_start = std::clock();
                summary = nle.append_simulations(single.theta, single.x)
                              .train_single_level(single_level_options(), callbacks);
                q = nle.estimator();
            }
            const double train_seconds = seconds_since(start);
            const double train_cpu = double(std::clock() - cpu_start) / CLOCKS_PER_SEC;
            curves.flush();
            start = Clock::now();
            const std::vector<double> mmd = evaluate(q, test, config.draws, derive_seed(s, 5));
            const double eval_seconds = seconds_since(start);
            for (std::size_t j = 0; j < mmd.size(); ++j) {
                per_theta << m.name << ',' << seed << ',' << j;
                for (Index i = 0; i < 7; ++i) per_theta << ',' << test.thetas(i, static_cast<Index>(j));
                per_theta << ',' << mmd[j] << '\n';
            }
            per_theta.flush();
            const Stats st = stats(mmd);
            row.mmd.insert(row.mmd.end(), mmd.begin(), mmd.end());
            row.seed_means.push_back(st.mean);
            row.train_seconds.push_back(train_seconds);
            row.simulate_seconds.push_back(simulate_seconds);
            // The robust recipe trains three phases (safety net, warm start, ML): count every
            // epoch, so that ms/epoch is one, and say which model it kept.
            int epochs = summary.epochs;
            std::string status = training::to_string(summary.status);
            if (const auto& robust = nle.robust_summary()) {
                epochs = robust->plain_high.epochs + robust->warm_start.epochs + robust->multilevel.epochs;
                status += message("/", training::to_string(robust->choice));
            }
            row.epoch_ms.push_back(1e3 * train_seconds / std::max(1, epochs));
            row.epochs.push_back(epochs);
            row.status.push_back(status);
            runs << m.name << ',' << seed << ',' << row.status.back() << ',' << epochs << ','
                 << train_seconds << ',' << row.epoch_ms.back() << ',' << simulate_seconds << ',' << st.mean
                 << ',' << st.median << ',' << train_cpu << ',' << (m.planned ? row.plans.back() : "")
                 << std::endl;
            std::fprintf(stderr,
                         "seed %d %-12s MMD^2 mean %.3f median %.3f | %s after %d epochs, train %.1f s "
                         "(%.2f ms/epoch; CPU %.1f s), simulate %.2f s, evaluate %.1f s\n",
                         seed, m.name.c_str(), st.mean, st.median, status.c_str(), epochs, train_seconds, row.epoch_ms.back(), train_cpu, simulate_seconds, eval_seconds);
        }
    }

    std::printf("wrote %s/toggle_switch_{mmd,curves,runs}.csv\n", config.out.c_str());
    report(config, rows);
    return 0;
} catch (const std::exception& e) {
    std::cerr << "toggle_switch: " << e.what() << "\n";
    return 1;
}
