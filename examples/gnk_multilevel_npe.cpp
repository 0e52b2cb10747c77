// SPDX-License-Identifier: MIT
// g-and-k multilevel NPE (Hikida et al. 2025, Sec. 5): each simulation is m = 1000 iid g-and-k
// draws summarised by the four octile statistics (SA, SB, SG, SK); the low level uses the series
// erfinv, the high level the exact one, on the same uniforms. The posterior q(theta | s) is a 4-D
// coupling NSF (3 coupling transforms with LU layers, 3 bins, tail bound 3, residual-net
// conditioner 32 wide with 2 blocks), trained
//   ML(n_1)  : MLMC loss on n = (10^3, n_1), n_1 in {10, 50, 100}, 800 full-batch epochs;
//   high-only: NPE on 100 high-fidelity simulations (sbi's early-stopped recipe);
//   low-only : NPE on 10^3 low-fidelity simulations.
// Metrics over 500 prior test pairs at the high level: true NLPD and the paper's -density of the
// prior-truncated posterior, HPD coverage at 101 levels from 2000 posterior draws per test point,
// and (--c2st-obs K) C2ST against slice sampling on the exact likelihood of the raw 1000 draws.
//
//   gnk_multilevel_npe [--quick] [--seeds 3] [--n1 10,50,100] [--epochs 800] [--recipe
//   paper|default] [--zscore top|paper] [--align-levels] [--tests 500]
//                      [--draws 2000] [--c2st-obs 0] [--first-seed 0] [--out PREFIX]
//
// --zscore: `top` (default) is the library's z-scoring: the summaries and theta by the top
// level's statistics. `paper` does what the paper's code does (its MLMC_standardize and
// MC_standardize): EVERY training tensor (level 0, the pairs' coarse members, the pairs' fine
// members, a baseline's training set) is z-scored by its OWN statistics, the m raw draws draw
// index by draw index before they are summarised, and theta too; test data are z-scored with the
// top tensor's statistics (ML: the pairs' fine members; a baseline: its training set) and theta
// un-standardised with them. For ML this moment-matches the low level's draws to the high
// level's.
// --align-levels: maps the low level's summaries onto the high level's through the pairs
// (training::align_levels) before ML training. The default recipe (--recipe default) does this
// itself; the paper's recipe does not.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "mlsbi/diagnostics/c2st.hpp"
#include "mlsbi/diagnostics/calibration.hpp"
#include "mlsbi/flows/neural_spline_flow.hpp"
#include "mlsbi/inference/initialization.hpp"
#include "mlsbi/inference/slice_sampler.hpp"
#include "mlsbi/sbi.hpp"
#include "mlsbi/simulators/gnk.hpp"
#include "mlsbi/simulators/multilevel_dataset.hpp"
#include "mlsbi/training.hpp"
#include "npe_support.hpp"
#include "paper_zscoring.hpp"

using namespace mlsbi;
using Flow = flows::NeuralSplineFlow<float>;
using Estimator = flows::PosteriorEstimator<Flow>;

