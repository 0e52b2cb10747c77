// SPDX-License-Identifier: MIT
// libFuzzer target: read_npy and read_npy_matrix on arbitrary bytes must return or throw
// io::FileError; anything else (crash, sanitizer report, other exception) is a finding.
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>

#include "mlsbi/io/npy.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string bytes(reinterpret_cast<const char*>(data), size);
    try {
        std::istringstream in(bytes);
        const mlsbi::io::NpyArray array = mlsbi::io::read_npy(in, "fuzz");
        std::istringstream again(bytes);
        const mlsbi::Matrix<double> batch = mlsbi::io::read_npy_matrix(again, "fuzz");
        if (static_cast<std::size_t>(batch.size()) != array.values.size()) __builtin_trap();
    } catch (const mlsbi::io::FileError&) {
    }
    return 0;
}
