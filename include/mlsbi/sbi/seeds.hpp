// SPDX-License-Identifier: MIT
/// \file
/// \brief One master seed from which the front ends derive every other seed (network
/// initialisation, simulations, training shuffles and splits, posterior sampling), each of which
/// can be overridden.
#pragma once

#include <cstdint>
#include <optional>

#include "mlsbi/rng/random_stream.hpp"

namespace mlsbi::sbi {

/// The seeds of one front-end run. Unset overrides derive from `master` with distinct tags, so
/// changing one override changes nothing else.
struct Seeds {
    std::uint64_t master = 0;                   ///< the one seed a user has to pick
    std::optional<std::uint64_t> network{};     ///< initial weights (and MAF permutations)
    std::optional<std::uint64_t> simulation{};  ///< theta ~ prior and simulator seeds; round r of
                                                ///< simulate() uses derive_seed(simulation, r)
    std::optional<std::uint64_t> training{};    ///< validation split and mini-batch shuffles
    std::optional<std::uint64_t> sampling{};    ///< default seed of the posterior's sample(n)

    [[nodiscard]] std::uint64_t network_seed() const {
        return network.value_or(derive_seed(master, 0x6e6574ULL));  // "net"
    }
    [[nodiscard]] std::uint64_t simulation_seed() const {
        return simulation.value_or(derive_seed(master, 0x73696dULL));  // "sim"
    }
    [[nodiscard]] std::uint64_t training_seed() const {
        return training.value_or(derive_seed(master, 0x747261696eULL));  // "train"
    }
    [[nodiscard]] std::uint64_t sampling_seed() const {
        return sampling.value_or(derive_seed(master, 0x73616d706c65ULL));  // "sample"
    }
};

}  // namespace mlsbi::sbi
