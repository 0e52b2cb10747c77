// SPDX-License-Identifier: MIT
/// \file
/// \brief Seed-matched multilevel datasets generated over an MPI communicator, bit-identical to
/// the one-process simulators::generate_multilevel_dataset for any number of ranks and threads.
///
/// Every column is a pure function of (master seed, level, index) (see
/// simulators/multilevel_dataset.hpp), so ranks can simulate any share of the (level, index)
/// work: each rank simulates work items (a level and a range of indices) with OpenMP inside,
/// encodes them as shard images (simulators/campaign.hpp), and an MPI_Allgatherv gives every rank
/// every item; the non-finite policy is then applied level by level exactly as in one process.
#pragma once

#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include "mlsbi/core/errors.hpp"
#include "mlsbi/core/types.hpp"
#include "mlsbi/distributions/prior.hpp"
#include "mlsbi/mpi/detail/gather.hpp"
#include "mlsbi/mpi/work_schedule.hpp"
#include "mlsbi/simulators/campaign.hpp"
#include "mlsbi/simulators/multilevel_dataset.hpp"
#include "mlsbi/simulators/multilevel_simulator.hpp"

namespace mlsbi::mpi {

/// How generation is spread over the ranks.
struct DistributionOptions {
    Schedule schedule = Schedule::dynamic;  ///< static blocks or dynamic chunks (default)
    /// Samples per dynamic chunk; 0 (default) = ceil(n_l / (8 ranks)) per level, so each level
    /// yields about 8 chunks per rank. Ignored by static blocks (one block per rank and level).
    Index chunk_size = 0;
    /// \throws std::invalid_argument if chunk_size < 0.
    void validate() const {
        require(chunk_size >= 0, "DistributionOptions: chunk_size must be >= 0, got ", chunk_size);
    }
};

/// How the work was spread: the wall time of the whole call and, per rank, the time spent
/// simulating and the samples simulated. Parallel efficiency = sum(busy) / (ranks x wall).
struct DistributionReport {
    double wall_seconds = 0;
    std::vector<double> busy_seconds;  ///< per rank
    std::vector<Index> samples;        ///< per rank
};

namespace detail {

// One unit of work: samples [first, first + count) of a level.
struct WorkItem {
    std::size_t level = 0;
    Index first = 0;
    Index count = 0;
};

// The items in the order ranks take them. Dynamic: most expensive (finest) level first, in
// chunks. Static: per level, the contiguous block of this rank.
inline std::vector<WorkItem> work_items(const std::vector<Index>& samples_per_level,
                                        const DistributionOptions& distribution,
                                        const RankInfo& info) {
    std::vector<WorkItem> items;
    const std::size_t levels = samples_per_level.size();
    for (std::size_t step = 0; step < levels; ++step) {
        if (distribution.schedule == Schedule::static_blocks) {
            const std::size_t l = step;
            const StaticBlock block = static_block(samples_per_level[l], info.rank, info.size);
            if (block.end > block.begin) items.push_back({l, block.begin, block.end - block.begin});
            continue;
        }
        const std::size_t l = levels - 1 - step;
        const Index n = samples_per_level[l];
        const Index chunk = distribution.chunk_size > 0
                                ? distribution.chunk_size
                                : std::max<Index>(1, (n + 8 * info.size - 1) / (8 * info.size));
        for (Index first = 0; first < n; first += chunk)
            items.push_back({l, first, std::min(chunk, n - first)});
    }
    return items;
}

// Lowest failure (simulator threw) per level, encoded "level index length what" repeatedly.
inline void append_failure(std::string& failures, std::size_t level, Index index,
                           const std::string& what) {
    failures += message(level, ' ', index, ' ', what.size(), ' ', what);
}

inline void apply_failures(const std::string& failures,
                           std::vector<simulators::detail::LevelBlock>& blocks) {
    std::istringstream in(failures);
    std::size_t level = 0, length = 0;
    Index index = 0;
    while (in >> level >> index >> length) {
        in.get();
        std::string what(length, '\0');
        in.read(what.data(), static_cast<std::streamsize>(length));
        auto& block = blocks[level];
        if (block.failed_index < 0 || index < block.failed_index) {
            block.failed_index = index;
            block.failed_what = what;
        }
    }
}

// Simulates this rank's share of the items; returns the shard images and failures.
template <simulators::MultilevelModel Multilevel, distributions::Prior P>
void simulate_share(MPI_Comm comm, const Multilevel& model, const P& prior,
                    const simulators::GenerationOptions& options,
                    const DistributionOptions& distribution, Index d,
                    std::vector<unsigned char>& images, std::string& failures, double& busy,
                    Index& samples) {
    const RankInfo info(comm);
    const std::vector<WorkItem> items = work_items(options.samples_per_level, distribution, info);
    simulators::detail::LevelBlock block;
    const auto run = [&](const WorkItem& item) {
        const auto start = std::chrono::steady_clock::now();
        simulators::detail::simulate_level_block(model, prior, item.level, item.first, item.count,
                                                 d, options.seed, options.threads, block);
        const double seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        busy += seconds;
        samples += item.count;
        if (block.failed_index >= 0)
            append_failure(failures, item.level, block.failed_index, block.failed_what);
        else
            simulators::detail::append_shard_image(options.seed, prior.dim(), d, item.level, block,
                                                   seconds, images);
    };
    if (distribution.schedule == Schedule::static_blocks) {
        for (const WorkItem& item : items) run(item);
        return;
    }
    SharedCounter next(comm);
    const auto total = static_cast<std::int64_t>(items.size());
    for (std::int64_t k = next.fetch_add(1); k < total; k = next.fetch_add(1))
        run(items[static_cast<std::size_t>(k)]);
    check_mpi(MPI_Barrier(comm), "MPI_Barrier");  // nobody frees the window while others add
}

}  // namespace detail

/// Generates the seed-matched multilevel dataset over `comm`: every rank returns the whole
/// dataset, bit-identical to simulators::generate_multilevel_dataset(model, prior, options) for
/// any number of ranks, any `options.threads` (OpenMP threads per rank) and either schedule.
/// Collective: every rank calls it with the same arguments.
///
/// Reports: requested, kept, dropped, simulations as in one process; seconds is the simulation
/// time of the level summed over ranks (its cost, not a wall time).
/// \tparam Multilevel satisfies simulators::MultilevelModel. \tparam P satisfies
///         distributions::Prior.
/// \param report if not null, receives the per-rank work and the wall time.
/// \throws as simulators::generate_multilevel_dataset, on every rank alike (the failing level
///         and sample are the same); std::runtime_error if the gathered data exceed 2 GiB.
template <simulators::MultilevelModel Multilevel, distributions::Prior P>
[[nodiscard]] simulators::MultilevelDataset generate_multilevel_dataset(
    MPI_Comm comm, const Multilevel& model, const P& prior,
    const simulators::GenerationOptions& options, const DistributionOptions& distribution = {},
    DistributionReport* report = nullptr) {
    const char* caller = "mpi::generate_multilevel_dataset";
    distribution.validate();
    const Index d = simulators::detail::check_multilevel_inputs(caller, model, prior, options);
    const auto start = std::chrono::steady_clock::now();
    const RankInfo info(comm);
    const Index p = prior.dim();

    std::vector<unsigned char> images;
    std::string failures;
    double busy = 0;
    Index samples = 0;
    detail::simulate_share(comm, model, prior, options, distribution, d, images, failures, busy,
                           samples);
    std::vector<std::size_t> offsets;
    const std::vector<unsigned char> all = detail::allgather_bytes(comm, images, offsets);
    std::string all_failures;
    for (const std::string& part : detail::allgather_strings(comm, failures)) all_failures += part;

    // Assemble each level's raw columns from the items, then apply the policy as in one process.
    const std::size_t levels = options.samples_per_level.size();
    std::vector<simulators::detail::LevelBlock> blocks(levels);
    std::vector<double> seconds(levels, 0.0);
    std::vector<Index> covered(levels, 0);
    for (std::size_t l = 0; l < levels; ++l) {
        const Index n = options.samples_per_level[l];
        auto& block = blocks[l];
        block.theta.resize(p, n);
        block.x_fine.resize(d, n);
        block.x_coarse.resize(l >= 1 ? d : 0, l >= 1 ? n : 0);
        block.seeds.resize(static_cast<std::size_t>(n));
        block.bad.resize(static_cast<std::size_t>(n));
    }
    simulators::detail::LevelBlock item;
    for (std::size_t at = 0; at < all.size();) {
        std::uint32_t level32 = 0;
        MLSBI_ASSERT(all.size() - at >= simulators::detail::shard_header_bytes);
        std::memcpy(&level32, all.data() + at + 12, 4);
        const std::size_t l = level32;
        MLSBI_ASSERT(l < levels);
        const Index count = simulators::detail::shard_image_count(all.data() + at, all.size() - at);
        const std::size_t size = simulators::detail::shard_bytes(p, d, count, l >= 1);
        const simulators::detail::ShardExpectation want{
            .master = options.seed, .p = p, .d = d, .level = l, .first = -1, .count = count};
        seconds[l] += simulators::detail::decode_shard_image(caller, "in transit", want,
                                                             all.data() + at, size, item);
        auto& block = blocks[l];
        block.theta.middleCols(item.first, count) = item.theta;
        block.x_fine.middleCols(item.first, count) = item.x_fine;
        if (l >= 1) block.x_coarse.middleCols(item.first, count) = item.x_coarse;
        std::copy(item.seeds.begin(), item.seeds.end(), block.seeds.begin() + item.first);
        std::copy(item.bad.begin(), item.bad.end(), block.bad.begin() + item.first);
        covered[l] += count;
        at += size;
    }
    detail::apply_failures(all_failures, blocks);

    if (report != nullptr) {
        report->wall_seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        report->busy_seconds.assign(static_cast<std::size_t>(info.size), 0.0);
        std::vector<long long> counts(static_cast<std::size_t>(info.size));
        const auto mine = static_cast<long long>(samples);
        check_mpi(
            MPI_Allgather(&busy, 1, MPI_DOUBLE, report->busy_seconds.data(), 1, MPI_DOUBLE, comm),
            "MPI_Allgather");
        check_mpi(MPI_Allgather(&mine, 1, MPI_LONG_LONG, counts.data(), 1, MPI_LONG_LONG, comm),
                  "MPI_Allgather");
        report->samples.assign(counts.begin(), counts.end());
    }

    simulators::MultilevelDataset dataset;
    dataset.reports.resize(levels);
    for (std::size_t l = 0; l < levels; ++l) {
        auto& level_report = dataset.reports[l];
        if (blocks[l].failed_index < 0)
            MLSBI_ASSERT(covered[l] == options.samples_per_level[l]);  // every column once
        dataset.levels.push_back(simulators::detail::finish_level(caller, l, options.non_finite,
                                                                  blocks[l], level_report));
        level_report.seconds = seconds[l];
        level_report.seconds_per_simulation =
            level_report.simulations > 0
                ? seconds[l] / static_cast<double>(level_report.simulations)
                : 0.0;
    }
    return dataset;
}

}  // namespace mlsbi::mpi
