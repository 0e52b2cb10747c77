// SPDX-License-Identifier: MIT
// Tests for losses/mlmc_loss.hpp and losses/mc_loss.hpp: the MLMC loss equals the hand-computed
// telescoping sum; every per-term gradient passes the finite-difference check (float and double,
// NLE and NPE, chunked); results are bit-identical for any thread count; mini-batch slices and
// shuffling keep the seed-matched pairs; per-level diagnostics; bad input gets clear errors.
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>

#include "mlsbi/flows/conditional_estimator.hpp"
#include "mlsbi/flows/diagonal_gaussian.hpp"
#include "mlsbi/losses.hpp"
#include "mlsbi/simulators/multilevel_dataset.hpp"
#include "mlsbi/testing/gradient_check.hpp"

using namespace mlsbi;
using losses::LossOptions;
using losses::McLoss;
using losses::MlmcLoss;
using losses::Task;

namespace {

// The dataset contract of simulators::MultilevelDataset, reduced to what the losses read.
struct Level {
    Matrix<double> theta;
    Matrix<double> x_fine;
    Matrix<double> x_coarse;
};
struct Data {
    std::vector<Level> levels;
};

// theta ~ U(-1, 1)^2; G_l(theta, u) = theta_0 + 0.5 theta_1 + (0.3 + 0.1 l) z + 0.05 l z^2 with
// the same z at every level (seed matching), z = 2u - 1 from one uniform per sample.
Data make_data(const std::vector<Index>& sizes, std::uint64_t seed) {
    Data data;
    auto g = [](const Matrix<double>& theta, Index j, double z, Index level) {
        return theta(0, j) + 0.5 * theta(1, j) + (0.3 + 0.1 * double(level)) * z +
               0.05 * double(level) * z * z;
    };
    for (std::size_t l = 0; l < sizes.size(); ++l) {
        Level level;
        const Index n = sizes[l];
        level.theta.resize(2, n);
        level.x_fine.resize(1, n);
        if (l > 0) level.x_coarse.resize(1, n);
        for (Index j = 0; j < n; ++j) {
            RandomStream rng(derive_seed(seed, l, static_cast<std::uint64_t>(j)));
            level.theta(0, j) = rng.uniform(-1, 1);
            level.theta(1, j) = rng.uniform(-1, 1);
            const double z = rng.uniform(-1, 1);
            level.x_fine(0, j) = g(level.theta, j, z, Index(l));
            if (l > 0) level.x_coarse(0, j) = g(level.theta, j, z, Index(l) - 1);
        }
        data.levels.push_back(std::move(level));
    }
    return data;
}

template <typename Scalar>
using Estimator = flows::ConditionalEstimator<flows::DiagonalGaussian<Scalar>>;

// NLE: q(x | theta), x 1-D, theta 2-D. NPE: q(theta | x).
template <typename Scalar>
Estimator<Scalar> make_estimator(Task task, std::uint64_t seed = 3) {
    typename flows::DiagonalGaussian<Scalar>::Options o;
    o.input_dim = task == Task::nle ? 1 : 2;
    o.context_dim = task == Task::nle ? 2 : 1;
    o.hidden = {6};
    o.activation = nn::Activation::tanh;
    Estimator<Scalar> est(o, seed);
    // Larger initial weights than the default so every term has a sizeable gradient.
    RandomStream rng(seed + 100);
    for (Index i = 0; i < est.parameter_count(); ++i)
        est.parameters()(i) = static_cast<Scalar>(rng.uniform(-0.8, 0.8));
    return est;
}

// Mean of -log q over (theta, x) for the task, by direct calls to the estimator.
template <typename Scalar>
double mean_nll(const Estimator<Scalar>& est, const Matrix<double>& theta, const Matrix<double>& x,
                Task task) {
    const Matrix<Scalar> t = theta.cast<Scalar>();
    const Matrix<Scalar> v = x.cast<Scalar>();
    const Vector<Scalar> lq = task == Task::nle ? est.log_prob(v, t) : est.log_prob(t, v);
    return -lq.template cast<double>().mean();
}

// Finite-difference check of every term gradient of `loss` at the estimator's parameters.
template <class Loss, typename Scalar>
void check_term_gradients(Loss& loss, Estimator<Scalar>& est) {
    Matrix<Scalar> grads(est.parameter_count(), loss.term_count());
    std::vector<double> terms;
    loss.evaluate(est, grads, terms);
    const Vector<Scalar> p0 = est.parameters();
    for (Index t = 0; t < loss.term_count(); ++t) {
        INFO("term " << loss.term_name(t));
        auto value = [&](const Vector<Scalar>& p) {
            est.parameters() = p;
            std::vector<double> v;
            loss.value(est, &v);
            return v[static_cast<std::size_t>(t)];
        };
        const Vector<Scalar> g = grads.col(t);
        const auto result = testing::check_gradient<Scalar>(value, p0, g);
        est.parameters() = p0;
        INFO(result.report());
        CHECK(result.passed);
    }
}

}  // namespace

