// SPDX-License-Identifier: MIT
/// \file
/// \brief The g-and-k benchmark (Hikida et al. 2025, Sec. 5): two-level simulator, prior, exact
/// density, summaries.
#pragma once

#include "mlsbi/simulators/gnk/exact_density.hpp"
#include "mlsbi/simulators/gnk/quantile.hpp"
#include "mlsbi/simulators/gnk/simulator.hpp"
#include "mlsbi/simulators/gnk/summaries.hpp"
