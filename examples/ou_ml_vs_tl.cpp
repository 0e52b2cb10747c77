// SPDX-License-Identifier: MIT
// Ornstein-Uhlenbeck ML-NPE against transfer-learning NPE (Hikida et al. 2025, Sec. 5): theta =
// (gamma, mu, sigma); the high level is the Euler-Maruyama path x_1..x_100 from x_0 = 2, the
// low level the stationary approximation on the same normals. The posterior q(theta | x) is a
// 3-D coupling NSF (2 couplings, 2 bins, tail bound 2, conditioner width 10, 1 block) whose
// context is the z-scored path at output indices 0, 3, 9, 31, 99 (a fixed embedding).
//   ML       : MLMC loss on n = (1000, n_1), 500 full-batch epochs (the paper's recipe);
//   TL(p)    : pretrain on n_0 = 1000 + n_1 low simulations, fine-tune on the n_1 high ones,
//              each phase early-stopped with patience p (10% validation), p in {1, 20, 100, 1000}.
// Metrics over prior test pairs: the paper's -median density (-median_i q(theta_i | x_i)), true
// NLPD, and C2ST against an exact posterior (slice sampling on the Gaussian likelihood of the
// Euler recursion at the 5 observed steps) for a few test observations, over several runs.
// With --x0 it runs the 4-parameter variant (x_0 ~ U[0, 4] only changes the high level; gamma ~
// U[0.5, 1.5]): ML against NPE on 1000 high-only simulations (n_1 = 100).
//
//   ou_ml_vs_tl [--quick] [--runs 10] [--n1 10,50,100] [--patience 1,20,100,1000]
//               [--tests 300] [--c2st-obs 5] [--x0] [--recipe paper|default]
//               [--zscore top|paper] [--first-run 0] [--out PREFIX]
//
// --zscore: `top` (default) is the library's z-scoring (ML: the top level's statistics; TL: the
// low-fidelity data's, kept through both phases, as sbi). `paper` does what the paper's code
// does (examples/paper_zscoring.hpp): every training tensor by its own statistics (ML: level 0,
// the pairs' coarse and fine paths; TL: the low data for pretraining, then the n_1 high paths
// for fine-tuning), and the test paths with the top tensor's statistics.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "mlsbi/diagnostics/c2st.hpp"
#include "mlsbi/diagnostics/calibration.hpp"
#include "mlsbi/flows/embedding.hpp"
#include "mlsbi/flows/neural_spline_flow.hpp"
#include "mlsbi/inference/initialization.hpp"
#include "mlsbi/inference/slice_sampler.hpp"
#include "mlsbi/sbi.hpp"
#include "mlsbi/simulators/multilevel_dataset.hpp"
#include "mlsbi/simulators/ou.hpp"
#include "mlsbi/training.hpp"
#include "npe_support.hpp"
#include "paper_zscoring.hpp"

using namespace mlsbi;

