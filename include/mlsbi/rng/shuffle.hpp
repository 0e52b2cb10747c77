// SPDX-License-Identifier: MIT
/// \file
/// \brief Fisher-Yates shuffles driven by a RandomStream: the one copy every permutation in mlsbi
/// (minibatch order, train/validation splits, MAF orderings, C2ST folds, slice-sampler sweeps)
/// goes through, so a given stream always yields the same permutation.
#pragma once

#include "mlsbi/core/types.hpp"
#include "mlsbi/rng/random_stream.hpp"

#include <cstdint>
#include <numeric>
#include <utility>
#include <vector>

namespace mlsbi {

/// Permutes `values` uniformly at random in place (Durstenfeld's Fisher-Yates, from the back).
/// Consumes exactly size - 1 words of `rng` (none for fewer than two elements).
template <typename Container>
void shuffle_in_place(Container& values, RandomStream& rng) {
    const auto n = static_cast<std::int64_t>(values.size());
    for (std::int64_t i = n - 1; i > 0; --i) {
        const auto j = static_cast<std::int64_t>(rng.uniform_index(static_cast<std::uint64_t>(i + 1)));
        using std::swap;
        swap(values[static_cast<std::size_t>(i)], values[static_cast<std::size_t>(j)]);
    }
}

/// A uniformly random permutation of 0, ..., n - 1.
[[nodiscard]] inline std::vector<Index> random_permutation(Index n, RandomStream& rng) {
    std::vector<Index> permutation(static_cast<std::size_t>(n));
    std::iota(permutation.begin(), permutation.end(), Index(0));
    shuffle_in_place(permutation, rng);
    return permutation;
}

/// The same, into a caller's buffer (resized to n; no allocation once it has the capacity).
inline void random_permutation(Index n, RandomStream& rng, std::vector<Index>& permutation) {
    permutation.resize(static_cast<std::size_t>(n));
    std::iota(permutation.begin(), permutation.end(), Index(0));
    shuffle_in_place(permutation, rng);
}

}  // namespace mlsbi
