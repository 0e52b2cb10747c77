// SPDX-License-Identifier: MIT
/// \file
/// \brief Runaway detection for training: the checks that tell an MLMC loss running off to minus
/// infinity, or a held-out criterion that has left its best, from honest progress.
#pragma once

#include <cmath>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "mlsbi/core/errors.hpp"

namespace mlsbi::training {

/// Default of TrainingOptions::runaway_margin (nats per sample). A held-out mean NLL that rises
/// by one nat above its best means the expected KL to the data grew by one nat: no noise of a
/// held-out estimate on tens of samples or more explains that, so training has left the honest
/// regime (over-fitting or an MLMC runaway).
inline constexpr double default_runaway_margin = 1.0;

/// Default of TrainingOptions::runaway_gap (nats). See mlmc_runaway.
inline constexpr double default_runaway_gap = 10.0;

/// The consistency check of an MLMC loss (Hikida et al. 2025, Eq. of l_MLMC) on its term
/// values h_0, zeta_1^+, zeta_1^-, ..., zeta_L^+, zeta_L^- (the TrainingLoss order).
///
/// For every level l >= 1, -zeta_l^- = mean f_{l-1} on level l's coarse samples and the level
/// below's own estimate of E[f_{l-1}] (h_0 for l = 1, zeta_{l-1}^+ for l >= 2) estimate the SAME
/// expectation on independent samples. An honest model keeps them within their standard errors.
/// The runaway of a flexible estimator with finite pairs works precisely by pushing density away
/// from the coarse samples of the pairs only, so -zeta_l^- grows without bound while the level
/// below's estimate stays put. The check fires when the pair estimate exceeds the other by more
/// than `gap` nats: a bound derived from the data, not from the loss's scale (the run
/// reached -2.4e6 while the cross-entropy it estimates is O(1)).
/// \return why, or nothing when consistent (or when the loss has a single term).
[[nodiscard]] inline std::optional<std::string> mlmc_runaway(const std::vector<double>& terms,
                                                             double gap) {
    if (terms.size() < 3 || terms.size() % 2 == 0 || !std::isfinite(gap)) return std::nullopt;
    const std::size_t levels = (terms.size() + 1) / 2;
    for (std::size_t l = 1; l < levels; ++l) {
        const double coarse_on_pairs = -terms[2 * l];
        const double below = l == 1 ? terms[0] : terms[2 * l - 3];
        if (coarse_on_pairs - below > gap)
            return message("level ", l, ": mean f_", l - 1, " on the seed-matched pairs (",
                           coarse_on_pairs, ") exceeds its estimate from level ", l - 1, " (",
                           below, ") by more than ", gap,
                           " nats; the corrections are running away");
    }
    return std::nullopt;
}

/// The held-out check: fires when `value` is more than `margin` above `best` (both finite).
[[nodiscard]] inline std::optional<std::string> validation_runaway(double value, double best,
                                                                   double margin) {
    if (!std::isfinite(best) || !std::isfinite(margin) || !(value > best + margin))
        return std::nullopt;
    return message("validation loss ", value, " rose more than ", margin,
                   " above its best (", best, ")");
}

}  // namespace mlsbi::training
