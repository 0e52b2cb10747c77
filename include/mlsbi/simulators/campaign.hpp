// SPDX-License-Identifier: MIT
/// \file
/// \brief Resumable simulation campaigns: seed-matched multilevel data written incrementally to
/// checksummed shard files with a manifest, restartable after a kill, loadable bit-identically to
/// generate_multilevel_dataset.
///
/// A campaign directory holds `manifest.txt` (the GenerationOptions, the shard size and the
/// dimensions, written once) and one shard file per block of `shard_size` consecutive samples of
/// one level: shard k of level l, `level<l>-shard<k>.bin`, holds samples
/// [k S, min((k + 1) S, n_l)) as simulated (non-finite outputs included, so the loader applies the
/// NonFinitePolicy exactly as generate_multilevel_dataset does). Every column is a pure function of
/// (master seed, l, i) (see multilevel_dataset.hpp), so a shard's content never depends on who
/// computed it, when, or with how many threads or ranks.
///
/// Crash safety. A shard is written to `<name>.tmp-<host>-<pid>`, flushed, fsync'ed, renamed to
/// its final name (atomic on POSIX) and the directory fsync'ed. Hence the rule:
/// - a shard is **finished** if and only if its final-name file exists; finished shards are never
///   recomputed or rewritten;
/// - temporary files are unfinished work (a kill mid-write): they are deleted and their shards
///   recomputed;
/// - a final-name file that fails its checks (size, header, CRC-32) is **not** recomputed: it was
///   complete once, so something outside the campaign damaged it. run_campaign and load_campaign
///   throw std::invalid_argument naming the file; delete the file to have it recomputed.
///
/// Memory: run_campaign holds one shard (one LevelBlock and its byte image), whatever the
/// campaign size; load_campaign builds the whole dataset. POSIX only (open/fsync/rename).
///
/// Shard file layout (version 1, little-endian, doubles as IEEE-754 binary64 bit patterns):
/// ```
/// offset  size     field
///  0      8        magic "MLSBISHD"
///  8      4        u32 format version (1)
/// 12      4        u32 level l
/// 16      8        u64 master seed
/// 24      8        i64 first sample index of the shard
/// 32      8        i64 count (samples in the shard)
/// 40      8        i64 p (theta rows)
/// 48      8        i64 d (x rows)
/// 56      8        u64 1 if the shard has x_coarse (l >= 1), else 0
/// 64      8        f64 wall seconds the shard took to simulate
/// 72      ...      theta (p x count), x_fine (d x count), x_coarse (d x count if present), all
///                  column-major f64; seeds (count u64); non-finite flags (count u8: bit 0 fine,
///                  bit 1 coarse)
/// end-4   4        u32 CRC-32 (boost::crc_32_type) of every preceding byte
/// ```
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <boost/crc.hpp>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "mlsbi/core/errors.hpp"
#include "mlsbi/core/types.hpp"
#include "mlsbi/distributions/prior.hpp"
#include "mlsbi/simulators/multilevel_dataset.hpp"
#include "mlsbi/simulators/multilevel_simulator.hpp"

namespace mlsbi::simulators {

/// Options of run_campaign.
struct CampaignOptions {
    /// What to generate: samples_per_level, seed, non_finite (applied when loading) and threads
    /// (per process; not recorded, may change between runs).
    GenerationOptions generation{};
    std::string directory{};  ///< campaign directory (created if absent; no default)
    Index shard_size = 1024;  ///< samples per shard, >= 1; bounds run_campaign's memory
    /// Free text recorded in the manifest and checked on resume, so a campaign is not resumed
    /// with another simulator by mistake (e.g. "gnk v2, 4 levels"). One line; may be empty.
    std::string simulator_id{};
    bool durable = true;     ///< fsync every shard and the directory (off only for scratch data)
    Index max_shards = 0;    ///< stop after writing this many shards in this run; 0 = no limit
    double max_seconds = 0;  ///< start no new shard after this many seconds; 0 = no limit

