#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Header self-containment: compiles one generated TU per public header under include/mlsbi with
# -Wall -Wextra -Wpedantic -Werror (CMake option MLSBI_HEADER_CHECK, see cmake/header_check.cmake),
# and the benchmarks the same way, so they cannot rot unnoticed. Front end only (-fsyntax-only):
# templates are instantiated and warnings reported, no code is generated.
#   scripts/check_headers.sh [build-dir]      (default: build-header-check)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-$root/build-header-check}
jobs=${JOBS:-$(nproc)}

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DMLSBI_HEADER_CHECK=ON \
    -DMLSBI_WARNINGS_AS_ERRORS=ON -DMLSBI_BUILD_TESTS=OFF -DMLSBI_BUILD_EXAMPLES=OFF \
    -DMLSBI_BUILD_BENCHMARKS=OFF
cmake --build "$build" -j"$jobs"
echo "check_headers: every public header compiles on its own; the benchmarks compile"
