// SPDX-License-Identifier: MIT
/// \file
/// \brief Module umbrella: conditional density estimators (Gaussian, MDN, MAF, NSF), z-scoring, embeddings.
#pragma once

#include "mlsbi/flows/conditional_density.hpp"
#include "mlsbi/flows/conditional_estimator.hpp"
#include "mlsbi/flows/context_spline_flow.hpp"
#include "mlsbi/flows/diagonal_gaussian.hpp"
#include "mlsbi/flows/embedding.hpp"
#include "mlsbi/flows/estimator_task.hpp"
#include "mlsbi/flows/lu_linear.hpp"
#include "mlsbi/flows/maf.hpp"
#include "mlsbi/flows/mixture_density_network.hpp"
#include "mlsbi/flows/neural_spline_flow.hpp"
#include "mlsbi/flows/rational_quadratic_spline.hpp"
#include "mlsbi/flows/spline_coupling.hpp"
#include "mlsbi/flows/standardizer.hpp"
