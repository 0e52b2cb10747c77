// SPDX-License-Identifier: MIT
/// \file
/// \brief The BatchLogDensity concept the samplers evaluate, and an adapter that turns a
/// per-point log density into a deterministic, OpenMP-parallel batched one.
#pragma once

#include <concepts>
#include <utility>

#include "mlsbi/core/parallel_for.hpp"
#include "mlsbi/core/types.hpp"

namespace mlsbi::inference {

/// A log density (normalised or not) evaluated for a batch of points at once.
///
/// Contract: `f(thetas, out)` with thetas p x n (one point per column) writes log pi(theta_j)
/// into out(j) (out has n entries, pre-sized). Points outside the support get -infinity (NaN is
/// treated as -infinity by the samplers). The value for a column must depend only on that
/// column, not on the other columns, the batch size or the thread count: samplers pass only the
/// chains that need an evaluation in a round, so batches change size from call to call. The
/// samplers call it from one thread; it may parallelise internally (with a fixed chunking so
/// results stay bit-identical whatever the number of threads).
template <class F>
concept BatchLogDensity = std::invocable < F&,
        const ConstMatrixRef<double>
&, VectorRef < double >> ;

/// Wraps a per-point log density `double f(const ConstVectorRef<double>& theta)` into a
/// BatchLogDensity that evaluates the columns in parallel with OpenMP (when enabled). Every
/// column is computed by the same code whatever the thread count, so results are bit-identical.
/// `f` must be safe to call concurrently; an exception thrown by `f` is rethrown after the loop
/// (the one of the lowest column, whatever the thread count).
/// \param min_parallel_batch batches with fewer columns run serially (a parallel region costs
///        microseconds, more than a cheap density; pass 2 when one evaluation is expensive).
template <class PerPoint>
requires std::invocable < const PerPoint&, const ConstVectorRef<double>
& > [[nodiscard]] auto batch_over_columns(PerPoint f, Index min_parallel_batch = 64) {
    return [f = std::move(f), min_parallel_batch](const ConstMatrixRef<double>& thetas,
                                                  VectorRef<double> out) {
        const Index n = thetas.cols();
        const int threads = n >= min_parallel_batch ? outer_thread_count() : 1;
        parallel_for(n, threads, Schedule::blocks,
                     [&](Index j) { out(j) = static_cast<double>(f(thetas.col(j))); });
    };
}

}  // namespace mlsbi::inference
