// SPDX-License-Identifier: MIT
/// \file
/// \brief Save and load a trained ConditionalEstimator in a versioned, checksummed text format.
///
/// Format `mlsbi-estimator 2` (text, one item per line, numbers as C99 hex floats so values
/// round-trip exactly in float and double):
/// ```
/// mlsbi-estimator 2
/// scalar <float|double>
/// architecture <ConditionalEstimator::describe()>
/// input_standardizer <d> <mean_1 .. mean_d> <scale_1 .. scale_d>
/// context_standardizer <k> <mean_1 .. mean_k> <scale_1 .. scale_k>
/// parameters <P>
/// <P values, one per line>
/// end
/// crc32 <8 lowercase hex digits>
/// ```
/// The last line is the CRC-32 (IEEE 802.3 polynomial, boost::crc_32_type) of every byte before
/// it, from the `m` of the first line through the newline after `end`. CRC-32 rather than a
/// cryptographic hash because the threat is accidental damage (a bad disk or copy, a truncated
/// download, a stray edit), not an attacker: CRC-32 is guaranteed to detect every error confined
/// to 32 consecutive bits, so every single-byte change, and misses other random damage with
/// probability 2^-32; it is header-only Boost, already a dependency. Anyone can write a valid
/// model file, so the loader never relies on the checksum for memory safety: every size is
/// checked against the receiving estimator and the bytes present before anything is
/// allocated, and every value must be finite (and within range of the receiving Scalar).
///
/// Version 1 is the same without the `crc32` line; it still loads (no integrity check, the
/// other checks apply). Tokens are separated by whitespace; the architecture line must equal
/// the receiving estimator's describe(). A file saved in one scalar type loads into the other
/// (values are converted). Nothing may follow the checksum (`end` in version 1) in a file; the
/// std::istream overloads stop reading there, so several models can share one stream.
/// Every failure to load or save throws io::FileError (a std::invalid_argument).
#pragma once

#include <algorithm>
#include <boost/crc.hpp>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <ios>
#include <istream>
#include <limits>
#include <locale>
#include <ostream>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>

#include "mlsbi/flows/conditional_estimator.hpp"
#include "mlsbi/io/detail/atomic_file.hpp"
#include "mlsbi/io/file_error.hpp"

