// SPDX-License-Identifier: MIT
/// \file
/// \brief Exact binary writing and reading of scalars and vectors for saved optimizer and
/// training states (checkpoints are read back by the same build, so raw bytes are exact).
#pragma once

#include <cstdint>
#include <istream>
#include <ostream>
#include <type_traits>

#include "mlsbi/core/errors.hpp"
#include "mlsbi/core/types.hpp"

namespace mlsbi::optimizers::detail {

template <class T>
requires std::is_trivially_copyable_v<T>
void write_value(std::ostream& out, const T& value) {
    out.write(reinterpret_cast<const char*>(&value), sizeof(T));
}

template <class T>
requires std::is_trivially_copyable_v<T> T read_value(std::istream& in, const char* what) {
    T value{};
    in.read(reinterpret_cast<char*>(&value), sizeof(T));
    require(static_cast<bool>(in), "read_value: the saved state ends inside ", what);
    return value;
}

template <typename Scalar>
void write_vector(std::ostream& out, const Vector<Scalar>& v) {
    write_value<std::int64_t>(out, static_cast<std::int64_t>(v.size()));
    out.write(reinterpret_cast<const char*>(v.data()),
              static_cast<std::streamsize>(sizeof(Scalar) * static_cast<std::size_t>(v.size())));
}

template <typename Scalar>
Vector<Scalar> read_vector(std::istream& in, const char* what) {
    const auto n = read_value<std::int64_t>(in, what);
    require(n >= 0 && n < (std::int64_t(1) << 40), "read_vector: corrupt size ", n, " of ", what);
    Vector<Scalar> v(static_cast<Index>(n));
    in.read(reinterpret_cast<char*>(v.data()),
            static_cast<std::streamsize>(sizeof(Scalar) * static_cast<std::size_t>(n)));
    require(static_cast<bool>(in), "read_vector: the saved state ends inside ", what);
    return v;
}

}  // namespace mlsbi::optimizers::detail
