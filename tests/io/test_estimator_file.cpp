// SPDX-License-Identifier: MIT
// Tests for io/estimator_file.hpp: exact round trip, float<->double, clear errors on mismatch.
#include <catch2/catch.hpp>

#include <sstream>

#include "mlsbi/flows/diagonal_gaussian.hpp"
#include "mlsbi/io/estimator_file.hpp"

using namespace mlsbi;

namespace {
using DensityD = flows::DiagonalGaussian<double>;
using EstimatorD = flows::ConditionalEstimator<DensityD>;

EstimatorD trained_like(std::uint64_t seed) {
    EstimatorD est(DensityD::Options{.input_dim = 2, .context_dim = 3, .hidden = {6, 5}}, seed);
    Matrix<double> y(2, 3), c(3, 3);
    y << 1, 2, 4, -1, 0, 3;
    c << 0.5, 0.25, 1, 7, 8, 9.5, -3, 2, 2;
    est.fit_standardization(y, c);
    return est;
}
}  // namespace

TEST_CASE("save then load reproduces the estimator exactly", "[io]") {
    const EstimatorD original = trained_like(3);
    std::stringstream file;
    io::save_estimator(original, file);
    EstimatorD restored(DensityD::Options{.input_dim = 2, .context_dim = 3, .hidden = {6, 5}}, 99);
    REQUIRE(restored.parameters() != original.parameters());
    io::load_estimator(restored, file);
    CHECK(restored.parameters() == original.parameters());
    CHECK(restored.input_standardizer().mean() == original.input_standardizer().mean());
    CHECK(restored.context_standardizer().scale() == original.context_standardizer().scale());
    Matrix<double> y(2, 2), c(3, 2);
    y << 0.1, 0.2, 0.3, 0.4;
    c << 1, 2, 3, 4, 5, 6;
    CHECK(restored.log_prob(y, c) == original.log_prob(y, c));
}

TEST_CASE("a double file loads into a float estimator", "[io]") {
    const EstimatorD original = trained_like(4);
    std::stringstream file;
    io::save_estimator(original, file);
    using DensityF = flows::DiagonalGaussian<float>;
    flows::ConditionalEstimator<DensityF> restored(DensityF::Options{.input_dim = 2, .context_dim = 3, .hidden = {6, 5}});
    io::load_estimator(restored, file);
    CHECK((restored.parameters().cast<double>() - original.parameters()).cwiseAbs().maxCoeff() < 1e-6);
}

TEST_CASE("loading into a mismatched architecture fails clearly", "[io]") {
    const EstimatorD original = trained_like(5);
    std::stringstream file;
    io::save_estimator(original, file);
    const std::string text = file.str();
    EstimatorD other(DensityD::Options{.input_dim = 2, .context_dim = 3, .hidden = {6, 6}});
    const auto before = other.parameters();
    std::stringstream in(text);
    CHECK_THROWS_WITH(io::load_estimator(other, in), Catch::Contains("architecture mismatch"));
    CHECK(other.parameters() == before);

    EstimatorD same(DensityD::Options{.input_dim = 2, .context_dim = 3, .hidden = {6, 5}});
    std::stringstream truncated(text.substr(0, text.size() / 2));
    CHECK_THROWS(io::load_estimator(same, truncated));
    std::stringstream wrong_version("mlsbi-estimator 7\n");
    CHECK_THROWS_WITH(io::load_estimator(same, wrong_version), Catch::Contains("version 7"));
    std::stringstream garbage("hello world");
    CHECK_THROWS_WITH(io::load_estimator(same, garbage), Catch::Contains("not an mlsbi estimator"));
}
