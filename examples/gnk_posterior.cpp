// SPDX-License-Identifier: MIT
// g-and-k posterior from an ML-NLE likelihood versus the exact likelihood (issue 4, item 6).
//
// m = 100 iid high-fidelity observations at theta = (A, B, g, k) = (3, 1, 2, e^0.5). A 1-D neural
// spline flow q(x | theta) is trained with the multilevel loss on n = (10^4 low-fidelity draws,
// 300 seed-matched pairs) for 1000 full-batch epochs (the paper's g-and-k NLE setup) through the
// sbi::Nle front end, and the posterior pi(theta) prod_j q(x_j | theta) is sampled by
// coordinate-wise slice sampling. The same sampler, with the same chains, warm-up and seed, runs
// on pi(theta) prod_j p(x_j | theta) with the exact g-and-k density. Printed: the learned density's KL at the true theta, posterior means and sds
// side by side with R-hat and bulk ESS, the wall and CPU time of each MCMC run at one thread
// (target: 10^4 ML-NLE draws in under 2 s), and C2ST (sbi's 5-fold MLP classifier) and squared
// MMD between the two sample sets, each next to the same metric between two independent halves
// of the exact chains (what MCMC noise alone gives). Writes gnk_posterior_mlnle.csv,
// gnk_posterior_exact.csv and, when gnuplot is installed, gnk_posterior_corner.png (into DIR).
// Default run: 10 chains x 1000 draws after 200 warm-up sweeps, no thinning (thinning saves
// memory, not effective samples per evaluation; the ESS column says what the draws are worth).
//
//   gnk_posterior [--quick] [--out DIR] [--epochs N] [--warmup W] [--thin T]
//     --quick   CI sizes: n = (1000, 50), 50 epochs, 4 chains x 250 draws, 100 warm-up sweeps
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <limits>
#include <string>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "corner_plot.hpp"
#include "mlsbi/diagnostics/c2st.hpp"
#include "mlsbi/diagnostics/kl_divergence.hpp"
#include "mlsbi/diagnostics/mmd.hpp"
#include "mlsbi/flows/context_spline_flow.hpp"
#include "mlsbi/inference.hpp"
#include "mlsbi/sbi.hpp"
#include "mlsbi/simulators/gnk.hpp"

using namespace mlsbi;

namespace {

struct Config {
    Index n0 = 10000, n1 = 300;
    int epochs = 1000;
    Index chains = 10, draws_per_chain = 1000, warmup = 200, thin = 1;
    Index sir_candidates = 2000;
    std::string out = ".";
};

Config parse(int argc, char** argv) {
    Config c;
    int epochs = -1;
    Index thin = -1, warmup = -1;
    auto next = [&](int& i) -> std::string {
        require(i + 1 < argc, argv[i], " needs a value");
        return argv[++i];
    };
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--quick") {
            c.n0 = 1000, c.n1 = 50, c.epochs = 50;
            c.chains = 4, c.draws_per_chain = 250, c.warmup = 100, c.sir_candidates = 500;
        } else if (a == "--out") {
            c.out = next(i);
        } else if (a == "--epochs") {
            epochs = std::stoi(next(i));
        } else if (a == "--thin") {
            thin = std::stol(next(i));
        } else if (a == "--warmup") {
            warmup = std::stol(next(i));
        } else {
            throw std::invalid_argument(
                message("unknown argument '", a, "' (see the header comment)"));
        }
    }
    if (epochs > 0) c.epochs = epochs;  // explicit values win over --quick, in any order
    if (thin > 0) c.thin = thin;
    if (warmup >= 0) c.warmup = warmup;
    return c;
}

// Sets the OpenMP thread count and returns the previous one (1 without OpenMP).
int set_threads([[maybe_unused]] int threads) {
#ifdef _OPENMP
    const int previous = omp_get_max_threads();
    omp_set_num_threads(threads);
    return previous;
#else
    return 1;
#endif
}

// Columns of `samples` standardised with the mean and sd of each row of `reference`, so that
// MMD's single length scale sees every parameter on the same footing (C2ST does the same).
Matrix<double> z_score(const Matrix<double>& samples, const Matrix<double>& reference) {
    const Vector<double> mean = reference.rowwise().mean();
    const Vector<double> sd = ((reference.colwise() - mean).array().square().rowwise().sum() /
                               double(reference.cols() - 1))
                                  .sqrt();
    return (samples.colwise() - mean).array().colwise() / sd.array();
}

