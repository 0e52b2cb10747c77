// SPDX-License-Identifier: MIT
// Tests for sbi/ (Nle, Npe, LikelihoodPosterior, DirectPosterior) and inference/posterior.hpp:
// the Posterior concept, dimensions inferred from the data, one master seed with independent
// overrides, appending simulations, the single-level special case, errors before training,
// low acceptance reported as a status, and (slow) recovery of a linear-Gaussian posterior.
#include <catch2/catch.hpp>
#include <cmath>
#include <stdexcept>

#include "mlsbi/distributions/box_uniform.hpp"
#include "mlsbi/flows/diagonal_gaussian.hpp"
#include "mlsbi/inference/posterior.hpp"
#include "mlsbi/rng/normal.hpp"
#include "mlsbi/sbi.hpp"
#include "mlsbi/simulators/function_level.hpp"

using namespace mlsbi;

namespace {

using Gaussian = flows::DiagonalGaussian<double>;

// x = (theta + s z_1, theta - s z_2) at level 1; level 0 adds a bias of 0.1 (same z: coupled).
template <int level>
void shifted(const ConstVectorRef<double>& theta, RandomStream& rng, VectorRef<double> x) {
    const double z1 = standard_normal(rng), z2 = standard_normal(rng);
    const double bias = level == 0 ? 0.1 : 0.0;
    x(0) = theta(0) + bias + 0.3 * z1;
    x(1) = theta(0) + bias - 0.3 * z2;
}

auto two_level() {
    return simulators::MultilevelSimulator(simulators::make_level(2, shifted<0>),
                                           simulators::make_level(2, shifted<1>));
}

const distributions::BoxUniform prior({-2.0}, {2.0});

sbi::Options<Gaussian> small(std::uint64_t seed) {
    sbi::Options<Gaussian> options{.seed = seed};
    options.density.hidden = {8};
    return options;
}

const training::MlmcTrainingOptions few_epochs{.training = {.max_epochs = 3, .progress = false}};
const inference::NleSamplingOptions short_chains{.chains = 2, .warmup = 10, .sir_candidates = 50};

}  // namespace

TEST_CASE("Front-end posteriors satisfy the Posterior concept", "[sbi][posterior]") {
    using Estimator = flows::ConditionalEstimator<Gaussian>;
    using P = distributions::BoxUniform;
    STATIC_REQUIRE(inference::Posterior<sbi::LikelihoodPosterior<Estimator, P>>);
    STATIC_REQUIRE(inference::Posterior<sbi::DirectPosterior<Estimator, P>>);
    STATIC_REQUIRE(inference::Posterior<inference::NlePosterior<Estimator, P>>);
    // The older NpePosterior::sample returns NpeSamples (and throws); DirectPosterior wraps it.
    STATIC_REQUIRE_FALSE(inference::Posterior<inference::NpePosterior<Estimator, P>>);
    STATIC_REQUIRE_FALSE(inference::Posterior<Estimator>);
}

TEST_CASE("Nle and Npe infer the estimator's dimensions from the data", "[sbi]") {
    auto nle = sbi::Nle<Gaussian, distributions::BoxUniform>(prior, small(1));
    nle.simulate(two_level(), {60, 20}).train(few_epochs);
    CHECK(nle.level_count() == 2);
    CHECK(nle.estimator().input_dim() == 2);    // y = x
    CHECK(nle.estimator().context_dim() == 1);  // c = theta

    auto npe = sbi::make_npe<Gaussian>(prior, small(1));
    npe.simulate(two_level(), {60, 20}).train(few_epochs);
    CHECK(npe.estimator().input_dim() == 1);    // y = theta
    CHECK(npe.estimator().context_dim() == 2);  // c = x
}

TEST_CASE("One master seed fixes everything; each override changes only its part", "[sbi]") {
    const Vector<double> x_o{{0.4, 0.6}};
    auto run = [&](sbi::Options<Gaussian> options) {
        auto nle = sbi::make_nle<Gaussian>(prior, options);
        nle.simulate(two_level(), {60, 20}).train(few_epochs);
        const auto draws = nle.build_posterior(x_o, short_chains).sample(40);
        return std::pair{nle.estimator().parameters(), draws.samples};
    };
    const auto [weights, draws] = run(small(5));
    const auto [weights_again, draws_again] = run(small(5));
    CHECK(weights == weights_again);
    CHECK(draws == draws_again);
    CHECK(draws.cols() == 40);

    auto other_sampling = small(5);
    other_sampling.sampling_seed = 123;
    const auto [weights_s, draws_s] = run(other_sampling);
    CHECK(weights_s == weights);  // network, data and training untouched
    CHECK(draws_s != draws);

    auto other_network = small(5);
    other_network.network_seed = 123;
    CHECK(run(other_network).first != weights);
    CHECK(run(small(6)).first != weights);
}

