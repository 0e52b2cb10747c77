// SPDX-License-Identifier: MIT
/// \file
/// \brief Module umbrella: saving/loading estimators and reading NumPy arrays.
#pragma once

#include "mlsbi/io/estimator_file.hpp"
#include "mlsbi/io/file_error.hpp"
#include "mlsbi/io/npy.hpp"
