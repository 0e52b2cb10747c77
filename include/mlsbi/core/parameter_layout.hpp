// SPDX-License-Identifier: MIT
/// \file
/// \brief Hands out contiguous blocks of one flat parameter vector to the parts of a model.
#pragma once

#include "mlsbi/core/errors.hpp"
#include "mlsbi/core/types.hpp"

namespace mlsbi {

/// Allocator of offsets into a model's single flat parameter vector.
///
/// Every differentiable part receives the layout at construction, reserves its blocks and keeps
/// the returned offsets; at call time it gets the base pointer of the whole vector (and of the
/// whole gradient) and reads its own blocks. Nesting is therefore free: an MLP reserves its
/// layers' blocks in order, a flow reserves its transforms' blocks in order, and the model owns
/// one `Vector` of `size()` entries. Optimizers, clipping and projection see only that vector.
class ParameterLayout {
public:
    /// Reserves `count` scalars and returns the offset of the first.
    /// \throws std::invalid_argument if `count` is negative.
    Index reserve(Index count) {
        require(count >= 0, "ParameterLayout::reserve: count must be >= 0, got ", count);
        const Index offset = m_size;
        m_size += count;
        return offset;
    }

    /// Total number of scalars reserved so far.
    [[nodiscard]] Index size() const { return m_size; }

private:
    Index m_size = 0;
};

}  // namespace mlsbi
