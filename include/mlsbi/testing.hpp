// SPDX-License-Identifier: MIT
/// \file
/// \brief Module umbrella: tools users can run on their own components (finite-difference gradient
/// checks, the ConditionalDensity contract checker).
#pragma once

#include "mlsbi/testing/density_contract.hpp"
#include "mlsbi/testing/gradient_check.hpp"
