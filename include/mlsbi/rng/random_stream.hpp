// SPDX-License-Identifier: MIT
/// \file
/// \brief Counter-based random stream (Random123 Philox4x64-10) and seed derivation.
///
/// Why counter-based: the i-th number of stream (seed, id) is a pure function of (seed, id, i),
/// so any simulation, any thread and any level can rebuild exactly the randomness it needs from
/// a seed. That is what makes seed-matched multilevel pairs and thread-count-independent data
/// possible. Random123 is a well-kept Debian package (librandom123-dev) implementing the
/// generators of Salmon et al. (SC'11), which pass BigCrush.
#pragma once

#include <Random123/philox.h>

#include <array>
#include <cstdint>
#include <initializer_list>

namespace mlsbi {

/// Derives a 64-bit seed from a master seed and up to three indices (for example level, sample
/// index and a purpose tag). Distinct index tuples give statistically independent seeds; the
/// result does not depend on call order or thread count.
[[nodiscard]] inline std::uint64_t derive_seed(std::uint64_t master, std::uint64_t a,
                                               std::uint64_t b = 0, std::uint64_t c = 0) {
    r123::Philox4x64 generator;
    const r123::Philox4x64::ctr_type counter = {{a, b, c, 0x6d6c7362ULL}};  // tag "mlsb"
    const r123::Philox4x64::key_type key = {{master, 0x5eed5eed5eed5eedULL}};
    return generator(counter, key)[0];
}

/// A stream of independent uniform 64-bit words, identified by (seed, stream id).
///
/// Draw k of a stream is a pure function of (seed, stream, k): copying a stream copies its
/// position; `skip(n)` jumps ahead in O(1). Not thread-safe; give each thread or sample its own
/// stream (cheap: 48 bytes, no heap).
class RandomStream {
public:
    /// \param seed user seed; \param stream independent sub-stream id (e.g. a sample index).
    explicit RandomStream(std::uint64_t seed, std::uint64_t stream = 0)
        : m_key{{seed, stream}} {}

    /// Next uniformly distributed 64-bit word.
    std::uint64_t next_u64() {
        if (m_used == 4) refill();
        return m_block[m_used++];
    }

    /// Uniform on the open interval (0, 1) with 53 random bits; never returns 0 or 1, so it can
    /// feed an inverse CDF directly. Consumes exactly one word.
    double uniform() {
        constexpr double scale = 1.0 / 9007199254740992.0;  // 2^-53
        return (static_cast<double>(next_u64() >> 11) + 0.5) * scale;
    }

    /// Uniform on (low, high); consumes one word.
    double uniform(double low, double high) { return low + (high - low) * uniform(); }

    /// Uniform integer in [0, n) (n > 0), by 128-bit multiply (Lemire); consumes one word.
    std::uint64_t uniform_index(std::uint64_t n) {
        __extension__ using Wide = unsigned __int128;  // GCC/Clang extension; silences -Wpedantic
        return static_cast<std::uint64_t>((static_cast<Wide>(next_u64()) * n) >> 64);
    }

    /// Skips `n` words.
    void skip(std::uint64_t n) {
        const std::uint64_t position = m_counter * 4 - (4 - m_used) + n;
        m_counter = position / 4;
        m_used = 4;
        const auto rest = static_cast<int>(position % 4);
        if (rest != 0) {
            refill();
            m_used = rest;
        }
    }

    /// Number of words drawn so far.
    [[nodiscard]] std::uint64_t position() const { return m_counter * 4 - (4 - m_used); }

private:
    void refill() {
        r123::Philox4x64 generator;
        const r123::Philox4x64::ctr_type counter = {{m_counter, 0, 0, 0}};
        const auto out = generator(counter, m_key);
        for (int i = 0; i < 4; ++i) m_block[static_cast<std::size_t>(i)] = out[i];
        ++m_counter;
        m_used = 0;
    }

    r123::Philox4x64::key_type m_key;
    std::uint64_t m_counter = 0;
    std::array<std::uint64_t, 4> m_block{};
    int m_used = 4;
};

}  // namespace mlsbi
