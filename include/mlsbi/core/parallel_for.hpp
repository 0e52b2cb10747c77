// SPDX-License-Identifier: MIT
/// \file
/// \brief parallel_for: the one OpenMP loop of mlsbi. It runs a body over 0, ..., n - 1 with
/// Eigen serial inside every iteration and turns exceptions into a deterministic report.
///
/// Why one copy: an exception must never leave an OpenMP region (that calls std::terminate), the
/// error a user sees must not depend on the thread count, and the Eigen products inside must stay
/// serial (see SerialEigen). Every parallel loop of the library (loss chunks, dataset generation,
/// batched log densities, NLE posterior chunks, C2ST folds) goes through here.
#pragma once

#include "mlsbi/core/serial_eigen.hpp"
#include "mlsbi/core/types.hpp"

#include <atomic>
#include <concepts>
#include <exception>
#include <utility>

namespace mlsbi {

/// How iterations are handed to threads.
enum class Schedule {
    dynamic,  ///< one at a time, to whichever thread is free (uneven or costly iterations)
    blocks,   ///< contiguous blocks of about n / threads (many cheap, even iterations)
};

/// What a parallel_for did.
struct ParallelForReport {
    int threads = 1;           ///< threads in the team that ran the loop
    Index failed_index = -1;   ///< the lowest index whose body threw; -1 if none did
    std::exception_ptr error;  ///< what it threw (empty if none)

    /// Rethrows the exception of the lowest failed index, if any.
    void rethrow_if_failed() const {
        if (error) std::rethrow_exception(error);
    }
};

/// Runs `body(i)` or `body(i, thread)` (thread in [0, threads)) for every i in [0, n) on up to
/// `threads` OpenMP threads; serially when threads <= 1, n < 2 or without OpenMP. Every
/// iteration holds a SerialEigen, so resolve `threads` (outer_thread_count()) before calling.
///
/// Exceptions are caught per iteration. Once index k has thrown, iterations above k are skipped;
/// those below still run, so the report names the lowest throwing index and its exception
/// whatever the thread count and schedule.
template <class Body>
requires std::invocable<Body&, Index, int> || std::invocable<Body&, Index>
[[nodiscard]] ParallelForReport try_parallel_for(Index n, int threads, Schedule schedule,
                                                 Body&& body) {
    ParallelForReport report;
    std::atomic<Index> failed{n};
    const auto run = [&](Index i, int thread) {
        if (i > failed.load(std::memory_order_relaxed)) return;
        try {
            if constexpr (std::invocable<Body&, Index, int>)
                body(i, thread);
            else
                body(i);
        } catch (...) {
#ifdef _OPENMP
#pragma omp critical(mlsbi_parallel_for_error)
#endif
            if (i < failed.load()) {
                failed.store(i);
                report.error = std::current_exception();
            }
        }
    };
#ifndef _OPENMP
    threads = 1;
    (void)schedule;
#endif
    if (threads > n) threads = static_cast<int>(n);
    if (threads <= 1) {
        [[maybe_unused]] const SerialEigen serial;
        for (Index i = 0; i < n; ++i) run(i, 0);
    }
#ifdef _OPENMP
    else {
        int team = 1;
#pragma omp parallel num_threads(threads)
        {
            [[maybe_unused]] const SerialEigen serial;
            const int thread = omp_get_thread_num();
#pragma omp single nowait
            team = omp_get_num_threads();
            if (schedule == Schedule::dynamic) {
#pragma omp for schedule(dynamic, 1) nowait  // the region's end is the only barrier
                for (Index i = 0; i < n; ++i) run(i, thread);
            } else {
#pragma omp for schedule(static) nowait
                for (Index i = 0; i < n; ++i) run(i, thread);
            }
        }
        report.threads = team;
    }
#endif
    if (failed.load() < n) report.failed_index = failed.load();
    return report;
}

/// try_parallel_for, then rethrows the exception of the lowest throwing index. Returns the
/// number of threads that ran the loop.
template <class Body>
requires std::invocable<Body&, Index, int> || std::invocable<Body&, Index>
int parallel_for(Index n, int threads, Schedule schedule, Body&& body) {
    const ParallelForReport report =
        try_parallel_for(n, threads, schedule, std::forward<Body>(body));
    report.rethrow_if_failed();
    return report.threads;
}

}  // namespace mlsbi
