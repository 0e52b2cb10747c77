// SPDX-License-Identifier: MIT
// The single Catch2 main shared by every test executable. A test that finds its optional data
// absent calls request_skip() (tests/test_skip.hpp): a run that passed then exits with
// skip_exit_code, which ctest reports as Skipped where the test sets SKIP_RETURN_CODE (Catch2
// v2 has no SKIP of its own).
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include "test_skip.hpp"

int main(int argc, char** argv) {
    const int failures = Catch::Session().run(argc, argv);
    return failures == 0 && mlsbi_tests::skip_requested() ? mlsbi_tests::skip_exit_code : failures;
}