TEST_CASE("simulate appends fresh seed-matched samples; mismatches are rejected", "[sbi]") {
    auto npe = sbi::make_npe<Gaussian>(prior, small(2));
    npe.simulate(two_level(), {30, 10});
    const Matrix<double> first = npe.data().levels[1].theta;
    npe.simulate(two_level(), {30, 10});
    const auto& level = npe.data().levels[1];
    REQUIRE(level.size() == 20);
    CHECK(level.theta.leftCols(10) == first);
    CHECK(level.theta.rightCols(10) != first);  // round 1 has its own seed
    CHECK(level.seeds.size() == 20);
    CHECK(level.x_coarse.cols() == 20);
    CHECK(npe.data().reports[1].kept == 20);
    // A one-level batch cannot join two-level data.
    CHECK_THROWS_AS(npe.append_simulations(Matrix<double>::Zero(1, 5), Matrix<double>::Zero(2, 5)),
                    std::invalid_argument);
}

TEST_CASE("A budget lets the planner choose the samples per level", "[sbi][allocation]") {
    // Nominal costs 1 and 10: the planner works in these units, so the test is deterministic.
    const auto costly = simulators::MultilevelSimulator(
        simulators::make_level(2, shifted<0>, 1.0), simulators::make_level(2, shifted<1>, 10.0));
    training::PlanningOptions planning;
    planning.pilot.samples_per_level = 16;
    planning.pilot.training.max_epochs = 20;
    const sbi::Budget budget{2000};
    auto npe = sbi::make_npe<Gaussian>(prior, small(4));
    npe.simulate(costly, budget, planning);
    const training::Plan& plan = npe.plan();
    REQUIRE(npe.level_count() == plan.levels.size());
    for (std::size_t l = 0; l < plan.levels.size(); ++l)
        CHECK(npe.data().levels[l].size() == plan.levels[l].samples);
    CHECK(plan.total_cost <= budget.cost);
    CHECK_FALSE(plan.reasons.empty());
    // The pilot and the spending are kept: pilot cost + added cost, within the budget.
    CHECK(npe.pilot().samples_per_level == 16);
    CHECK(npe.pilot().statistics.cost.size() == 2);
    CHECK(npe.spent() >= npe.pilot().total_cost);
    CHECK(npe.spent() <= budget.cost);
    // The same master seed plans and simulates the same run.
    auto again = sbi::make_npe<Gaussian>(prior, small(4));
    again.simulate(costly, budget, planning);
    CHECK(again.data().levels.back().x_fine == npe.data().levels.back().x_fine);
    // A plan is for a fresh run, and the pilot's seed belongs to the front end.
    CHECK_THROWS_AS(npe.simulate(costly, budget, planning), std::logic_error);
    auto seeded = sbi::make_npe<Gaussian>(prior, small(4));
    planning.pilot.seed = 3;
    CHECK_THROWS_AS(seeded.simulate(costly, budget, planning), std::invalid_argument);
    CHECK_THROWS_AS(seeded.plan(), std::logic_error);
    CHECK_THROWS_AS(seeded.pilot(), std::logic_error);
    CHECK_THROWS_AS(seeded.spent(), std::logic_error);
}

TEST_CASE("A braced sample count is a sample count, never a budget", "[sbi][allocation]") {
    // One level: simulate(simulator, {n}) must run n samples (a Budget needs its own type).
    const auto one = simulators::MultilevelSimulator(simulators::make_level(2, shifted<1>, 10.0));
    auto nle = sbi::make_nle<Gaussian>(prior, small(4));
    nle.simulate(one, {500});
    REQUIRE(nle.level_count() == 1);
    CHECK(nle.data().levels[0].size() == 500);
    CHECK_THROWS_AS(nle.plan(), std::logic_error);
    auto bad = sbi::make_nle<Gaussian>(prior, small(4));
    CHECK_THROWS_WITH(bad.simulate(one, sbi::Budget{-1}),
                      Catch::Contains("budget must be positive"));
}

