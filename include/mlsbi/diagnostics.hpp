// SPDX-License-Identifier: MIT
/// \file
/// \brief Umbrella header of the diagnostics module: grid KL, MMD, C2ST, NLPD, coverage and SBC.
#pragma once

#include "mlsbi/diagnostics/c2st.hpp"
#include "mlsbi/diagnostics/calibration.hpp"
#include "mlsbi/diagnostics/kl_divergence.hpp"
#include "mlsbi/diagnostics/mmd.hpp"
#include "mlsbi/diagnostics/nlpd.hpp"
