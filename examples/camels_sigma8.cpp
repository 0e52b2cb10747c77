// SPDX-License-Identifier: MIT
// sigma_8 from real CAMELS power spectra by multilevel NPE (Hikida et al. 2025, Sec. 5, the
// cosmology experiment): the low level is the gravity-only N-body P(k), the high level the
// IllustrisTNG hydrodynamic P(k) of the SAME CAMELS LH simulation (shared initial seed and
// cosmology: the seed matching), both with independent observational noise. A 1-D neural spline
// flow q(sigma_8 | x) with the 39-bin spectrum as context is trained
//   ML : MLMC loss on n_0 = 980 low-only rows (20..999) + n_1 = 20 seed-matched pairs (0..19),
//   NPE: plain NPE on the 20 high-fidelity rows 0..19 (sbi's early-stopped recipe),
// and tested on the 980 high-fidelity rows 20..999 (NLPD quantiles, HPD coverage from 2000
// posterior draws per test spectrum), over several network seeds (the data split is fixed).
//
//   camels_sigma8 [--quick] [--seeds 10] [--epochs 500] [--draws 2000] [--tests 980]
//                 [--zscore top|paper] [--out PREFIX]
//                 (writes PREFIX.csv, PREFIX_coverage.csv/.png, PREFIX_nlpd.csv/.png)
//
// --zscore: `top` (default) z-scores spectra and sigma_8 with the top level's statistics (the
// library's); `paper` does what the paper's code does (examples/paper_zscoring.hpp): every
// training tensor by its own statistics, so the N-body spectra are moment-matched to the
// hydrodynamic ones, and the test spectra with the statistics of the top tensor (ML: the 20
// pairs' hydro spectra; NPE: its training set).
#include <cstdio>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "mlsbi/diagnostics/calibration.hpp"
#include "mlsbi/distributions/box_uniform.hpp"
#include "mlsbi/flows/context_spline_flow.hpp"
#include "mlsbi/io/npy.hpp"
#include "mlsbi/sbi.hpp"
#include "mlsbi/simulators/multilevel_dataset.hpp"
#include "mlsbi/training.hpp"
#include "npe_support.hpp"
#include "paper_zscoring.hpp"

#ifndef MLSBI_EXAMPLE_DATA_DIR
#define MLSBI_EXAMPLE_DATA_DIR "examples/data"
#endif

using namespace mlsbi;
using Flow = flows::ContextSplineFlow<float>;
using Estimator = flows::PosteriorEstimator<Flow>;

namespace {

struct Config {
    int seeds = 10;
    int epochs = 500;      // ML epochs (paper ~500)
    int mc_max_epochs = 2000;
    Index draws = 2000;    // posterior draws per test spectrum
    Index tests = 980;     // high-fidelity rows 20.. used as test points
    std::string out = "camels_sigma8";
    std::string zscore = "top";  // "top" (the library's) or "paper" (every tensor by its own)
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
            c.seeds = 2, c.epochs = 60, c.mc_max_epochs = 60, c.draws = 200, c.tests = 100;
        } else if (a == "--seeds") {
            c.seeds = std::stoi(next(i));
        } else if (a == "--epochs") {
            c.epochs = std::stoi(next(i));
        } else if (a == "--draws") {
            c.draws = std::stol(next(i));
        } else if (a == "--tests") {
            c.tests = std::stol(next(i));
        } else if (a == "--zscore") {
            c.zscore = next(i);
        } else if (a == "--out") {
            c.out = next(i);
        } else {
            throw std::invalid_argument(message("unknown argument '", a, "' (see the header comment)"));
        }
    }
    require(c.seeds >= 1 && c.epochs >= 1 && c.draws >= 10 && c.tests >= 1 && c.tests <= 980,
            "bad configuration (need seeds, epochs >= 1, draws >= 10, 1 <= tests <= 980)");
    require(c.zscore == "top" || c.zscore == "paper", "--zscore must be top or paper, got '",
            c.zscore, "'");
    return c;
}