TEST_CASE("Single-level data train with the early-stopped MC recipe", "[sbi]") {
    RandomStream rng(9);
    Matrix<double> theta(1, 200), x(2, 200);
    for (Index i = 0; i < 200; ++i) {
        theta(0, i) = -2 + 4 * rng.uniform();
        x(0, i) = theta(0, i) + 0.3 * standard_normal(rng);
        x(1, i) = theta(0, i) + 0.3 * standard_normal(rng);
    }
    auto npe = sbi::make_npe<Gaussian>(prior, small(3));
    training::BaselineOptions options;
    options.training.max_epochs = 5;
    options.training.progress = false;
    const auto& summary = npe.append_simulations(theta, x).train_single_level(options);
    CHECK(npe.level_count() == 1);
    CHECK(summary.epochs == 5);
    CHECK(summary.validation_loss.size() == 5);                // the MC recipe's held-out 10%
    CHECK_THROWS_AS(npe.train(few_epochs), std::logic_error);  // MLMC needs two levels
}

TEST_CASE("Front ends explain misuse before training", "[sbi]") {
    auto nle = sbi::make_nle<Gaussian>(prior, small(4));
    CHECK_THROWS_AS(nle.train(), std::logic_error);
    CHECK_THROWS_AS(nle.estimator(), std::logic_error);
    CHECK_THROWS_AS(nle.build_posterior(Vector<double>{{0.0, 0.0}}), std::logic_error);
    // theta of the wrong dimension for the prior
    CHECK_THROWS_AS(nle.append_simulations(Matrix<double>::Zero(2, 5), Matrix<double>::Zero(2, 5)),
                    std::invalid_argument);
    nle.simulate(two_level(), {30, 10}).train(few_epochs);
    // x_o must have the simulator's output dimension
    CHECK_THROWS_AS(nle.build_posterior(Vector<double>{{0.0}}), std::invalid_argument);
}

TEST_CASE("DirectPosterior reports collapsing acceptance as a status", "[sbi][npe]") {
    // Trained on theta near 10 while the prior is [-2, 2]: nearly every draw leaks.
    RandomStream rng(11);
    Matrix<double> theta(1, 100), x(2, 100);
    for (Index i = 0; i < 100; ++i) {
        theta(0, i) = 10 + 0.1 * standard_normal(rng);
        x(0, i) = rng.uniform();
        x(1, i) = rng.uniform();
    }
    auto npe = sbi::make_npe<Gaussian>(prior, small(5));
    training::BaselineOptions options;
    options.training.max_epochs = 3;
    options.training.progress = false;
    npe.append_simulations(theta, x).train_single_level(options);
    // The estimator is z-scored on theta, so q(theta | x) sits near 10 +- a few tenths.
    const auto posterior =
        npe.build_posterior(Vector<double>{{0.5, 0.5}}, {.batch_size = 500, .min_proposals = 1000});
    inference::PosteriorSamples draws;
    REQUIRE_NOTHROW(draws = posterior.sample(100));
    CHECK(draws.status == inference::SamplingStatus::low_acceptance);
    CHECK(draws.size() == 0);
    CHECK(draws.acceptance_rate < 1e-3);
    CHECK(draws.proposed >= 1000);
    CHECK_FALSE(draws.message.empty());
}

TEST_CASE("NLE and NPE front ends recover a linear-Gaussian posterior", "[sbi][slow]") {
    // x = (theta + 0.3 z_1, theta - 0.3 z_2) at the fine level; flat prior on [-2, 2]: the
    // posterior given x_o is N(mean(x_o), 0.3^2 / 2) (truncation negligible at x_o ~ 0.5).
    const Vector<double> x_o{{0.4, 0.6}};
    const double sd = 0.3 / std::sqrt(2.0);
    const training::MlmcTrainingOptions training{
        .training = {.max_epochs = 300, .adam = {.learning_rate = 1e-2}, .progress = false}};

    auto nle = sbi::make_nle<Gaussian>(prior, small(7));
    nle.simulate(two_level(), {2000, 200}).train(training);
    const auto nle_draws = nle.build_posterior(x_o).sample(2000);
    CHECK(nle_draws.ok());
    REQUIRE(nle_draws.mcmc.has_value());
    CHECK(nle_draws.mcmc->max_rhat() < 1.05);
    // Tolerances: a few Monte Carlo standard errors (ESS ~ hundreds) plus the estimator's error.
    CHECK(std::abs(nle_draws.samples.mean() - 0.5) < 0.1);
    const double nle_sd =
        std::sqrt((nle_draws.samples.array() - nle_draws.samples.mean()).square().mean());
    CHECK(nle_sd == Approx(sd).epsilon(0.3));

    auto npe = sbi::make_npe<Gaussian>(prior, small(7));
    npe.simulate(two_level(), {2000, 200}).train(training);
    const auto npe_draws = npe.build_posterior(x_o).sample(2000);
    CHECK(npe_draws.ok());
    CHECK(npe_draws.acceptance_rate > 0.99);
    CHECK(std::abs(npe_draws.samples.mean() - 0.5) < 0.1);
    const double npe_sd =
        std::sqrt((npe_draws.samples.array() - npe_draws.samples.mean()).square().mean());
    CHECK(npe_sd == Approx(sd).epsilon(0.3));
}

