// SPDX-License-Identifier: MIT
// Catch2 main for the MPI tests: every rank runs every test case (the tests are collective);
// MPI with MPI_THREAD_FUNNELED (OpenMP threads simulate, only the main thread calls MPI).
#define CATCH_CONFIG_RUNNER
#include <mpi.h>

#include <catch2/catch.hpp>

int main(int argc, char* argv[]) {
    int provided = 0;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
    int rank = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    Catch::Session session;
    if (rank != 0) session.configData().reporterName = "compact";  // one full report, rank 0
    const int failed = session.run(argc, argv);
    int any_failed = failed;
    MPI_Allreduce(&failed, &any_failed, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    MPI_Finalize();
    return any_failed == 0 ? 0 : 1;
}
