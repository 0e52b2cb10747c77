// SPDX-License-Identifier: MIT
// Explicit skips for tests whose optional data are absent (see catch_main.cpp).
#pragma once

namespace mlsbi_tests {

/// The exit code of a run that skipped; registered as ctest's SKIP_RETURN_CODE.
inline constexpr int skip_exit_code = 77;

inline bool& skip_flag() {
    static bool flag = false;
    return flag;
}

/// Marks this run as skipped: it exits with skip_exit_code if nothing failed.
inline void request_skip() { skip_flag() = true; }

[[nodiscard]] inline bool skip_requested() { return skip_flag(); }

}  // namespace mlsbi_tests