namespace mlsbi::io {

/// The version save_estimator writes; load_estimator reads versions 1 and 2.
inline constexpr int estimator_format_version = 2;

namespace detail {

inline constexpr const char* estimator_magic = "mlsbi-estimator";
// Longest line accepted while reading, so a stream without newlines cannot exhaust memory.
inline constexpr std::size_t estimator_max_line = std::size_t{1} << 20;

// The checksum line of `content` ("crc32 0123abcd", no newline).
[[nodiscard]] inline std::string estimator_checksum_line(std::string_view content) {
    boost::crc_32_type crc;
    crc.process_bytes(content.data(), content.size());
    const std::uint32_t value = crc.checksum();
    std::string line = "crc32 ";
    for (int shift = 28; shift >= 0; shift -= 4)
        line.push_back("0123456789abcdef"[(value >> shift) & 0xf]);
    return line;
}

// Everything before the checksum line, in the classic locale (a user's global locale with digit
// grouping must not reach the file).
template <class Estimator>
[[nodiscard]] std::string format_estimator(const Estimator& estimator, int version) {
    using Scalar = typename Estimator::Scalar;
    std::ostringstream out;
    out.imbue(std::locale::classic());
    out << estimator_magic << ' ' << version << '\n';
    out << "scalar " << (std::is_same_v<Scalar, float> ? "float" : "double") << '\n';
    out << "architecture " << estimator.describe() << '\n';
    auto write_standardizer = [&out](const char* name, const flows::Standardizer<Scalar>& s) {
        out << name << ' ' << std::dec << s.dim() << std::hexfloat;
        for (Index i = 0; i < s.dim(); ++i) out << ' ' << static_cast<double>(s.mean()(i));
        for (Index i = 0; i < s.dim(); ++i) out << ' ' << static_cast<double>(s.scale()(i));
        out << '\n';
    };
    write_standardizer("input_standardizer", estimator.input_standardizer());
    write_standardizer("context_standardizer", estimator.context_standardizer());
    out << "parameters " << std::dec << estimator.parameter_count() << '\n' << std::hexfloat;
    for (Index i = 0; i < estimator.parameter_count(); ++i)
        out << static_cast<double>(estimator.parameters()(i)) << '\n';
    out << "end\n";
    return std::move(out).str();
}

// Reads one line (without its '\n') of at most estimator_max_line bytes; returns false at end
// of stream before any byte. `terminated` tells whether a '\n' ended it.
inline bool read_estimator_line(std::istream& in, std::string& line, bool& terminated) {
    line.clear();
    terminated = false;
    std::istream::int_type c = 0;
    while ((c = in.get()) != std::istream::traits_type::eof()) {
        if (c == '\n') {
            terminated = true;
            return true;
        }
        require_file(line.size() < estimator_max_line, "load_estimator: line longer than ",
                     estimator_max_line, " bytes (not an mlsbi estimator file?)");
        line.push_back(static_cast<char>(c));
    }
    return !line.empty();
}

// Parses a whole token as a double: C99 hex float ("-0x1.8p+0", as written) or decimal.
// \throws FileError on anything else, or on a value that is not finite or out of range.
inline double parse_estimator_number(std::string_view token, const char* what) {
    const bool negative = !token.empty() && token.front() == '-';
    std::string_view body = token.substr(negative ? 1 : 0);
    double value = 0;
    std::from_chars_result result{};
    const char* first = body.data();
    const char* last = body.data() + body.size();
    if (body.size() > 2 && body[0] == '0' && (body[1] == 'x' || body[1] == 'X')) {
        first += 2;
        require_file(std::isxdigit(static_cast<unsigned char>(*first)) || *first == '.',
                     "load_estimator: bad number '", token, "' in ", what);
        result = std::from_chars(first, last, value, std::chars_format::hex);
    } else {
        require_file(!body.empty() && body.front() != '-' && body.front() != '+',
                     "load_estimator: bad number '", token, "' in ", what);
        result = std::from_chars(first, last, value, std::chars_format::general);
    }
    require_file(result.ec != std::errc::result_out_of_range, "load_estimator: number '", token,
                 "' in ", what, " is out of range");
    require_file(result.ec == std::errc{} && result.ptr == last, "load_estimator: bad number '",
                 token, "' in ", what);
    require_file(std::isfinite(value), "load_estimator: non-finite value '", token, "' in ", what);
    return negative ? -value : value;
}

// A cursor over the buffered body of a model file.
class EstimatorReader {
public:
    explicit EstimatorReader(std::string_view text) : m_text(text) {}

    // The next whitespace-delimited token. \throws FileError at the end of the text.
    std::string_view token(const char* what) {
        skip_space();
        require_file(m_at < m_text.size(), "load_estimator: unexpected end of file while reading ",
                     what);
        const std::size_t start = m_at;
        while (m_at < m_text.size() && !is_space(m_text[m_at])) ++m_at;
        return m_text.substr(start, m_at - start);
    }

    // The rest of the current line after leading blanks, without its '\n'.
    std::string_view rest_of_line() {
        while (m_at < m_text.size() && (m_text[m_at] == ' ' || m_text[m_at] == '\t')) ++m_at;
        const std::size_t end = std::min(m_text.find('\n', m_at), m_text.size());
        const std::string_view line = m_text.substr(m_at, end - m_at);
        m_at = end;
        return line;
    }

    // A count that must equal `expected` and fit in the bytes left, `values_per_item` numbers
    // of at least two bytes ("0\n") each; checked before the caller allocates anything.
    Index count(const char* what, Index expected, Index values_per_item) {
        const std::string_view text = token(what);
        std::uint64_t value = 0;
        const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
        require_file(ec == std::errc{} && end == text.data() + text.size(),
                     "load_estimator: bad size '", text, "' for ", what);
        require_file(value == static_cast<std::uint64_t>(expected), "load_estimator: ", what,
                     " has size ", value, " in the file, the receiving estimator has ", expected);
        require_file(value <= remaining() / (2 * static_cast<std::uint64_t>(values_per_item)),
                     "load_estimator: ", what, " of size ", value, " needs more than the ",
                     remaining(), " bytes left (truncated file?)");
        return expected;
    }

