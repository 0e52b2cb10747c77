// SPDX-License-Identifier: MIT
/// \file
/// \brief Module umbrella: the training loop and the ML, MC and TL training recipes.
#pragma once

#include "mlsbi/training/baselines.hpp"
#include "mlsbi/training/callbacks.hpp"
#include "mlsbi/training/trainer.hpp"
