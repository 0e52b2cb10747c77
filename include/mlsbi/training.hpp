// SPDX-License-Identifier: MIT
/// \file
/// \brief Module umbrella: the training loop, the ML, MC and TL training recipes, pilot-based
/// sample allocation and coupling diagnostics.
#pragma once

#include "mlsbi/training/allocation.hpp"
#include "mlsbi/training/baselines.hpp"
#include "mlsbi/training/callbacks.hpp"
#include "mlsbi/training/coupling_report.hpp"
#include "mlsbi/training/level_alignment.hpp"
#include "mlsbi/training/pilot.hpp"
#include "mlsbi/training/runaway.hpp"
#include "mlsbi/training/standardization.hpp"
#include "mlsbi/training/trainer.hpp"