    // The next token as a finite value representable in Scalar.
    template <typename Scalar>
    Scalar value(const char* what) {
        const double v = parse_estimator_number(token(what), what);
        require_file(std::abs(v) <= static_cast<double>(std::numeric_limits<Scalar>::max()),
                     "load_estimator: value ", v, " in ", what, " overflows the receiving ",
                     std::is_same_v<Scalar, float> ? "float" : "double", " estimator");
        return static_cast<Scalar>(v);
    }

    [[nodiscard]] std::uint64_t remaining() const { return m_text.size() - m_at; }

private:
    static bool is_space(char c) {
        return c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
    }
    void skip_space() {
        while (m_at < m_text.size() && is_space(m_text[m_at])) ++m_at;
    }

    std::string_view m_text;
    std::size_t m_at = 0;
};

template <typename Scalar>
flows::Standardizer<Scalar> read_standardizer(EstimatorReader& reader, const char* name,
                                              Index expected_dim) {
    const std::string_view key = reader.token(name);
    require_file(key == name, "load_estimator: expected '", name, "', got '", key, "'");
    const Index dim = reader.count(name, expected_dim, 2);
    Vector<Scalar> mean(dim), scale(dim);
    for (Index i = 0; i < dim; ++i) mean(i) = reader.value<Scalar>(name);
    for (Index i = 0; i < dim; ++i) {
        scale(i) = reader.value<Scalar>(name);
        require_file(scale(i) > Scalar(0), "load_estimator: ", name, " scale[", i,
                     "] must be positive, got ", scale(i));
    }
    flows::Standardizer<Scalar> s;
    s.set(mean, scale);
    return s;
}

}  // namespace detail

/// Writes `estimator` (architecture, standardisation, weights, checksum) to `out` in format
/// version 2, then flushes `out`.
/// \throws FileError if the stream reports a failure after the flush.
template <class Estimator>
void save_estimator(const Estimator& estimator, std::ostream& out) {
    const std::string content = detail::format_estimator(estimator, estimator_format_version);
    const std::string checksum = detail::estimator_checksum_line(content) + '\n';
    out.write(content.data(), static_cast<std::streamsize>(content.size()));
    out.write(checksum.data(), static_cast<std::streamsize>(checksum.size()));
    out.flush();
    detail::require_file(out.good(), "save_estimator: write failed");
}

/// Saves to a file atomically: the content goes to a temporary file in the same folder, which
/// replaces `path` only once it is completely written, flushed and closed. A failed save
/// (full disk, no permission, ...) removes the temporary, leaves any previous file at `path`
/// untouched and throws. `path` must not name a directory or device.
/// \throws FileError naming the path and the reason.
template <class Estimator>
void save_estimator(const Estimator& estimator, const std::string& path) {
    std::string bytes = detail::format_estimator(estimator, estimator_format_version);
    bytes += detail::estimator_checksum_line(bytes) + '\n';
    detail::write_file_atomically(path, bytes, "save_estimator");
}

namespace detail {

// load_estimator on a stream; with `path`, the stream must end after the model (checked before
// the estimator is changed).
template <class Estimator>
void load_estimator_from(Estimator& estimator, std::istream& in, const std::string* path) {
    using Scalar = typename Estimator::Scalar;
    using detail::require_file;
    std::string line;
    bool terminated = false;
    // Header line: "mlsbi-estimator <version>".
    require_file(detail::read_estimator_line(in, line, terminated) && terminated,
                 "load_estimator: not an mlsbi estimator file (empty or no first line)");
    detail::EstimatorReader header(line);
    require_file(header.remaining() > 0 && header.token("header") == detail::estimator_magic,
                 "load_estimator: not an mlsbi estimator file");
    const std::string_view version_text = header.remaining() > 0 ? header.token("version") : "";
    const int version = version_text == "1" ? 1 : version_text == "2" ? 2 : 0;
    require_file(version != 0 && header.rest_of_line().empty(),
                 "load_estimator: unsupported format version ", version_text,
                 " (this build reads versions 1 and 2)");

    // Body up to the first "end" line, kept with its newlines for the checksum.
    std::string content = line + '\n';
    const std::size_t body_start = content.size();
    bool found_end = false;
    while (!found_end && detail::read_estimator_line(in, line, terminated)) {
        found_end = line == "end";
        content += line;
        if (terminated) content += '\n';
    }
    require_file(found_end, "load_estimator: missing 'end' marker (truncated file?)");
    if (version >= 2) {
        require_file(terminated && detail::read_estimator_line(in, line, terminated) &&
                         terminated && line.size() == 14 && line.compare(0, 6, "crc32 ") == 0,
                     "load_estimator: missing or malformed checksum line after 'end' "
                     "(truncated file?)");
        require_file(line == detail::estimator_checksum_line(content),
                     "load_estimator: checksum mismatch: the file is corrupt (", line,
                     " in the file, ", detail::estimator_checksum_line(content), " computed)");
    }

    detail::EstimatorReader reader(std::string_view(content).substr(body_start));
    std::string_view key = reader.token("scalar");
    const std::string_view scalar = reader.token("scalar");
    require_file(key == "scalar" && (scalar == "float" || scalar == "double"),
                 "load_estimator: bad scalar line");
    key = reader.token("architecture");
    require_file(key == "architecture", "load_estimator: expected 'architecture', got '", key, "'");
    const std::string_view architecture = reader.rest_of_line();
    require_file(architecture == estimator.describe(),
                 "load_estimator: architecture mismatch: file has '", architecture,
                 "', the receiving estimator is '", estimator.describe(), "'");
    const auto input = detail::read_standardizer<Scalar>(reader, "input_standardizer",
                                                         estimator.input_standardizer().dim());
    const auto context = detail::read_standardizer<Scalar>(reader, "context_standardizer",
                                                           estimator.context_standardizer().dim());
    key = reader.token("parameters");
    require_file(key == "parameters", "load_estimator: expected 'parameters', got '", key, "'");
    const Index count = reader.count("parameters", estimator.parameter_count(), 1);
    Vector<Scalar> values(count);
    for (Index i = 0; i < count; ++i) values(i) = reader.value<Scalar>("parameters");
    key = reader.token("end");
    require_file(key == "end", "load_estimator: expected 'end' after ", count, " parameters, got '",
                 key, "'");
    if (path != nullptr)
        require_file(in.peek() == std::istream::traits_type::eof() && !in.bad(),
                     "load_estimator: '", *path, "' has bytes after the end of the model");
    estimator.set_standardization(input, context);
    estimator.parameters() = values;
}

}  // namespace detail

/// Reads weights and standardisation (format version 1 or 2) into `estimator`, which must have
/// the same architecture and parameter count. Reads up to and including the checksum line
/// (`end` in version 1) and no further.
/// \throws FileError (a std::invalid_argument) on anything but a complete, intact file that
///         matches `estimator`: not an estimator file, unsupported version, checksum mismatch,
///         truncation, bad token, a size other than the estimator's, a non-finite value or
///         one out of the range of `Scalar`, a non-positive scale, an architecture mismatch.
///         The estimator is left unchanged then.
template <class Estimator>
void load_estimator(Estimator& estimator, std::istream& in) {
    detail::load_estimator_from(estimator, in, nullptr);
}

/// Loads from a file; nothing may follow the checksum line (the `end` line in version 1).
/// \throws FileError if the file cannot be opened or read, and as the std::istream overload.
template <class Estimator>
void load_estimator(Estimator& estimator, const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    detail::require_file(in.is_open(), "load_estimator: cannot open '", path, "'");
    detail::load_estimator_from(estimator, in, &path);
}

}  // namespace mlsbi::io
