// SPDX-License-Identifier: MIT
/// \file
/// \brief Fixture for the dependency-direction check: core must not include flows (never compiled).
#pragma once

#include "mlsbi/flows/diagonal_gaussian.hpp"
