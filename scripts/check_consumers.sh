#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Proves both ways of consuming mlsbi: installs it to a temporary prefix and builds and runs
# tests/cmake/find_package against it, then builds and runs tests/cmake/add_subdirectory.
#   scripts/check_consumers.sh [work-dir]     (default: a fresh temporary directory)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=${1:-$(mktemp -d "${TMPDIR:-/tmp}/mlsbi-consumers.XXXXXX")}
jobs=${JOBS:-$(nproc)}
mkdir -p "$work"
echo "check_consumers: working in $work"

# 1. Install (tests and examples off: installing needs only the headers and package files).
cmake -S "$root" -B "$work/mlsbi-build" -DMLSBI_BUILD_TESTS=OFF -DMLSBI_BUILD_EXAMPLES=OFF
cmake --install "$work/mlsbi-build" --prefix "$work/prefix"
test -f "$work/prefix/share/cmake/mlsbi/mlsbiConfig.cmake"

# 2. find_package against the installed prefix only (the source tree must not be needed).
cmake -S "$root/tests/cmake/find_package" -B "$work/find_package" \
    -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$work/prefix"
cmake --build "$work/find_package" -j"$jobs"
"$work/find_package/consumer"

# 3. add_subdirectory of this checkout.
cmake -S "$root/tests/cmake/add_subdirectory" -B "$work/add_subdirectory" \
    -DCMAKE_BUILD_TYPE=Release -DMLSBI_SOURCE_DIR="$root"
cmake --build "$work/add_subdirectory" -j"$jobs"
"$work/add_subdirectory/consumer"

echo "check_consumers: find_package and add_subdirectory consumers built and ran"
