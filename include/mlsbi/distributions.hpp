// SPDX-License-Identifier: MIT
/// \file
/// \brief Umbrella header of the distributions module: the Prior concept and the priors.
#pragma once

#include "mlsbi/distributions/box_uniform.hpp"
#include "mlsbi/distributions/gaussian.hpp"
#include "mlsbi/distributions/independent_product.hpp"
#include "mlsbi/distributions/log_uniform.hpp"
#include "mlsbi/distributions/prior.hpp"
