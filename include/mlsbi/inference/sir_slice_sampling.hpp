// SPDX-License-Identifier: MIT
/// \file
/// \brief sample_by_sir_and_slice: n posterior draws from any batched log density, the chains
/// started by SIR from prior draws and run by slice sampling, with R-hat, ESS and a status (how
/// NLE posteriors are sampled).
#pragma once

#include <algorithm>
#include <cstdint>

#include "mlsbi/core/errors.hpp"
#include "mlsbi/distributions/prior.hpp"
#include "mlsbi/inference/initialization.hpp"
#include "mlsbi/inference/log_density.hpp"
#include "mlsbi/inference/posterior.hpp"
#include "mlsbi/inference/slice_sampler.hpp"

namespace mlsbi::inference {

/// How sample_by_sir_and_slice (and NlePosterior::sample) draws: sbi's default for NLE, SIR
/// initialisation of the chains from prior draws, then coordinate-wise slice sampling of all
/// chains at once.
struct NleSamplingOptions {
    Index chains = 4;              ///< independent chains, >= 1 (R-hat needs >= 2)
    Index warmup = 200;            ///< warm-up sweeps per chain, discarded, >= 0
    Index thin = 1;                ///< keep every thin-th sweep, >= 1
    Index sir_candidates = 4000;   ///< prior draws the chains are resampled from, >= chains
    double rhat_threshold = 1.01;  ///< status ok when every R-hat is below it, > 1
    SliceSamplerOptions slice{};

    /// \throws std::invalid_argument naming the first invalid field.
    void validate() const {
        require(chains >= 1, "NleSamplingOptions: chains must be >= 1, got ", chains);
        require(warmup >= 0, "NleSamplingOptions: warmup must be >= 0, got ", warmup);
        require(thin >= 1, "NleSamplingOptions: thin must be >= 1, got ", thin);
        require(sir_candidates >= chains, "NleSamplingOptions: sir_candidates (", sir_candidates,
                ") must be >= chains (", chains, ")");
        require(rhat_threshold > 1, "NleSamplingOptions: rhat_threshold must be > 1, got ",
                rhat_threshold);
        slice.validate();
    }
};

/// n draws from the density `log_density` (a BatchLogDensity, e.g. an unnormalised log
/// posterior): SIR picks `chains` starting points among `sir_candidates` draws of `prior`, then
/// slice sampling runs the chains for ceil(n / chains) kept draws each (at least 4) after
/// `warmup`. The first n draws (chain after chain) are `samples`; the whole run, with R-hat and
/// ESS, is `mcmc`. Seeds: SIR uses derive_seed(seed, 0), the chains derive_seed(seed, 1), so two
/// targets sampled with the same seed start from the same candidates.
/// \throws std::invalid_argument if n < 1, on invalid options, or when fewer than `chains`
///         candidates have a finite density (before any chain runs).
template <BatchLogDensity F, distributions::Prior P>
[[nodiscard]] PosteriorSamples sample_by_sir_and_slice(F&& log_density, const P& prior, Index n,
                                                       std::uint64_t seed,
                                                       const NleSamplingOptions& options = {}) {
    require(n >= 1, "sample_by_sir_and_slice: n must be >= 1, got ", n);
    options.validate();
    const auto init = sir_initialize_from_prior(log_density, prior, options.sir_candidates,
                                                options.chains, derive_seed(seed, 0));
    const Index per_chain = std::max<Index>(4, (n + options.chains - 1) / options.chains);
    PosteriorSamples out;
    out.mcmc = slice_sample(log_density, init.points,
                            McmcOptions{.draws_per_chain = per_chain,
                                        .warmup = options.warmup,
                                        .thin = options.thin,
                                        .seed = derive_seed(seed, 1),
                                        .rhat_threshold = options.rhat_threshold},
                            options.slice);
    out.samples = out.mcmc->samples.leftCols(std::min(n, out.mcmc->samples.cols()));
    out.status = to_sampling_status(out.mcmc->status);
    out.method =
        message("SIR (", options.sir_candidates, " prior draws, weight ESS ",
                static_cast<long>(init.weight_ess), ") + slice sampling, ", options.chains,
                " chains x ", per_chain, " draws after ", options.warmup, " warm-up sweeps");
    out.message = message("max R-hat ", out.mcmc->max_rhat(), ", min bulk ESS ",
                          static_cast<long>(out.mcmc->min_ess_bulk()));
    out.proposed = out.samples.cols();
    return out;
}

}  // namespace mlsbi::inference
