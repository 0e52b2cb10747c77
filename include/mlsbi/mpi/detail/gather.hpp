// SPDX-License-Identifier: MIT
/// \file
/// \brief Collectives on byte buffers and strings: every rank gets every rank's contribution.
#pragma once

#include <mpi.h>

#include <climits>
#include <cstddef>
#include <string>
#include <vector>

#include "mlsbi/mpi/work_schedule.hpp"

namespace mlsbi::mpi::detail {

// Every rank's `local` bytes, concatenated in rank order; `offsets[r]` is where rank r starts
// (offsets has size + 1 entries). MPI counts are int: each contribution and the total must stay
// below 2 GiB (checked collectively, so every rank throws or none does).
inline std::vector<unsigned char> allgather_bytes(MPI_Comm comm,
                                                  const std::vector<unsigned char>& local,
                                                  std::vector<std::size_t>& offsets) {
    const RankInfo info(comm);
    long long mine = static_cast<long long>(local.size());
    std::vector<long long> sizes(static_cast<std::size_t>(info.size));
    check_mpi(MPI_Allgather(&mine, 1, MPI_LONG_LONG, sizes.data(), 1, MPI_LONG_LONG, comm),
              "MPI_Allgather");
    offsets.assign(sizes.size() + 1, 0);
    for (std::size_t r = 0; r < sizes.size(); ++r)
        offsets[r + 1] = offsets[r] + static_cast<std::size_t>(sizes[r]);
    if (offsets.back() > static_cast<std::size_t>(INT_MAX))
        throw std::runtime_error(
            message("mlsbi::mpi: the gathered data are ", offsets.back(),
                    " bytes, over MPI's 2 GiB int count; write a campaign (shards) instead"));
    std::vector<int> counts(sizes.size()), displacements(sizes.size());
    for (std::size_t r = 0; r < sizes.size(); ++r) {
        counts[r] = static_cast<int>(sizes[r]);
        displacements[r] = static_cast<int>(offsets[r]);
    }
    std::vector<unsigned char> all(offsets.back());
    check_mpi(
        MPI_Allgatherv(local.data(), counts[static_cast<std::size_t>(info.rank)], MPI_UNSIGNED_CHAR,
                       all.data(), counts.data(), displacements.data(), MPI_UNSIGNED_CHAR, comm),
        "MPI_Allgatherv");
    return all;
}

// Every rank's string, in rank order.
inline std::vector<std::string> allgather_strings(MPI_Comm comm, const std::string& local) {
    std::vector<std::size_t> offsets;
    const std::vector<unsigned char> all =
        allgather_bytes(comm, std::vector<unsigned char>(local.begin(), local.end()), offsets);
    std::vector<std::string> strings;
    for (std::size_t r = 0; r + 1 < offsets.size(); ++r)
        strings.emplace_back(all.begin() + static_cast<std::ptrdiff_t>(offsets[r]),
                             all.begin() + static_cast<std::ptrdiff_t>(offsets[r + 1]));
    return strings;
}

}  // namespace mlsbi::mpi::detail
