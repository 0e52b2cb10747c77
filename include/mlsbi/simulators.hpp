// SPDX-License-Identifier: MIT
/// \file
/// \brief Umbrella header of the simulators module: level and multilevel simulator concepts,
/// seed-matched dataset generation, resumable campaigns, and the g-and-k, Ornstein-Uhlenbeck
/// and toggle-switch benchmarks.
#pragma once

#include "mlsbi/simulators/campaign.hpp"
#include "mlsbi/simulators/function_level.hpp"
#include "mlsbi/simulators/gnk.hpp"
#include "mlsbi/simulators/level_simulator.hpp"
#include "mlsbi/simulators/multilevel_dataset.hpp"
#include "mlsbi/simulators/multilevel_simulator.hpp"
#include "mlsbi/simulators/ou.hpp"
#include "mlsbi/simulators/toggle_switch.hpp"
