// SPDX-License-Identifier: MIT
// The z-scoring of the paper's public code (github.com/yugahikida/multilevel-sbi, its
// MLMC_standardize and MC_standardize), for reproducing its numbers: EVERY training tensor is
// z-scored by its OWN mean and sd (level 0's theta and x, each correction level's theta, x_{l-1}
// and x_l, a baseline's training set), and the trained model is used with the statistics of the
// top tensor. For multilevel data this moment-matches each level's outputs to the top level's,
// which is not in the paper's text. The library z-scores everything with the top level's
// statistics instead (training::fit_standardization).
#pragma once

#include <utility>

#include "mlsbi/core/types.hpp"
#include "mlsbi/flows/standardizer.hpp"
#include "mlsbi/simulators/multilevel_dataset.hpp"

namespace mlsbi::examples {

/// z-scores the rows of `data` (dim x n) in place by their own mean and sd; returns them.
inline flows::Standardizer<double> zscore_in_place(Matrix<double>& data) {
    flows::Standardizer<double> s;
    s.fit(data);
    Matrix<double> z;
    s.apply(data, z);
    data = std::move(z);
    return s;
}

/// The same statistics in float, for a float estimator's set_standardization.
[[nodiscard]] inline flows::Standardizer<float> to_float(const flows::Standardizer<double>& d) {
    flows::Standardizer<float> f(d.dim());
    f.set(d.mean().cast<float>(), d.scale().cast<float>());
    return f;
}

/// The top tensor's statistics of x and theta, returned by zscore_each_tensor.
struct TopScaling {
    flows::Standardizer<double> x, theta;
};

/// `data` (dim x n) z-scored with fixed statistics (test data, with the top tensor's).
[[nodiscard]] inline Matrix<double> zscored(const flows::Standardizer<double>& s,
                                            const Matrix<double>& data) {
    Matrix<double> z;
    s.apply(data, z);
    return z;
}

/// The paper code's z-scoring of multilevel data, in place: theta, x_fine and x_coarse of every
/// level each by its own statistics. Returns the top level's statistics of x_fine and theta,
/// with which the paper evaluates and samples the trained model.
inline TopScaling zscore_each_tensor(simulators::MultilevelDataset& data) {
    flows::Standardizer<double> x_top, theta_top;
    for (auto& level : data.levels) {
        theta_top = zscore_in_place(level.theta);
        x_top = zscore_in_place(level.x_fine);
        if (level.x_coarse.size() > 0) (void)zscore_in_place(level.x_coarse);
    }
    return {x_top, theta_top};
}

}  // namespace mlsbi::examples
