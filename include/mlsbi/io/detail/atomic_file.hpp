// SPDX-License-Identifier: MIT
/// \file
/// \brief write_file_atomically: replace a file's content all at once or not at all.
#pragma once

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>

#if __has_include(<unistd.h>)
#include <unistd.h>
#define MLSBI_IO_HAVE_FSYNC 1
#endif

#include "mlsbi/io/file_error.hpp"

namespace mlsbi::io::detail {

/// Writes `bytes` to `path` so that a reader sees either the previous file or the complete new
/// one: the bytes go to a fresh temporary file in the same folder (same file system, so the
/// rename is atomic), which is flushed, synced to disk where POSIX allows, checked, closed and
/// only then renamed over `path`. On any failure (full disk, quota, file-size limit, no
/// permission) the temporary is removed, `path` is left untouched and FileError is thrown.
/// A symbolic link at `path` is followed (the file it names is replaced; the link stays); a
/// path naming anything but a regular file (directory, device) is refused, so a device node is
/// never renamed over. A replaced file keeps its permission bits.
/// \throws FileError starting with `caller` and naming the path and the system's reason.
inline void write_file_atomically(const std::string& path, std::string_view bytes,
                                  const char* caller) {
    namespace fs = std::filesystem;
    require_file(!path.empty(), caller, ": empty path");
    std::error_code error;
    fs::path target(path);
    const fs::file_status status = fs::status(target, error);
    const bool exists = fs::exists(status);
    require_file(!exists || fs::is_regular_file(status), caller, ": '", path,
                 "' exists and is not a regular file; refusing to replace it");
    if (exists && fs::is_symlink(fs::symlink_status(target, error))) {
        const fs::path resolved = fs::canonical(target, error);
        if (!error) target = resolved;
    }
    const fs::path folder = target.parent_path();

    // A unique temporary name; "x" (C11 exclusive mode) never reuses an existing file.
    static std::atomic<unsigned long long> counter{0};
    std::FILE* file = nullptr;
    fs::path temporary;
    for (int attempt = 0; attempt < 16 && file == nullptr; ++attempt) {
        const auto stamp = static_cast<unsigned long long>(
            std::chrono::steady_clock::now().time_since_epoch().count());
        // Appended piece by piece: GCC 12 warns falsely (-Wrestrict) on "." + string.
        std::string name(1, '.');
        name.append(target.filename().string()).append(".tmp-").append(std::to_string(stamp));
        name.append("-").append(std::to_string(counter++));
        temporary = folder / name;
        errno = 0;
        file = std::fopen(temporary.c_str(), "wbx");
        if (file == nullptr && errno != EEXIST) break;
    }
    require_file(file != nullptr, caller, ": cannot create a temporary file next to '", path,
                 "': ", std::strerror(errno));

    errno = 0;
    bool ok = std::fwrite(bytes.data(), 1, bytes.size(), file) == bytes.size();
    ok = std::fflush(file) == 0 && ok;
#ifdef MLSBI_IO_HAVE_FSYNC
    ok = ok && ::fsync(::fileno(file)) == 0;
#endif
    ok = !std::ferror(file) && ok;
    const int write_errno = errno;
    ok = std::fclose(file) == 0 && ok;
    const int final_errno = write_errno != 0 ? write_errno : errno;
    if (ok) {
        if (exists) fs::permissions(temporary, status.permissions(), error);
        fs::rename(temporary, target, error);
        if (!error) return;
    }
    std::error_code ignored;
    fs::remove(temporary, ignored);
    throw FileError(message(caller, ": cannot write '", path,
                            "': ", ok ? error.message() : std::string(std::strerror(final_errno)),
                            "; the previous file, if any, is unchanged"));
}

}  // namespace mlsbi::io::detail
