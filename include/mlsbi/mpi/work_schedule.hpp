// SPDX-License-Identifier: MIT
/// \file
/// \brief How ranks share work: static contiguous blocks, or dynamic chunks taken from a shared
/// counter (MPI one-sided fetch-and-add on rank 0).
#pragma once

#include <mpi.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "mlsbi/core/errors.hpp"
#include "mlsbi/core/types.hpp"

namespace mlsbi::mpi {

/// How work items are assigned to ranks.
enum class Schedule {
    /// Each level's work is split into one contiguous block per rank, fixed in advance. No
    /// communication while simulating, but a rank whose samples cost more finishes last.
    static_blocks,
    /// Ranks take the next chunk from a counter on rank 0 (MPI_Fetch_and_op) when they finish
    /// one; the most expensive level first. Keeps every rank busy when costs are uneven. Default.
    dynamic,
};

/// Name of a schedule, for reports: "static" or "dynamic".
[[nodiscard]] inline const char* schedule_name(Schedule schedule) {
    return schedule == Schedule::static_blocks ? "static" : "dynamic";
}

/// \throws std::runtime_error naming `what` if an MPI call failed.
inline void check_mpi(int code, const char* what) {
    if (code == MPI_SUCCESS) return;
    char text[MPI_MAX_ERROR_STRING];
    int length = 0;
    MPI_Error_string(code, text, &length);
    throw std::runtime_error(message("mlsbi::mpi: ", what, " failed: ", std::string(text, length)));
}

/// Rank and size of a communicator.
struct RankInfo {
    int rank = 0;
    int size = 1;
    explicit RankInfo(MPI_Comm comm) {
        check_mpi(MPI_Comm_rank(comm, &rank), "MPI_Comm_rank");
        check_mpi(MPI_Comm_size(comm, &size), "MPI_Comm_size");
    }
};

/// The contiguous block [begin, end) of `items` that `rank` of `size` owns under static blocks.
struct StaticBlock {
    Index begin = 0;
    Index end = 0;
};
[[nodiscard]] inline StaticBlock static_block(Index items, int rank, int size) {
    const auto r = static_cast<Index>(rank), s = static_cast<Index>(size);
    return {items * r / s, items * (r + 1) / s};
}

/// A counter on rank 0 of a communicator that every rank can atomically fetch-and-add
/// (MPI-3 passive-target one-sided communication). Construction and destruction are
/// collective. On one node the window lives in shared memory and needs no progress from rank 0;
/// across nodes the MPI library's progress engine serves it (rank 0 calls MPI between chunks).
class SharedCounter {
public:
    /// Collective over `comm`; the counter starts at 0.
    explicit SharedCounter(MPI_Comm comm) : m_comm(comm) {
        const RankInfo info(comm);
        const MPI_Aint bytes = info.rank == 0 ? static_cast<MPI_Aint>(sizeof(std::int64_t)) : 0;
        check_mpi(
            MPI_Win_allocate(bytes, sizeof(std::int64_t), MPI_INFO_NULL, comm, &m_base, &m_window),
            "MPI_Win_allocate");
        if (info.rank == 0) *m_base = 0;
        check_mpi(MPI_Barrier(comm), "MPI_Barrier");  // nobody adds before rank 0 zeroed it
    }
    SharedCounter(const SharedCounter&) = delete;
    SharedCounter& operator=(const SharedCounter&) = delete;
    ~SharedCounter() { MPI_Win_free(&m_window); }

    /// Adds `increment` and returns the value before (atomic across ranks).
    [[nodiscard]] std::int64_t fetch_add(std::int64_t increment) {
        std::int64_t previous = 0;
        check_mpi(MPI_Win_lock(MPI_LOCK_SHARED, 0, 0, m_window), "MPI_Win_lock");
        check_mpi(MPI_Fetch_and_op(&increment, &previous, MPI_INT64_T, 0, 0, MPI_SUM, m_window),
                  "MPI_Fetch_and_op");
        check_mpi(MPI_Win_unlock(0, m_window), "MPI_Win_unlock");
        return previous;
    }

private:
    MPI_Comm m_comm;
    std::int64_t* m_base = nullptr;
    MPI_Win m_window = MPI_WIN_NULL;
};

}  // namespace mlsbi::mpi