    /// \throws std::invalid_argument naming the field: invalid generation options, an empty
    ///         directory, shard_size < 1, a simulator_id with a newline, negative limits.
    void validate() const {
        generation.validate();
        require(!directory.empty(), "CampaignOptions: directory is empty");
        require(shard_size >= 1, "CampaignOptions: shard_size must be >= 1, got ", shard_size);
        require(simulator_id.find_first_of("\r\n") == std::string::npos,
                "CampaignOptions: simulator_id must be one line");
        require(max_shards >= 0, "CampaignOptions: max_shards must be >= 0, got ", max_shards);
        require(max_seconds >= 0, "CampaignOptions: max_seconds must be >= 0, got ", max_seconds);
    }
};

/// How a run of a campaign ended.
enum class CampaignStatus {
    complete,           ///< every shard is finished; load_campaign will succeed
    stopped,            ///< max_shards or max_seconds reached; run again to continue
    simulation_failed,  ///< a simulator threw; finished shards are kept (see failure)
};

/// What one run of a campaign did (under MPI: summed over ranks).
struct CampaignSummary {
    CampaignStatus status = CampaignStatus::complete;
    Index shards_total = 0;         ///< shards of the whole campaign
    Index shards_found = 0;         ///< shards already finished when this run started
    Index shards_written = 0;       ///< shards this run simulated and wrote
    Index samples_simulated = 0;    ///< seed-matched samples this run simulated
    Index temporaries_removed = 0;  ///< unfinished temporary files of killed runs deleted
    double seconds = 0;             ///< wall time of the run
    std::string failure;            ///< for simulation_failed: level, sample and what was thrown
};

/// The manifest of a campaign directory: what the campaign generates, written once.
struct CampaignManifest {
    std::uint64_t seed = 0;
    std::vector<Index> samples_per_level;
    NonFinitePolicy non_finite = NonFinitePolicy::error;
    Index shard_size = 0;
    Index theta_dim = 0;  ///< p
    Index x_dim = 0;      ///< d
    std::string simulator_id{};

