#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# AddressSanitizer + UndefinedBehaviorSanitizer test build (-DMLSBI_SANITIZE=ON), then ctest on
# the fast set (`-LE slow`: everything but the fitting and end-to-end tests, mutation tests
# included; the slow set runs in the Release build of README command (b)).
# Built at -O1 without NDEBUG, so Eigen's and mlsbi's assertions stay on; not -Werror (the
# warning gate is the Release build, and GCC's warnings under sanitizers are noisy).
#   scripts/check_sanitizers.sh [build-dir]   (default: build-sanitize)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-$root/build-sanitize}
jobs=${JOBS:-$(nproc)}

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g1" \
    -DMLSBI_SANITIZE=ON -DMLSBI_BUILD_EXAMPLES=OFF
cmake --build "$build" -j"$jobs"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
ctest --test-dir "$build" --output-on-failure -j"$jobs" -LE slow