// CPU seconds of the calling thread: the MCMC runs on one thread, so this is its cost even when
// the machine is shared (wall time is then inflated by waiting for a core).
double thread_cpu_seconds() {
    timespec t{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

struct TwoSample {
    double c2st, mmd;
};

TwoSample compare(const Matrix<double>& a, const Matrix<double>& b) {
    return {diagnostics::c2st(a, b, {.seed = 5}).accuracy,
            diagnostics::mmd_squared_median(z_score(a, b), z_score(b, b))};
}

}  // namespace

int main(int argc, char** argv) try {
    const Config config = parse(argc, argv);
    std::filesystem::create_directories(config.out);
    const auto prior = simulators::gnk::prior();
    Vector<double> truth(4);
    truth << 3.0, 1.0, 2.0, std::exp(0.5);

    // --- Observations: m = 100 draws of the high-fidelity simulator at the true theta. Sorted,
    // because the exact likelihood starts each root search from the previous root.
    const Index m = 100;
    Vector<double> x_obs(m);
    simulators::gnk::HighLevel(m).simulate(truth, 2025, x_obs);
    std::sort(x_obs.begin(), x_obs.end());
    std::printf("g-and-k posterior, m = %ld observations at theta = (3, 1, 2, e^0.5)\n",
                static_cast<long>(m));

    // --- ML-NLE: the paper's NSF (1 context-only spline, 10 bins, tail bound 7, MLP 4-50-50-29)
    // through the front end; every seed derives from the master seed 1.
    auto nle = sbi::make_nle<flows::ContextSplineFlow<float>>(
        prior, {.seed = 1, .density = {.hidden = {50, 50}, .bins = 10, .tail_bound = 7.0}});
    nle.simulate(simulators::gnk::make_multilevel(1), {config.n0, config.n1});
    const auto& trained = nle.train({.training = {.max_epochs = config.epochs, .progress = false}});
    const auto& q = nle.estimator();
    std::printf("ML-NLE training: n = (%ld, %ld), %d epochs, %s, final MLMC loss %.4f, %.1f s\n",
                static_cast<long>(config.n0), static_cast<long>(config.n1), trained.epochs,
                training::to_string(trained.status), trained.training_loss.back(), trained.seconds);

    // --- How good is q where it matters? Errors add up over the m observations: a per-draw KL
    // of 0.05 nats is a 5-nat log-likelihood error, enough to move a 100-observation posterior.
    const Vector<double> grid = simulators::gnk::quantile_grid(truth);
    const Vector<double> grid_log_q =
        q.log_prob(grid.transpose().cast<float>(), truth.cast<float>().replicate(1, grid.size()))
            .cast<double>();
    std::printf(
        "forward KL(exact || learned) at the true theta: %.4f nats per draw "
        "(0.001..0.999 quantile range)\n",
        diagnostics::forward_kl_trapezoid(grid, simulators::gnk::exact_log_density(grid, truth),
                                          grid_log_q));

    // --- The two posteriors, sampled the same way (SIR from prior draws, then slice sampling at
    // one thread, the timing target) with the same seed, so from the same candidates.
    // The exact one checks the prior first: the density needs B > 0 and k >= 1, and B = 0 is on
    // the prior's (closed) boundary.
    const inference::NleSamplingOptions run{.chains = config.chains,
                                            .warmup = config.warmup,
                                            .thin = config.thin,
                                            .sir_candidates = config.sir_candidates};
    const auto learned = nle.build_posterior(x_obs.transpose(), run);
    auto exact = inference::batch_over_columns([&](const ConstVectorRef<double>& theta) {
        const double lp = prior.log_density(theta);
        if (!std::isfinite(lp) || !(theta(1) > 0)) return -std::numeric_limits<double>::infinity();
        return lp + simulators::gnk::exact_log_likelihood(x_obs, theta);
    });
    const Index draws = config.chains * config.draws_per_chain;
    auto timed = [&](auto&& sample) {
        const auto start = std::chrono::steady_clock::now();
        const double cpu_start = thread_cpu_seconds();
        inference::McmcResult r = *sample().mcmc;
        const double wall =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        return std::tuple{std::move(r), wall, thread_cpu_seconds() - cpu_start};
    };
    const int threads = set_threads(1);
    const auto [ml, ml_wall, ml_cpu] = timed([&] { return learned.sample(draws, 3); });
    const auto [ex, ex_wall, ex_cpu] =
        timed([&] { return inference::sample_by_sir_and_slice(exact, prior, draws, 3, run); });
    set_threads(threads);

    // --- Side by side.
    const char* names[] = {"A", "B", "g", "k"};
    std::printf(
        "\nslice sampling: %ld chains x %ld draws (thin %ld) after %ld warm-up iterations, "
        "SIR from %ld prior draws, 1 thread\n\n",
        static_cast<long>(config.chains), static_cast<long>(config.draws_per_chain),
        static_cast<long>(config.thin), static_cast<long>(config.warmup),
        static_cast<long>(config.sir_candidates));
    std::printf("%-5s %8s | %-38s | %-38s\n", "", "", "ML-NLE likelihood", "exact likelihood");
    std::printf("%-5s %8s | %9s %9s %9s %8s | %9s %9s %9s %8s\n", "param", "true", "mean", "sd",
                "R-hat", "bulk ESS", "mean", "sd", "R-hat", "bulk ESS");
    for (Index i = 0; i < 4; ++i) {
        auto stats = [i](const inference::McmcResult& r) {
            const auto row = r.samples.row(i).array();
            const double mean = row.mean();
            return std::pair{mean, std::sqrt((row - mean).square().sum() / double(row.size() - 1))};
        };
        const auto [ml_mean, ml_sd] = stats(ml);
        const auto [ex_mean, ex_sd] = stats(ex);
        std::printf("%-5s %8.4f | %9.4f %9.4f %9.4f %8.0f | %9.4f %9.4f %9.4f %8.0f\n", names[i],
                    truth(i), ml_mean, ml_sd, ml.rhat(i), ml.ess_bulk(i), ex_mean, ex_sd,
                    ex.rhat(i), ex.ess_bulk(i));
    }
    // The log-likelihood of x_obs under both models at three thetas shows which way q pulls.
    std::printf("\nsum_j log-likelihood of x_obs  %12s %12s\n", "learned", "exact");
    const std::pair<const char*, Vector<double>> points[] = {
        {"at the true theta", truth},
        {"at the ML-NLE posterior mean", ml.samples.rowwise().mean()},
        {"at the exact posterior mean", ex.samples.rowwise().mean()}};
    for (const auto& [label, theta] : points)
        std::printf("  %-28s %12.3f %12.3f\n", label,
                    learned.log_posterior().log_density(theta) - prior.log_density(theta),
                    simulators::gnk::exact_log_likelihood(x_obs, theta));

    auto timing = [](const char* label, const inference::McmcResult& r, double wall, double cpu) {
        std::printf(
            "%-12s %6ld draws: wall warm-up %.3f s + sampling %.3f s (%.1f evaluations/draw); "
            "SIR + warm-up + sampling %.3f s wall, %.3f s CPU; %s\n",
            label, static_cast<long>(r.samples.cols()), r.warmup_seconds, r.sampling_seconds,
            double(r.evaluations - r.warmup_evaluations) / double(r.samples.cols()), wall, cpu,
            std::string(inference::to_string(r.status)).c_str());
    };
    std::printf("\n");
    timing("ML-NLE MCMC:", ml, ml_wall, ml_cpu);
    timing("exact MCMC:", ex, ex_wall, ex_cpu);

    // --- Two-sample metrics; the reference compares the first and second half of the exact
    // chains (independent chains, half the draws each).
    const TwoSample metric = compare(ml.samples, ex.samples);
    const Index half = (config.chains / 2) * config.draws_per_chain;
    const TwoSample noise = compare(ex.samples.leftCols(half), ex.samples.middleCols(half, half));
    std::printf("\n%-40s %10s %14s\n", "", "C2ST acc.", "MMD^2");
    std::printf("%-40s %10.4f %14.3e\n", "ML-NLE vs exact (all draws)", metric.c2st, metric.mmd);
    std::printf("%-40s %10.4f %14.3e\n", "exact chains 1..C/2 vs C/2+1..C", noise.c2st, noise.mmd);
    std::printf(
        "(C2ST: 5-fold MLP classifier on z-scored draws, 0.5 = indistinguishable; MMD^2: "
        "biased, Gaussian kernel,\n median-heuristic length scale, draws z-scored by the "
        "exact sample's moments)\n");

    // --- Outputs.
    const std::vector<std::string> columns(names, names + 4);
    const std::string ml_csv = config.out + "/gnk_posterior_mlnle.csv";
    const std::string ex_csv = config.out + "/gnk_posterior_exact.csv";
    examples::write_csv(ml_csv, ml.samples, columns);
    examples::write_csv(ex_csv, ex.samples, columns);
    std::vector<std::pair<double, double>> ranges;  // pooled 0.2%..99.8% quantiles, padded
    for (Index i = 0; i < 4; ++i) {
        Matrix<double> pooled(1, ml.samples.cols() + ex.samples.cols());
        pooled << ml.samples.row(i), ex.samples.row(i);
        const double lo = std::min(inference::quantile(pooled, 0.002), truth(i));
        const double hi = std::max(inference::quantile(pooled, 0.998), truth(i));
        ranges.emplace_back(lo - 0.1 * (hi - lo), hi + 0.1 * (hi - lo));
    }
    const std::string png = config.out + "/gnk_posterior_corner.png";
    const bool plotted = examples::corner_plot(png,
                                               {{ml_csv, "ML-NLE", "#1f77b4", ml.samples.cols()},
                                                {ex_csv, "exact", "#d62728", ex.samples.cols()}},
                                               columns, ranges);
    const bool have_gnuplot = examples::gnuplot_available();
    std::printf("\nwrote %s, %s%s\n", ml_csv.c_str(), ex_csv.c_str(),
                plotted ? (" and " + png).c_str() : " (gnuplot not found: no corner plot)");
    require(plotted || !have_gnuplot, "gnuplot failed on ", png, ".gp");
    return 0;
} catch (const std::exception& e) {
    std::cerr << "gnk_posterior: " << e.what() << "\n";
    return 1;
}
