// SPDX-License-Identifier: MIT
/// \file
/// \brief The Ornstein-Uhlenbeck benchmark (Hikida et al. 2025, Sec. 5): two-level simulator
/// (Euler path, stationary approximation), priors, exact likelihood of the Euler recursion.
#pragma once

#include "mlsbi/simulators/ou/likelihood.hpp"
#include "mlsbi/simulators/ou/simulator.hpp"
