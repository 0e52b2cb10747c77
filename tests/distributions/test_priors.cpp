// SPDX-License-Identifier: MIT
// Tests for distributions/: the Prior concept (positive and negative cases), closed-form and
// normalised densities, support, sampling moments within standard errors, reproducibility.
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <numbers>

#include "mlsbi/distributions.hpp"

using namespace mlsbi;
using namespace mlsbi::distributions;

namespace {

constexpr double inf = std::numeric_limits<double>::infinity();

struct MissingLogDensity {
    Index dim() const { return 1; }
    void sample(RandomStream&, VectorRef<double>) const {}
    bool in_support(const ConstVectorRef<double>&) const { return true; }
};
struct NonConstSample {  // sample must be const: priors are shared across threads
    Index dim() const { return 1; }
    void sample(RandomStream&, VectorRef<double>) {}
    double log_density(const ConstVectorRef<double>&) const { return 0; }
    bool in_support(const ConstVectorRef<double>&) const { return true; }
};
struct SeedInsteadOfStream {
    Index dim() const { return 1; }
    void sample(std::uint64_t, VectorRef<double>) const {}
    double log_density(const ConstVectorRef<double>&) const { return 0; }
    bool in_support(const ConstVectorRef<double>&) const { return true; }
};
struct MinimalPrior {  // the smallest user prior: N(0, 1) in 1-D
    Index dim() const { return 1; }
    void sample(RandomStream& rng, VectorRef<double> t) const { t(0) = standard_normal(rng); }
    double log_density(const ConstVectorRef<double>& t) const {
        return -0.5 * t(0) * t(0) - 0.5 * std::log(2 * std::numbers::pi);
    }
    bool in_support(const ConstVectorRef<double>&) const { return true; }
};

static_assert(Prior<BoxUniform>);
static_assert(Prior<Gaussian>);
static_assert(Prior<LogUniform>);
static_assert(Prior<MinimalPrior>);
static_assert(Prior<IndependentProduct<BoxUniform, LogUniform, Gaussian>>);
static_assert(Prior<IndependentProduct<MinimalPrior, BoxUniform>>);
static_assert(!Prior<MissingLogDensity>);
static_assert(!Prior<NonConstSample>);
static_assert(!Prior<SeedInsteadOfStream>);
static_assert(!Prior<double>);
// uniforms_per_sample exists on a product only when every part reports it.
static_assert(FixedDrawPrior<IndependentProduct<BoxUniform, Gaussian>>);
static_assert(!FixedDrawPrior<IndependentProduct<BoxUniform, MinimalPrior>>);
static_assert(!FixedDrawPrior<MinimalPrior>);

Vector<double> vec(std::initializer_list<double> values) {
    Vector<double> v(static_cast<Index>(values.size()));
    Index i = 0;
    for (double x : values) v(i++) = x;
    return v;
}

// Sample mean and covariance of the columns.
std::pair<Vector<double>, Matrix<double>> moments(const Matrix<double>& x) {
    const Vector<double> mean = x.rowwise().mean();
    const Matrix<double> centred = x.colwise() - mean;
    return {mean, centred * centred.transpose() / static_cast<double>(x.cols())};
}

}  // namespace

TEST_CASE("BoxUniform: density, support, moments, errors", "[distributions][box]") {
    const BoxUniform box({0.0, -1.0, 2.0}, {3.0, 1.0, 2.5});
    CHECK(box.dim() == 3);
    CHECK(box.uniforms_per_sample() == 3);
    CHECK(box.log_density(vec({1.0, 0.0, 2.2})) == Approx(-std::log(3.0 * 2.0 * 0.5)));
    CHECK(box.log_density(vec({3.0, 1.0, 2.5})) > -inf);  // closed box
    CHECK(box.log_density(vec({3.0001, 0.0, 2.2})) == -inf);
    CHECK_FALSE(box.in_support(vec({std::nan(""), 0.0, 2.2})));
    CHECK(box.log_density(vec({std::nan(""), 0.0, 2.2})) == -inf);

    constexpr Index n = 40000;
    const Matrix<double> draws = sample_prior(box, 9, n);
    CHECK(batch_in_support(box, draws).all());
    const auto [mean, cov] = moments(draws);
    for (Index i = 0; i < 3; ++i) {
        INFO("coordinate " << i);
        CHECK(std::abs(mean(i) - box.mean()(i)) < 4.0 * std::sqrt(box.variance()(i) / n));
        // Var of (U - mu)^2 for a uniform of width w is w^4 / 180.
        const double w = box.high()(i) - box.low()(i);
        CHECK(std::abs(cov(i, i) - box.variance()(i)) <
              4.0 * std::sqrt(std::pow(w, 4) / 180.0 / n));
    }
    CHECK(std::abs(cov(0, 1)) < 4.0 * std::sqrt(box.variance()(0) * box.variance()(1) / n));

    CHECK_THROWS_WITH(BoxUniform({0.0, 1.0}, {1.0, 1.0}),
                      Catch::Contains("BoxUniform: coordinate 1 needs finite low < high"));
    CHECK_THROWS_WITH(BoxUniform({0.0}, {1.0, 2.0}), Catch::Contains("BoxUniform: low has 1"));
    CHECK_THROWS_WITH((void)box.log_density(vec({1.0})), Catch::Contains("expected 3"));
    CHECK(BoxUniform::cube(2, -1, 1).log_density(vec({0, 0})) == Approx(-std::log(4.0)));
}