namespace {

/// The output indices of the path the posterior sees (the paper's context).
const std::vector<Index> observed_indices{0, 3, 9, 31, 99};

/// Fixed embedding: the path at the observed indices (z-scored afterwards by the estimator).
struct PathPoints {
    void operator()(const ConstMatrixRef<float>& path, MatrixRef<float> out) const {
        for (std::size_t k = 0; k < observed_indices.size(); ++k)
            out.row(static_cast<Index>(k)) = path.row(observed_indices[k]);
    }
};

using Flow = flows::NeuralSplineFlow<float>;
using Embedding = flows::FunctionEmbedding<float, PathPoints>;
using Estimator = flows::PosteriorEstimator<Flow, Embedding>;

struct Config {
    int runs = 10;
    int first_run = 0;  // runs first_run .. first_run + runs - 1 (to split a study over processes)
    std::vector<Index> n1{10, 50, 100};
    std::vector<int> patience{1, 20, 100, 1000};
    Index n0 = 1000;
    int ml_epochs = 500;
    int tl_max_epochs = 2000;  // per phase
    Index tests = 300;
    Index draws = 500;   // posterior draws per test pair (leakage and HPD credibility)
    Index c2st_obs = 5;  // test observations with an exact reference
    Index c2st_samples = 1000;
    bool x0 = false;
    std::string out = "ou_ml_vs_tl";
    std::string recipe = "paper";  ///< ML training: "paper" or "default" (examples::ml_recipe)
    std::string zscore = "top";    ///< "top" (the library's) or "paper" (every tensor by its own)
};

template <class T>
std::vector<T> parse_list(const std::string& s) {
    std::vector<T> v;
    std::stringstream list(s);
    for (std::string item; std::getline(list, item, ',');)
        v.push_back(static_cast<T>(std::stol(item)));
    return v;
}

Config parse(int argc, char** argv) {
    Config c;
    auto next = [&](int& i) -> std::string {
        if (i + 1 >= argc) throw std::invalid_argument(message(argv[i], " needs a value"));
        return argv[++i];
    };
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--quick") {
            c.runs = 2, c.n1 = {10}, c.patience = {20}, c.ml_epochs = 50, c.tl_max_epochs = 50;
            c.tests = 40, c.draws = 100, c.c2st_obs = 1, c.c2st_samples = 200;
        } else if (a == "--runs") {
            c.runs = std::stoi(next(i));
        } else if (a == "--first-run") {
            c.first_run = std::stoi(next(i));
        } else if (a == "--n1") {
            c.n1 = parse_list<Index>(next(i));
        } else if (a == "--patience") {
            c.patience = parse_list<int>(next(i));
        } else if (a == "--recipe") {
            c.recipe = next(i);
        } else if (a == "--zscore") {
            c.zscore = next(i);
        } else if (a == "--epochs") {
            c.ml_epochs = std::stoi(next(i));
        } else if (a == "--tl-max-epochs") {
            c.tl_max_epochs = std::stoi(next(i));
        } else if (a == "--tests") {
            c.tests = std::stol(next(i));
        } else if (a == "--c2st-obs") {
            c.c2st_obs = std::stol(next(i));
        } else if (a == "--x0") {
            c.x0 = true;
        } else if (a == "--out") {
            c.out = next(i);
        } else {
            throw std::invalid_argument(
                message("unknown argument '", a, "' (see the header comment)"));
        }
    }
    require(
        c.runs >= 1 && !c.n1.empty() && c.tests >= 1 && c.c2st_obs >= 0 && c.c2st_obs <= c.tests,
        "bad configuration");
    require(c.zscore == "top" || c.zscore == "paper", "--zscore must be top or paper, got '",
            c.zscore, "'");
    return c;
}

// The paper's network on the fixed summary (the path at 5 times); the front end infers the
// dimensions. Every method of a run starts from the same initial weights.
sbi::Options<Flow, Embedding> architecture(std::uint64_t run) {
    Embedding::Options e;
    e.input_dim = 100, e.output_dim = 5, e.name = "path at indices 0,3,9,31,99";
    return {.density = {.transforms = 2, .hidden = 10, .blocks = 1, .bins = 2, .tail_bound = 2.0},
            .embedding = e,
            .network_seed = derive_seed(run, 2)};
}

struct Scores {
    double neg_median_density = 0, nlpd_median = 0, nlpd_mean = 0, coverage50 = 0;
    double c2st = std::numeric_limits<double>::quiet_NaN();
};

struct Method {
    std::string name;
    Index n1 = 0;
    int patience = 0;  // 0 = ML
    bool with_c2st = false;
    std::vector<double> neg_median_density{}, nlpd_median{}, nlpd_mean{}, coverage50{}, c2st{};
    std::vector<double> seconds{}, epochs{};
};

}  // namespace