TEMPLATE_TEST_CASE("MLMC loss equals the hand-computed telescoping sum", "[losses][mlmc]", float,
                   double) {
    using Scalar = TestType;
    const double tol = std::is_same_v<Scalar, double> ? 1e-12 : 1e-5;
    for (Task task : {Task::nle, Task::npe}) {
        INFO("task " << losses::to_string(task));
        const Data data = make_data({7, 4, 3}, 11);
        Estimator<Scalar> est = make_estimator<Scalar>(task);
        MlmcLoss<Estimator<Scalar>> loss(est, data, task, LossOptions{.chunk_size = 3});
        REQUIRE(loss.level_count() == 3);
        REQUIRE(loss.term_count() == 5);
        CHECK(loss.term_name(0) == "h_0");
        CHECK(loss.term_name(3) == "zeta_2^+");
        CHECK(loss.term_name(4) == "zeta_2^-");
        CHECK(loss.size(1) == 4);

        const auto& L = data.levels;
        const double h0 = mean_nll(est, L[0].theta, L[0].x_fine, task);
        const double z1p = mean_nll(est, L[1].theta, L[1].x_fine, task);
        const double z1m = -mean_nll(est, L[1].theta, L[1].x_coarse, task);
        const double z2p = mean_nll(est, L[2].theta, L[2].x_fine, task);
        const double z2m = -mean_nll(est, L[2].theta, L[2].x_coarse, task);
        const double expected = h0 + (z1p + z1m) + (z2p + z2m);

        Matrix<Scalar> grads(est.parameter_count(), 5);
        std::vector<double> terms;
        const double total = loss.evaluate(est, grads, terms);
        REQUIRE(terms.size() == 5);
        CHECK(terms[0] == Approx(h0).margin(tol));
        CHECK(terms[1] == Approx(z1p).margin(tol));
        CHECK(terms[2] == Approx(z1m).margin(tol));
        CHECK(terms[3] == Approx(z2p).margin(tol));
        CHECK(terms[4] == Approx(z2m).margin(tol));
        CHECK(total == Approx(expected).margin(tol));

        std::vector<double> value_terms;
        CHECK(loss.value(est, &value_terms) == Approx(expected).margin(tol));
        for (std::size_t t = 0; t < 5; ++t) CHECK(value_terms[t] == Approx(terms[t]).margin(tol));
    }
}

