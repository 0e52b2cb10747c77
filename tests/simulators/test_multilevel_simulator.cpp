// SPDX-License-Identifier: MIT
// Tests for simulators/level_simulator.hpp, function_level.hpp and multilevel_simulator.hpp: the
// concepts (positive and negative), a coupled toy pair written in a few lines, compile-time
// dispatch, optional cost and parameter dimension.
#include <catch2/catch.hpp>
#include <cmath>

#include "mlsbi/rng.hpp"
#include "mlsbi/simulators.hpp"

using namespace mlsbi;
using namespace mlsbi::simulators;

namespace {

struct MinimalLevel {
    Index output_dim() const { return 2; }
    void simulate(const ConstVectorRef<double>& theta, std::uint64_t seed,
                  VectorRef<double> x) const {
        RandomStream rng(seed);
        x(0) = theta(0) + standard_normal(rng);
        x(1) = theta(0) * rng.uniform();
    }
};
struct CostedLevel : MinimalLevel {
    double nominal_cost() const { return 7.5; }
    Index parameter_dim() const { return 1; }
};
struct TakesStreamNotSeed {  // the contract is (theta, seed): a stream cannot be rebuilt per level
    Index output_dim() const { return 1; }
    void simulate(const ConstVectorRef<double>&, RandomStream&, VectorRef<double>) const {}
};
struct MutatingSimulate {  // simulate must be const (called concurrently)
    Index output_dim() const { return 1; }
    void simulate(const ConstVectorRef<double>&, std::uint64_t, VectorRef<double>) {}
};
struct ReturnsOutput {  // x is written into a pre-sized view, not returned
    Index output_dim() const { return 1; }
    Vector<double> simulate(const ConstVectorRef<double>&, std::uint64_t, VectorRef<double>) const {
        return {};
    }
};
struct NoOutputDim {
    void simulate(const ConstVectorRef<double>&, std::uint64_t, VectorRef<double>) const {}
};

static_assert(LevelSimulator<MinimalLevel>);
static_assert(LevelSimulator<CostedLevel>);
static_assert(LevelSimulator<gnk::LowLevel>);
static_assert(LevelSimulator<gnk::SummaryLevel<gnk::Fidelity::high>>);
static_assert(!LevelSimulator<TakesStreamNotSeed>);
static_assert(!LevelSimulator<MutatingSimulate>);
static_assert(!LevelSimulator<ReturnsOutput>);
static_assert(!LevelSimulator<NoOutputDim>);
static_assert(!LevelSimulator<int>);

static_assert(MultilevelModel<MultilevelSimulator<MinimalLevel, CostedLevel>>);
static_assert(MultilevelModel<gnk::Multilevel>);
static_assert(!MultilevelModel<MinimalLevel>);
static_assert(MultilevelSimulator<MinimalLevel, MinimalLevel, CostedLevel>::levels == 3);
static_assert(MultilevelSimulator<MinimalLevel, MinimalLevel, CostedLevel>::finest_level == 2);

}  // namespace

TEST_CASE("a coupled pair of levels in a few lines", "[simulators]") {
    // Low: x = theta + z. High: x = theta + z + 0.1 z^2. Same seed => same z at both levels.
    auto low = make_level(1, [](const auto& theta, RandomStream& rng, auto x) {
        x(0) = theta(0) + standard_normal(rng);
    });
    auto high = make_level(1, [](const auto& theta, RandomStream& rng, auto x) {
        const double z = standard_normal(rng);
        x(0) = theta(0) + z + 0.1 * z * z;
    });
    const MultilevelSimulator model(low, high);
    STATIC_REQUIRE(decltype(model)::levels == 2);
    STATIC_REQUIRE(LevelSimulator<decltype(low)>);

    Vector<double> theta(1);
    theta << 2.0;
    Vector<double> x0(1), x1(1), again(1);
    for (std::uint64_t seed : {1u, 2u, 99u}) {
        model.simulate(0, theta, seed, x0);
        model.simulate(1, theta, seed, x1);
        const double z = x0(0) - 2.0;  // the shared noise, recovered from the low level
        INFO("seed " << seed);
        CHECK(x1(0) == Approx(2.0 + z + 0.1 * z * z).epsilon(1e-14));
        model.simulate(1, theta, seed, again);
        CHECK(again(0) == x1(0));  // deterministic in (theta, seed)
    }
    model.simulate(0, theta, 3, x0);
    model.simulate(0, theta, 4, x1);
    CHECK(x0(0) != x1(0));
}

TEST_CASE("make_level accepts a seed-taking callable (e.g. for BrownianPath)", "[simulators]") {
    // Euler-Maruyama for dX = -theta X dt + dW on [0, 1]; level l uses 4 * 2^l steps of one path.
    auto em = [](int level) {
        return make_level(1, [level](const ConstVectorRef<double>& theta, std::uint64_t seed,
                                     VectorRef<double> x) {
            const Matrix<double> dw = BrownianPath(seed, 1, 1.0, 4).increments(level);
            const double dt = 1.0 / static_cast<double>(dw.cols());
            double state = 1.0;
            for (Index i = 0; i < dw.cols(); ++i) state += -theta(0) * state * dt + dw(0, i);
            x(0) = state;
        });
    };
    const MultilevelSimulator model(em(0), em(3));
    Vector<double> theta(1);
    theta << 0.5;
    // Strong coupling: the pair shares one Brownian path, so its difference is far smaller than
    // the spread of either level.
    double diff2 = 0, var = 0, mean = 0;
    constexpr int n = 2000;
    Vector<double> a(1), b(1);
    for (int s = 0; s < n; ++s) {
        model.simulate(0, theta, static_cast<std::uint64_t>(s), a);
        model.simulate(1, theta, static_cast<std::uint64_t>(s), b);
        diff2 += (a(0) - b(0)) * (a(0) - b(0));
        mean += b(0);
        var += b(0) * b(0);
    }
    mean /= n;
    var = var / n - mean * mean;
    INFO("E[(X_0 - X_3)^2] = " << diff2 / n << ", Var[X_3] = " << var);
    CHECK(diff2 / n < 0.05 * var);
}

TEST_CASE("MultilevelSimulator dispatch, costs and errors", "[simulators]") {
    const MultilevelSimulator model(MinimalLevel{}, CostedLevel{});
    CHECK(model.output_dim(0) == 2);
    CHECK(model.output_dim(1) == 2);
    CHECK_FALSE(model.nominal_cost(0).has_value());
    CHECK(model.nominal_cost(1).value() == 7.5);
    CHECK_FALSE(model.parameter_dim(0).has_value());
    CHECK(model.parameter_dim(1).value() == 1);
    CHECK(model.level<1>().nominal_cost() == 7.5);

    Vector<double> theta(1), x(2), direct(2);
    theta << 1.0;
    model.simulate(1, theta, 5, x);
    MinimalLevel{}.simulate(theta, 5, direct);
    CHECK(x == direct);
    CHECK_THROWS_WITH(model.simulate(2, theta, 5, x),
                      Catch::Contains("MultilevelSimulator: level 2 out of range (levels 0..1)"));
    CHECK_THROWS_WITH(model.output_dim(7), Catch::Contains("level 7 out of range"));

    const auto costed = make_level(
        3, [](const auto&, RandomStream&, auto x) { x.setZero(); }, 2.5);
    CHECK(nominal_cost(costed).value() == 2.5);
    CHECK_THROWS_WITH(make_level(0, [](const auto&, RandomStream&, auto) {}),
                      Catch::Contains("FunctionLevel: output_dim must be >= 1"));
}