namespace {

struct Config {
    int seeds = 3;
    int first_seed = 0;  // seeds first_seed .. first_seed + seeds - 1 (to split over processes)
    Index n0 = 1000;
    std::vector<Index> n1{10, 50, 100};
    Index n_high = 100, n_low = 1000;
    Index draws_per_simulation = 1000;  // m
    int ml_epochs = 800;
    int mc_max_epochs = 2000;
    Index tests = 500;
    Index draws = 2000;  // posterior draws per test point
    Index c2st_obs = 0;
    Index c2st_samples = 1000;
    std::string out = "gnk_multilevel_npe";
    std::string recipe = "paper";  ///< ML training: "paper" or "default" (examples::ml_recipe)
    std::string zscore = "top";    ///< "top" (the library's) or "paper" (every tensor by its own)
    bool align_levels = false;     ///< align the ML data's cheap level (training::align_levels)
};

Config parse(int argc, char** argv) {
    Config c;
    auto next = [&](int& i) -> std::string {
        if (i + 1 >= argc) throw std::invalid_argument(message(argv[i], " needs a value"));
        return argv[++i];
    };
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--quick") {
            c.seeds = 1, c.n1 = {50}, c.n0 = 300, c.n_low = 300, c.n_high = 50;
            c.draws_per_simulation = 200, c.ml_epochs = 40, c.mc_max_epochs = 40, c.tests = 40;
            c.draws = 200, c.c2st_obs = 0;
        } else if (a == "--seeds") {
            c.seeds = std::stoi(next(i));
        } else if (a == "--first-seed") {
            c.first_seed = std::stoi(next(i));
        } else if (a == "--n1") {
            c.n1.clear();
            std::stringstream list(next(i));
            for (std::string item; std::getline(list, item, ',');) c.n1.push_back(std::stol(item));
        } else if (a == "--recipe") {
            c.recipe = next(i);
        } else if (a == "--align-levels") {
            c.align_levels = true;
        } else if (a == "--zscore") {
            c.zscore = next(i);
        } else if (a == "--epochs") {
            c.ml_epochs = std::stoi(next(i));
        } else if (a == "--tests") {
            c.tests = std::stol(next(i));
        } else if (a == "--draws") {
            c.draws = std::stol(next(i));
        } else if (a == "--c2st-obs") {
            c.c2st_obs = std::stol(next(i));
        } else if (a == "--out") {
            c.out = next(i);
        } else {
            throw std::invalid_argument(
                message("unknown argument '", a, "' (see the header comment)"));
        }
    }
    require(c.seeds >= 1 && !c.n1.empty() && c.tests >= 1 && c.draws >= 10 && c.c2st_obs >= 0 &&
                c.c2st_obs <= c.tests,
            "bad configuration");
    require(c.zscore == "top" || c.zscore == "paper", "--zscore must be top or paper, got '",
            c.zscore, "'");
    return c;
}

// The paper's NPE network (the front end infers the dimensions); every method of a seed starts
// from the same initial weights.
sbi::Options<Flow> architecture(std::uint64_t seed) {
    return {.density = {.transforms = 3, .hidden = 32, .blocks = 2, .bins = 3, .tail_bound = 3.0},
            .network_seed = derive_seed(seed, 2)};
}

// The paper code's z-scoring of one tensor of raw g-and-k draws (m x n, a column per
// simulation): every draw index by its own mean and sd over the n simulations, then the octile
// summaries. `fit` makes the tensor's statistics; `summaries` applies them to any raw draws.
class DrawScaling {
public:
    static DrawScaling fit(const Matrix<double>& raw) {
        DrawScaling s;
        s.m_draws.fit(raw);
        return s;
    }
    [[nodiscard]] Matrix<double> summaries(const Matrix<double>& raw) const {
        Matrix<double> z;
        m_draws.apply(raw, z);
        return simulators::gnk::octile_summaries(z);
    }

private:
    flows::Standardizer<double> m_draws;
};

struct Method {
    std::string name;
    Index n = 0;  // n_1 for ML, the training size for the baselines
    std::vector<double> nlpd_median{}, nlpd_mean{}, neg_density_median{}, c2st{}, seconds{};
    std::vector<std::vector<double>> coverage{};  // [seed][0.1, 0.3, 0.5, 0.7, 0.9]
    Vector<double> mean_curve{};
    std::vector<std::string> status{};
};

}  // namespace