TEST_CASE("Gaussian: closed-form density, normalisation, moments", "[distributions][gaussian]") {
    const double s1 = 1.5, s2 = 0.5, rho = -0.6;
    Matrix<double> cov(2, 2);
    cov << s1 * s1, rho * s1 * s2, rho * s1 * s2, s2 * s2;
    const Gaussian g(vec({1.0, -2.0}), cov);
    CHECK_FALSE(g.is_diagonal());
    CHECK(g.uniforms_per_sample() == 2);
    CHECK((g.covariance() - cov).cwiseAbs().maxCoeff() < 1e-14);

    SECTION("bivariate closed form") {
        for (const auto& t : {vec({1.0, -2.0}), vec({0.0, 0.0}), vec({3.0, -2.5})}) {
            const double a = (t(0) - 1.0) / s1, b = (t(1) + 2.0) / s2;
            const double q = (a * a - 2 * rho * a * b + b * b) / (1 - rho * rho);
            const double expected =
                -std::log(2 * std::numbers::pi * s1 * s2 * std::sqrt(1 - rho * rho)) - 0.5 * q;
            CHECK(g.log_density(t) == Approx(expected).epsilon(1e-13));
        }
        CHECK(g.log_density(vec({inf, 0.0})) == -inf);
    }
    SECTION("integrates to 1 on a grid (midpoint rule over +-8 sd)") {
        const int m = 400;
        const double h1 = 16 * s1 / m, h2 = 16 * s2 / m;
        double mass = 0;
        for (int i = 0; i < m; ++i)
            for (int j = 0; j < m; ++j)
                mass += std::exp(g.log_density(
                    vec({1.0 - 8 * s1 + (i + 0.5) * h1, -2.0 - 8 * s2 + (j + 0.5) * h2})));
        CHECK(std::abs(mass * h1 * h2 - 1.0) < 1e-6);
    }
    SECTION("sample mean and covariance within standard errors") {
        constexpr Index n = 40000;
        const auto [mean, scov] = moments(sample_prior(g, 21, n));
        CHECK(std::abs(mean(0) - 1.0) < 4 * s1 / std::sqrt(n));
        CHECK(std::abs(mean(1) + 2.0) < 4 * s2 / std::sqrt(n));
        // SE of a sample covariance entry: sqrt((S_ii S_jj + S_ij^2) / n).
        for (Index i = 0; i < 2; ++i)
            for (Index j = 0; j < 2; ++j)
                CHECK(std::abs(scov(i, j) - cov(i, j)) <
                      4 * std::sqrt((cov(i, i) * cov(j, j) + cov(i, j) * cov(i, j)) / n));
    }
    SECTION("diagonal factory equals the full form with a diagonal covariance") {
        const Gaussian d = Gaussian::diagonal(vec({0.5, 1.0, -1.0}), vec({1.0, 2.0, 0.1}));
        CHECK(d.is_diagonal());
        Matrix<double> c = Matrix<double>::Zero(3, 3);
        c.diagonal() << 1.0, 4.0, 0.01;
        const Gaussian full(vec({0.5, 1.0, -1.0}), c + 1e-300 * Matrix<double>::Identity(3, 3));
        const Vector<double> t = vec({0.1, 2.0, -0.95});
        CHECK(d.log_density(t) == Approx(full.log_density(t)).epsilon(1e-14));
        RandomStream a(3), b(3);
        Vector<double> x(3), y(3);
        d.sample(a, x);
        full.sample(b, y);
        CHECK((x - y).cwiseAbs().maxCoeff() < 1e-15);
        CHECK(Gaussian::standard(2).log_density(vec({0, 0})) ==
              Approx(-std::log(2 * std::numbers::pi)));
    }
    SECTION("errors") {
        Matrix<double> bad(2, 2);
        bad << 1, 2, 2, 1;  // indefinite
        CHECK_THROWS_WITH(Gaussian(vec({0, 0}), bad), Catch::Contains("positive definite"));
        bad << 1, 0.5, 0.4, 1;
        CHECK_THROWS_WITH(Gaussian(vec({0, 0}), bad), Catch::Contains("symmetric"));
        CHECK_THROWS_WITH(Gaussian(vec({0, 0, 0}), cov), Catch::Contains("expected 3 x 3"));
        CHECK_THROWS_WITH(Gaussian::diagonal(vec({0}), vec({0})), Catch::Contains("sd(0)"));
    }
}

