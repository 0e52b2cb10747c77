// SPDX-License-Identifier: MIT
/// \file
/// \brief Product of independent priors over consecutive blocks of theta, composed at compile time.
#pragma once

#include <array>
#include <cstddef>
#include <limits>
#include <tuple>
#include <utility>

#include "mlsbi/core/errors.hpp"
#include "mlsbi/core/types.hpp"
#include "mlsbi/distributions/prior.hpp"
#include "mlsbi/rng/random_stream.hpp"

namespace mlsbi::distributions {

/// pi(theta) = prod_k pi_k(theta_[k]) where theta_[k] is the k-th consecutive block of theta
/// (of size parts[k].dim()); satisfies Prior. Parts are held by value in a std::tuple, so every
/// call is resolved at compile time.
///
/// Sampling draws the parts in order from the same stream, so it consumes the sum of the parts'
/// uniforms (reported by `uniforms_per_sample()` when every part reports it).
/// \code
/// IndependentProduct prior(BoxUniform({0, 0}, {1, 1}), LogUniform(0.1, 10),
///                          Gaussian::diagonal(Vector<double>::Zero(2), Vector<double>::Ones(2)));
/// // prior.dim() == 5
/// \endcode
/// \tparam Parts types satisfying Prior.
template <Prior... Parts>
class IndependentProduct {
    static_assert(sizeof...(Parts) >= 1, "IndependentProduct needs at least one part");

public:
    /// Number of parts.
    static constexpr std::size_t part_count = sizeof...(Parts);

    explicit IndependentProduct(Parts... parts) : m_parts(std::move(parts)...) {
        std::size_t k = 0;
        m_offsets[0] = 0;
        std::apply(
            [&](const auto&... part) {
                ((m_offsets[k + 1] = m_offsets[k] + static_cast<Index>(part.dim()), ++k), ...);
            },
            m_parts);
    }

    [[nodiscard]] Index dim() const { return m_offsets[part_count]; }
    /// Offset of part K's block in theta.
    [[nodiscard]] Index offset(std::size_t k) const { return m_offsets.at(k); }
    /// Part K.
    template <std::size_t K>
    [[nodiscard]] const auto& part() const {
        return std::get<K>(m_parts);
    }

    /// Sum of the parts' uniforms per draw (available when every part reports it).
    [[nodiscard]] Index uniforms_per_sample() const requires(FixedDrawPrior<Parts>&&...) {
        return std::apply(
            [](const auto&... part) { return (Index{0} + ... + part.uniforms_per_sample()); },
            m_parts);
    }

    /// One draw, parts in order from the same stream. \throws on a size mismatch.
    void sample(RandomStream& rng, VectorRef<double> theta) const {
        require(theta.size() == dim(), "IndependentProduct::sample: theta has ", theta.size(),
                " entries, expected ", dim());
        for_each_part([&](const auto& part, Index offset) {
            part.sample(rng, theta.segment(offset, part.dim()));
            return true;
        });
    }

    /// Sum of the parts' log densities; -infinity as soon as one block is outside its support.
    [[nodiscard]] double log_density(const ConstVectorRef<double>& theta) const {
        check_size(theta);
        double total = 0.0;
        for_each_part([&](const auto& part, Index offset) {
            total += part.log_density(theta.segment(offset, part.dim()));
            return total > -std::numeric_limits<double>::infinity();
        });
        return total;
    }

    /// Every block in its part's support. \throws on a size mismatch.
    [[nodiscard]] bool in_support(const ConstVectorRef<double>& theta) const {
        check_size(theta);
        bool inside = true;
        for_each_part([&](const auto& part, Index offset) {
            inside = part.in_support(theta.segment(offset, part.dim()));
            return inside;
        });
        return inside;
    }

private:
    void check_size(const ConstVectorRef<double>& theta) const {
        require(theta.size() == dim(), "IndependentProduct: theta has ", theta.size(),
                " entries, expected ", dim());
    }

    // Calls f(part, offset) in order while it returns true.
    template <class F>
    void for_each_part(F&& f) const {
        std::size_t k = 0;
        std::apply([&](const auto&... part) { (void)((f(part, m_offsets[k++])) && ...); }, m_parts);
    }

    std::tuple<Parts...> m_parts;
    std::array<Index, part_count + 1> m_offsets{};
};

template <class... Parts>
IndependentProduct(Parts...) -> IndependentProduct<Parts...>;

}  // namespace mlsbi::distributions
