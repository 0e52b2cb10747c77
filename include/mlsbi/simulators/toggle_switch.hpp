// SPDX-License-Identifier: MIT
/// \file
/// \brief The toggle-switch benchmark (Hikida et al. 2025, Sec. 5): three-level Markov-chain
/// simulator, its truncated-normal draw, prior.
#pragma once

#include "mlsbi/simulators/toggle_switch/simulator.hpp"
#include "mlsbi/simulators/toggle_switch/truncated_normal.hpp"
