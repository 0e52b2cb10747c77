// SPDX-License-Identifier: MIT
// Tests for testing/density_contract.hpp: the library's densities pass every check of the
// ConditionalDensity contract (float and double), and densities broken on purpose (a wrong
// gradient, missing shape checks, batch-dependent sampling) fail the check that concerns them.
#include <catch2/catch.hpp>

#include "mlsbi/flows/diagonal_gaussian.hpp"
#include "mlsbi/flows/maf.hpp"
#include "mlsbi/flows/mixture_density_network.hpp"
#include "mlsbi/flows/neural_spline_flow.hpp"
#include "mlsbi/testing/density_contract.hpp"

using namespace mlsbi;

namespace {

// A DiagonalGaussian whose backward reports 1.1 times the gradient.
template <typename Scalar_>
class WrongGradient : public flows::DiagonalGaussian<Scalar_> {
public:
    using Base = flows::DiagonalGaussian<Scalar_>;
    using Base::Base;
    void backward(const Scalar_* params, const ConstMatrixRef<Scalar_>& y,
                  const ConstMatrixRef<Scalar_>& c, const ConstVectorRef<Scalar_>& g,
                  typename Base::Workspace& ws, Scalar_* grad_params,
                  Matrix<Scalar_>* grad_context) const {
        const Vector<Scalar_> scaled = Scalar_(1.1) * g;
        Base::backward(params, y, c, scaled, ws, grad_params, grad_context);
    }
};

// A DiagonalGaussian whose log_prob silently ignores the extra columns of y.
template <typename Scalar_>
class NoShapeCheck : public flows::DiagonalGaussian<Scalar_> {
public:
    using Base = flows::DiagonalGaussian<Scalar_>;
    using Base::Base;
    void log_prob(const Scalar_* params, const ConstMatrixRef<Scalar_>& y,
                  const ConstMatrixRef<Scalar_>& c, VectorRef<Scalar_> out,
                  typename Base::Workspace& ws) const {
        Base::log_prob(params, y.leftCols(c.cols()), c, out, ws);
    }
};

// A DiagonalGaussian whose draws use one stream for the whole batch (not RandomStream(seed, j)).
template <typename Scalar_>
class SharedStream : public flows::DiagonalGaussian<Scalar_> {
public:
    using Base = flows::DiagonalGaussian<Scalar_>;
    using Base::Base;
    void sample(const Scalar_* params, const ConstMatrixRef<Scalar_>& c, std::uint64_t seed,
                MatrixRef<Scalar_> out) const {
        Base::sample(params, c, seed, out);
        if (out.cols() > 1) out.col(0).swap(out.col(1));
    }
};

}  // namespace

TEMPLATE_TEST_CASE("The library's densities satisfy the ConditionalDensity contract",
                   "[testing][contract]", float, double) {
    SECTION("DiagonalGaussian") {
        const auto r = testing::check_density_contract<flows::DiagonalGaussian<TestType>>(
            {.input_dim = 2, .context_dim = 3, .hidden = {5}});
        INFO(r.report());
        CHECK(r.passed());
    }
    SECTION("MixtureDensityNetwork") {
        const auto r = testing::check_density_contract<flows::MixtureDensityNetwork<TestType>>(
            {.input_dim = 2, .context_dim = 2, .components = 3, .hidden = {6}});
        INFO(r.report());
        CHECK(r.passed());
    }
    SECTION("MaskedAutoregressiveFlow") {
        const auto r = testing::check_density_contract<flows::MaskedAutoregressiveFlow<TestType>>(
            {.input_dim = 2, .context_dim = 2, .transforms = 2, .hidden = 6, .blocks = 1});
        INFO(r.report());
        CHECK(r.passed());
    }
    SECTION("NeuralSplineFlow") {
        const auto r =
            testing::check_density_contract<flows::NeuralSplineFlow<TestType>>({.input_dim = 2,
                                                                                .context_dim = 2,
                                                                                .transforms = 2,
                                                                                .hidden = 6,
                                                                                .blocks = 1,
                                                                                .bins = 4});
        INFO(r.report());
        CHECK(r.passed());
    }
}

TEST_CASE("The contract checker catches broken densities", "[testing][contract]") {
    const flows::DiagonalGaussian<double>::Options options{
        .input_dim = 2, .context_dim = 2, .hidden = {4}};
    const auto wrong = testing::check_density_contract<WrongGradient<double>>(options);
    INFO(wrong.report());
    CHECK_FALSE(wrong.passed());
    CHECK_FALSE(wrong.at("gradient with respect to the parameters").passed);
    CHECK_FALSE(wrong.at("gradient with respect to the context").passed);
    CHECK(wrong.at("log_prob of a column does not depend on the batch").passed);

    const auto unchecked = testing::check_density_contract<NoShapeCheck<double>>(options);
    CHECK_FALSE(unchecked.at("log_prob rejects y with wrong columns").passed);
    CHECK(unchecked.at("log_prob rejects y with wrong rows").passed);

    const auto shared = testing::check_density_contract<SharedStream<double>>(options);
    CHECK_FALSE(shared.at("sample is seeded, finite and per-column").passed);
    CHECK(shared.at("gradient with respect to the parameters").passed);
}
