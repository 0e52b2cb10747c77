// SPDX-License-Identifier: MIT
/// \file
/// \brief Save and load a trained ConditionalEstimator in a versioned, documented text format.
///
/// Format `mlsbi-estimator 1` (text, one item per line, numbers as C99 hex floats so values
/// round-trip exactly in float and double):
/// ```
/// mlsbi-estimator 1
/// scalar <float|double>
/// architecture <ConditionalEstimator::describe()>
/// input_standardizer <d> <mean_1 .. mean_d> <scale_1 .. scale_d>
/// context_standardizer <k> <mean_1 .. mean_k> <scale_1 .. scale_k>
/// parameters <P>
/// <P values, one per line>
/// end
/// ```
/// Loading checks the architecture line against the receiving estimator's describe() and the
/// parameter count, and fails with std::invalid_argument naming the mismatch. A file saved in
/// one scalar type loads into the other (values are converted).
#pragma once

#include <fstream>
#include <ios>
#include <istream>
#include <ostream>
#include <sstream>
#include <string>

#include "mlsbi/flows/conditional_estimator.hpp"

namespace mlsbi::io {

inline constexpr int estimator_format_version = 1;

namespace detail {

template <typename Scalar>
void write_standardizer(std::ostream& out, const char* name, const flows::Standardizer<Scalar>& s) {
    out << name << ' ' << s.dim();
    for (Index i = 0; i < s.dim(); ++i) out << ' ' << static_cast<double>(s.mean()(i));
    for (Index i = 0; i < s.dim(); ++i) out << ' ' << static_cast<double>(s.scale()(i));
    out << '\n';
}

inline double read_number(std::istream& in, const char* what) {
    std::string token;
    in >> token;
    require(!in.fail(), "load_estimator: unexpected end of file while reading ", what);
    // strtod parses hex floats (operator>> with hexfloat does not, portably).
    char* end = nullptr;
    const double value = std::strtod(token.c_str(), &end);
    require(end != token.c_str() && *end == '\0', "load_estimator: bad number '", token, "' in ", what);
    return value;
}

template <typename Scalar>
flows::Standardizer<Scalar> read_standardizer(std::istream& in, const char* name) {
    std::string key;
    Index dim = -1;
    in >> key >> dim;
    require(!in.fail() && key == name, "load_estimator: expected '", name, "', got '", key, "'");
    require(dim >= 0, "load_estimator: ", name, " has negative dimension");
    Vector<Scalar> mean(dim), scale(dim);
    for (Index i = 0; i < dim; ++i) mean(i) = static_cast<Scalar>(read_number(in, name));
    for (Index i = 0; i < dim; ++i) scale(i) = static_cast<Scalar>(read_number(in, name));
    flows::Standardizer<Scalar> s;
    s.set(mean, scale);
    return s;
}

}  // namespace detail

/// Writes `estimator` (architecture, standardisation, weights) to `out`.
template <class Estimator>
void save_estimator(const Estimator& estimator, std::ostream& out) {
    using Scalar = typename Estimator::Scalar;
    out << "mlsbi-estimator " << estimator_format_version << '\n';
    out << "scalar " << (std::is_same_v<Scalar, float> ? "float" : "double") << '\n';
    out << "architecture " << estimator.describe() << '\n';
    out << std::hexfloat;
    detail::write_standardizer(out, "input_standardizer", estimator.input_standardizer());
    detail::write_standardizer(out, "context_standardizer", estimator.context_standardizer());
    out << "parameters " << std::dec << estimator.parameter_count() << '\n' << std::hexfloat;
    for (Index i = 0; i < estimator.parameter_count(); ++i)
        out << static_cast<double>(estimator.parameters()(i)) << '\n';
    out << std::defaultfloat << "end\n";
    require(out.good(), "save_estimator: write failed");
}

/// Saves to a file. \throws std::invalid_argument if the file cannot be written.
template <class Estimator>
void save_estimator(const Estimator& estimator, const std::string& path) {
    std::ofstream out(path);
    require(out.is_open(), "save_estimator: cannot open '", path, "' for writing");
    save_estimator(estimator, out);
}

/// Reads weights and standardisation into `estimator`, which must have the same architecture.
/// \throws std::invalid_argument on a version, architecture or size mismatch or a corrupt file;
/// the estimator is left unchanged then.
template <class Estimator>
void load_estimator(Estimator& estimator, std::istream& in) {
    using Scalar = typename Estimator::Scalar;
    std::string magic;
    int version = 0;
    in >> magic >> version;
    require(!in.fail() && magic == "mlsbi-estimator", "load_estimator: not an mlsbi estimator file");
    require(version == estimator_format_version, "load_estimator: unsupported format version ", version,
            " (this build reads version ", estimator_format_version, ")");
    std::string key, scalar;
    in >> key >> scalar;
    require(key == "scalar" && (scalar == "float" || scalar == "double"),
            "load_estimator: bad scalar line");
    in >> key;
    require(key == "architecture", "load_estimator: expected 'architecture', got '", key, "'");
    std::string architecture;
    std::getline(in >> std::ws, architecture);
    require(architecture == estimator.describe(),
            "load_estimator: architecture mismatch: file has '", architecture,
            "', the receiving estimator is '", estimator.describe(), "'");
    auto input = detail::read_standardizer<Scalar>(in, "input_standardizer");
    auto context = detail::read_standardizer<Scalar>(in, "context_standardizer");
    Index count = -1;
    in >> key >> count;
    require(key == "parameters" && count == estimator.parameter_count(),
            "load_estimator: file has ", count, " parameters, the estimator has ",
            estimator.parameter_count());
    Vector<Scalar> values(count);
    for (Index i = 0; i < count; ++i) values(i) = static_cast<Scalar>(detail::read_number(in, "parameters"));
    in >> key;
    require(key == "end", "load_estimator: missing 'end' marker (truncated file?)");
    estimator.set_standardization(input, context);
    estimator.parameters() = values;
}

/// Loads from a file. \throws std::invalid_argument if the file cannot be read.
template <class Estimator>
void load_estimator(Estimator& estimator, const std::string& path) {
    std::ifstream in(path);
    require(in.is_open(), "load_estimator: cannot open '", path, "'");
    load_estimator(estimator, in);
}

}  // namespace mlsbi::io
