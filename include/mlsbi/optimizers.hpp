// SPDX-License-Identifier: MIT
/// \file
/// \brief Module umbrella: Adam, global-norm clipping and the multilevel gradient adjustment.
#pragma once

#include "mlsbi/optimizers/adam.hpp"
#include "mlsbi/optimizers/clipping.hpp"
#include "mlsbi/optimizers/gradient_adjustment.hpp"
#include "mlsbi/optimizers/optimizer.hpp"
#include "mlsbi/optimizers/sgd.hpp"
