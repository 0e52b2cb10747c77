// SPDX-License-Identifier: MIT
/// \file
/// \brief Module umbrella: tools users can run on their own components (finite-difference gradient checks).
#pragma once

#include "mlsbi/testing/gradient_check.hpp"
