// SPDX-License-Identifier: MIT
/// \file
/// \brief Umbrella header of the simulators module: level and multilevel simulator concepts,
/// seed-matched dataset generation, and the g-and-k and toggle-switch benchmarks.
#pragma once

#include "mlsbi/simulators/function_level.hpp"
#include "mlsbi/simulators/gnk.hpp"
#include "mlsbi/simulators/level_simulator.hpp"
#include "mlsbi/simulators/multilevel_dataset.hpp"
#include "mlsbi/simulators/multilevel_simulator.hpp"
#include "mlsbi/simulators/toggle_switch.hpp"
