#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Runs campaign_throughput under mpiexec with 1, 2 and 3 ranks (3 ranks oversubscribe a 2-core
# machine), one OpenMP thread per rank, and prints the CSV lines of all runs.
#   benchmarks/mpi/run_campaign_scaling.sh <build-dir> [repetitions]
set -euo pipefail
build=$1
repetitions=${2:-3}
export OMP_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_mpi_yield_when_idle=1
for ranks in 1 2 3; do
    mpiexec -n "$ranks" --oversubscribe "$build/benchmarks/mpi/campaign_throughput" \
        --repetitions "$repetitions" | { [[ $ranks == 1 ]] && cat || tail -n +2; }
done
