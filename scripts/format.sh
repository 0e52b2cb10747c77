#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# clang-format (.clang-format) over every tracked C++ file.
#   scripts/format.sh           reformat in place
#   scripts/format.sh --check   only report files that differ; exit 1 if any
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
mapfile -t files < <(git ls-files '*.hpp' '*.cpp')
if [[ ${1:-} == --check ]]; then
    clang-format --dry-run -Werror "${files[@]}"
else
    clang-format -i "${files[@]}"
fi