    /// Shards of level l: ceil(n_l / shard_size).
    [[nodiscard]] Index shard_count(std::size_t level) const {
        return (samples_per_level[level] + shard_size - 1) / shard_size;
    }
    /// First sample index of shard k of level l.
    [[nodiscard]] Index shard_first(Index k) const { return k * shard_size; }
    /// Samples in shard k of level l.
    [[nodiscard]] Index shard_samples(std::size_t level, Index k) const {
        return std::min(shard_size, samples_per_level[level] - k * shard_size);
    }
};

/// One shard of a campaign: level and shard number within the level.
struct ShardId {
    std::size_t level = 0;
    Index index = 0;
    friend bool operator==(const ShardId&, const ShardId&) = default;
};

/// Name of the manifest file in a campaign directory.
inline constexpr const char* campaign_manifest_name = "manifest.txt";
/// Version of the manifest and shard formats.
inline constexpr int campaign_format_version = 1;

/// Path of shard k of level l in `directory`: `<directory>/level<l>-shard<k>.bin`.
[[nodiscard]] inline std::string campaign_shard_path(const std::string& directory, ShardId shard) {
    return (std::filesystem::path(directory) /
            message("level", shard.level, "-shard", shard.index, ".bin"))
        .string();
}

namespace detail {

static_assert(std::endian::native == std::endian::little,
              "campaign shards assume a little-endian host");

inline constexpr char shard_magic[8] = {'M', 'L', 'S', 'B', 'I', 'S', 'H', 'D'};
inline constexpr std::size_t shard_header_bytes = 72;

[[nodiscard]] inline std::uint32_t crc32(const unsigned char* data, std::size_t size) {
    boost::crc_32_type crc;
    crc.process_bytes(data, size);
    return crc.checksum();
}

inline std::string errno_text() { return std::strerror(errno); }

// Writes `bytes` to `path` atomically: temporary file, write, fsync (if durable), rename, fsync
// of the directory (if durable). \throws std::runtime_error naming the file on an I/O error.
inline void write_file_atomically(const std::string& caller, const std::string& path,
                                  const std::vector<unsigned char>& bytes, bool durable) {
    char host[64] = {};
    if (gethostname(host, sizeof(host) - 1) != 0) std::snprintf(host, sizeof(host), "host");
    const std::string temporary = message(path, ".tmp-", host, "-", getpid());
    const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        throw std::runtime_error(
            message(caller, ": cannot create ", temporary, ": ", errno_text()));
    std::size_t written = 0;
    while (written < bytes.size()) {
        const ssize_t step = ::write(fd, bytes.data() + written, bytes.size() - written);
        if (step < 0 && errno == EINTR) continue;
        if (step <= 0) {
            const std::string why = errno_text();
            ::close(fd);
            ::unlink(temporary.c_str());
            throw std::runtime_error(message(caller, ": cannot write ", temporary, ": ", why));
        }
        written += static_cast<std::size_t>(step);
    }
    if ((durable && ::fsync(fd) != 0) || ::close(fd) != 0) {
        const std::string why = errno_text();
        ::unlink(temporary.c_str());
        throw std::runtime_error(message(caller, ": cannot flush ", temporary, ": ", why));
    }
    if (std::rename(temporary.c_str(), path.c_str()) != 0) {
        const std::string why = errno_text();
        ::unlink(temporary.c_str());
        throw std::runtime_error(
            message(caller, ": cannot rename ", temporary, " to ", path, ": ", why));
    }
    if (durable) {  // make the rename itself durable
        const std::string parent = std::filesystem::path(path).parent_path().string();
        const int dir = ::open(parent.empty() ? "." : parent.c_str(), O_RDONLY | O_DIRECTORY);
        if (dir >= 0) {
            ::fsync(dir);
            ::close(dir);
        }
    }
}

// Reads a whole file; false if it does not exist.
inline bool read_whole_file(const std::string& path, std::vector<unsigned char>& bytes) {
    std::ifstream in(path, std::ios::binary | std::ios::ate);
    if (!in) return false;
    const std::streamsize size = in.tellg();
    in.seekg(0);
    bytes.resize(static_cast<std::size_t>(std::max<std::streamsize>(size, 0)));
    in.read(reinterpret_cast<char*>(bytes.data()), size);
    return static_cast<bool>(in) || bytes.empty();
}

inline const char* policy_name(NonFinitePolicy policy) {
    return policy == NonFinitePolicy::drop ? "drop" : "error";
}

// The manifest text, ending with a crc32 line over everything before it.
inline std::string manifest_text(const CampaignManifest& m) {
    std::ostringstream out;
    out << "mlsbi-campaign " << campaign_format_version << '\n'
        << "seed " << m.seed << '\n'
        << "levels " << m.samples_per_level.size() << '\n'
        << "samples_per_level";
    for (Index n : m.samples_per_level) out << ' ' << n;
    out << '\n'
        << "non_finite " << policy_name(m.non_finite) << '\n'
        << "shard_size " << m.shard_size << '\n'
        << "theta_dim " << m.theta_dim << '\n'
        << "x_dim " << m.x_dim << '\n'
        << "simulator_id " << m.simulator_id << '\n';
    std::string text = out.str();
    const auto crc = crc32(reinterpret_cast<const unsigned char*>(text.data()), text.size());
    char line[32];
    std::snprintf(line, sizeof(line), "crc32 %08x\n", static_cast<unsigned>(crc));
    return text + line;
}

inline void write_manifest(const std::string& directory, const CampaignManifest& m, bool durable) {
    const std::string text = manifest_text(m);
    write_file_atomically("run_campaign",
                          (std::filesystem::path(directory) / campaign_manifest_name).string(),
                          std::vector<unsigned char>(text.begin(), text.end()), durable);
}

}  // namespace detail

/// Reads and checks `<directory>/manifest.txt`.
/// \throws std::invalid_argument naming the file: missing, not a campaign manifest, another
///         format version, a bad CRC-32, a malformed field.
[[nodiscard]] inline CampaignManifest read_campaign_manifest(const std::string& directory) {
    const std::string path = (std::filesystem::path(directory) / campaign_manifest_name).string();
    std::vector<unsigned char> bytes;
    require(detail::read_whole_file(path, bytes), "read_campaign_manifest: cannot open ", path,
            " (not a campaign directory?)");
    const std::string text(bytes.begin(), bytes.end());
    const std::size_t crc_at = text.rfind("crc32 ");
    require(crc_at != std::string::npos && (crc_at == 0 || text[crc_at - 1] == '\n') &&
                text.size() == crc_at + 15,
            "read_campaign_manifest: ", path,
            ": no final crc32 line (truncated, appended to, or not a manifest)");
    unsigned stored = 0;
    require(std::sscanf(text.c_str() + crc_at, "crc32 %8x", &stored) == 1,
            "read_campaign_manifest: ", path, ": malformed crc32 line");
    const auto actual = detail::crc32(reinterpret_cast<const unsigned char*>(text.data()), crc_at);
    require(stored == actual, "read_campaign_manifest: ", path, ": CRC-32 mismatch (file has ",
            std::hex, stored, ", content gives ", actual, "): the manifest is corrupt");

    std::istringstream in(text.substr(0, crc_at));
    const auto expect = [&](const char* key) {
        std::string word;
        in >> word;
        require(!in.fail() && word == key, "read_campaign_manifest: ", path, ": expected '", key,
                "', got '", word, "'");
    };
    CampaignManifest m;
    int version = 0;
    expect("mlsbi-campaign");
    in >> version;
    require(version == campaign_format_version, "read_campaign_manifest: ", path,
            ": format version ", version, " (this build reads ", campaign_format_version, ")");
    expect("seed");
    in >> m.seed;
    std::size_t levels = 0;
    expect("levels");
    in >> levels;
    require(!in.fail() && levels >= 1 && levels < 4096, "read_campaign_manifest: ", path,
            ": bad level count");
    expect("samples_per_level");
    m.samples_per_level.resize(levels);
    for (Index& n : m.samples_per_level) in >> n;
    std::string policy;
    expect("non_finite");
    in >> policy;
    require(policy == "error" || policy == "drop", "read_campaign_manifest: ", path,
            ": bad non_finite '", policy, "'");
    m.non_finite = policy == "drop" ? NonFinitePolicy::drop : NonFinitePolicy::error;
    expect("shard_size");
    in >> m.shard_size;
    expect("theta_dim");
    in >> m.theta_dim;
    expect("x_dim");
    in >> m.x_dim;
    expect("simulator_id");
    if (in.peek() == ' ') in.get();
    std::getline(in, m.simulator_id);
    require(!in.bad(), "read_campaign_manifest: ", path, ": malformed");
    require(m.shard_size >= 1 && m.theta_dim >= 1 && m.x_dim >= 1, "read_campaign_manifest: ", path,
            ": bad shard_size or dimensions");
    for (Index n : m.samples_per_level)
        require(n >= 1, "read_campaign_manifest: ", path, ": bad samples_per_level");
    return m;
}

namespace detail {

// Throws std::invalid_argument naming the first field where an existing manifest differs from
// the one the options describe.
inline void require_same_manifest(const std::string& path, const CampaignManifest& on_disk,
                                  const CampaignManifest& wanted) {
    const auto differs = [&](const char* field, const auto& a, const auto& b) {
        require(a == b, "run_campaign: ", path, " describes another campaign: ", field,
                " differs (manifest ", a, ", options ", b,
                "); use a new directory or the same options");
    };
    differs("seed", on_disk.seed, wanted.seed);
    differs("number of levels", on_disk.samples_per_level.size(), wanted.samples_per_level.size());
    for (std::size_t l = 0; l < wanted.samples_per_level.size(); ++l)
        require(on_disk.samples_per_level[l] == wanted.samples_per_level[l], "run_campaign: ", path,
                " describes another campaign: samples_per_level[", l, "] differs (manifest ",
                on_disk.samples_per_level[l], ", options ", wanted.samples_per_level[l], ")");
    differs("non_finite", policy_name(on_disk.non_finite), policy_name(wanted.non_finite));
    differs("shard_size", on_disk.shard_size, wanted.shard_size);
    differs("theta_dim", on_disk.theta_dim, wanted.theta_dim);
    differs("x_dim", on_disk.x_dim, wanted.x_dim);
    differs("simulator_id", "'" + on_disk.simulator_id + "'", "'" + wanted.simulator_id + "'");
}

// The manifest the options describe.
inline CampaignManifest make_manifest(const CampaignOptions& options, Index theta_dim,
                                      Index x_dim) {
    CampaignManifest wanted;
    wanted.seed = options.generation.seed;
    wanted.samples_per_level = options.generation.samples_per_level;
    wanted.non_finite = options.generation.non_finite;
    wanted.shard_size = options.shard_size;
    wanted.theta_dim = theta_dim;
    wanted.x_dim = x_dim;
    wanted.simulator_id = options.simulator_id;
    return wanted;
}

// Creates the directory and manifest, or checks an existing manifest against the options.
inline CampaignManifest open_campaign(const CampaignOptions& options, Index theta_dim,
                                      Index x_dim) {
    const CampaignManifest wanted = make_manifest(options, theta_dim, x_dim);
    std::error_code error;
    std::filesystem::create_directories(options.directory, error);
    require(!error, "run_campaign: cannot create directory ", options.directory, ": ",
            error.message());
    const auto path = std::filesystem::path(options.directory) / campaign_manifest_name;
    if (!std::filesystem::exists(path)) {
        write_manifest(options.directory, wanted, options.durable);
        return wanted;
    }
    require_same_manifest(path.string(), read_campaign_manifest(options.directory), wanted);
    return wanted;
}

// Every shard of the campaign, level by level.
inline std::vector<ShardId> all_shards(const CampaignManifest& m) {
    std::vector<ShardId> shards;
    for (std::size_t l = 0; l < m.samples_per_level.size(); ++l)
        for (Index k = 0; k < m.shard_count(l); ++k) shards.push_back({l, k});
    return shards;
}

// Bytes of a shard image of `count` samples.
[[nodiscard]] inline std::size_t shard_bytes(Index p, Index d, Index count, bool coarse) {
    const auto n = static_cast<std::size_t>(count);
    const auto doubles = static_cast<std::size_t>(p * count + d * count * (coarse ? 2 : 1));
    return shard_header_bytes + 8 * doubles + 8 * n + n + 4;
}

// Appends the shard image of `block` (samples of dataset level `level`, with its trailing CRC-32)
// to `bytes`. Campaign shard files hold one image; distributed generation sends several.
inline void append_shard_image(std::uint64_t master, Index p, Index d, std::size_t level,
                               const LevelBlock& block, double seconds,
                               std::vector<unsigned char>& bytes) {
    const auto count = static_cast<std::size_t>(block.size());
    const bool coarse = block.x_coarse.size() > 0;
    const std::size_t start = bytes.size();
    bytes.resize(start + shard_bytes(p, d, block.size(), coarse));
    unsigned char* out = bytes.data() + start;
    const auto put = [&out](const void* data, std::size_t size) {
        if (size > 0) std::memcpy(out, data, size);
        out += size;
    };
    const auto version = static_cast<std::uint32_t>(campaign_format_version);
    const auto level32 = static_cast<std::uint32_t>(level);
    const auto first = static_cast<std::int64_t>(block.first);
    const auto n = static_cast<std::int64_t>(count);
    const auto p64 = static_cast<std::int64_t>(p);
    const auto d64 = static_cast<std::int64_t>(d);
    const std::uint64_t has_coarse = coarse ? 1 : 0;
    put(shard_magic, 8);
    put(&version, 4);
    put(&level32, 4);
    put(&master, 8);
    put(&first, 8);
    put(&n, 8);
    put(&p64, 8);
    put(&d64, 8);
    put(&has_coarse, 8);
    put(&seconds, 8);
    put(block.theta.data(), 8 * static_cast<std::size_t>(block.theta.size()));
    put(block.x_fine.data(), 8 * static_cast<std::size_t>(block.x_fine.size()));
    put(block.x_coarse.data(), 8 * static_cast<std::size_t>(block.x_coarse.size()));
    put(block.seeds.data(), 8 * count);
    put(block.bad.data(), count);
    const std::uint32_t crc = crc32(bytes.data() + start, bytes.size() - start - 4);
    put(&crc, 4);
}

// What a shard image must hold; -1 = read from the image (first and count).
struct ShardExpectation {
    std::uint64_t master = 0;
    Index p = 0, d = 0;
    std::size_t level = 0;
    Index first = -1, count = -1;
};

// Peeks the sample count of the image at `data` (size bytes available); -1 if too short.
[[nodiscard]] inline Index shard_image_count(const unsigned char* data, std::size_t size) {
    if (size < shard_header_bytes) return -1;
    std::int64_t count = 0;
    std::memcpy(&count, data + 32, 8);
    return static_cast<Index>(count);
}

// Checks and decodes the shard image data[0, size) into `block`; returns the stored seconds.
// \throws std::invalid_argument "<caller>: shard <name> is corrupt: ..." naming what is wrong.
inline double decode_shard_image(const char* caller, const std::string& name,
                                 const ShardExpectation& want, const unsigned char* data,
                                 std::size_t size, LevelBlock& block) {
    const auto fail = [&](const auto&... what) {
        throw std::invalid_argument(message(caller, ": shard ", name, " is corrupt: ", what...));
    };
    const bool coarse = want.level >= 1;
    const Index count = want.count >= 0 ? want.count : shard_image_count(data, size);
    if (count < 0) fail("size ", size, " bytes, shorter than the header (truncated or foreign)");
    const std::size_t expected = shard_bytes(want.p, want.d, count, coarse);
    if (size != expected)
        fail("size ", size, " bytes, expected ", expected, " (truncated or foreign)");
    std::uint32_t stored = 0;
    std::memcpy(&stored, data + size - 4, 4);
    const std::uint32_t actual = crc32(data, size - 4);
    if (stored != actual) fail("CRC-32 mismatch (stored ", stored, ", content gives ", actual, ")");
    const unsigned char* in = data;
    const auto get = [&in](void* target, std::size_t bytes) {
        if (bytes > 0) std::memcpy(target, in, bytes);
        in += bytes;
    };
    char magic[8];
    std::uint32_t version = 0, level32 = 0;
    std::uint64_t seed = 0, has_coarse = 0;
    std::int64_t first = 0, stored_count = 0, p = 0, d = 0;
    double seconds = 0;
    get(magic, 8);
    get(&version, 4);
    get(&level32, 4);
    get(&seed, 8);
    get(&first, 8);
    get(&stored_count, 8);
    get(&p, 8);
    get(&d, 8);
    get(&has_coarse, 8);
    get(&seconds, 8);
    if (std::memcmp(magic, shard_magic, 8) != 0) fail("bad magic (not a shard)");
    if (version != static_cast<std::uint32_t>(campaign_format_version))
        fail("format version ", version);
    if (level32 != want.level || seed != want.master || (want.first >= 0 && first != want.first) ||
        stored_count != count || p != want.p || d != want.d || has_coarse != (coarse ? 1u : 0u))
        fail("header (level ", level32, ", seed ", seed, ", first ", first, ", count ",
             stored_count, ") does not match the manifest");
    const auto n = static_cast<std::size_t>(count);
    block.first = first;
    block.theta.resize(want.p, count);
    block.x_fine.resize(want.d, count);
    block.x_coarse.resize(coarse ? want.d : 0, coarse ? count : 0);
    block.seeds.resize(n);
    block.bad.resize(n);
    block.failed_index = -1;
    block.failed_what.clear();
    get(block.theta.data(), 8 * static_cast<std::size_t>(block.theta.size()));
    get(block.x_fine.data(), 8 * static_cast<std::size_t>(block.x_fine.size()));
    get(block.x_coarse.data(), 8 * static_cast<std::size_t>(block.x_coarse.size()));
    get(block.seeds.data(), 8 * n);
    get(block.bad.data(), n);
    return seconds;
}

// Reads and checks shard `shard` of the campaign into `block`; returns false (block untouched)
// if the file does not exist. \throws std::invalid_argument naming the file when it is damaged
// or belongs elsewhere.
inline bool read_shard(const char* caller, const std::string& directory, const CampaignManifest& m,
                       ShardId shard, LevelBlock& block, std::vector<unsigned char>& bytes,
                       double* seconds = nullptr) {
    const std::string path = campaign_shard_path(directory, shard);
    if (!read_whole_file(path, bytes)) {
        require(!std::filesystem::exists(path), caller, ": cannot read ", path);
        return false;
    }
    const ShardExpectation want{.master = m.seed,
                                .p = m.theta_dim,
                                .d = m.x_dim,
                                .level = shard.level,
                                .first = m.shard_first(shard.index),
                                .count = m.shard_samples(shard.level, shard.index)};
    try {
        const double time =
            decode_shard_image(caller, "file " + path, want, bytes.data(), bytes.size(), block);
        if (seconds != nullptr) *seconds = time;
    } catch (const std::invalid_argument& e) {
        throw std::invalid_argument(std::string(e.what()) + "; delete it to have it recomputed");
    }
    return true;
}

// Deletes temporary files of killed runs; returns how many.
inline Index remove_temporaries(const std::string& directory) {
    Index removed = 0;
    for (const auto& entry : std::filesystem::directory_iterator(directory)) {
        const std::string name = entry.path().filename().string();
        if (name.find(".tmp-") == std::string::npos) continue;
        std::error_code error;
        if (std::filesystem::remove(entry.path(), error)) ++removed;
    }
    return removed;
}

// Shards not finished yet, in campaign order. Finished shards are read and checked (CRC) when
// `verify`, else only their existence is checked.
inline std::vector<ShardId> pending_shards(const std::string& directory, const CampaignManifest& m,
                                           bool verify) {
    std::vector<ShardId> pending;
    LevelBlock block;
    std::vector<unsigned char> bytes;
    for (const ShardId& shard : all_shards(m)) {
        const bool finished = verify
                                  ? read_shard("run_campaign", directory, m, shard, block, bytes)
                                  : std::filesystem::exists(campaign_shard_path(directory, shard));
        if (!finished) pending.push_back(shard);
    }
    return pending;
}

// Simulates one shard and writes it atomically. Returns false (nothing written) when a
// simulator threw; `failure` then says where.
template <MultilevelModel Multilevel, distributions::Prior P>
bool compute_shard(const Multilevel& model, const P& prior, const CampaignManifest& m,
                   const CampaignOptions& options, ShardId shard, LevelBlock& block,
                   std::vector<unsigned char>& bytes, std::string& failure) {
    const auto start = std::chrono::steady_clock::now();
    simulate_level_block(model, prior, shard.level, m.shard_first(shard.index),
                         m.shard_samples(shard.level, shard.index), m.x_dim, m.seed,
                         options.generation.threads, block);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (block.failed_index >= 0) {
        failure = message("level ", shard.level, ", sample ", block.failed_index, ": ",
                          block.failed_what);
        return false;
    }
    bytes.clear();
    append_shard_image(m.seed, m.theta_dim, m.x_dim, shard.level, block, seconds, bytes);
    write_file_atomically("run_campaign", campaign_shard_path(options.directory, shard), bytes,
                          options.durable);
    return true;
}

}  // namespace detail

/// Runs (or resumes) a campaign in one process: simulates every unfinished shard, in level
/// order, each with OpenMP over its samples, and writes it atomically (see the file comment for
/// the finished/unfinished rule). Killing the process at any moment and calling run_campaign
/// again with the same options continues where it stopped; no finished sample is recomputed.
/// \tparam Multilevel satisfies MultilevelModel. \tparam P satisfies distributions::Prior.
/// \return the summary; status complete when every shard is finished.
/// \throws std::invalid_argument for invalid options or inputs (as generate_multilevel_dataset),
///         a manifest that describes another campaign (naming the field), or a damaged finished
///         shard (naming the file); std::runtime_error naming the file on an I/O error.
template <MultilevelModel Multilevel, distributions::Prior P>
CampaignSummary run_campaign(const Multilevel& model, const P& prior,
                             const CampaignOptions& options) {
    options.validate();
    const auto start = std::chrono::steady_clock::now();
    const auto elapsed = [&] {
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    };
    const Index d =
        detail::check_multilevel_inputs("run_campaign", model, prior, options.generation);
    const CampaignManifest manifest = detail::open_campaign(options, prior.dim(), d);
    CampaignSummary summary;
    summary.temporaries_removed = detail::remove_temporaries(options.directory);
    const std::vector<ShardId> pending =
        detail::pending_shards(options.directory, manifest, /*verify=*/true);
    summary.shards_total = static_cast<Index>(detail::all_shards(manifest).size());
    summary.shards_found = summary.shards_total - static_cast<Index>(pending.size());
    detail::LevelBlock block;
    std::vector<unsigned char> bytes;
    for (const ShardId& shard : pending) {
        if ((options.max_shards > 0 && summary.shards_written >= options.max_shards) ||
            (options.max_seconds > 0 && elapsed() >= options.max_seconds)) {
            summary.status = CampaignStatus::stopped;
            break;
        }
        if (!detail::compute_shard(model, prior, manifest, options, shard, block, bytes,
                                   summary.failure)) {
            summary.status = CampaignStatus::simulation_failed;
            break;
        }
        ++summary.shards_written;
        summary.samples_simulated += block.size();
    }
    summary.seconds = elapsed();
    return summary;
}

/// Builds the dataset of a finished campaign from its shards, applying `non_finite` exactly as
/// generate_multilevel_dataset does: the result is bit-identical to
/// generate_multilevel_dataset(model, prior, options.generation) with the same policy. Reports:
/// requested, kept, dropped and simulations as generation; seconds = the sum of the shards'
/// simulation wall times (the CPU-side cost, whatever the number of ranks).
/// \throws std::invalid_argument naming the file for a missing manifest or shard (the campaign is
///         unfinished: run it again) or a damaged one; SimulationError as
///         generate_multilevel_dataset (policy error and a non-finite sample).
[[nodiscard]] inline MultilevelDataset load_campaign(const std::string& directory,
                                                     NonFinitePolicy non_finite) {
    const char* caller = "load_campaign";
    const CampaignManifest m = read_campaign_manifest(directory);
    MultilevelDataset dataset;
    dataset.reports.resize(m.samples_per_level.size());
    detail::LevelBlock level_block, shard_block;
    std::vector<unsigned char> bytes;
    for (std::size_t l = 0; l < m.samples_per_level.size(); ++l) {
        const Index n = m.samples_per_level[l];
        const bool coarse = l >= 1;
        level_block.first = 0;
        level_block.theta.resize(m.theta_dim, n);
        level_block.x_fine.resize(m.x_dim, n);
        level_block.x_coarse.resize(coarse ? m.x_dim : 0, coarse ? n : 0);
        level_block.seeds.resize(static_cast<std::size_t>(n));
        level_block.bad.resize(static_cast<std::size_t>(n));
        level_block.failed_index = -1;
        double seconds = 0;
        for (Index k = 0; k < m.shard_count(l); ++k) {
            double shard_seconds = 0;
            const ShardId shard{l, k};
            require(
                detail::read_shard(caller, directory, m, shard, shard_block, bytes, &shard_seconds),
                caller, ": shard file ", campaign_shard_path(directory, shard),
                " is missing: the campaign is unfinished (run it again to complete it)");
            seconds += shard_seconds;
            const Index first = m.shard_first(k), count = shard_block.size();
            level_block.theta.middleCols(first, count) = shard_block.theta;
            level_block.x_fine.middleCols(first, count) = shard_block.x_fine;
            if (coarse) level_block.x_coarse.middleCols(first, count) = shard_block.x_coarse;
            std::copy(shard_block.seeds.begin(), shard_block.seeds.end(),
                      level_block.seeds.begin() + first);
            std::copy(shard_block.bad.begin(), shard_block.bad.end(),
                      level_block.bad.begin() + first);
        }
        LevelReport& report = dataset.reports[l];
        dataset.levels.push_back(detail::finish_level(caller, l, non_finite, level_block, report));
        report.seconds = seconds;
        report.seconds_per_simulation =
            report.simulations > 0 ? seconds / static_cast<double>(report.simulations) : 0.0;
    }
    return dataset;
}

/// load_campaign with the NonFinitePolicy recorded in the manifest.
[[nodiscard]] inline MultilevelDataset load_campaign(const std::string& directory) {
    return load_campaign(directory, read_campaign_manifest(directory).non_finite);
}

}  // namespace mlsbi::simulators
