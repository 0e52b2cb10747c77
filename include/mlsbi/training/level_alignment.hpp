// SPDX-License-Identifier: MIT
/// \file
/// \brief Moment alignment of the cheaper levels: each output dimension of every level l < L
/// mapped affinely, through the seed-matched pairs, onto the top level's location and scale
/// before ML training.
///
/// Why: a cheap simulator is often wrong by a location and scale that the top level pins down
/// (a series inverse CDF that stretches every draw, a gravity-only power spectrum with the wrong
/// amplitude). Without alignment, level 0 teaches the network the wrong map from theta to x and
/// the corrections must undo it from the few seed-matched pairs. With it, the network learns the
/// shape of the cheap level in the top level's units and the corrections carry only what an
/// affine map cannot fix. Both appearances of G_l in the telescoping sum (level l's own samples
/// and the coarse members of level l+1's pairs) get the same map, so the MLMC estimate of the
/// top level's loss keeps its telescoping form; the top level is never changed, so held-out
/// criteria and the trained model see G_L's outputs as simulated. The paper's code
/// (github.com/yugahikida/multilevel-sbi) z-scores every tensor by its own statistics, which
/// aligns the moments too but maps the two appearances of a level differently.
#pragma once

#include <utility>
#include <vector>

#include "mlsbi/core/errors.hpp"
#include "mlsbi/core/types.hpp"
#include "mlsbi/losses/loss_terms.hpp"
#include "mlsbi/simulators/multilevel_dataset.hpp"

namespace mlsbi::training {

/// The per-dimension affine map of one level, x -> shift + scale * x.
struct LevelMap {
    Vector<double> shift, scale;

    /// Applies the map to every column of `x` (d x n) in place.
    void apply(Matrix<double>& x) const {
        if (x.size() == 0) return;
        x = ((x.array().colwise() * scale.array()).colwise() + shift.array()).matrix();
    }
};

/// The maps align_levels applied: maps[l] for l = 0..L-1 (the top level is the identity).
struct LevelAlignment {
    std::vector<LevelMap> maps;
};

namespace detail {

// Mean and sample sd of each row of x (d x n, n >= 2).
inline void row_moments(const Matrix<double>& x, Vector<double>& mean, Vector<double>& sd) {
    mean = x.rowwise().mean();
    sd = ((x.colwise() - mean).array().square().matrix().rowwise().sum() / double(x.cols() - 1))
             .array()
             .sqrt()
             .matrix();
}

}  // namespace detail

/// Aligns `data` in place: level l < L's outputs (its x_fine and the x_coarse of level l+1's
/// pairs, both G_l) are mapped per dimension by map_l = map_{l+1} o a_l, where a_l is the affine
/// map that gives the coarse members of level l+1's pairs the mean and sd of their fine members
/// (map_L = identity). The map comes from the seed-matched pairs because there the two levels
/// see the same inputs: when G_l is nearly G_{l+1}, both moments move together and a_l stays
/// near the identity whatever the sampling noise of a few top-level runs (matching level l's
/// own moments to the top level's instead injected that noise into every cheap sample: up to
/// 2.5x the expected KL on the well-coupled scoreboard problems, docs/robust_training.md). A
/// dimension that is constant in either member is only shifted; a level with fewer than 2
/// pairs above it keeps a_l = identity.
/// \throws std::invalid_argument if the levels' output dimensions differ or an output is not
///         finite.
inline LevelAlignment align_levels(simulators::MultilevelDataset& data) {
    LevelAlignment out;
    const std::size_t count = data.levels.size();
    if (count < 2) return out;
    const Index d = data.levels.back().x_fine.rows();
    for (std::size_t l = 0; l < count; ++l) {
        const auto& level = data.levels[l];
        require(level.x_fine.rows() == d && (l == 0 || level.x_coarse.rows() == d),
                "align_levels: level ", l, " has outputs of dimension ", level.x_fine.rows(),
                ", the top level ", d);
        require(level.x_fine.allFinite() && (l == 0 || level.x_coarse.allFinite()),
                "align_levels: level ", l, " has non-finite outputs");
    }
    // Every map from the data as given, then applied.
    out.maps.assign(count - 1, LevelMap{Vector<double>::Zero(d), Vector<double>::Ones(d)});
    LevelMap above{Vector<double>::Zero(d), Vector<double>::Ones(d)};  // map_{l+1}
    for (std::size_t l = count - 1; l-- > 0;) {
        const auto& pairs = data.levels[l + 1];
        LevelMap pair_map{Vector<double>::Zero(d), Vector<double>::Ones(d)};  // a_l
        if (pairs.x_fine.cols() >= 2) {
            Vector<double> fine_mean, fine_sd, coarse_mean, coarse_sd;
            detail::row_moments(pairs.x_fine, fine_mean, fine_sd);
            detail::row_moments(pairs.x_coarse, coarse_mean, coarse_sd);
            for (Index k = 0; k < d; ++k) {
                pair_map.scale(k) =
                    coarse_sd(k) > 0 && fine_sd(k) > 0 ? fine_sd(k) / coarse_sd(k) : 1.0;
                pair_map.shift(k) = fine_mean(k) - pair_map.scale(k) * coarse_mean(k);
            }
        }
        LevelMap& map = out.maps[l];
        map.scale = above.scale.cwiseProduct(pair_map.scale);
        map.shift = above.shift + above.scale.cwiseProduct(pair_map.shift);
        above = map;
    }
    for (std::size_t l = 0; l + 1 < count; ++l) {
        out.maps[l].apply(data.levels[l].x_fine);
        out.maps[l].apply(data.levels[l + 1].x_coarse);
    }
    return out;
}

/// A copy of `data` (theta, outputs, and seeds and generation reports when it has them) with
/// the cheaper levels aligned to the top one (align_levels).
/// \throws std::invalid_argument as align_levels.
template <losses::MultilevelData Data>
[[nodiscard]] simulators::MultilevelDataset aligned_copy(const Data& data) {
    simulators::MultilevelDataset out;
    for (std::size_t l = 0; l < data.levels.size(); ++l) {
        const auto& level = data.levels[l];
        simulators::LevelData a;
        a.theta = level.theta;
        a.x_fine = level.x_fine;
        if (l > 0) a.x_coarse = level.x_coarse;
        if constexpr (requires { level.seeds.size(); }) a.seeds = level.seeds;
        out.levels.push_back(std::move(a));
    }
    if constexpr (requires { out.reports = data.reports; }) out.reports = data.reports;
    (void)align_levels(out);
    return out;
}

/// Applies the maps of an earlier align_levels to another dataset with the same levels (e.g.
/// held-out pairs, which must be scored in the units the model was trained in).
/// \throws std::invalid_argument if the level counts or dimensions differ.
inline void apply_alignment(const LevelAlignment& alignment, simulators::MultilevelDataset& data) {
    if (alignment.maps.empty()) return;
    require(alignment.maps.size() + 1 == data.levels.size(),
            "apply_alignment: ", alignment.maps.size(), " maps for ", data.levels.size(),
            " levels");
    for (std::size_t l = 0; l < alignment.maps.size(); ++l) {
        const LevelMap& map = alignment.maps[l];
        require(data.levels[l].x_fine.rows() == map.scale.size(), "apply_alignment: level ", l,
                " has outputs of dimension ", data.levels[l].x_fine.rows(), ", the map ",
                map.scale.size());
        map.apply(data.levels[l].x_fine);
        map.apply(data.levels[l + 1].x_coarse);
    }
}

}  // namespace mlsbi::training