namespace {
// The mean of x's two entries: a fixed summary statistic of the NPE context.
struct MeanOfX {
    void operator()(const ConstMatrixRef<double>& x, MatrixRef<double> out) const {
        out.row(0) = 0.5 * (x.row(0) + x.row(1));
    }
};
using MeanEmbedding = flows::FunctionEmbedding<double, MeanOfX>;
}  // namespace

TEST_CASE("A front end takes a context embedding and checks it against the data", "[sbi]") {
    sbi::Options<Gaussian, MeanEmbedding> options;
    options.seed = 3;
    options.density.hidden = {8};
    options.embedding.input_dim = 2;
    options.embedding.output_dim = 1;
    options.embedding.name = "mean";
    auto npe = sbi::make_npe(prior, options);
    npe.simulate(two_level(), {60, 20}).train(few_epochs);
    // The density sees the 1-D summary; the estimator takes the raw 2-D x.
    CHECK(npe.estimator().density().context_dim() == 1);
    CHECK(npe.estimator().context_dim() == 2);
    const auto draws = npe.build_posterior(Vector<double>::Constant(2, 0.5)).sample(50, 1);
    CHECK(draws.samples.cols() == 50);

    options.embedding.input_dim = 3;  // does not match x
    auto wrong = sbi::make_npe(prior, options);
    wrong.simulate(two_level(), {60, 20});
    CHECK_THROWS_WITH(wrong.train(few_epochs),
                      Catch::Contains("embedding takes 3 inputs but x has dimension 2"));
}

TEST_CASE("Transfer learning runs through the front end", "[sbi]") {
    RandomStream rng(4);
    Matrix<double> theta_low(1, 120), x_low(2, 120);
    for (Index i = 0; i < 120; ++i) {
        theta_low(0, i) = -2 + 4 * rng.uniform();
        x_low(0, i) = theta_low(0, i) + 0.1 + 0.3 * standard_normal(rng);
        x_low(1, i) = theta_low(0, i) + 0.1 - 0.3 * standard_normal(rng);
    }
    auto npe = sbi::make_npe<Gaussian>(prior, small(5));
    const auto one = simulators::MultilevelSimulator(simulators::make_level(2, shifted<1>));
    npe.simulate(one, {40});
    training::TransferOptions options;
    options.pretraining.training.max_epochs = 5;
    options.fine_tuning.training.max_epochs = 4;
    options.pretraining.training.progress = options.fine_tuning.training.progress = false;
    const auto summary = npe.train_transfer(theta_low, x_low, options);
    CHECK(summary.pretraining.epochs >= 1);
    CHECK(summary.fine_tuning.epochs >= 1);
    CHECK(npe.training_summary().epochs == summary.fine_tuning.epochs);
    CHECK_THROWS_AS(npe.train_transfer(theta_low, x_low.topRows(1), options),
                    std::invalid_argument);
}

TEST_CASE("The front end keeps what the robust recipe did, and only after it", "[sbi]") {
    auto nle = sbi::make_nle<Gaussian>(prior, small(6));
    nle.simulate(two_level(), {120, 30});
    CHECK_FALSE(nle.robust_summary().has_value());
    training::MlmcTrainingOptions robust;
    robust.training.max_epochs = 4;
    robust.training.progress = false;
    robust.robust.pretraining_epochs = 4;
    const auto& summary = nle.train(robust);
    REQUIRE(nle.robust_summary().has_value());
    const auto& phases = *nle.robust_summary();
    CHECK(summary.epochs == phases.multilevel.epochs);
    CHECK(phases.warm_start.epochs >= 1);
    CHECK(std::isfinite(phases.criterion_multilevel));
    CHECK_THAT(summary.message,
               Catch::Contains(std::string("kept the ") + training::to_string(phases.choice)));
    auto paper = training::MlmcTrainingOptions::paper();
    paper.training.max_epochs = 3;
    paper.training.progress = false;
    nle.train(paper);  // another recipe: nothing to report
    CHECK_FALSE(nle.robust_summary().has_value());
}