int main(int argc, char** argv) try {
    const Config config = parse(argc, argv);
    const simulators::ou::Settings settings{.infer_x0 = config.x0};
    const auto model = simulators::ou::make_multilevel(settings);
    const auto prior = config.x0 ? simulators::ou::prior_with_x0() : simulators::ou::prior();
    const Index dim = prior.dim();
    std::cout << "Ornstein-Uhlenbeck NPE" << (config.x0 ? " (4-parameter variant with x_0)" : "")
              << ": NSF " << dim << "-D (2 couplings, 2 bins, tail 2, width 10, 1 block), float, "
              << "context = path at indices 0,3,9,31,99; " << config.runs << " runs, "
              << config.tests << " test pairs\n";

    // Test pairs (shared by every run) and the exact reference posteriors of the first
    // c2st_obs of them: slice sampling on the exact likelihood of the 5 observed steps.
    const auto test = simulators::generate_dataset(model.level<1>(), prior, config.tests, 424242);
    std::vector<Matrix<double>> reference(static_cast<std::size_t>(config.c2st_obs));
    for (Index t = 0; t < config.c2st_obs; ++t) {
        Vector<double> observed(5);
        for (Index k = 0; k < 5; ++k)
            observed(k) = test.x(observed_indices[static_cast<std::size_t>(k)], t);
        auto log_posterior =
            inference::batch_over_columns([&, observed](const ConstVectorRef<double>& th) {
                const double lp = prior.log_density(th);
                if (!std::isfinite(lp)) return lp;
                return lp + simulators::ou::euler_log_likelihood(observed_indices, observed, th,
                                                                 settings);
            });
        const Index chains = 4;
        const auto init = inference::sir_initialize_from_prior(log_posterior, prior, 4000, chains,
                                                               derive_seed(31, t));
        const auto mcmc = inference::slice_sample(log_posterior, init.points,
                                                  {.draws_per_chain = config.c2st_samples / chains,
                                                   .warmup = 300,
                                                   .thin = 2,
                                                   .seed = derive_seed(32, t)});
        reference[static_cast<std::size_t>(t)] = mcmc.samples;
        std::fprintf(stderr, "reference %ld: R-hat %.3f, ESS bulk %.0f\n", static_cast<long>(t),
                     mcmc.max_rhat(), mcmc.min_ess_bulk());
    }

    std::vector<Method> methods;
    if (config.x0) {
        methods.push_back({.name = "ML", .n1 = 100, .with_c2st = true});
        methods.push_back({.name = "high-only", .n1 = 1000, .patience = 20, .with_c2st = true});
    } else {
        for (Index n1 : config.n1) {
            methods.push_back({.name = "ML", .n1 = n1, .with_c2st = true});
            for (int p : config.patience)
                methods.push_back({.name = "TL", .n1 = n1, .patience = p, .with_c2st = p == 20});
        }
    }

    std::ofstream csv(config.out + ".csv");
    require(csv.is_open(), "cannot write '", config.out, ".csv'");
    csv << "method,n1,patience,run,neg_median_density,nlpd_median,nlpd_mean,coverage50,c2st,"
           "train_seconds,epochs\n";
    const Vector<double> curve_levels = diagnostics::coverage_levels(21);
    std::map<std::string, Vector<double>> mean_curves;

    for (int run = config.first_run; run < config.first_run + config.runs; ++run) {
        const auto r = static_cast<std::uint64_t>(run);
        const Index max_n1 = *std::max_element(config.n1.begin(), config.n1.end());
        // Nested data: smaller n_1 use the first columns of the largest draw.
        const auto data = simulators::generate_multilevel_dataset(
            model, prior,
            {.samples_per_level = {config.n0, config.x0 ? 100 : max_n1},
             .seed = derive_seed(r, 1)});
        const bool paper_z = config.zscore == "paper";
        for (Method& m : methods) {
            auto npe = sbi::make_npe(prior, architecture(r));
            double seconds = 0, epochs = 0;
            std::optional<examples::TopScaling> top;  // --zscore paper: the top tensor's
            if (m.name == "ML") {
                simulators::MultilevelDataset subset = data;
                auto& pairs = subset.levels[1];
                pairs.theta = pairs.theta.leftCols(m.n1).eval();
                pairs.x_fine = pairs.x_fine.leftCols(m.n1).eval();
                pairs.x_coarse = pairs.x_coarse.leftCols(m.n1).eval();
                pairs.seeds.resize(static_cast<std::size_t>(m.n1));
                auto options = examples::ml_recipe(config.recipe, config.ml_epochs);
                if (paper_z) {
                    top = examples::zscore_each_tensor(subset);
                    options.fit_standardization = false;
                }
                const auto& s = npe.append_simulations(subset).train(options);
                seconds = s.seconds, epochs = s.epochs;
            } else if (m.name == "high-only") {
                auto high =
                    simulators::generate_dataset(model.level<1>(), prior, m.n1, derive_seed(r, 3));
                auto options = examples::paper_mc_recipe(config.tl_max_epochs, m.patience);
                if (paper_z) {
                    top = examples::TopScaling{.x = examples::zscore_in_place(high.x),
                                               .theta = examples::zscore_in_place(high.theta)};
                    options.fit_standardization = false;
                }
                const auto& s =
                    npe.append_simulations(high.theta, high.x).train_single_level(options);
                seconds = s.seconds, epochs = s.epochs;
            } else {
                // TL: n_0 = 1000 + n_1 low simulations (same cost in low-level runs as ML's low
                // data plus the low halves of its pairs), then the n_1 high simulations.
                auto low = simulators::generate_dataset(model.level<0>(), prior, config.n0 + m.n1,
                                                        derive_seed(r, 4));
                Matrix<double> theta_high = data.levels[1].theta.leftCols(m.n1);
                Matrix<double> x_high = data.levels[1].x_fine.leftCols(m.n1);
                training::TransferOptions options;
                options.pretraining = examples::paper_mc_recipe(config.tl_max_epochs, m.patience);
                options.fine_tuning = examples::paper_mc_recipe(config.tl_max_epochs, m.patience);
                options.pretraining.split_seed = derive_seed(r, 5);
                options.fine_tuning.split_seed = derive_seed(r, 6);
                if (paper_z) {
                    (void)examples::zscore_in_place(low.theta);
                    (void)examples::zscore_in_place(low.x);
                    top = examples::TopScaling{.x = examples::zscore_in_place(x_high),
                                               .theta = examples::zscore_in_place(theta_high)};
                    options.pretraining.fit_standardization = false;  // fine-tuning never fits
                }
                const auto s = npe.append_simulations(theta_high, x_high)
                                   .train_transfer(low.theta, low.x, options);
                seconds = s.pretraining.seconds + s.fine_tuning.seconds;
                epochs = s.pretraining.epochs + s.fine_tuning.epochs;
            }
            Estimator q = npe.estimator();
            const Matrix<double> test_x = top ? examples::zscored(top->x, test.x) : test.x;
            if (top)
                q.set_standardization(examples::to_float(top->theta),
                                      q.context_standardizer());  // identity: data pre-scaled
            // Test metrics from the prior-truncated posterior.
            const examples::TestSetResult tested = examples::evaluate_test_set(
                q, prior, test.theta, test_x, config.draws,
                [&](Index t) { return derive_seed(r, 7, static_cast<std::uint64_t>(t)); });
            const std::vector<double>& nlpd = tested.nlpd;
            const std::vector<double>& density = tested.density;
            const Vector<double>& credibility = tested.credibility;
            const auto curve = diagnostics::coverage_curve(credibility, curve_levels);
            const std::string key = m.name +
                                    (m.patience ? "(p" + std::to_string(m.patience) + ")" : "") +
                                    " n1=" + std::to_string(m.n1);
            if (!mean_curves.count(key))
                mean_curves[key] = Vector<double>::Zero(curve_levels.size());
            mean_curves[key] += curve.coverage / double(config.runs);
            Scores sc;
            sc.neg_median_density = -examples::quantile(density, 0.5);
            sc.nlpd_median = examples::quantile(nlpd, 0.5);
            sc.nlpd_mean = examples::mean_of(nlpd);
            sc.coverage50 = curve.coverage(10);
            if (m.with_c2st && config.c2st_obs > 0) {
                double acc = 0;
                for (Index t = 0; t < config.c2st_obs; ++t) {
                    Matrix<double> draws;
                    (void)examples::evaluate_test_point(q, prior, test.theta.col(t), test_x.col(t),
                                                        config.c2st_samples, derive_seed(r, 8, t),
                                                        &draws);
                    acc += diagnostics::c2st(draws, reference[static_cast<std::size_t>(t)],
                                             {.seed = derive_seed(r, 9, t)})
                               .accuracy /
                           double(config.c2st_obs);
                }
                sc.c2st = acc;
                m.c2st.push_back(acc);
            }
            m.neg_median_density.push_back(sc.neg_median_density);
            m.nlpd_median.push_back(sc.nlpd_median);
            m.nlpd_mean.push_back(sc.nlpd_mean);
            m.coverage50.push_back(sc.coverage50);
            m.seconds.push_back(seconds);
            m.epochs.push_back(epochs);
            csv << m.name << ',' << m.n1 << ',' << m.patience << ',' << run << ','
                << sc.neg_median_density << ',' << sc.nlpd_median << ',' << sc.nlpd_mean << ','
                << sc.coverage50 << ',' << sc.c2st << ',' << seconds << ',' << epochs << '\n';
            csv.flush();
        }
        std::cerr << "run " << run << " done\n";
    }

    std::printf(
        "\nmean (sd) over %d runs; -median density = -median_i q(theta_i | x_i) (the paper's "
        "'NLPD'), NLPD = -log q; C2ST vs the exact posterior on %ld test observations.\n"
        "Paper -median density: n1=10 ML -0.55 (0.19), TL(p20) -0.45 (0.28); n1=100 ML -1.29 "
        "(0.16), TL(p20) -1.83 (0.21)%s.\n\n",
        config.runs, static_cast<long>(config.c2st_obs),
        config.x0 ? "; x0 variant: ML -0.18 vs high-only -1.21" : "");
    std::printf("%-10s %5s | %-18s | %-18s | %-18s | %-16s | %-16s | %7s %7s\n", "method", "n1",
                "-median density", "NLPD median", "NLPD mean", "HPD cov @0.5", "C2ST", "train s",
                "epochs");
    for (const Method& m : methods) {
        const std::string name =
            m.name + (m.patience && m.name == "TL" ? "(p" + std::to_string(m.patience) + ")" : "");
        std::printf("%-10s %5ld | %-18s | %-18s | %-18s | %-16s | %-16s | %7.1f %7.0f\n",
                    name.c_str(), static_cast<long>(m.n1),
                    examples::mean_sd(m.neg_median_density).c_str(),
                    examples::mean_sd(m.nlpd_median).c_str(),
                    examples::mean_sd(m.nlpd_mean).c_str(), examples::mean_sd(m.coverage50).c_str(),
                    m.c2st.empty() ? "-" : examples::mean_sd(m.c2st).c_str(),
                    examples::mean_of(m.seconds), examples::mean_of(m.epochs));
    }

    // Coverage curves of every method (mean over runs) and their plot.
    const std::string coverage_csv = config.out + "_coverage.csv";
    {
        std::ofstream cov(coverage_csv);
        cov << "level";
        for (const auto& [key, curve] : mean_curves) cov << ',' << key;
        cov << '\n';
        for (Index i = 0; i < curve_levels.size(); ++i) {
            cov << curve_levels(i);
            for (const auto& [key, curve] : mean_curves) cov << ',' << curve(i);
            cov << '\n';
        }
    }
    std::vector<examples::LineSeries> series;
    int column = 2;
    for (const auto& [key, curve] : mean_curves) {
        examples::LineSeries s;
        s.csv = coverage_csv, s.x_column = 1, s.y_column = column++, s.label = key;
        series.push_back(s);
    }
    const bool plotted =
        examples::line_plot(config.out + "_coverage.png", series,
                            "Ornstein-Uhlenbeck NPE: HPD coverage (mean over runs)",
                            "credible level", "coverage", true);
    std::printf("\nper-run values: %s.csv; coverage curves: %s%s\n", config.out.c_str(),
                coverage_csv.c_str(), plotted ? " (+ .png)" : "");
    return 0;
} catch (const std::exception& e) {
    std::cerr << "ou_ml_vs_tl: " << e.what() << "\n";
    return 1;
}