TEMPLATE_TEST_CASE("The control-variate MLMC loss weights its terms and keeps their gradients",
                   "[losses][mlmc]", float, double) {
    using Scalar = TestType;
    const double tol = std::is_same_v<Scalar, double> ? 1e-12 : 1e-5;
    for (Task task : {Task::nle, Task::npe}) {
        INFO("task " << losses::to_string(task));
        const Data data = make_data({7, 4, 3}, 11);
        Estimator<Scalar> est = make_estimator<Scalar>(task);
        const std::vector<double> beta = {0.5, 0.25};
        MlmcLoss<Estimator<Scalar>> plain(est, data, task, LossOptions{.chunk_size = 3});
        MlmcLoss<Estimator<Scalar>> weighted(est, data, task, LossOptions{.chunk_size = 3}, beta);
        Matrix<Scalar> g_plain(est.parameter_count(), 5), g_weighted(est.parameter_count(), 5);
        std::vector<double> t_plain, t_weighted;
        plain.evaluate(est, g_plain, t_plain);
        const double total = weighted.evaluate(est, g_weighted, t_weighted);
        // w_0 = beta_1 beta_2, w_1 = beta_2, w_2 = 1; minus terms also carry their beta_l.
        const std::vector<double> w = {0.125, 0.25, 0.25 * 0.5, 1.0, 0.25};
        double expected = 0;
        for (std::size_t t = 0; t < 5; ++t) {
            INFO("term " << t);
            CHECK(t_weighted[t] == Approx(w[t] * t_plain[t]).margin(tol));
            CHECK(std::abs(weighted.terms()[t].sign) == Approx(w[t]));
            const Matrix<double> diff = (g_weighted.col(Index(t)).template cast<double>() -
                                         w[t] * g_plain.col(Index(t)).template cast<double>());
            CHECK(diff.norm() <= 1e-4 * (1 + g_plain.col(Index(t)).template cast<double>().norm()));
            expected += w[t] * t_plain[t];
        }
        // The control-variate estimate of E[f_2]: mean f_2 - beta_2 (mean f_1 on the pairs -
        // (mean f_1 on level 1 - beta_1 (mean f_0 on level 1's pairs - mean f_0 on level 0))).
        const double e_f1 = t_plain[1] - beta[0] * (-t_plain[2] - t_plain[0]);
        const double e_f2 = t_plain[3] - beta[1] * (-t_plain[4] - e_f1);
        CHECK(total == Approx(expected).margin(tol));
        CHECK(total == Approx(e_f2).margin(tol));

        // Finite differences on every weighted term.
        check_term_gradients(weighted, est);

        // All weights 1 is the paper's loss, bit for bit.
        MlmcLoss<Estimator<Scalar>> ones(est, data, task, LossOptions{.chunk_size = 3}, {1.0, 1.0});
        Matrix<Scalar> g_ones(est.parameter_count(), 5);
        std::vector<double> t_ones;
        ones.evaluate(est, g_ones, t_ones);
        CHECK(t_ones == t_plain);
        CHECK(g_ones == g_plain);

        CHECK_THROWS_WITH((MlmcLoss<Estimator<Scalar>>(est, data, task, {}, {1.0})),
                          Catch::Contains("control_variate_weights has 1 entries"));
        CHECK_THROWS_WITH((MlmcLoss<Estimator<Scalar>>(est, data, task, {}, {1.0, -0.5})),
                          Catch::Contains("control_variate_weights[1] (level 2)"));
    }
}

TEMPLATE_TEST_CASE("Every MLMC term gradient matches finite differences", "[losses][mlmc]", float,
                   double) {
    using Scalar = TestType;
    for (Task task : {Task::nle, Task::npe}) {
        for (Index chunk : {Index(1), Index(4), Index(2048)}) {
            INFO("task " << losses::to_string(task) << ", chunk " << chunk);
            const Data data = make_data({9, 5, 1}, 5);  // n_2 = 1: a batch of one sample
            Estimator<Scalar> est = make_estimator<Scalar>(task, 8);
            MlmcLoss<Estimator<Scalar>> loss(est, data, task, LossOptions{.chunk_size = chunk});
            check_term_gradients(loss, est);
        }
    }
}

TEST_CASE("MLMC loss is bit-identical for any thread count", "[losses][mlmc]") {
    // 400 + 2 * 120 + 2 * 60 = 760 columns: above the size at which evaluation goes parallel
    // (256 columns besides the largest chunk), so 2 and 3 threads really split the chunks.
    const Data data = make_data({400, 120, 60}, 2);
    Estimator<float> est = make_estimator<float>(Task::nle);
    std::vector<Matrix<float>> gradients;
    std::vector<std::vector<double>> values;
    std::vector<double> sums;
    for (int threads : {1, 2, 3}) {
        INFO("threads " << threads);
        MlmcLoss<Estimator<float>> loss(est, data, Task::nle,
                                        LossOptions{.chunk_size = 16, .threads = threads});
        Matrix<float> g(est.parameter_count(), loss.term_count());
        std::vector<double> v;
        loss.evaluate(est, g, v);
        CHECK(loss.last_evaluation().tasks == 25 + 2 * 8 + 2 * 4);
#ifdef _OPENMP
        CHECK(loss.last_evaluation().threads == threads);
#endif
        gradients.push_back(g);
        values.push_back(v);
        sums.push_back(loss.value(est));
#ifdef _OPENMP
        CHECK(loss.last_evaluation().threads == threads);
#endif
    }
    for (std::size_t k = 1; k < gradients.size(); ++k) {
        CHECK(gradients[k] == gradients[0]);
        CHECK(values[k] == values[0]);
        CHECK(sums[k] == sums[0]);
    }
    // Below that size the evaluation stays on one thread (the diagnostic tells the paths apart).
    MlmcLoss<Estimator<float>> small(est, make_data({50, 13, 7}, 2), Task::nle,
                                     LossOptions{.chunk_size = 4, .threads = 2});
    CHECK(std::isfinite(small.value(est)));
    CHECK(small.last_evaluation().tasks == 13 + 2 * 4 + 2 * 2);
    CHECK(small.last_evaluation().threads == 1);
}

