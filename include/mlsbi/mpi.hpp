// SPDX-License-Identifier: MIT
/// \file
/// \brief Umbrella header of the optional MPI module (needs <mpi.h>; CMake option MLSBI_MPI):
/// distributed seed-matched generation and resumable campaigns over a communicator. Not part of
/// mlsbi/mlsbi.hpp, so the rest of the library never needs MPI.
#pragma once

#include "mlsbi/mpi/campaign.hpp"
#include "mlsbi/mpi/distributed_dataset.hpp"
#include "mlsbi/mpi/work_schedule.hpp"
