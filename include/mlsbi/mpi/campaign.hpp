// SPDX-License-Identifier: MIT
/// \file
/// \brief Resumable campaigns over an MPI communicator: the shards of simulators/campaign.hpp
/// written by many ranks into one shared directory, restartable after the whole job is killed.
///
/// Rank 0 creates or checks the manifest, deletes the temporaries of killed runs and lists the
/// unfinished shards (checking the finished ones); the ranks then share those shards (static
/// blocks or a dynamic counter) and each writes its own shards atomically. The directory must be
/// visible to every rank (a shared file system under SLURM). Loading is not collective: any
/// process calls simulators::load_campaign.
#pragma once

#include <mpi.h>

#include <chrono>
#include <cstdint>
#include <stdexcept>
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

namespace detail {

// Rank 0's error (kind 1 invalid_argument, 2 runtime_error) rethrown on every rank.
inline void rethrow_from_root(MPI_Comm comm, int kind, const std::string& what) {
    int shared_kind = kind;
    check_mpi(MPI_Bcast(&shared_kind, 1, MPI_INT, 0, comm), "MPI_Bcast");
    if (shared_kind == 0) return;
    const std::string text = allgather_strings(comm, what)[0];
    if (shared_kind == 1) throw std::invalid_argument(text);
    throw std::runtime_error(text);
}

}  // namespace detail