TEST_CASE("Level-stratified batches partition every level and shuffling keeps pairs",
          "[losses][mlmc]") {
    const Data data = make_data({40, 8, 4}, 9);
    Estimator<double> est = make_estimator<double>(Task::nle);
    MlmcLoss<Estimator<double>> loss(est, data, Task::nle, LossOptions{.chunk_size = 3});
    CHECK(loss.max_batches() == 4);
    Matrix<double> full(est.parameter_count(), 5), part(est.parameter_count(), 5);
    std::vector<double> full_terms, part_terms;
    const double total = loss.evaluate(est, full, full_terms);
    const auto before = loss.level_diagnostics(est);

    loss.shuffle(123);
    // Every batch has n_l / 4 samples of level l: the full-batch terms are the batch means.
    Matrix<double> sum = Matrix<double>::Zero(est.parameter_count(), 5);
    double batch_total = 0;
    for (Index b = 0; b < 4; ++b) {
        batch_total += loss.evaluate(est, part, part_terms, losses::BatchSlice{b, 4}) / 4;
        sum += part / 4;
    }
    CHECK(batch_total == Approx(total).epsilon(1e-12));
    CHECK((sum - full).norm() <= 1e-12 * full.norm());
    // The shuffle moved samples but kept each (x_fine, x_coarse, theta) triple together.
    const auto after = loss.level_diagnostics(est);
    for (std::size_t l = 0; l < 3; ++l) {
        CHECK(after[l].mean == Approx(before[l].mean).epsilon(1e-12));
        CHECK(after[l].variance == Approx(before[l].variance).epsilon(1e-10));
        CHECK(after[l].correlation == Approx(before[l].correlation).epsilon(1e-10));
    }
    CHECK(loss.terms()[1].y != MlmcLoss<Estimator<double>>(est, data, Task::nle).terms()[1].y);
    CHECK_THROWS_WITH(loss.evaluate(est, part, part_terms, losses::BatchSlice{0, 5}),
                      Catch::Contains("smallest level has only 4"));
    CHECK_THROWS_WITH(loss.evaluate(est, part, part_terms, losses::BatchSlice{4, 4}),
                      Catch::Contains("not a valid slice"));
}