int main(int argc, char** argv) try {
    const Config config = parse(argc, argv);
    const auto model = simulators::gnk::make_summary_multilevel(config.draws_per_simulation);
    const auto prior = simulators::gnk::prior();
    std::cout << "g-and-k NPE: m = " << config.draws_per_simulation
              << " draws -> octile summaries; coupling NSF 4-D (3 transforms, 3 bins, tail 3, "
                 "resnet 32 x 2 blocks), float; "
              << config.seeds << " seeds, " << config.tests << " test pairs, " << config.draws
              << " posterior draws each\n";

    // Test pairs at the high level, shared by all seeds; raw draws re-simulated from the stored
    // seeds for the exact-likelihood references.
    const auto test = simulators::generate_dataset(model.level<1>(), prior, config.tests, 909090);
    std::vector<Matrix<double>> reference(static_cast<std::size_t>(config.c2st_obs));
    for (Index t = 0; t < config.c2st_obs; ++t) {
        Vector<double> raw(config.draws_per_simulation);
        simulators::gnk::HighLevel(config.draws_per_simulation)
            .simulate(test.theta.col(t), test.seeds[static_cast<std::size_t>(t)], raw);
        auto log_posterior = inference::batch_over_columns(
            [&, raw](const ConstVectorRef<double>& th) {
                const double lp = prior.log_density(th);
                if (!std::isfinite(lp)) return lp;
                return lp + simulators::gnk::exact_log_likelihood(raw, th);
            },
            2);
        const auto init =
            inference::sir_initialize_from_prior(log_posterior, prior, 2000, 4, derive_seed(41, t));
        const auto mcmc = inference::slice_sample(log_posterior, init.points,
                                                  {.draws_per_chain = config.c2st_samples / 4,
                                                   .warmup = 200,
                                                   .thin = 1,
                                                   .seed = derive_seed(42, t)});
        reference[static_cast<std::size_t>(t)] = mcmc.samples;
        std::fprintf(stderr, "reference %ld: R-hat %.3f, ESS bulk %.0f\n", static_cast<long>(t),
                     mcmc.max_rhat(), mcmc.min_ess_bulk());
    }

    std::vector<Method> methods;
    for (Index n1 : config.n1) methods.push_back({.name = "ML", .n = n1});
    methods.push_back({.name = "high-only", .n = config.n_high});
    methods.push_back({.name = "low-only", .n = config.n_low});
    const Vector<double> curve_levels = diagnostics::coverage_levels(101);
    for (Method& m : methods) m.mean_curve = Vector<double>::Zero(curve_levels.size());
    const std::vector<double> reported{0.1, 0.3, 0.5, 0.7, 0.9};

    std::ofstream csv(config.out + ".csv");
    require(csv.is_open(), "cannot write '", config.out, ".csv'");
    csv << "method,n,seed,test_index,A,B,g,k,nlpd,hpd_credibility,acceptance\n";

    // --zscore paper needs the raw draws: the same seeds give the same thetas and uniforms.
    const bool paper_z = config.zscore == "paper";
    const auto raw_model = simulators::gnk::make_multilevel(config.draws_per_simulation);
    auto raw_twin = [&](const auto& raw, const auto& summarised, const char* what) {
        require(raw.theta == summarised.theta, "gnk_multilevel_npe: the raw ", what,
                " simulations do not match the summarised ones");
        return raw;
    };
    Matrix<double> test_raw;
    if (paper_z)
        test_raw = raw_twin(simulators::generate_dataset(raw_model.level<1>(), prior, config.tests,
                                                         909090),
                            test, "test")
                       .x;

    const Index max_n1 = *std::max_element(config.n1.begin(), config.n1.end());
    for (int seed = config.first_seed; seed < config.first_seed + config.seeds; ++seed) {
        const auto s = static_cast<std::uint64_t>(seed);
        const simulators::GenerationOptions data_options{.samples_per_level = {config.n0, max_n1},
                                                         .seed = derive_seed(s, 1)};
        const auto data = simulators::generate_multilevel_dataset(model, prior, data_options);
        const auto high =
            simulators::generate_dataset(model.level<1>(), prior, config.n_high, derive_seed(s, 3));
        const auto low =
            simulators::generate_dataset(model.level<0>(), prior, config.n_low, derive_seed(s, 4));
        std::optional<simulators::MultilevelDataset> raw_data;
        std::optional<std::remove_const_t<decltype(high)>> raw_high, raw_low;
        if (paper_z) {
            raw_data = simulators::generate_multilevel_dataset(raw_model, prior, data_options);
            require(raw_data->levels[1].theta == data.levels[1].theta &&
                        raw_data->levels[0].theta == data.levels[0].theta,
                    "gnk_multilevel_npe: the raw multilevel simulations do not match");
            raw_high = raw_twin(simulators::generate_dataset(raw_model.level<1>(), prior,
                                                             config.n_high, derive_seed(s, 3)),
                                high, "high-only");
            raw_low = raw_twin(simulators::generate_dataset(raw_model.level<0>(), prior,
                                                            config.n_low, derive_seed(s, 4)),
                               low, "low-only");
        }
        for (Method& m : methods) {
            auto npe = sbi::make_npe(prior, architecture(s));
            training::TrainingSummary summary;
            Matrix<double> test_x = test.x;            // the test contexts the model sees
            flows::Standardizer<float> theta_scaling;  // --zscore paper: the top tensor's theta
            if (m.name == "ML") {
                simulators::MultilevelDataset subset = data;  // nested: first n_1 pairs
                auto& pairs = subset.levels[1];
                pairs.theta = pairs.theta.leftCols(m.n).eval();
                pairs.x_fine = pairs.x_fine.leftCols(m.n).eval();
                pairs.x_coarse = pairs.x_coarse.leftCols(m.n).eval();
                pairs.seeds.resize(static_cast<std::size_t>(m.n));
                auto options = examples::ml_recipe(config.recipe, config.ml_epochs);
                if (paper_z) {
                    const Matrix<double>& raw0 = raw_data->levels[0].x_fine;
                    subset.levels[0].x_fine = DrawScaling::fit(raw0).summaries(raw0);
                    (void)examples::zscore_in_place(subset.levels[0].theta);
                    const Matrix<double> coarse = raw_data->levels[1].x_coarse.leftCols(m.n);
                    const Matrix<double> fine = raw_data->levels[1].x_fine.leftCols(m.n);
                    pairs.x_coarse = DrawScaling::fit(coarse).summaries(coarse);
                    const DrawScaling top = DrawScaling::fit(fine);
                    pairs.x_fine = top.summaries(fine);
                    theta_scaling = examples::to_float(examples::zscore_in_place(pairs.theta));
                    test_x = top.summaries(test_raw);
                    options.fit_standardization = false;
                }
                if (config.align_levels) (void)training::align_levels(subset);
                summary = npe.append_simulations(subset).train(options);
            } else {
                const bool is_high = m.name == "high-only";
                auto d = is_high ? high : low;
                auto options = examples::paper_mc_recipe(config.mc_max_epochs);
                options.split_seed = derive_seed(s, 5);
                if (paper_z) {
                    const Matrix<double>& raw = (is_high ? *raw_high : *raw_low).x;
                    const DrawScaling own = DrawScaling::fit(raw);
                    d.x = own.summaries(raw);
                    theta_scaling = examples::to_float(examples::zscore_in_place(d.theta));
                    test_x = own.summaries(test_raw);
                    options.fit_standardization = false;
                }
                summary = npe.append_simulations(d.theta, d.x).train_single_level(options);
            }
            Estimator q = npe.estimator();
            if (paper_z) q.set_standardization(theta_scaling, q.context_standardizer());
            const examples::TestSetResult tested = examples::evaluate_test_set(
                q, prior, test.theta, test_x, config.draws,
                [&](Index t) { return derive_seed(s, 6, static_cast<std::uint64_t>(t)); });
            const std::vector<double>& nlpd = tested.nlpd;
            std::vector<double> density;
            for (double d : tested.density) density.push_back(-d);
            const Vector<double>& credibility = tested.credibility;
            for (Index t = 0; t < config.tests; ++t) {
                const auto& r = tested.points[static_cast<std::size_t>(t)];
                const auto th = test.theta.col(t);
                csv << m.name << ',' << m.n << ',' << seed << ',' << t << ',' << th(0) << ','
                    << th(1) << ',' << th(2) << ',' << th(3) << ',' << -r.log_q << ','
                    << r.hpd_credibility << ',' << r.acceptance << '\n';
            }
            const auto curve = diagnostics::coverage_curve(credibility, curve_levels);
            m.mean_curve += curve.coverage / double(config.seeds);
            std::vector<double> at;
            for (double a : reported)
                at.push_back(curve.coverage(static_cast<Index>(std::lround(a * 100))));
            m.coverage.push_back(at);
            m.nlpd_median.push_back(examples::quantile(nlpd, 0.5));
            m.nlpd_mean.push_back(examples::mean_of(nlpd));
            m.neg_density_median.push_back(examples::quantile(density, 0.5));
            m.seconds.push_back(summary.seconds);
            m.status.emplace_back(training::to_string(summary.status));
            // The robust recipe (--recipe default) also says which of its models it kept.
            if (const auto& robust = npe.robust_summary(); m.name == "ML" && robust)
                m.status.back() += std::string("/") + training::to_string(robust->choice);
            if (config.c2st_obs > 0) {
                double acc = 0;
                for (Index t = 0; t < config.c2st_obs; ++t) {
                    Matrix<double> draws;
                    (void)examples::evaluate_test_point(q, prior, test.theta.col(t), test_x.col(t),
                                                        config.c2st_samples, derive_seed(s, 8, t),
                                                        &draws);
                    acc += diagnostics::c2st(draws, reference[static_cast<std::size_t>(t)],
                                             {.seed = derive_seed(s, 9, t)})
                               .accuracy /
                           double(config.c2st_obs);
                }
                m.c2st.push_back(acc);
            }
            std::cerr << "seed " << seed + 1 << " " << m.name << "(" << m.n << "): median NLPD "
                      << m.nlpd_median.back() << ", coverage@0.5 " << at[2] << " ("
                      << summary.seconds << " s training)\n";
        }
    }

    std::printf(
        "\nmean (sd) over %d seeds; NLPD = -log q(theta | s) of the prior-truncated posterior, "
        "-density = -q (the paper's 'NLPD').\n\n",
        config.seeds);
    std::printf("%-10s %5s | %-18s | %-18s | %-18s | %-16s | %8s\n", "method", "n", "NLPD median",
                "NLPD mean", "-density median", "C2ST", "train s");
    for (const Method& m : methods)
        std::printf(
            "%-10s %5ld | %-18s | %-18s | %-18s | %-16s | %8.1f\n", m.name.c_str(),
            static_cast<long>(m.n), examples::mean_sd(m.nlpd_median).c_str(),
            examples::mean_sd(m.nlpd_mean).c_str(), examples::mean_sd(m.neg_density_median).c_str(),
            m.c2st.empty() ? "-" : examples::mean_sd(m.c2st).c_str(), examples::mean_of(m.seconds));
    std::printf(
        "\nHPD coverage (2000 draws per test point), mean (sd) over seeds. Paper: ML(100) "
        "0.12/0.40/0.66/0.85/0.96; high-only 0.07/0.24/0.42/0.64/0.91; low-only "
        "0.01/0.03/0.06/0.14/0.31.\n%-10s %5s",
        "method", "n");
    for (double a : reported) std::printf(" | %-14.1f", a);
    std::printf("\n");
    for (const Method& m : methods) {
        std::printf("%-10s %5ld", m.name.c_str(), static_cast<long>(m.n));
        for (std::size_t k = 0; k < reported.size(); ++k) {
            std::vector<double> v;
            for (const auto& c : m.coverage) v.push_back(c[k]);
            std::printf(" | %-14s", examples::mean_sd(v).c_str());
        }
        std::printf("   status:");
        for (const auto& st : m.status) std::printf(" %s", st.c_str());
        std::printf("\n");
    }

    const std::string coverage_csv = config.out + "_coverage.csv";
    {
        std::ofstream cov(coverage_csv);
        cov << "level";
        for (const Method& m : methods) cov << ',' << m.name << '(' << m.n << ')';
        cov << '\n';
        for (Index i = 0; i < curve_levels.size(); ++i) {
            cov << curve_levels(i);
            for (const Method& m : methods) cov << ',' << m.mean_curve(i);
            cov << '\n';
        }
    }
    std::vector<examples::LineSeries> series;
    for (std::size_t i = 0; i < methods.size(); ++i) {
        examples::LineSeries s;
        s.csv = coverage_csv, s.x_column = 1, s.y_column = static_cast<int>(i) + 2;
        s.label = methods[i].name + "(" + std::to_string(methods[i].n) + ")";
        series.push_back(s);
    }
    const bool plotted = examples::line_plot(config.out + "_coverage.png", series,
                                             "g-and-k NPE: HPD coverage (mean over seeds)",
                                             "credible level", "coverage", true);
    std::printf("\nper-test values: %s.csv; coverage curves: %s%s\n", config.out.c_str(),
                coverage_csv.c_str(), plotted ? " (+ .png)" : "");
    return 0;
} catch (const std::exception& e) {
    std::cerr << "gnk_multilevel_npe: " << e.what() << "\n";
    return 1;
}
