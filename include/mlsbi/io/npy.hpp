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
/// The reader trusts nothing in the file (see read_npy); every malformed file throws
/// io::FileError.
#pragma once

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <istream>
#include <limits>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "mlsbi/core/errors.hpp"
#include "mlsbi/core/types.hpp"
#include "mlsbi/io/detail/atomic_file.hpp"
#include "mlsbi/io/file_error.hpp"

namespace mlsbi::io {

/// A float array read from a .npy file, values converted to double in file order.
struct NpyArray {
    std::vector<Index> shape;    ///< NumPy shape (1 or 2 entries)
    bool fortran_order = false;  ///< true when the file stores column-major data
    std::vector<double> values;  ///< prod(shape) values in the file's order
};

namespace detail {

[[noreturn]] inline void npy_fail(const std::string& path, const std::string& what) {
    throw FileError("read_npy: " + path + ": " + what);
}

// Exact parser of the header dictionary NumPy writes, a Python literal such as
// {'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }
// Keys 'descr', 'fortran_order' and 'shape' once each, in any order, nothing else; strings in
// single or double quotes without escapes; spaces between tokens; a trailing comma.
class NpyHeaderParser {
public:
    NpyHeaderParser(std::string_view text, const std::string& path) : m_text(text), m_path(path) {}

    void parse(std::string& descr, bool& fortran_order, std::vector<std::uint64_t>& shape) {
        bool have_descr = false, have_order = false, have_shape = false;
        expect('{');
        while (true) {
            skip_spaces();
            if (peek() == '}') break;
            const std::string key = quoted();
            expect(':');
            if (key == "descr" && !have_descr) {
                descr = quoted();
                have_descr = true;
            } else if (key == "fortran_order" && !have_order) {
                fortran_order = boolean();
                have_order = true;
            } else if (key == "shape" && !have_shape) {
                shape = tuple();
                have_shape = true;
            } else {
                fail("unexpected or repeated key '" + key + "'");
            }
            skip_spaces();
            if (peek() != ',') break;
            ++m_at;
        }
        expect('}');
        if (!have_descr || !have_order || !have_shape)
            fail(std::string("header has no '") +
                 (!have_descr   ? "descr"
                  : !have_order ? "fortran_order"
                                : "shape") +
                 "' entry");
        skip_spaces();
        if (m_at != m_text.size()) fail("unexpected text after the dictionary");
    }

private:
    [[noreturn]] void fail(const std::string& what) const {
        npy_fail(m_path, "malformed header (" + what + "): " + std::string(m_text));
    }
    void skip_spaces() {
        while (m_at < m_text.size() && m_text[m_at] == ' ') ++m_at;
    }
    char peek() const { return m_at < m_text.size() ? m_text[m_at] : '\0'; }
    void expect(char c) {
        skip_spaces();
        if (peek() != c) fail(std::string("expected '") + c + "'");
        ++m_at;
    }
    std::string quoted() {
        skip_spaces();
        const char quote = peek();
        if (quote != '\'' && quote != '"') fail("expected a quoted string");
        const std::size_t close = m_text.find(quote, m_at + 1);
        if (close == std::string_view::npos) fail("unterminated string");
        const std::string value(m_text.substr(m_at + 1, close - m_at - 1));
        if (value.find('\\') != std::string::npos) fail("escape in a string");
        m_at = close + 1;
        return value;
    }
    bool boolean() {
        skip_spaces();
        if (m_text.substr(m_at, 4) == "True") {
            m_at += 4;
            return true;
        }
        if (m_text.substr(m_at, 5) == "False") {
            m_at += 5;
            return false;
        }
        fail("fortran_order must be True or False");
    }
    // A Python tuple of non-negative integers: (), (n,), (n, m), ... (each extent < 2^63).
    std::vector<std::uint64_t> tuple() {
        expect('(');
        std::vector<std::uint64_t> extents;
        bool comma = false;
        while (true) {
            skip_spaces();
            if (peek() == ')') break;
            if (!extents.empty() && !comma) fail("expected ',' in shape");
            if (peek() < '0' || peek() > '9') fail("expected an integer in shape");
            if (peek() == '0' && m_at + 1 < m_text.size() && m_text[m_at + 1] >= '0' &&
                m_text[m_at + 1] <= '9')
                fail("leading zero in shape");
            std::uint64_t extent = 0;
            while (peek() >= '0' && peek() <= '9') {
                const auto digit = static_cast<std::uint64_t>(peek() - '0');
                if (extent > (std::uint64_t{1} << 62) / 5) fail("extent too large in shape");
                extent = extent * 10 + digit;
                ++m_at;
            }
            extents.push_back(extent);
            skip_spaces();
            comma = peek() == ',';
            if (comma) ++m_at;
        }
        // Python: (n) is an int, not a tuple; a 1-tuple needs its comma.
        if (extents.size() == 1 && !comma) fail("a 1-D shape needs a trailing comma, as (n,)");
        expect(')');
        return extents;
    }

