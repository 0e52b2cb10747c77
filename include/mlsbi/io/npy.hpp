// SPDX-License-Identifier: MIT
/// \file
/// \brief Minimal NumPy .npy reader and writer for float arrays (simulations run elsewhere, e.g.
/// CAMELS).
///
/// Reads format versions 1.0, 2.0 and 3.0 with dtype '<f8' or '<f4', C or Fortran order, 1-D or
/// 2-D. mlsbi stores batches d x n (one sample per column), NumPy files conventionally (n, d)
/// (one sample per row), so `read_npy_matrix` transposes the layout: a (1000, 39) file becomes a
/// 39 x 1000 matrix, and a 1-D (n,) file a 1 x n matrix (n scalar samples). For C order this is
/// a plain copy, since the bytes of a C-order (n, d) array are those of a column-major d x n one.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "mlsbi/core/errors.hpp"
#include "mlsbi/core/types.hpp"

namespace mlsbi::io {

/// A float array read from a .npy file, values converted to double in file order.
struct NpyArray {
    std::vector<Index> shape;    ///< NumPy shape (1 or 2 entries)
    bool fortran_order = false;  ///< true when the file stores column-major data
    std::vector<double> values;  ///< prod(shape) values in the file's order
};

namespace detail {

[[noreturn]] inline void npy_fail(const std::string& path, const std::string& what) {
    throw std::invalid_argument("read_npy: " + path + ": " + what);
}

// Position just after `'key':` (or "key":) in the header dictionary.
inline std::size_t npy_value_position(const std::string& header, const std::string& key,
                                      const std::string& path) {
    std::size_t at = header.find("'" + key + "'");
    if (at == std::string::npos) at = header.find("\"" + key + "\"");
    if (at == std::string::npos) npy_fail(path, "header has no '" + key + "' entry: " + header);
    const std::size_t colon = header.find(':', at);
    if (colon == std::string::npos) npy_fail(path, "malformed header: " + header);
    std::size_t pos = colon + 1;
    while (pos < header.size() && header[pos] == ' ') ++pos;
    return pos;
}

}  // namespace detail

/// Reads a 1-D or 2-D float .npy file.
/// \throws std::invalid_argument naming the file and the problem: cannot open, not a .npy file,
///         unsupported version, dtype other than '<f8' / '<f4' (big-endian included), more than
///         2 dimensions or 0-D, truncated data.
[[nodiscard]] inline NpyArray read_npy(const std::string& path) {
    static_assert(std::endian::native == std::endian::little,
                  "read_npy assumes a little-endian host");
    std::ifstream in(path, std::ios::binary);
    if (!in) detail::npy_fail(path, "cannot open file");
    char magic[6] = {};
    in.read(magic, 6);
    if (!in || std::memcmp(magic, "\x93NUMPY", 6) != 0)
        detail::npy_fail(path, "not a .npy file (bad magic string)");
    unsigned char version[2] = {};
    in.read(reinterpret_cast<char*>(version), 2);
    if (!in || version[0] < 1 || version[0] > 3)
        detail::npy_fail(path, message("unsupported .npy version ", int(version[0]), ".",
                                       int(version[1]), " (need 1.0, 2.0 or 3.0)"));
    std::uint32_t header_length = 0;
    if (version[0] == 1) {
        unsigned char bytes[2] = {};
        in.read(reinterpret_cast<char*>(bytes), 2);
        header_length = bytes[0] | (std::uint32_t{bytes[1]} << 8);
    } else {
        unsigned char bytes[4] = {};
        in.read(reinterpret_cast<char*>(bytes), 4);
        header_length = bytes[0] | (std::uint32_t{bytes[1]} << 8) |
                        (std::uint32_t{bytes[2]} << 16) | (std::uint32_t{bytes[3]} << 24);
    }
    if (!in || header_length > (1u << 24)) detail::npy_fail(path, "truncated or corrupt header");
    std::string header(header_length, '\0');
    in.read(header.data(), header_length);
    if (!in) detail::npy_fail(path, "truncated header");

    // dtype
    std::size_t pos = detail::npy_value_position(header, "descr", path);
    if (pos >= header.size() || (header[pos] != '\'' && header[pos] != '"'))
        detail::npy_fail(path, "descr is not a simple dtype string: " + header);
    const std::size_t close = header.find(header[pos], pos + 1);
    if (close == std::string::npos) detail::npy_fail(path, "malformed descr: " + header);
    const std::string descr = header.substr(pos + 1, close - pos - 1);
    std::size_t item_size = 0;
    if (descr == "<f8")
        item_size = 8;
    else if (descr == "<f4")
        item_size = 4;
    else
        detail::npy_fail(path, "unsupported dtype '" + descr +
                                   "' (need little-endian float64 '<f8' or float32 '<f4')");

    NpyArray array;
    pos = detail::npy_value_position(header, "fortran_order", path);
    if (header.compare(pos, 4, "True") == 0)
        array.fortran_order = true;
    else if (header.compare(pos, 5, "False") != 0)
        detail::npy_fail(path, "malformed fortran_order: " + header);

    pos = detail::npy_value_position(header, "shape", path);
    if (pos >= header.size() || header[pos] != '(')
        detail::npy_fail(path, "malformed shape: " + header);
    const std::size_t shape_end = header.find(')', pos);
    if (shape_end == std::string::npos) detail::npy_fail(path, "malformed shape: " + header);
    const std::string shape_text = header.substr(pos + 1, shape_end - pos - 1);
    std::size_t cursor = 0;
    while (cursor < shape_text.size()) {
        while (cursor < shape_text.size() &&
               (shape_text[cursor] == ' ' || shape_text[cursor] == ','))
            ++cursor;
        if (cursor >= shape_text.size()) break;
        std::size_t used = 0;
        long long extent = 0;
        try {
            extent = std::stoll(shape_text.substr(cursor), &used);
        } catch (const std::exception&) {
            detail::npy_fail(path, "malformed shape: (" + shape_text + ")");
        }
        if (extent < 0) detail::npy_fail(path, "negative extent in shape (" + shape_text + ")");
        array.shape.push_back(static_cast<Index>(extent));
        cursor += used;
    }
    if (array.shape.empty() || array.shape.size() > 2)
        detail::npy_fail(path, message("need a 1-D or 2-D array, got ", array.shape.size(),
                                       " dimensions (shape (", shape_text, "))"));

    Index count = 1;
    for (Index extent : array.shape) count *= extent;
    const auto bytes = static_cast<std::size_t>(count) * item_size;
    std::vector<char> raw(bytes);
    in.read(raw.data(), static_cast<std::streamsize>(bytes));
    if (static_cast<std::size_t>(in.gcount()) != bytes)
        detail::npy_fail(path, message("file truncated: shape (", shape_text, ") needs ", bytes,
                                       " bytes of data, found ", in.gcount()));
    array.values.resize(static_cast<std::size_t>(count));
    if (item_size == 8) {
        std::memcpy(array.values.data(), raw.data(), bytes);
    } else {
        for (std::size_t i = 0; i < array.values.size(); ++i) {
            float value = 0;
            std::memcpy(&value, raw.data() + 4 * i, 4);
            array.values[i] = value;
        }
    }
    return array;
}

/// Reads a 1-D or 2-D float .npy file as a d x n batch (samples as columns): an (n, d) array
/// becomes d x n, an (n,) array 1 x n.
/// \throws std::invalid_argument as read_npy.
[[nodiscard]] inline Matrix<double> read_npy_matrix(const std::string& path) {
    const NpyArray array = read_npy(path);
    const Index n = array.shape[0];
    const Index d = array.shape.size() == 2 ? array.shape[1] : 1;
    Matrix<double> out(d, n);
    if (!array.fortran_order || d == 1) {
        // C order (n, d): element (i, j) at i * d + j, which is column-major d x n.
        std::memcpy(out.data(), array.values.data(), array.values.size() * sizeof(double));
    } else {
        // Fortran order (n, d): element (i, j) at i + j * n, column-major n x d.
        for (Index j = 0; j < d; ++j)
            for (Index i = 0; i < n; ++i)
                out(j, i) = array.values[static_cast<std::size_t>(i + j * n)];
    }
    return out;
}

/// Writes a d x n batch as a version 1.0 '<f8' C-order .npy file of shape (n, d), the inverse of
/// read_npy_matrix (NumPy sees one sample per row).
/// \throws std::runtime_error if the file cannot be written.
inline void write_npy(const std::string& path, const ConstMatrixRef<double>& samples) {
    std::string header = message("{'descr': '<f8', 'fortran_order': False, 'shape': (",
                                 samples.cols(), ", ", samples.rows(), "), }");
    // Pad with spaces so that magic + version + length + header is a multiple of 64 bytes.
    const std::size_t total = 10 + header.size() + 1;
    header.append((64 - total % 64) % 64, ' ');
    header.push_back('\n');
    std::ofstream out(path, std::ios::binary);
    if (!out) throw std::runtime_error("write_npy: cannot open " + path + " for writing");
    out.write("\x93NUMPY\x01\x00", 8);
    const auto length = static_cast<std::uint16_t>(header.size());
    const char length_bytes[2] = {static_cast<char>(length & 0xff), static_cast<char>(length >> 8)};
    out.write(length_bytes, 2);
    out.write(header.data(), static_cast<std::streamsize>(header.size()));
    // Column-major d x n is C-order (n, d): write column by column.
    for (Index i = 0; i < samples.cols(); ++i)
        for (Index j = 0; j < samples.rows(); ++j) {
            const double value = samples(j, i);
            out.write(reinterpret_cast<const char*>(&value), sizeof(double));
        }
    if (!out) throw std::runtime_error("write_npy: failed writing " + path);
}

}  // namespace mlsbi::io
