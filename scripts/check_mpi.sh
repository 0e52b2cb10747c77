#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# MPI check (Debian: libopenmpi-dev openmpi-bin): configures with -DMLSBI_MPI=ON, builds only the
# MPI tests (tests/mpi) and the campaign benchmark, and runs `ctest -L mpi`: mpiexec with 1, 2
# and 3 ranks (oversubscribed on small machines) x 1 and 2 OpenMP threads, and the
# kill-and-resume test. Also runs as root (the tests set OMPI_ALLOW_RUN_AS_ROOT*).
#   scripts/check_mpi.sh [build-dir]      (default: build-mpi)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-$root/build-mpi}
jobs=${JOBS:-$(nproc)}

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DMLSBI_WARNINGS_AS_ERRORS=ON \
    -DMLSBI_MPI=ON -DMLSBI_BUILD_EXAMPLES=OFF
cmake --build "$build" -j"$jobs" --target test_mpi_distributed_dataset test_mpi_campaign \
    mpi_campaign_worker campaign_throughput
# One MPI job at a time: each already oversubscribes the cores.
ctest --test-dir "$build" -L mpi --output-on-failure -j1
echo "check_mpi: MPI tests pass with 1, 2 and 3 ranks; kill-and-resume ends bit-identical"
