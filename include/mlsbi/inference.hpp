// SPDX-License-Identifier: MIT
/// \file
/// \brief Umbrella header of the inference module: batched MCMC (slice sampling, adaptive
/// Metropolis), convergence diagnostics, SIR initialisation, and the NLE and NPE posteriors.
#pragma once

#include "mlsbi/inference/convergence.hpp"
#include "mlsbi/inference/initialization.hpp"
#include "mlsbi/inference/log_density.hpp"
#include "mlsbi/inference/mcmc.hpp"
#include "mlsbi/inference/metropolis.hpp"
#include "mlsbi/inference/nle_posterior.hpp"
#include "mlsbi/inference/npe_posterior.hpp"
#include "mlsbi/inference/posterior.hpp"
#include "mlsbi/inference/sir_slice_sampling.hpp"
#include "mlsbi/inference/slice_sampler.hpp"