// The paper's 1-D NSF (sbi for a scalar theta): 3 context-only rational-quadratic splines,
// 3 bins, tail bound 3, each spline's 3K - 1 = 8 parameters from an MLP 39-30-30-8 (ReLU); the
// front end infers the dimensions. Both methods of a seed start from the same network.
sbi::Options<Flow> architecture(std::uint64_t seed) {
    return {.density = {.transforms = 3, .hidden = {30, 30}, .bins = 3, .tail_bound = 3.0,
                        .activation = nn::Activation::relu},
            .network_seed = derive_seed(seed, 7)};
}

struct MethodResult {
    std::string name;
    std::vector<double> nlpd_q25, nlpd_median, nlpd_q75, nlpd_mean, neg_density_median;
    std::vector<std::vector<double>> coverage;  // [seed][level index]
    std::vector<double> seconds, acceptance;
    std::vector<std::string> status;
    std::vector<double> pooled_nlpd;  // every test point of every seed (histogram)
};

}  // namespace

int main(int argc, char** argv) try {
    const Config config = parse(argc, argv);
    const std::string dir = std::string(MLSBI_EXAMPLE_DATA_DIR) + "/camels/";
    const Matrix<double> x_high = io::read_npy_matrix(dir + "x_high.npy");  // 39 x 1000
    const Matrix<double> x_low = io::read_npy_matrix(dir + "x_low.npy");
    const Matrix<double> params = io::read_npy_matrix(dir + "pk_params_omega_m_sigma_8.npy");
    require(x_high.rows() == 39 && x_high.cols() == 1000 && x_low.rows() == 39 &&
                x_low.cols() == 1000 && params.rows() == 2 && params.cols() == 1000,
            "camels_sigma8: unexpected data shapes in ", dir);
    const Matrix<double> sigma8 = params.row(1);  // 1 x 1000
    const distributions::BoxUniform prior({0.6}, {1.0});

    // The published split (Hikida et al. 2025, Sec. 5): pairs = rows 0..19, level 0 = low rows 20..999,
    // MC baseline = high rows 0..19, test = high rows 20..999.
    std::vector<simulators::LevelData> levels(2);
    levels[0].theta = sigma8.rightCols(980);
    levels[0].x_fine = x_low.rightCols(980);
    levels[1].theta = sigma8.leftCols(20);
    levels[1].x_coarse = x_low.leftCols(20);
    levels[1].x_fine = x_high.leftCols(20);
    const simulators::MultilevelDataset data = simulators::dataset_from_arrays(std::move(levels));
    const Matrix<double> theta_mc = sigma8.leftCols(20);
    const Matrix<double> x_mc = x_high.leftCols(20);
    const Matrix<double> theta_test = sigma8.middleCols(20, config.tests);
    const Matrix<double> x_test = x_high.middleCols(20, config.tests);

    const std::vector<double> levels_reported{0.1, 0.3, 0.5, 0.7, 0.9};
    const Vector<double> curve_levels = diagnostics::coverage_levels(101);
    std::cout << "CAMELS sigma_8 NPE: 1-D NSF (3 splines, 3 bins, tail 3, MLP 39-30-30-8), float; "
              << config.seeds << " network seeds, ML " << config.epochs
              << " full-batch epochs, " << config.tests << " test spectra, " << config.draws
              << " posterior draws each\n";

    std::ofstream csv(config.out + ".csv");
    require(csv.is_open(), "cannot write '", config.out, ".csv'");
    csv << "method,seed,test_row,sigma8,nlpd,nlpd_untruncated,hpd_credibility,acceptance\n";

    std::vector<MethodResult> methods(2);
    methods[0].name = "ML";
    methods[1].name = "NPE";
    std::vector<Vector<double>> mean_curve(2, Vector<double>::Zero(curve_levels.size()));
    for (int seed = 0; seed < config.seeds; ++seed) {
        const auto s = static_cast<std::uint64_t>(seed);
        for (std::size_t m = 0; m < methods.size(); ++m) {
            MethodResult& method = methods[m];
            auto npe = sbi::make_npe(prior, architecture(s));
            training::TrainingSummary summary;
            const bool paper_z = config.zscore == "paper";
            std::optional<examples::TopScaling> top;  // --zscore paper: the top tensor's
            if (m == 0) {
                auto options = examples::paper_ml_recipe(config.epochs);
                simulators::MultilevelDataset train = data;
                if (paper_z) {
                    top = examples::zscore_each_tensor(train);
                    options.fit_standardization = false;
                }
                summary = npe.append_simulations(train).train(options);
            } else {
                auto options = examples::paper_mc_recipe(config.mc_max_epochs);
                options.split_seed = derive_seed(s, 8);
                Matrix<double> theta = theta_mc, x = x_mc;
                if (paper_z) {
                    top = examples::TopScaling{.x = examples::zscore_in_place(x),
                                               .theta = examples::zscore_in_place(theta)};
                    options.fit_standardization = false;
                }
                summary = npe.append_simulations(theta, x).train_single_level(options);
            }
            Estimator q = npe.estimator();
            if (top) q.set_standardization(examples::to_float(top->theta), examples::to_float(top->x));
            const examples::TestSetResult tested = examples::evaluate_test_set(
                q, prior, theta_test, x_test, config.draws,
                [&](Index t) { return derive_seed(s, 9, static_cast<std::uint64_t>(t)); });
            const std::vector<double>& nlpd = tested.nlpd;
            std::vector<double> negative_density;
            for (double d : tested.density) negative_density.push_back(-d);
            const Vector<double>& credibility = tested.credibility;
            const double acceptance = tested.mean_acceptance;
            for (Index t = 0; t < config.tests; ++t) {
                const auto& r = tested.points[static_cast<std::size_t>(t)];
                csv << method.name << ',' << seed << ',' << 20 + t << ',' << theta_test(0, t) << ','
                    << -r.log_q << ',' << -r.log_q_raw << ',' << r.hpd_credibility << ','
                    << r.acceptance << '\n';
            }
            const diagnostics::CoverageCurve curve = diagnostics::coverage_curve(credibility, curve_levels);
            mean_curve[m] += curve.coverage / double(config.seeds);
            std::vector<double> at_levels;
            for (double a : levels_reported)
                at_levels.push_back(curve.coverage(static_cast<Index>(std::lround(a * 100))));
            method.coverage.push_back(at_levels);
            method.nlpd_q25.push_back(examples::quantile(nlpd, 0.25));
            method.nlpd_median.push_back(examples::quantile(nlpd, 0.5));
            method.nlpd_q75.push_back(examples::quantile(nlpd, 0.75));
            method.nlpd_mean.push_back(examples::mean_of(nlpd));
            method.neg_density_median.push_back(examples::quantile(negative_density, 0.5));
            method.seconds.push_back(summary.seconds);
            method.acceptance.push_back(acceptance);
            method.status.emplace_back(training::to_string(summary.status));
            method.pooled_nlpd.insert(method.pooled_nlpd.end(), nlpd.begin(), nlpd.end());
        }
        std::cerr << "seed " << seed + 1 << "/" << config.seeds << ": median NLPD ML "
                  << methods[0].nlpd_median.back() << ", NPE " << methods[1].nlpd_median.back()
                  << "\n";
    }

    std::printf("\nNLPD = -log q(sigma_8 | x) of the prior-truncated posterior over %ld test "
                "spectra; per seed its quantiles,\nthen mean (sd) across %d seeds. Paper medians: "
                "ML -0.98, NPE -0.30.\n\n",
                static_cast<long>(config.tests), config.seeds);
    std::printf("%-5s | %-16s %-16s %-16s | %-16s | %-16s | %-8s | %s\n", "", "NLPD q25",
                "NLPD median", "NLPD q75", "NLPD mean", "-density median", "train s",
                "in-prior");
    for (const auto& m : methods)
        std::printf("%-5s | %-16s %-16s %-16s | %-16s | %-16s | %8.1f | %.3f\n", m.name.c_str(),
                    examples::mean_sd(m.nlpd_q25).c_str(), examples::mean_sd(m.nlpd_median).c_str(),
                    examples::mean_sd(m.nlpd_q75).c_str(), examples::mean_sd(m.nlpd_mean).c_str(),
                    examples::mean_sd(m.neg_density_median).c_str(), examples::mean_of(m.seconds),
                    examples::mean_of(m.acceptance));
    const std::vector<std::vector<double>> paper{{0.072, 0.260, 0.531, 0.810, 0.954},
                                                 {0.033, 0.127, 0.297, 0.549, 0.848}};
    std::printf("\nHPD coverage, mean (sd) across seeds [paper]:\n%-5s", "level");
    for (double a : levels_reported) std::printf(" | %-22.1f", a);
    std::printf("\n");
    for (std::size_t m = 0; m < methods.size(); ++m) {
        std::printf("%-5s", methods[m].name.c_str());
        for (std::size_t k = 0; k < levels_reported.size(); ++k) {
            std::vector<double> v;
            for (const auto& c : methods[m].coverage) v.push_back(c[k]);
            std::printf(" | %s [%.3f]", examples::mean_sd(v).c_str(), paper[m][k]);
        }
        std::printf("\n");
    }
    for (const auto& m : methods) {
        std::printf("%s status:", m.name.c_str());
        for (const auto& st : m.status) std::printf(" %s", st.c_str());
        std::printf("\n");
    }

    {  // Plots: the seed-averaged coverage curves and the pooled NLPD distributions.
        std::ofstream cov(config.out + "_coverage.csv");
        cov << "level,ML,NPE\n";
        for (Index i = 0; i < curve_levels.size(); ++i)
            cov << curve_levels(i) << ',' << mean_curve[0](i) << ',' << mean_curve[1](i) << '\n';
        std::ofstream nl(config.out + "_nlpd.csv");
        nl << "index,ML,NPE\n";
        for (std::size_t i = 0; i < methods[0].pooled_nlpd.size(); ++i)
            nl << i << ',' << methods[0].pooled_nlpd[i] << ',' << methods[1].pooled_nlpd[i] << '\n';
    }
    // Series built one by one: GCC 12 warns falsely (maybe-uninitialized) on nested brace lists
    // of std::string aggregates.
    const std::string coverage_csv = config.out + "_coverage.csv";
    const std::string nlpd_csv = config.out + "_nlpd.csv";
    std::vector<examples::LineSeries> coverage_series(2), nlpd_series(2);
    coverage_series[0] = examples::LineSeries{coverage_csv, 1, 2, "ML (980 low + 20 pairs)"};
    coverage_series[1] = examples::LineSeries{coverage_csv, 1, 3, "NPE (20 high)"};
    nlpd_series[0] = examples::LineSeries{nlpd_csv, 1, 2, "ML"};
    nlpd_series[1] = examples::LineSeries{nlpd_csv, 1, 3, "NPE"};
    const bool plotted =
        examples::line_plot(config.out + "_coverage.png", coverage_series,
                            "CAMELS sigma_8: HPD coverage (mean over seeds)", "credible level",
                            "coverage", true) &&
        examples::histogram_plot(config.out + "_nlpd.png", nlpd_series,
                                 "CAMELS sigma_8: NLPD over test spectra and seeds", "NLPD", -3, 6);
    std::printf("\nper-test values: %s.csv; curves: %s_coverage.csv, %s_nlpd.csv%s\n",
                config.out.c_str(), config.out.c_str(), config.out.c_str(),
                plotted ? " (+ .png)" : " (gnuplot missing: no PNG)");
    return 0;
} catch (const std::exception& e) {
    std::cerr << "camels_sigma8: " << e.what() << "\n";
    return 1;
}
