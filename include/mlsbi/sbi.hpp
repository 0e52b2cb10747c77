// SPDX-License-Identifier: MIT
/// \file
/// \brief Umbrella header of the front ends: Nle and Npe, from a prior and a multilevel simulator
/// to posterior draws, and the posteriors they build.
#pragma once

#include "mlsbi/sbi/direct_posterior.hpp"
#include "mlsbi/sbi/likelihood_posterior.hpp"
#include "mlsbi/sbi/neural_inference.hpp"
#include "mlsbi/sbi/nle.hpp"
#include "mlsbi/sbi/npe.hpp"
#include "mlsbi/sbi/seeds.hpp"