/// Runs (or resumes) a campaign over `comm`; collective, same arguments on every rank. The
/// result on disk is the same whatever the number of ranks, threads or interruptions, and
/// simulators::load_campaign builds the dataset bit-identical to
/// simulators::generate_multilevel_dataset. max_shards bounds the shards of this run over all
/// ranks; max_seconds is checked by each rank before it starts a shard.
/// \return the summary summed over ranks, the same on every rank; status simulation_failed names
///         the lowest rank's failure.
/// \throws on every rank alike: std::invalid_argument as simulators::run_campaign (options,
///         another campaign's manifest, a damaged finished shard); std::runtime_error naming the
///         file when a rank cannot write a shard.
template <simulators::MultilevelModel Multilevel, distributions::Prior P>
simulators::CampaignSummary run_campaign(MPI_Comm comm, const Multilevel& model, const P& prior,
                                         const simulators::CampaignOptions& options,
                                         Schedule schedule = Schedule::dynamic) {
    namespace sd = simulators::detail;
    options.validate();
    const auto start = std::chrono::steady_clock::now();
    const auto elapsed = [&] {
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    };
    const RankInfo info(comm);
    const Index d = sd::check_multilevel_inputs("run_campaign", model, prior, options.generation);
    const simulators::CampaignManifest manifest = sd::make_manifest(options, prior.dim(), d);

    // Rank 0 opens the directory and finds the unfinished shards.
    simulators::CampaignSummary summary;
    std::vector<long long> pending_flat;  // level, index pairs
    int kind = 0;
    std::string what;
    if (info.rank == 0) {
        try {
            (void)sd::open_campaign(options, prior.dim(), d);
            summary.temporaries_removed = sd::remove_temporaries(options.directory);
            for (const simulators::ShardId& shard :
                 sd::pending_shards(options.directory, manifest, /*verify=*/true)) {
                pending_flat.push_back(static_cast<long long>(shard.level));
                pending_flat.push_back(static_cast<long long>(shard.index));
            }
        } catch (const std::invalid_argument& e) {
            kind = 1;
            what = e.what();
        } catch (const std::exception& e) {
            kind = 2;
            what = e.what();
        }
    }
    detail::rethrow_from_root(comm, kind, what);
    long long pending_count = static_cast<long long>(pending_flat.size());
    check_mpi(MPI_Bcast(&pending_count, 1, MPI_LONG_LONG, 0, comm), "MPI_Bcast");
    pending_flat.resize(static_cast<std::size_t>(pending_count));
    check_mpi(
        MPI_Bcast(pending_flat.data(), static_cast<int>(pending_count), MPI_LONG_LONG, 0, comm),
        "MPI_Bcast");
    std::vector<simulators::ShardId> pending;
    for (std::size_t k = 0; k + 1 < pending_flat.size(); k += 2)
        pending.push_back(
            {static_cast<std::size_t>(pending_flat[k]), static_cast<Index>(pending_flat[k + 1])});
    summary.shards_total = static_cast<Index>(sd::all_shards(manifest).size());
    summary.shards_found = summary.shards_total - static_cast<Index>(pending.size());
    if (options.max_shards > 0 && static_cast<Index>(pending.size()) > options.max_shards)
        pending.resize(static_cast<std::size_t>(options.max_shards));

    // Share the shards. Dynamic: finest level first (the most expensive), one shard per take.
    long long written = 0, samples = 0;
    int stopped = 0, failed = 0;
    std::string failure;
    sd::LevelBlock block;
    std::vector<unsigned char> bytes;
    const auto work = [&](const simulators::ShardId& shard) {
        if (options.max_seconds > 0 && elapsed() >= options.max_seconds) {
            stopped = 1;
            return false;
        }
        try {
            if (!sd::compute_shard(model, prior, manifest, options, shard, block, bytes, failure)) {
                failed = 1;
                return false;
            }
        } catch (const std::exception& e) {
            failed = 2;
            failure = e.what();
            return false;
        }
        ++written;
        samples += block.size();
        return true;
    };
    if (schedule == Schedule::static_blocks) {
        // Per level, a contiguous block of that level's pending shards.
        for (std::size_t l = 0; l < manifest.samples_per_level.size(); ++l) {
            std::vector<simulators::ShardId> level_pending;
            for (const auto& shard : pending)
                if (shard.level == l) level_pending.push_back(shard);
            const StaticBlock mine =
                static_block(static_cast<Index>(level_pending.size()), info.rank, info.size);
            bool go = true;
            for (Index k = mine.begin; go && k < mine.end; ++k)
                go = work(level_pending[static_cast<std::size_t>(k)]);
            if (!go) break;
        }
    } else {
        std::vector<simulators::ShardId> order(pending.rbegin(), pending.rend());
        SharedCounter next(comm);
        const auto total = static_cast<std::int64_t>(order.size());
        for (std::int64_t k = next.fetch_add(1); k < total; k = next.fetch_add(1))
            if (!work(order[static_cast<std::size_t>(k)])) break;
        check_mpi(MPI_Barrier(comm), "MPI_Barrier");
    }

    // Sum over ranks; failures of the lowest rank are reported.
    long long totals[2] = {written, samples};
    check_mpi(MPI_Allreduce(MPI_IN_PLACE, totals, 2, MPI_LONG_LONG, MPI_SUM, comm),
              "MPI_Allreduce");
    int flags[2] = {stopped, failed};
    check_mpi(MPI_Allreduce(MPI_IN_PLACE, flags, 2, MPI_INT, MPI_MAX, comm), "MPI_Allreduce");
    long long removed = summary.temporaries_removed;
    check_mpi(MPI_Bcast(&removed, 1, MPI_LONG_LONG, 0, comm), "MPI_Bcast");
    summary.temporaries_removed = static_cast<Index>(removed);
    summary.shards_written = static_cast<Index>(totals[0]);
    summary.samples_simulated = static_cast<Index>(totals[1]);
    if (flags[1] != 0) {
        const std::vector<std::string> failures =
            detail::allgather_strings(comm, failed != 0 ? message(failed, failure) : "");
        for (const std::string& text : failures)  // an I/O error throws on every rank
            if (!text.empty() && text[0] == '2') throw std::runtime_error(text.substr(1));
        for (const std::string& text : failures) {
            if (text.empty()) continue;
            summary.status = simulators::CampaignStatus::simulation_failed;
            summary.failure = text.substr(1);
            break;
        }
    } else if (summary.shards_found + summary.shards_written < summary.shards_total) {
        summary.status = simulators::CampaignStatus::stopped;
    }
    summary.seconds = elapsed();
    return summary;
}

}  // namespace mlsbi::mpi