TEST_CASE("LogUniform: normalisation and moments of log theta", "[distributions][loguniform]") {
    const LogUniform lu(0.1, 10.0);
    // Midpoint rule in u = log theta: integral of p(e^u) e^u du over [log 0.1, log 10].
    const int m = 2000;
    const double a = std::log(0.1), b = std::log(10.0), h = (b - a) / m;
    double mass = 0;
    for (int i = 0; i < m; ++i) {
        const double u = a + (i + 0.5) * h;
        mass += std::exp(lu.log_density(vec({std::exp(u)})) + u) * h;
    }
    CHECK(std::abs(mass - 1.0) < 1e-9);
    CHECK(lu.log_density(vec({0.05})) == -inf);
    CHECK(lu.log_density(vec({10.0})) > -inf);

    constexpr Index n = 40000;
    const Matrix<double> draws = sample_prior(lu, 4, n);
    const double mean_log = draws.array().log().mean();
    const double sd_log = (b - a) / std::sqrt(12.0);
    CHECK(std::abs(mean_log - 0.5 * (a + b)) < 4 * sd_log / std::sqrt(n));
    CHECK(batch_in_support(lu, draws).all());
    CHECK_THROWS_WITH(LogUniform(0.0, 1.0), Catch::Contains("LogUniform: need 0 < low < high"));
}

TEST_CASE("IndependentProduct: blocks, sums, sequential sampling", "[distributions][product]") {
    const BoxUniform box({0.0, 0.0}, {1.0, 2.0});
    const LogUniform lu(1.0, 4.0);
    const Gaussian g = Gaussian::diagonal(vec({0.0}), vec({2.0}));
    const IndependentProduct prior(box, lu, g);
    STATIC_REQUIRE(decltype(prior)::part_count == 3);
    CHECK(prior.dim() == 4);
    CHECK(prior.offset(2) == 3);
    CHECK(prior.uniforms_per_sample() == 4);

    const Vector<double> t = vec({0.5, 1.0, 2.0, -1.0});
    CHECK(prior.log_density(t) ==
          Approx(box.log_density(t.head(2)) + lu.log_density(t.segment(2, 1)) +
                 g.log_density(t.tail(1))));
    CHECK(prior.log_density(vec({0.5, 1.0, 5.0, -1.0})) == -inf);
    CHECK_FALSE(prior.in_support(vec({0.5, 3.0, 2.0, 0.0})));
    CHECK(prior.in_support(t));

    // Sampling = the parts drawn in order from one stream.
    RandomStream a(17), b(17);
    Vector<double> x(4), y(4);
    prior.sample(a, x);
    box.sample(b, y.head(2));
    lu.sample(b, y.segment(2, 1));
    g.sample(b, y.tail(1));
    CHECK(x == y);
    CHECK(a.position() == 4);

    // 2-D product of a 1-D box and a 1-D Gaussian integrates to 1 (midpoint rule).
    const IndependentProduct two(BoxUniform({-1.0}, {1.0}),
                                 Gaussian::diagonal(vec({0.0}), vec({1.0})));
    const int m = 400;
    double mass = 0;
    for (int i = 0; i < m; ++i)
        for (int j = 0; j < m; ++j)
            mass += std::exp(
                two.log_density(vec({-1.0 + (i + 0.5) * 2.0 / m, -9.0 + (j + 0.5) * 18.0 / m})));
    CHECK(std::abs(mass * (2.0 / m) * (18.0 / m) - 1.0) < 1e-6);
    CHECK_THROWS_WITH((void)prior.log_density(vec({1.0})), Catch::Contains("IndependentProduct"));
}

TEST_CASE("sample_prior and batch helpers", "[distributions]") {
    const BoxUniform box = BoxUniform::cube(2, 0.0, 1.0);
    const Matrix<double> draws = sample_prior(box, 123, 10);
    REQUIRE(draws.rows() == 2);
    REQUIRE(draws.cols() == 10);
    // Column j depends only on (seed, j).
    RandomStream rng(123, 7);
    Vector<double> col(2);
    box.sample(rng, col);
    CHECK(draws.col(7) == col);
    CHECK(sample_prior(box, 123, 8) == draws.leftCols(8));
    CHECK(sample_prior(box, 124, 10) != draws);

    Matrix<double> thetas = draws;
    thetas(1, 3) = 1.5;
    const Vector<double> lp = batch_log_density(box, thetas);
    CHECK(lp(3) == -inf);
    CHECK(lp(0) == 0.0);
    const auto inside = batch_in_support(box, thetas);
    CHECK(inside.count() == 9);
    CHECK_THROWS_WITH(batch_log_density(box, Matrix<double>(3, 2)),
                      Catch::Contains("batch_log_density: thetas"));
    CHECK_THROWS_WITH(sample_prior(box, 1, -1), Catch::Contains("sample_prior: n must be >= 0"));
}
