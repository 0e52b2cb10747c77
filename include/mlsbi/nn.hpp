// SPDX-License-Identifier: MIT
/// \file
/// \brief Module umbrella: layers with hand-written backward passes over d x n batches.
#pragma once

#include "mlsbi/nn/activation.hpp"
#include "mlsbi/nn/dense.hpp"
#include "mlsbi/nn/made.hpp"
#include "mlsbi/nn/masked_dense.hpp"
#include "mlsbi/nn/mlp.hpp"
#include "mlsbi/nn/residual_block.hpp"
#include "mlsbi/nn/residual_net.hpp"
