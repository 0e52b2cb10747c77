// SPDX-License-Identifier: MIT
// Helpers shared by the io tests: scratch files, raw bytes, and hand-made model and .npy files
// (re-sealed version 2, version 1 as the old writer produced it, .npy bytes with any header).
#pragma once

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "mlsbi/io/estimator_file.hpp"

namespace mlsbi::io_test {

// A fresh, empty folder under the system temp dir, one per name and process.
inline std::filesystem::path scratch_dir(const std::string& name) {
    const auto dir = std::filesystem::temp_directory_path() /
                     ("mlsbi_io_test_" + name + "_" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    return dir;
}

inline std::string read_bytes(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Runs `write` in a forked child whose files may not grow past `limit` bytes (SIGXFSZ ignored, so
// a write fails with EFBIG, as on a full disk). Returns the child's exit code: 0 when `write`
// threw io::FileError with `expected` in its message, 1 when it returned normally, 2 for another
// exception, 4 for a FileError without `expected`, 3 when the limit could not be set, and -1
// when the child did not exit normally.
template <class Write>
int exit_code_under_file_size_limit(rlim_t limit, const std::string& expected, Write&& write) {
    const pid_t child = ::fork();
    if (child < 0) return -1;
    if (child == 0) {
        std::signal(SIGXFSZ, SIG_IGN);
        const rlimit cap{limit, limit};
        if (::setrlimit(RLIMIT_FSIZE, &cap) != 0) ::_exit(3);
        int code = 1;  // returned normally: the failure went unnoticed
        try {
            write();
        } catch (const io::FileError& e) {
            code = std::string(e.what()).find(expected) != std::string::npos ? 0 : 4;
        } catch (...) {
            code = 2;
        }
        ::_exit(code);
    }
    int status = 0;
    if (::waitpid(child, &status, 0) != child || !WIFEXITED(status)) return -1;
    return WEXITSTATUS(status);
}

inline void write_bytes(const std::filesystem::path& path, const std::string& bytes) {
    std::ofstream(path, std::ios::binary | std::ios::trunc)
        .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// The bytes save_estimator writes.
template <class Estimator>
std::string saved_text(const Estimator& estimator) {
    std::ostringstream out;
    io::save_estimator(estimator, out);
    return out.str();
}

// A version-2 text with its checksum line recomputed (to reach the checks behind the checksum).
inline std::string reseal(std::string text) {
    const std::size_t end = text.rfind("end\n");
    text.resize(end + 4);
    return text + io::detail::estimator_checksum_line(text) + '\n';
}

// The version-1 file the old writer produced for the same model: the version-2 text with
// version 1 in its first line and no checksum line.
inline std::string as_version_1(std::string text) {
    text.replace(0, text.find('\n'), "mlsbi-estimator 1");
    return text.substr(0, text.rfind("end\n") + 4);
}

// Replaces the first occurrence of `from` (which must exist) by `to`.
inline std::string replaced(std::string text, const std::string& from, const std::string& to) {
    const std::size_t at = text.find(from);
    if (at == std::string::npos) throw std::logic_error("replaced: '" + from + "' not found");
    return text.replace(at, from.size(), to);
}

// .npy bytes: magic, version `major`.0, header length, `dict` padded with spaces and '\n' to a
// multiple of 64, then `data`.
inline std::string npy_bytes(int major, const std::string& dict, const std::string& data) {
    std::string header = dict;
    const std::size_t prefix = major == 1 ? 10 : 12;
    while ((prefix + header.size() + 1) % 64 != 0) header.push_back(' ');
    header.push_back('\n');
    std::string bytes = "\x93NUMPY";
    bytes.push_back(static_cast<char>(major));
    bytes.push_back('\0');
    const auto length = static_cast<std::uint32_t>(header.size());
    for (std::size_t i = 0; i < (major == 1 ? 2u : 4u); ++i)
        bytes.push_back(static_cast<char>((length >> (8 * i)) & 0xff));
    return bytes + header + data;
}

template <typename T>
std::string raw_data(const std::vector<T>& values) {
    std::string data(values.size() * sizeof(T), '\0');
    if (!data.empty()) std::memcpy(data.data(), values.data(), data.size());
    return data;
}

}  // namespace mlsbi::io_test
