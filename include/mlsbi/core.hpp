// SPDX-License-Identifier: MIT
/// \file
/// \brief Module umbrella: types, errors and the flat parameter layout.
#pragma once

#include "mlsbi/core/errors.hpp"
#include "mlsbi/core/parameter_layout.hpp"
#include "mlsbi/core/parallel_for.hpp"
#include "mlsbi/core/serial_eigen.hpp"
#include "mlsbi/core/types.hpp"
