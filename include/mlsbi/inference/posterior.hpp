// SPDX-License-Identifier: MIT
/// \file
/// \brief The Posterior concept that NLE and NPE posteriors share: n draws for a seed with a
/// status and a record of how they were made, and the log density of a batch of thetas.
#pragma once

#include <cmath>
#include <concepts>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>

#include "mlsbi/core/errors.hpp"
#include "mlsbi/core/types.hpp"
#include "mlsbi/inference/mcmc.hpp"

namespace mlsbi::inference {

/// How a posterior sampling run ended. Sampling never throws half way: a problem met while
/// drawing is reported here and the draws made so far are returned.
enum class SamplingStatus {
    ok,                ///< MCMC: every R-hat below the threshold; direct sampling: n draws made
    not_converged,     ///< MCMC: some R-hat at or above the threshold: run longer chains
    evaluation_limit,  ///< MCMC: slice updates hit the shrinkage cap; the draws are suspect
    low_acceptance,    ///< direct sampling: the in-support fraction fell below the bound; fewer
                       ///< than n draws are returned
};

[[nodiscard]] constexpr std::string_view to_string(SamplingStatus s) {
    switch (s) {
        case SamplingStatus::ok:
            return "ok";
        case SamplingStatus::not_converged:
            return "not_converged";
        case SamplingStatus::evaluation_limit:
            return "evaluation_limit";
        case SamplingStatus::low_acceptance:
            return "low_acceptance";
    }
    return "unknown";
}

/// The MCMC status in the posterior vocabulary.
[[nodiscard]] constexpr SamplingStatus to_sampling_status(McmcStatus s) {
    switch (s) {
        case McmcStatus::converged:
            return SamplingStatus::ok;
        case McmcStatus::rhat_above_threshold:
            return SamplingStatus::not_converged;
        case McmcStatus::evaluation_limit:
            return SamplingStatus::evaluation_limit;
    }
    return SamplingStatus::not_converged;
}

/// Draws of a posterior with what was sampled, how, and the diagnostics of the run.
struct PosteriorSamples {
    Matrix<double> samples;  ///< p x n draws (fewer than n only with low_acceptance)
    SamplingStatus status = SamplingStatus::ok;
    std::string method;   ///< how they were drawn, e.g. "SIR (4000 prior draws) + slice sampling"
    std::string message;  ///< one line on the status
    /// MCMC (NLE): the whole run, with R-hat, bulk/tail ESS per parameter and timings; its
    /// samples hold chains x ceil(n / chains) draws, of which `samples` are the first n.
    std::optional<McmcResult> mcmc;
    /// Direct sampling (NPE): draws made (accepted + rejected) and the accepted fraction
    /// (1 - leakage outside the prior support); 1 and n for MCMC.
    Index proposed = 0;
    double acceptance_rate = 1.0;

    [[nodiscard]] bool ok() const { return status == SamplingStatus::ok; }
    [[nodiscard]] Index size() const { return samples.cols(); }

    /// A few lines for a terminal: method, status, then per parameter the mean and sd of the
    /// draws with R-hat and bulk ESS (MCMC) and the acceptance rate (direct sampling).
    [[nodiscard]] std::string summary() const {
        std::string out = message_line();
        const bool has_mcmc = mcmc.has_value() && mcmc->rhat.size() == samples.rows();
        out += has_mcmc ? "  param       mean         sd     R-hat   bulk ESS\n"
                        : "  param       mean         sd\n";
        for (Index i = 0; i < samples.rows(); ++i) {
            const auto row = samples.row(i).array();
            const double mean = row.size() ? row.mean() : std::nan("");
            const double sd = row.size() > 1
                                  ? std::sqrt((row - mean).square().sum() / double(row.size() - 1))
                                  : std::nan("");
            char line[96];
            if (has_mcmc)
                std::snprintf(line, sizeof line, "  %5ld %10.4f %10.4f %9.4f %10.0f\n",
                              static_cast<long>(i), mean, sd, mcmc->rhat(i), mcmc->ess_bulk(i));
            else
                std::snprintf(line, sizeof line, "  %5ld %10.4f %10.4f\n", static_cast<long>(i),
                              mean, sd);
            out += line;
        }
        return out;
    }

private:
    [[nodiscard]] std::string message_line() const {
        std::string line = mlsbi::message("posterior: ", samples.cols(), " draws by ", method, "; ",
                                          to_string(status));
        if (!mcmc)
            line += mlsbi::message(", acceptance ", acceptance_rate, " of ", proposed, " proposed");
        if (!message.empty()) line += mlsbi::message(" (", message, ")");
        return line + "\n";
    }
};

/// A posterior p(theta | x_o) for a fixed observation, as NLE and NPE build it.
///
/// Contract, for `const Post& post`:
/// - `post.dim()`: p, the parameter dimension;
/// - `post.prior()`: the prior it is restricted to (a distributions::Prior);
/// - `post.log_density(thetas, out)`: thetas p x n, out(j) = the (unnormalised for NLE)
///   log posterior at column j, -infinity outside the prior support;
/// - `post.sample(n, seed)`: n draws (p x n) as PosteriorSamples; the same seed gives the same
///   draws; problems met while sampling are reported in the status, not thrown.
/// Satisfied by inference::NlePosterior (SIR + slice sampling) and by the front ends'
/// sbi::LikelihoodPosterior and sbi::DirectPosterior. inference::NpePosterior keeps its older
/// `sample` returning NpeSamples (and throwing LowAcceptanceError); sbi::DirectPosterior wraps it.
template <class Post>
concept Posterior = requires(const Post& post, Index n, std::uint64_t seed,
                             const ConstMatrixRef<double>& thetas, VectorRef<double> out) {
    { post.dim() } -> std::convertible_to<Index>;
    post.prior();
    post.log_density(thetas, out);
    { post.sample(n, seed) } -> std::same_as<PosteriorSamples>;
};

}  // namespace mlsbi::inference