    std::string_view m_text;
    const std::string& m_path;
    std::size_t m_at = 0;
};

}  // namespace detail

/// Reads a 1-D or 2-D float .npy file. Trusts nothing: the declared size is checked for
/// overflow and against the file size before anything is allocated.
///
/// Accepted: versions 1.0, 2.0 and 3.0; a header of the form NumPy writes (dictionary, then
/// spaces, then '\n', with magic + version + length + header a multiple of 16 bytes: NumPy
/// pads to 64, releases before 1.14 to 16); dtype '<f8' or '<f4'; data of exactly
/// prod(shape) * itemsize bytes to the end of the file. Zero-size arrays (an extent 0) load
/// as empty. Values are not checked (NaN and infinities load as they are).
/// \throws FileError (a std::invalid_argument) naming the file and the problem: cannot open,
///         not a .npy file, unsupported version, malformed or misaligned header (e.g. a
///         corrupted header-length byte), dtype other than '<f8' / '<f4' (big-endian included),
///         more than 2 dimensions or 0-D, a size that overflows, truncated data or trailing
///         bytes.
[[nodiscard]] inline NpyArray read_npy(const std::string& path);

/// Reads a 1-D or 2-D float .npy array from a seekable binary stream positioned at its start
/// (an in-memory buffer, say), which must end where the array does; `name` stands for the path
/// in messages.
/// \throws FileError as read_npy(path).
[[nodiscard]] inline NpyArray read_npy(std::istream& in, const std::string& name) {
    static_assert(std::endian::native == std::endian::little,
                  "read_npy assumes a little-endian host");
    const std::string& path = name;
    const std::streamoff start = in.tellg();
    in.seekg(0, std::ios::end);
    const std::streamoff end = in.tellg();
    in.seekg(start, std::ios::beg);
    if (!in || start < 0 || end < start) detail::npy_fail(path, "cannot determine the file size");
    const auto file_size = static_cast<std::uint64_t>(end - start);

    char magic[6] = {};
    in.read(magic, 6);
    if (!in || std::memcmp(magic, "\x93NUMPY", 6) != 0)
        detail::npy_fail(path, "not a .npy file (bad magic string)");
    unsigned char version[2] = {};
    in.read(reinterpret_cast<char*>(version), 2);
    if (!in || version[0] < 1 || version[0] > 3 || version[1] != 0)
        detail::npy_fail(path, message("unsupported .npy version ", int(version[0]), ".",
                                       int(version[1]), " (need 1.0, 2.0 or 3.0)"));
    const std::uint64_t length_bytes = version[0] == 1 ? 2 : 4;
    unsigned char bytes[4] = {};
    in.read(reinterpret_cast<char*>(bytes), static_cast<std::streamsize>(length_bytes));
    if (!in) detail::npy_fail(path, "truncated header");
    std::uint64_t header_length = 0;
    for (std::uint64_t i = length_bytes; i-- > 0;) header_length = header_length << 8 | bytes[i];
    const std::uint64_t data_offset = 8 + length_bytes + header_length;
    if (data_offset > file_size)
        detail::npy_fail(path, message("truncated header: it declares ", header_length,
                                       " bytes, the file has ", file_size));
    if (data_offset % 16 != 0)
        detail::npy_fail(path, message("header length ", header_length,
                                       " does not align the data to 16 bytes (corrupt header)"));
    std::string header(static_cast<std::size_t>(header_length), '\0');
    in.read(header.data(), static_cast<std::streamsize>(header_length));
    if (!in) detail::npy_fail(path, "truncated header");
    // The dictionary, padded with spaces, ends with one '\n'.
    if (header.empty() || header.back() != '\n')
        detail::npy_fail(path, "header does not end with a newline (corrupt header length?)");
    header.pop_back();
    while (!header.empty() && header.back() == ' ') header.pop_back();

    std::string descr;
    NpyArray array;
    std::vector<std::uint64_t> shape;
    detail::NpyHeaderParser(header, path).parse(descr, array.fortran_order, shape);
    std::uint64_t item_size = 0;
    if (descr == "<f8")
        item_size = 8;
    else if (descr == "<f4")
        item_size = 4;
    else
        detail::npy_fail(path, "unsupported dtype '" + descr +
                                   "' (need little-endian float64 '<f8' or float32 '<f4')");
    std::string shape_text;
    for (std::size_t i = 0; i < shape.size(); ++i)
        shape_text += (i > 0 ? ", " : "") + std::to_string(shape[i]);
    if (shape.empty() || shape.size() > 2)
        detail::npy_fail(path, message("need a 1-D or 2-D array, got ", shape.size(),
                                       " dimensions (shape (", shape_text, "))"));

    // Element and byte counts without overflow, then against the bytes the file really has.
    const std::uint64_t limit = static_cast<std::uint64_t>(std::numeric_limits<Index>::max());
    std::uint64_t count = 1;
    for (const std::uint64_t extent : shape) {
        if (extent != 0 && count > limit / extent)
            detail::npy_fail(path, "shape (" + shape_text + ") has too many elements");
        count *= extent;
    }
    if (count > limit / item_size)
        detail::npy_fail(path, "shape (" + shape_text + ") is too large");
    const std::uint64_t data_bytes = count * item_size;
    const std::uint64_t present = file_size - data_offset;
    if (present < data_bytes)
        detail::npy_fail(path, message("file truncated: shape (", shape_text, ") needs ",
                                       data_bytes, " bytes of data, found ", present));
    if (present > data_bytes)
        detail::npy_fail(path, message("shape (", shape_text, ") needs ", data_bytes,
                                       " bytes of data, the file has ", present - data_bytes,
                                       " bytes more (trailing data or corrupt shape)"));
    for (const std::uint64_t extent : shape) array.shape.push_back(static_cast<Index>(extent));

    array.values.resize(static_cast<std::size_t>(count));
    if (count == 0) return array;
    if (item_size == 8) {
        in.read(reinterpret_cast<char*>(array.values.data()),
                static_cast<std::streamsize>(data_bytes));
    } else {
        std::vector<float> single(static_cast<std::size_t>(count));
        in.read(reinterpret_cast<char*>(single.data()), static_cast<std::streamsize>(data_bytes));
        std::copy(single.begin(), single.end(), array.values.begin());
    }
    if (!in) detail::npy_fail(path, "read error in the data");
    return array;
}

[[nodiscard]] inline NpyArray read_npy(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) detail::npy_fail(path, "cannot open file");
    return read_npy(in, path);
}

