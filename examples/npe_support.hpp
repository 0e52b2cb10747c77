// SPDX-License-Identifier: MIT
/// \file
/// \brief Shared pieces of the NPE experiment examples (CAMELS, Ornstein-Uhlenbeck, g-and-k NPE):
/// the paper's ML training recipe set explicitly, the posterior evaluation of one test pair
/// (HPD credibility and NLPD from the prior-truncated posterior), summary statistics across seeds,
/// and a gnuplot line plot of coverage curves.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "corner_plot.hpp"
#include "mlsbi/core/parallel_for.hpp"
#include "mlsbi/diagnostics/calibration.hpp"
#include "mlsbi/inference/npe_posterior.hpp"
#include "mlsbi/training/baselines.hpp"

namespace mlsbi::examples {

/// The paper's ML training (Hikida et al. 2025, Sec. 3 and Algorithm 1), spelled out rather than
/// taken from the library defaults: full batch, a fixed number of epochs, no validation, both
/// gradient adjustments, clipping at norm 5, Adam (lr 1e-4, betas 0.85 / 0.999, eps 1e-8).
[[nodiscard]] inline training::MlmcTrainingOptions paper_ml_recipe(int epochs) {
    // paper(), not the default: the library's default is the robust recipe (early-stopped
    // phases, model selection), which would silently replace the loop this function promises.
    auto o = training::MlmcTrainingOptions::paper();
    o.validation = training::MlmcValidation::none;
    o.training.max_epochs = epochs;
    o.training.batches_per_epoch = 1;
    o.training.early_stopping = false;
    o.fit_standardization = true;
    o.training.adam = optimizers::AdamOptions{
        .learning_rate = 1e-4, .beta1 = 0.85, .beta2 = 0.999, .epsilon = 1e-8};
    o.training.adjustment.rescale = true;
    o.training.adjustment.project = true;
    o.training.max_gradient_norm = 5.0;
    o.training.progress = false;
    o.training.label = "ml";
    return o;
}

/// ML training by name: "paper" (paper_ml_recipe(epochs)) or "default" (what train_mlmc does
/// when given no options: the robust recipe, its ML phase capped at `epochs`).
[[nodiscard]] inline training::MlmcTrainingOptions ml_recipe(const std::string& name, int epochs) {
    if (name == "paper") return paper_ml_recipe(epochs);
    if (name != "default")
        throw std::invalid_argument("--recipe must be 'paper' or 'default', got '" + name + "'");
    training::MlmcTrainingOptions o;
    o.training.max_epochs = epochs;
    o.training.progress = false;
    o.training.label = "ml";
    return o;
}

/// The paper's MC baseline (sbi's recipe): same optimiser, full batch, clip 5, 10% validation,
/// early stopping with patience 20, best weights restored.
[[nodiscard]] inline training::BaselineOptions paper_mc_recipe(int max_epochs,
                                                               int patience = 20) {
    training::BaselineOptions o;
    o.training.max_epochs = max_epochs;
    o.training.batches_per_epoch = 1;
    o.training.early_stopping = true;
    o.training.patience = patience;
    o.training.restore_best = true;
    o.training.adam = optimizers::AdamOptions{
        .learning_rate = 1e-4, .beta1 = 0.85, .beta2 = 0.999, .epsilon = 1e-8};
    o.training.max_gradient_norm = 5.0;
    o.training.progress = false;
    o.training.label = "mc";
    o.validation_fraction = 0.1;
    o.training_batch_size = 0;  // full batch, as the paper
    return o;
}

/// Below this in-prior fraction of the flow's draws a test point counts as outside_prior.
inline constexpr double kMinPriorAcceptance = 1e-4;

/// What the posterior of one test pair gave.
struct TestPointResult {
    double hpd_credibility = 1;  ///< fraction of posterior draws denser than the truth
    double log_q = 0;            ///< log q(theta_true | x) of the prior-truncated, renormalised
                                 ///< posterior (Z estimated by the acceptance rate)
    double log_q_raw = 0;        ///< log q(theta_true | x) of the flow, untruncated
    double acceptance = 1;       ///< fraction of flow draws inside the prior support
    /// The flow put almost no mass inside the prior for this x (NpePosterior's
    /// LowAcceptanceError): no draws, the truth counts as outside every HPD region
    /// (credibility 1) and Z is the measured acceptance, floored at one draw in those made.
    bool outside_prior = false;
};

/// Draws `draws` posterior samples for x (NPE, rejected outside the prior support) and returns
/// the truth's HPD credibility and log density. `samples_out`, if given, receives the draws.
template <class Estimator, distributions::Prior P>
TestPointResult evaluate_test_point(const Estimator& q, const P& prior,
                                    const ConstVectorRef<double>& theta_true,
                                    const ConstVectorRef<double>& x, Index draws,
                                    std::uint64_t seed, Matrix<double>* samples_out = nullptr) {
    TestPointResult r;
    inference::NpePosterior<Estimator, P> posterior(
        q, prior, x,
        {.batch_size = std::min<Index>(draws, 4096), .min_acceptance = kMinPriorAcceptance});
    Vector<double> log_truth(1);
    posterior.log_density(theta_true, log_truth);
    inference::NpeSamples s;
    try {
        s = posterior.sample(draws, seed);
    } catch (const inference::LowAcceptanceError& e) {
        r.outside_prior = true;
        r.acceptance = std::max(e.acceptance(), 1.0 / static_cast<double>(e.proposed()));
        r.log_q_raw = log_truth(0);
        r.log_q = log_truth(0) - std::log(r.acceptance);
        r.hpd_credibility = 1;
        return r;
    }
    Vector<double> log_samples(draws);
    posterior.log_density(s.samples, log_samples);
    r.acceptance = s.acceptance_rate;
    r.log_q_raw = log_truth(0);
    r.log_q = log_truth(0) - std::log(s.acceptance_rate);
    r.hpd_credibility = diagnostics::hpd_credibility(log_samples, log_truth(0));
    if (samples_out != nullptr) *samples_out = s.samples;
    return r;
}

/// The posterior evaluation of a whole test set.
struct TestSetResult {
    std::vector<TestPointResult> points;
    std::vector<double> nlpd;     ///< -log q(theta_i | x_i) (truncated, renormalised)
    std::vector<double> density;  ///< q(theta_i | x_i)
    Vector<double> credibility;   ///< HPD credibility of each theta_i
    double mean_acceptance = 0;   ///< mean in-prior fraction of the flow's draws
    Index outside_prior = 0;      ///< test points with TestPointResult::outside_prior
};

/// evaluate_test_point for every column of (theta, x), in parallel over test points (OpenMP);
/// test point t draws with seed_of(t), so the result does not depend on the thread count.
template <class Estimator, distributions::Prior P, class SeedOf>
TestSetResult evaluate_test_set(const Estimator& q, const P& prior,
                                const ConstMatrixRef<double>& theta,
                                const ConstMatrixRef<double>& x, Index draws, SeedOf seed_of) {
    const Index n = theta.cols();
    TestSetResult out;
    out.points.resize(static_cast<std::size_t>(n));
    parallel_for(n, outer_thread_count(), Schedule::dynamic, [&](Index t) {
        out.points[static_cast<std::size_t>(t)] =
            evaluate_test_point(q, prior, theta.col(t), x.col(t), draws, seed_of(t));
    });
    out.credibility.resize(n);
    for (Index t = 0; t < n; ++t) {
        const TestPointResult& r = out.points[static_cast<std::size_t>(t)];
        out.nlpd.push_back(-r.log_q);
        out.density.push_back(std::exp(r.log_q));
        out.credibility(t) = r.hpd_credibility;
        out.mean_acceptance += r.acceptance / static_cast<double>(n);
        out.outside_prior += r.outside_prior ? 1 : 0;
    }
    if (out.outside_prior > 0)
        std::fprintf(stderr,
                     "warning: on %ld of %ld test points the posterior put less than %g of "
                     "its mass inside the prior; they count as not covered at every level\n",
                     static_cast<long>(out.outside_prior), static_cast<long>(n),
                     kMinPriorAcceptance);
    return out;
}

/// The q-quantile (linear interpolation, NumPy's default) of v.
[[nodiscard]] inline double quantile(std::vector<double> v, double q) {
    std::sort(v.begin(), v.end());
    const double pos = q * double(v.size() - 1);
    const auto lo = static_cast<std::size_t>(std::floor(pos));
    const std::size_t hi = std::min(lo + 1, v.size() - 1);
    return v[lo] + (pos - double(lo)) * (v[hi] - v[lo]);
}
[[nodiscard]] inline double mean_of(const std::vector<double>& v) {
    double s = 0;
    for (double x : v) s += x;
    return v.empty() ? 0.0 : s / double(v.size());
}
[[nodiscard]] inline double sd_of(const std::vector<double>& v) {
    if (v.size() < 2) return 0;
    const double m = mean_of(v);
    double s = 0;
    for (double x : v) s += (x - m) * (x - m);
    return std::sqrt(s / double(v.size() - 1));
}
/// "mean (sd)" with the given precision.
[[nodiscard]] inline std::string mean_sd(const std::vector<double>& v, int digits = 3) {
    char buffer[64];
    std::snprintf(buffer, sizeof buffer, "%.*f (%.*f)", digits, mean_of(v), digits, sd_of(v));
    return buffer;
}

/// One curve of a line plot: a CSV file, the columns to plot (1-based) and a legend.
struct LineSeries {
    std::string csv;
    int x_column = 1;
    int y_column = 2;
    std::string label;
};

/// Draws lines from CSV files (header row skipped) into a PNG with gnuplot, optionally with the
/// diagonal y = x (for coverage curves). Returns false when gnuplot is missing or fails.
inline bool line_plot(const std::string& png, const std::vector<LineSeries>& series,
                      const std::string& title, const std::string& x_label,
                      const std::string& y_label, bool diagonal) {
    if (!gnuplot_available()) return false;
    const std::string script = png + ".gp";
    std::ofstream gp(script);
    gp << "set terminal pngcairo size 720,540 font ',10'\nset output '" << png << "'\n";
    gp << "set datafile separator ','\nset key left top\nset grid\n";
    gp << "set title '" << title << "'\nset xlabel '" << x_label << "'\nset ylabel '" << y_label
       << "'\n";
    gp << "plot ";
    for (std::size_t i = 0; i < series.size(); ++i) {
        const auto& s = series[i];
        gp << (i ? ", " : "") << "'" << s.csv << "' every ::1 using " << s.x_column << ":"
           << s.y_column << " with lines lw 2 title '" << s.label << "'";
    }
    if (diagonal) gp << ", x with lines dt 2 lc rgb 'black' title 'calibrated'";
    gp << "\n";
    gp.close();
    return std::system(("gnuplot '" + script + "' 2> /dev/null").c_str()) == 0;
}

/// Draws step histograms of the listed CSV columns (header skipped) into a PNG.
inline bool histogram_plot(const std::string& png, const std::vector<LineSeries>& series,
                           const std::string& title, const std::string& x_label, double lo,
                           double hi, int bins = 40) {
    if (!gnuplot_available()) return false;
    const std::string script = png + ".gp";
    std::ofstream gp(script);
    const double width = (hi - lo) / bins;
    gp << "set terminal pngcairo size 720,540 font ',10'\nset output '" << png << "'\n";
    gp << "set datafile separator ','\nset key right top\nset grid\nset xrange [" << lo << ":"
       << hi << "]\n";
    gp << "set title '" << title << "'\nset xlabel '" << x_label << "'\nset ylabel 'count'\n";
    gp << "bin(x) = " << width << " * floor((x - " << lo << ") / " << width << ") + "
       << lo + width / 2 << "\n";
    gp << "plot ";
    for (std::size_t i = 0; i < series.size(); ++i) {
        const auto& s = series[i];
        gp << (i ? ", " : "") << "'" << s.csv << "' every ::1 using (bin($" << s.y_column
           << ")):(1.0) smooth freq with steps lw 2 title '" << s.label << "'";
    }
    gp << "\n";
    gp.close();
    return std::system(("gnuplot '" + script + "' 2> /dev/null").c_str()) == 0;
}

}  // namespace mlsbi::examples
