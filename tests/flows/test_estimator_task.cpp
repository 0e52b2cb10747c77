// SPDX-License-Identifier: MIT
// Tests for flows/estimator_task.hpp: an estimator tagged for NPE cannot be used as a likelihood
// (compile time: NlePosterior rejects it; run time: a loss for the other task throws), the task
// is part of describe() and so of the model file, and untagged estimators behave as before.
#include <catch2/catch.hpp>
#include <sstream>
#include <stdexcept>
#include <string>

#include "mlsbi/distributions/box_uniform.hpp"
#include "mlsbi/flows/conditional_estimator.hpp"
#include "mlsbi/flows/diagonal_gaussian.hpp"
#include "mlsbi/inference/nle_posterior.hpp"
#include "mlsbi/inference/npe_posterior.hpp"
#include "mlsbi/io/estimator_file.hpp"
#include "mlsbi/losses/mc_loss.hpp"
#include "mlsbi/losses/mlmc_loss.hpp"
#include "mlsbi/simulators/multilevel_dataset.hpp"

using namespace mlsbi;

namespace {
using Gaussian = flows::DiagonalGaussian<double>;
using Untagged = flows::ConditionalEstimator<Gaussian>;
using Likelihood = flows::LikelihoodEstimator<Gaussian>;
using PosteriorEst = flows::PosteriorEstimator<Gaussian>;
using Box = distributions::BoxUniform;

template <class E>
constexpr bool nle_posterior_accepts = requires {
    typename inference::NlePosterior<E, Box>;
};
template <class E>
constexpr bool npe_posterior_accepts = requires {
    typename inference::NpePosterior<E, Box>;
};

Gaussian::Options one_by_one() {
    Gaussian::Options options;
    options.hidden = {4};
    return options;
}
}  // namespace

TEST_CASE("An NPE estimator cannot be used as a likelihood, nor the reverse", "[flows][task]") {
    STATIC_REQUIRE(flows::estimator_task<PosteriorEst>() == flows::EstimatorTask::posterior);
    STATIC_REQUIRE(flows::estimator_task<Untagged>() == flows::EstimatorTask::unspecified);
    STATIC_REQUIRE(nle_posterior_accepts<Likelihood>);
    STATIC_REQUIRE(nle_posterior_accepts<Untagged>);
    STATIC_REQUIRE_FALSE(nle_posterior_accepts<PosteriorEst>);
    STATIC_REQUIRE(npe_posterior_accepts<PosteriorEst>);
    STATIC_REQUIRE(npe_posterior_accepts<Untagged>);
    STATIC_REQUIRE_FALSE(npe_posterior_accepts<Likelihood>);
}

TEST_CASE("Losses reject an estimator tagged for the other task", "[flows][task]") {
    const PosteriorEst posterior(one_by_one(), 1);
    const Likelihood likelihood(one_by_one(), 1);
    const Matrix<double> theta = Matrix<double>::Random(1, 8);
    const Matrix<double> x = Matrix<double>::Random(1, 8);
    CHECK_THROWS_WITH(losses::McLoss<PosteriorEst>(posterior, theta, x, losses::Task::nle),
                      Catch::StartsWith("McLoss: a posterior estimator cannot be trained for "
                                        "task nle"));
    CHECK_NOTHROW(losses::McLoss<PosteriorEst>(posterior, theta, x, losses::Task::npe));
    CHECK_NOTHROW(losses::McLoss<Untagged>(Untagged(one_by_one(), 1), theta, x, losses::Task::npe));

    simulators::MultilevelDataset data;
    data.levels.resize(2);
    data.levels[0].theta = theta;
    data.levels[0].x_fine = x;
    data.levels[1].theta = theta;
    data.levels[1].x_fine = x;
    data.levels[1].x_coarse = x;
    CHECK_THROWS_WITH(losses::MlmcLoss<Likelihood>(likelihood, data, losses::Task::npe),
                      Catch::StartsWith("MlmcLoss: a likelihood estimator cannot be trained for "
                                        "task npe"));
    CHECK_NOTHROW(losses::MlmcLoss<Likelihood>(likelihood, data, losses::Task::nle));
}

TEST_CASE("The task is part of the model file", "[flows][task][io]") {
    const PosteriorEst posterior(one_by_one(), 2);
    CHECK_THAT(posterior.describe(), Catch::Contains("task=posterior"));
    CHECK_THAT(Untagged(one_by_one(), 2).describe(), !Catch::Contains("task="));
    std::stringstream file;
    io::save_estimator(posterior, file);
    Likelihood likelihood(one_by_one(), 3);
    CHECK_THROWS_AS(io::load_estimator(likelihood, file), std::invalid_argument);
    std::stringstream again;
    io::save_estimator(posterior, again);
    PosteriorEst loaded(one_by_one(), 3);
    io::load_estimator(loaded, again);
    CHECK(loaded.parameters() == posterior.parameters());
}