/// Reads a 1-D or 2-D float .npy array from a seekable stream (see read_npy(std::istream&,
/// const std::string&)) as a d x n batch, like read_npy_matrix(path).
/// \throws FileError as read_npy.
[[nodiscard]] inline Matrix<double> read_npy_matrix(std::istream& in, const std::string& name) {
    const NpyArray array = read_npy(in, name);
    const Index n = array.shape[0];
    const Index d = array.shape.size() == 2 ? array.shape[1] : 1;
    Matrix<double> out(d, n);
    if (out.size() == 0) return out;  // no memcpy from or to a null pointer
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

/// Reads a 1-D or 2-D float .npy file as a d x n batch (samples as columns): an (n, d) array
/// becomes d x n, an (n,) array 1 x n.
/// \throws FileError as read_npy.
[[nodiscard]] inline Matrix<double> read_npy_matrix(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) detail::npy_fail(path, "cannot open file");
    return read_npy_matrix(in, path);
}

/// Writes a d x n batch as a version 1.0 '<f8' C-order .npy file of shape (n, d), the inverse of
/// read_npy_matrix (NumPy sees one sample per row). The file is replaced atomically: a reader,
/// or a crash mid-write, sees the previous file or the complete new one, never a torn one.
/// \throws FileError (naming the path and the system's reason) if the file cannot be written;
///         the previous file, if any, is then untouched.
inline void write_npy(const std::string& path, const ConstMatrixRef<double>& samples) {
    // std::to_string: a user's global locale with digit grouping must not reach the header.
    std::string header = "{'descr': '<f8', 'fortran_order': False, 'shape': (" +
                         std::to_string(samples.cols()) + ", " + std::to_string(samples.rows()) +
                         "), }";
    // Pad with spaces so that magic + version + length + header is a multiple of 64 bytes.
    const std::size_t total = 10 + header.size() + 1;
    header.append((64 - total % 64) % 64, ' ');
    header.push_back('\n');
    std::string bytes("\x93NUMPY\x01\x00", 8);
    const auto length = static_cast<std::uint16_t>(header.size());
    bytes.push_back(static_cast<char>(length & 0xff));
    bytes.push_back(static_cast<char>(length >> 8));
    bytes += header;
    const std::size_t data_start = bytes.size();
    bytes.resize(data_start + static_cast<std::size_t>(samples.size()) * sizeof(double));
    // Column-major d x n is C-order (n, d): column by column. (Little-endian hosts only, as the
    // reader: '<f8' is the host's layout there.)
    char* cursor = bytes.data() + data_start;
    for (Index i = 0; i < samples.cols(); ++i)
        for (Index j = 0; j < samples.rows(); ++j) {
            const double value = samples(j, i);
            std::memcpy(cursor, &value, sizeof(double));
            cursor += sizeof(double);
        }
    detail::write_file_atomically(path, bytes, "write_npy");
}

}  // namespace mlsbi::io