TEST_CASE("Per-level diagnostics of the loss differences", "[losses][mlmc]") {
    Data data = make_data({30, 20}, 4);
    Estimator<double> est = make_estimator<double>(Task::nle);
    SECTION("against a direct computation") {
        MlmcLoss<Estimator<double>> loss(est, data, Task::nle);
        const auto d = loss.level_diagnostics(est);
        REQUIRE(d.size() == 2);
        const Vector<double> f1 = -est.log_prob(data.levels[1].x_fine, data.levels[1].theta);
        const Vector<double> f0 = -est.log_prob(data.levels[1].x_coarse, data.levels[1].theta);
        const Vector<double> diff = f1 - f0;
        const double var = (diff.array() - diff.mean()).square().sum() / 19.0;
        CHECK(d[1].level == 1);
        CHECK(d[1].size == 20);
        CHECK(d[1].mean == Approx(diff.mean()).epsilon(1e-12));
        CHECK(d[1].variance == Approx(var).epsilon(1e-12));
        CHECK(d[1].variance_of_mean == Approx(var / 20).epsilon(1e-12));
        Eigen::Matrix<double, 2, Eigen::Dynamic> both(2, 20);
        both.row(0) = f1.transpose();
        both.row(1) = f0.transpose();
        const Eigen::Matrix2d centered_cov = (both.colwise() - both.rowwise().mean()) *
                                             (both.colwise() - both.rowwise().mean()).transpose() /
                                             19.0;
        CHECK(d[1].correlation ==
              Approx(centered_cov(0, 1) / std::sqrt(centered_cov(0, 0) * centered_cov(1, 1)))
                  .epsilon(1e-10));
        CHECK(d[0].correlation == 0.0);
        CHECK(d[0].variance == Approx(d[0].variance_fine));
        CHECK(d[1].correlation > 0.5);  // close levels: strongly correlated losses
    }
    SECTION("identical levels: zero difference, correlation 1") {
        data.levels[1].x_coarse = data.levels[1].x_fine;
        MlmcLoss<Estimator<double>> loss(est, data, Task::nle);
        const auto d = loss.level_diagnostics(est);
        CHECK(d[1].mean == 0.0);
        CHECK(d[1].variance == 0.0);
        CHECK(d[1].correlation == Approx(1.0));
    }
}

TEST_CASE("MLMC loss rejects bad input with messages naming the level", "[losses][mlmc]") {
    const Estimator<double> est = make_estimator<double>(Task::nle);
    using Loss = MlmcLoss<Estimator<double>>;
    SECTION("fewer than two levels") {
        const Data data = make_data({10}, 1);
        CHECK_THROWS_WITH(Loss(est, data, Task::nle), Catch::Contains("at least 2 levels"));
    }
    SECTION("empty level") {
        Data data = make_data({10, 5, 4}, 1);
        data.levels[2] = Level{Matrix<double>(2, 0), Matrix<double>(1, 0), Matrix<double>(1, 0)};
        CHECK_THROWS_WITH(Loss(est, data, Task::nle),
                          Catch::Equals("MlmcLoss: level 2 has 0 samples"));
    }
    SECTION("theta dimension") {
        Data data = make_data({10, 5}, 1);
        data.levels[1].theta = Matrix<double>::Zero(3, 5);
        CHECK_THROWS_WITH(
            Loss(est, data, Task::nle),
            Catch::StartsWith(
                "MlmcLoss: level 1 theta has 3 rows, expected the estimator's context_dim 2"));
    }
    SECTION("x dimension, with the task's roles") {
        Data data = make_data({10, 5}, 1);
        data.levels[0].x_fine = Matrix<double>::Zero(2, 10);
        CHECK_THROWS_WITH(
            Loss(est, data, Task::nle),
            Catch::StartsWith(
                "MlmcLoss: level 0 x_fine has 2 rows, expected the estimator's input_dim 1"));
        const Estimator<double> npe = make_estimator<double>(Task::npe);
        Data ok = make_data({10, 5}, 1);
        CHECK_NOTHROW(Loss(npe, ok, Task::npe));
        CHECK_THROWS_WITH(Loss(npe, ok, Task::nle), Catch::Contains("task nle"));
    }
    SECTION("x_coarse column count") {
        Data data = make_data({10, 5}, 1);
        data.levels[1].x_coarse = Matrix<double>::Zero(1, 4);
        CHECK_THROWS_WITH(
            Loss(est, data, Task::nle),
            Catch::StartsWith("MlmcLoss: level 1 x_coarse has 4 columns but theta has 5"));
    }
    SECTION("non-finite simulation") {
        Data data = make_data({10, 5}, 1);
        data.levels[1].x_coarse(0, 3) = std::numeric_limits<double>::quiet_NaN();
        CHECK_THROWS_WITH(Loss(est, data, Task::nle),
                          Catch::StartsWith("MlmcLoss: level 1 x_coarse: non-finite value") &&
                              Catch::Contains("column 3"));
        data = make_data({10, 5}, 1);
        data.levels[0].theta(1, 7) = std::numeric_limits<double>::infinity();
        CHECK_THROWS_WITH(Loss(est, data, Task::nle),
                          Catch::StartsWith("MlmcLoss: level 0 theta: non-finite"));
    }
    SECTION("a different estimator at evaluation") {
        const Data data = make_data({10, 5}, 1);
        Loss loss(est, data, Task::nle);
        typename flows::DiagonalGaussian<double>::Options o;
        o.input_dim = 1;
        o.context_dim = 2;
        o.hidden = {7};
        const Estimator<double> other(o);
        Matrix<double> g(other.parameter_count(), 3);
        std::vector<double> v;
        CHECK_THROWS_WITH(loss.evaluate(other, g, v),
                          Catch::Contains("differs from the one the loss was built for"));
        Matrix<double> wrong(est.parameter_count(), 2);
        CHECK_THROWS_WITH(loss.evaluate(est, wrong, v), Catch::Contains("term_gradients must be"));
    }
    SECTION("options") {
        const Data data = make_data({10, 5}, 1);
        CHECK_THROWS_WITH(Loss(est, data, Task::nle, LossOptions{.chunk_size = 0}),
                          Catch::Contains("chunk_size"));
    }
}

