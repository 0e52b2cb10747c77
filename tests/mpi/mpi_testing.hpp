// SPDX-License-Identifier: MIT
// Shared by the MPI tests: the prior of the toy models and a collective "true on every rank".
#pragma once

#include <mpi.h>

#include "mlsbi/distributions/box_uniform.hpp"

namespace mlsbi::testing_support {

inline const distributions::BoxUniform& toy_prior() {
    static const distributions::BoxUniform prior({0.0, 0.5}, {3.0, 2.0});
    return prior;
}

// True on every rank iff `value` is true on every rank (collective).
inline bool all_ranks(bool value) {
    int local = value ? 1 : 0, all = 0;
    MPI_Allreduce(&local, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    return all == 1;
}

}  // namespace mlsbi::testing_support
