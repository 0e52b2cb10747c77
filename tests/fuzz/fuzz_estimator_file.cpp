// SPDX-License-Identifier: MIT
// libFuzzer target: load_estimator on arbitrary bytes must load finite values or throw
// io::FileError with the estimator unchanged. The first byte is a mode, the rest the file: when
// the mode is odd the checksum line is recomputed, so the fuzzer also explores the parser behind
// the checksum. The architecture is that of tests/data/estimator_v1_gaussian.txt; good seeds
// are that file and a version-2 save behind a mode byte (see tests/fuzz/CMakeLists.txt).
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>

#include "mlsbi/flows/diagonal_gaussian.hpp"
#include "mlsbi/io/estimator_file.hpp"

namespace {
using Density = mlsbi::flows::DiagonalGaussian<double>;
using Estimator = mlsbi::flows::ConditionalEstimator<Density>;
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const Estimator blank(Density::Options{.input_dim = 2, .context_dim = 3, .hidden = {4}},
                                 5);
    if (size == 0) return 0;
    std::string bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
    if ((data[0] & 1) != 0) {
        const std::size_t end = bytes.rfind("end\n");
        if (end != std::string::npos) {
            bytes.resize(end + 4);
            bytes += mlsbi::io::detail::estimator_checksum_line(bytes) + '\n';
        }
    }
    Estimator target = blank;
    const std::string name = "fuzz";
    try {
        std::istringstream in(bytes);
        mlsbi::io::detail::load_estimator_from(target, in, &name);
        if (!target.parameters().allFinite()) __builtin_trap();
    } catch (const mlsbi::io::FileError&) {
        if (target.parameters() != blank.parameters()) __builtin_trap();
    }
    return 0;
}
