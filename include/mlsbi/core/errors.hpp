// SPDX-License-Identifier: MIT
/// \file
/// \brief Error helpers: argument checks that throw with a message naming the function and argument.
#pragma once

#include <cmath>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

#include "mlsbi/core/types.hpp"

/// Internal invariant check; define MLSBI_ASSERT before including mlsbi to override.
#ifndef MLSBI_ASSERT
#define MLSBI_ASSERT(condition)                                                            \
    do {                                                                                   \
        if (!(condition))                                                                  \
            throw std::logic_error(std::string("mlsbi internal error: ") + #condition +   \
                                   " (" + __FILE__ + ":" + std::to_string(__LINE__) + ")"); \
    } while (false)
#endif

namespace mlsbi {

/// Builds a message from any streamable parts: `message("f: level ", 2, " is empty")`.
template <typename... Parts>
[[nodiscard]] std::string message(Parts&&... parts) {
    std::ostringstream out;
    (out << ... << std::forward<Parts>(parts));
    return out.str();
}

/// Throws std::invalid_argument with the joined message unless `condition` holds.
template <typename... Parts>
void require(bool condition, Parts&&... parts) {
    if (!condition) throw std::invalid_argument(message(std::forward<Parts>(parts)...));
}

/// Throws std::logic_error (misuse of state) with the joined message unless `condition` holds.
template <typename... Parts>
void require_state(bool condition, Parts&&... parts) {
    if (!condition) throw std::logic_error(message(std::forward<Parts>(parts)...));
}

/// Throws std::invalid_argument naming `what` unless the batch has `rows` rows and `cols` columns
/// (a negative expectation is not checked).
template <typename Derived>
void require_shape(const Eigen::DenseBase<Derived>& m, Index rows, Index cols, const char* what) {
    if ((rows >= 0 && m.rows() != rows) || (cols >= 0 && m.cols() != cols))
        throw std::invalid_argument(message(what, ": expected shape ", rows < 0 ? -1 : rows, " x ",
                                            cols < 0 ? -1 : cols, " (-1 = any), got ", m.rows(),
                                            " x ", m.cols()));
}

/// Throws std::invalid_argument naming `what` and the first offending (row, column) unless every
/// entry is finite.
template <typename Derived>
void require_finite(const Eigen::DenseBase<Derived>& m, const char* what) {
    for (Index j = 0; j < m.cols(); ++j)
        for (Index i = 0; i < m.rows(); ++i)
            if (!std::isfinite(static_cast<double>(m(i, j))))
                throw std::invalid_argument(message(what, ": non-finite value ", m(i, j),
                                                    " at row ", i, ", column ", j));
}

}  // namespace mlsbi
