// SPDX-License-Identifier: MIT
/// \file
/// \brief SerialEigen: a scoped guard that keeps Eigen's matrix products single-threaded on the
/// calling thread, and outer_thread_count(), the OpenMP thread count to read before taking one.
#pragma once

#ifdef _OPENMP
#include <omp.h>
#endif

namespace mlsbi {

/// The OpenMP thread count for `requested` (0 = the OpenMP default, omp_get_max_threads());
/// 1 without OpenMP. Read it before constructing a SerialEigen, which lowers that default.
[[nodiscard]] inline int outer_thread_count(int requested = 0) {
#ifdef _OPENMP
    return requested > 0 ? requested : omp_get_max_threads();
#else
    (void)requested;
    return 1;
#endif
}

/// Sets the calling thread's OpenMP thread count to 1 for its lifetime and restores it after.
///
/// Why: in a program built with -fopenmp (and without EIGEN_DONT_PARALLELIZE), Eigen splits every
/// matrix-matrix product over omp_get_max_threads() threads when it is called outside an active
/// parallel region. mlsbi's products are small (tens of rows), so that splitting costs far more
/// than it saves (40x slower sampling at two threads on a loaded machine) and changes the
/// rounding with the thread count. mlsbi parallelises over fixed chunks of samples instead; every
/// path that runs Eigen products (estimators, samplers, losses, dataset generation, diagnostics)
/// holds one of these, so Eigen stays serial whatever the user's build flags.
///
/// The setting is the thread's own OpenMP ICV (no global state, safe in concurrent threads).
/// Parallel regions opened under the guard must pass num_threads explicitly (from
/// outer_thread_count() read before the guard). An explicit Eigen::setNbThreads(k > 1) by the
/// user overrides the ICV in Eigen and is not undone here.
class SerialEigen {
public:
#ifdef _OPENMP
    SerialEigen() : m_saved(omp_get_max_threads()) {
        if (m_saved != 1) omp_set_num_threads(1);
    }
    ~SerialEigen() {
        if (m_saved != 1) omp_set_num_threads(m_saved);
    }
#else
    SerialEigen() = default;
#endif
    SerialEigen(const SerialEigen&) = delete;
    SerialEigen& operator=(const SerialEigen&) = delete;

private:
#ifdef _OPENMP
    int m_saved;
#endif
};

}  // namespace mlsbi
