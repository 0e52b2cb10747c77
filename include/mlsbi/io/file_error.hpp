// SPDX-License-Identifier: MIT
/// \file
/// \brief FileError: the one exception type of the io module for a file it cannot use.
#pragma once

#include <stdexcept>
#include <string>
#include <utility>

#include "mlsbi/core/errors.hpp"

namespace mlsbi::io {

/// Thrown by every io loader and saver for a file it cannot use: cannot open, read or write it;
/// malformed, corrupt (checksum mismatch), truncated or with trailing bytes; unsupported
/// version or dtype; a size beyond its bound or beyond the bytes present; a non-finite value
/// where the format forbids one; a model file that does not match the receiving estimator.
/// The message starts with the function and names the file (when it has a path) and the
/// problem: `"read_npy: data.npy: file truncated: ..."`.
///
/// Derives from std::invalid_argument, the library's type for bad input at the boundary, so
/// code that caught std::invalid_argument from these functions before FileError existed keeps
/// working. A failed load leaves its destination unchanged.
class FileError : public std::invalid_argument {
public:
    explicit FileError(const std::string& what) : std::invalid_argument(what) {}
};

namespace detail {

/// Throws FileError with the joined message unless `condition` holds (require() for files).
template <typename... Parts>
void require_file(bool condition, Parts&&... parts) {
    if (!condition) throw FileError(message(std::forward<Parts>(parts)...));
}

}  // namespace detail

}  // namespace mlsbi::io
