// SPDX-License-Identifier: MIT
/// \file
/// \brief Module umbrella: the MC and MLMC losses for NLE and NPE.
#pragma once

#include "mlsbi/losses/loss_terms.hpp"
#include "mlsbi/losses/mc_loss.hpp"
#include "mlsbi/losses/mlmc_loss.hpp"
