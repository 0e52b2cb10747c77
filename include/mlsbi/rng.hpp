// SPDX-License-Identifier: MIT
/// \file
/// \brief Umbrella header of the rng module: counter-based streams, seed derivation and coupling
/// helpers (normals, truncated normals, vectors, Brownian increments).
#pragma once

#include "mlsbi/rng/brownian.hpp"
#include "mlsbi/rng/normal.hpp"
#include "mlsbi/rng/random_stream.hpp"
#include "mlsbi/rng/shuffle.hpp"
#include "mlsbi/rng/truncated_normal.hpp"
#include "mlsbi/rng/vectors.hpp"