TEMPLATE_TEST_CASE("MC loss is the mean negative log-likelihood with its gradient", "[losses][mc]",
                   float, double) {
    using Scalar = TestType;
    for (Task task : {Task::nle, Task::npe}) {
        INFO("task " << losses::to_string(task));
        const Data data = make_data({11}, 17);
        Estimator<Scalar> est = make_estimator<Scalar>(task, 4);
        McLoss<Estimator<Scalar>> loss(est, data.levels[0].theta, data.levels[0].x_fine, task,
                                       LossOptions{.chunk_size = 4});
        CHECK(loss.term_count() == 1);
        CHECK(loss.size() == 11);
        Matrix<Scalar> g(est.parameter_count(), 1);
        std::vector<double> terms;
        const double total = loss.evaluate(est, g, terms);
        const double expected = mean_nll(est, data.levels[0].theta, data.levels[0].x_fine, task);
        CHECK(total == Approx(expected).epsilon(1e-5));
        CHECK(loss.value(est) == Approx(expected).epsilon(1e-5));
        const Vector<Scalar> p0 = est.parameters();
        auto value = [&](const Vector<Scalar>& p) {
            est.parameters() = p;
            return loss.value(est);
        };
        const Vector<Scalar> grad = g.col(0);
        const auto result = testing::check_gradient<Scalar>(value, p0, grad);
        est.parameters() = p0;
        INFO(result.report());
        CHECK(result.passed);
        const auto d = loss.level_diagnostics(est);
        CHECK(d.size() == 1);
        CHECK(d[0].mean == Approx(expected).epsilon(1e-5));
    }
    const Estimator<Scalar> est = make_estimator<Scalar>(Task::nle);
    const Matrix<double> theta = Matrix<double>::Zero(2, 4);
    CHECK_THROWS_WITH(McLoss<Estimator<Scalar>>(est, theta, Matrix<double>::Zero(1, 3), Task::nle),
                      Catch::Contains("x has 3 columns but theta has 4"));
    CHECK_THROWS_WITH(
        McLoss<Estimator<Scalar>>(est, Matrix<double>(2, 0), Matrix<double>(1, 0), Task::nle),
        Catch::Equals("McLoss: data has 0 samples"));
}

static_assert(losses::MultilevelData<simulators::MultilevelDataset>);
static_assert(!losses::MultilevelData<Level>);
static_assert(losses::TrainableEstimator<Estimator<float>>);
static_assert(!losses::TrainableEstimator<flows::DiagonalGaussian<float>>);

TEST_CASE("MlmcLoss reads simulators::MultilevelDataset", "[losses][mlmc]") {
    const Data data = make_data({12, 6}, 31);
    std::vector<simulators::LevelData> levels(2);
    for (std::size_t l = 0; l < 2; ++l) {
        levels[l].theta = data.levels[l].theta;
        levels[l].x_fine = data.levels[l].x_fine;
        levels[l].x_coarse = data.levels[l].x_coarse;
    }
    const auto dataset = simulators::dataset_from_arrays(levels);
    const Estimator<double> est = make_estimator<double>(Task::nle);
    MlmcLoss<Estimator<double>> from_dataset(est, dataset, Task::nle);
    MlmcLoss<Estimator<double>> from_struct(est, data, Task::nle);
    CHECK(from_dataset.value(est) == from_struct.value(est));
}
