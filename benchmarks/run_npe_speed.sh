#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# ML-NPE training speed side by side in one run: the PyTorch reference's ML-NPE MAF 4-D at
# n = (10^3, 100), m = 1000 (run_torch_reference.sh --npe), then bench_npe (all four NPE
# configurations at 1 and 2 threads), then the reference again, so drift of a loaded machine
# shows up as a difference between the two reference timings. Prints the ms/epoch of both.
#
# usage: benchmarks/run_npe_speed.sh BUILD_DIR [--epochs N] [--min-time S]
#   BUILD_DIR holds benchmarks/bench_npe; N reference epochs (default 100, 10 of them warm-up);
#   S Google Benchmark's --benchmark_min_time (default 1; one iteration = 20 epochs).
# Environment: MLSBI_SHARED_DIR as for run_torch_reference.sh.
set -euo pipefail
build=${1:?usage: run_npe_speed.sh BUILD_DIR [--epochs N]}
shift
epochs=100
min_time=1
while [ $# -gt 0 ]; do
    case "$1" in
        --epochs) epochs=$2; shift 2 ;;
        --min-time) min_time=$2; shift 2 ;;
        *) echo "run_npe_speed.sh: unknown argument '$1'" >&2; exit 2 ;;
    esac
done
here=$(cd "$(dirname "$0")" && pwd)
echo "load: $(uptime)"
"$here/run_torch_reference.sh" --npe --epochs "$epochs" --threads "1 2"
OMP_WAIT_POLICY=ACTIVE "$build/benchmarks/bench_npe" --benchmark_min_time="$min_time"
"$here/run_torch_reference.sh" --npe --epochs "$epochs" --threads "1 2"
echo "load: $(uptime)"
