// SPDX-License-Identifier: MIT
/// \file
/// \brief Everything in mlsbi: include this, or the module umbrellas (mlsbi/<module>.hpp), or single headers.
#pragma once

#include "mlsbi/core.hpp"
#include "mlsbi/rng.hpp"
#include "mlsbi/distributions.hpp"
#include "mlsbi/simulators.hpp"
#include "mlsbi/nn.hpp"
#include "mlsbi/flows.hpp"
#include "mlsbi/losses.hpp"
#include "mlsbi/optimizers.hpp"
#include "mlsbi/training.hpp"
#include "mlsbi/inference.hpp"
#include "mlsbi/diagnostics.hpp"
#include "mlsbi/io.hpp"
#include "mlsbi/testing.hpp"
#include "mlsbi/sbi.hpp"
