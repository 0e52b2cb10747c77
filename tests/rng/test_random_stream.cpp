// SPDX-License-Identifier: MIT
// Tests for rng/random_stream.hpp, rng/normal.hpp and rng/vectors.hpp: bit reproducibility,
// skip(), stream independence, and moments against theory within standard errors.
#include <catch2/catch.hpp>
#include <cmath>
#include <vector>

#include "mlsbi/rng.hpp"

using namespace mlsbi;

TEST_CASE("RandomStream is a pure function of (seed, stream, position)", "[rng]") {
    SECTION("known answer: block 0 of stream (0, 0) is Philox4x64-10 of counter 0, key 0") {
        // Random123's published known-answer vector for philox4x64_10 with zero counter and key.
        RandomStream rng(0, 0);
        CHECK(rng.next_u64() == 0x16554d9eca36314cULL);
        CHECK(rng.next_u64() == 0xdb20fe9d672d0fdcULL);
        CHECK(rng.next_u64() == 0xd7e772cee186176bULL);
        CHECK(rng.next_u64() == 0x7e68b68aec7ba23bULL);
    }
    SECTION("same seed and stream give bit-identical sequences; copies continue identically") {
        RandomStream a(12345, 7), b(12345, 7);
        for (int i = 0; i < 101; ++i) REQUIRE(a.next_u64() == b.next_u64());
        RandomStream c = a;
        for (int i = 0; i < 9; ++i) REQUIRE(a.uniform() == c.uniform());
    }
    SECTION("different seeds or streams differ") {
        RandomStream a(1, 0), b(2, 0), c(1, 1);
        int same_ab = 0, same_ac = 0;
        for (int i = 0; i < 64; ++i) {
            const auto x = a.next_u64();
            same_ab += x == b.next_u64();
            same_ac += x == c.next_u64();
        }
        CHECK(same_ab == 0);
        CHECK(same_ac == 0);
    }
    SECTION("skip(n) lands where n draws would, from any offset") {
        for (std::uint64_t offset : {0u, 1u, 3u, 4u, 6u}) {
            for (std::uint64_t n : {0u, 1u, 2u, 3u, 4u, 5u, 8u, 13u, 1000u}) {
                INFO("offset " << offset << ", n " << n);
                RandomStream walked(99, 3), jumped(99, 3);
                for (std::uint64_t i = 0; i < offset; ++i) {
                    (void)walked.next_u64();
                    (void)jumped.next_u64();
                }
                for (std::uint64_t i = 0; i < n; ++i) (void)walked.next_u64();
                jumped.skip(n);
                REQUIRE(jumped.position() == offset + n);
                REQUIRE(walked.position() == jumped.position());
                for (int i = 0; i < 6; ++i) REQUIRE(walked.next_u64() == jumped.next_u64());
            }
        }
    }
    SECTION("derive_seed is deterministic and separates index tuples") {
        CHECK(derive_seed(5, 1, 2, 3) == derive_seed(5, 1, 2, 3));
        CHECK(derive_seed(5, 1, 2, 3) != derive_seed(5, 2, 1, 3));
        CHECK(derive_seed(5, 1, 2, 3) != derive_seed(6, 1, 2, 3));
        CHECK(derive_seed(5, 0) != derive_seed(5, 0, 0, 1));
    }
}

TEST_CASE("uniform and normal draws match their moments within standard errors", "[rng]") {
    constexpr int n = 200000;
    RandomStream rng(2024);
    double su = 0, suu = 0, sz = 0, szz = 0, sz4 = 0;
    double min_u = 1, max_u = 0;
    for (int i = 0; i < n; ++i) {
        const double u = rng.uniform();
        min_u = std::min(min_u, u);
        max_u = std::max(max_u, u);
        su += u;
        suu += u * u;
        const double z = standard_normal(rng);
        sz += z;
        szz += z * z;
        sz4 += z * z * z * z;
    }
    CHECK(rng.position() == 2 * n);  // exactly one word per uniform and per normal
    CHECK(min_u > 0.0);
    CHECK(max_u < 1.0);
    const double mean_u = su / n, var_u = suu / n - mean_u * mean_u;
    CHECK(std::abs(mean_u - 0.5) < 4.0 * std::sqrt(1.0 / 12.0 / n));
    CHECK(std::abs(var_u - 1.0 / 12.0) < 4.0 * std::sqrt(1.0 / 180.0 / n));  // Var(U^2)-based SE
    const double mean_z = sz / n, m2 = szz / n, m4 = sz4 / n;
    CHECK(std::abs(mean_z) < 4.0 / std::sqrt(n));
    CHECK(std::abs(m2 - 1.0) < 4.0 * std::sqrt(2.0 / n));
    CHECK(std::abs(m4 - 3.0) < 4.0 * std::sqrt(96.0 / n));  // Var(Z^4) = 105 - 9
}

TEST_CASE("normal_quantile inverts normal_cdf in both tails", "[rng]") {
    for (double u : {1e-300, 1e-100, 1e-12, 1e-3, 0.2, 0.5, 0.8, 1 - 1e-3, 1 - 1e-12}) {
        INFO("u = " << u);
        const double z = normal_quantile(u);
        const double back = u < 0.5 ? normal_cdf(z) : 1.0 - 0.5 * std::erfc(z / std::sqrt(2.0));
        CHECK(std::abs(back - u) <= 1e-13 * std::min(u, 1.0 - u) + 1e-300);
    }
    CHECK(normal_quantile(0.5) == 0.0);
    CHECK(std::abs(normal_quantile(0.975) - 1.959963984540054) < 1e-14);
}

TEST_CASE("fill_uniform and fill_normal consume one uniform per entry in column-major order",
          "[rng]") {
    Matrix<double> m(3, 4);
    RandomStream a(8, 1), b(8, 1);
    fill_normal(a, m);
    CHECK(a.position() == 12);
    for (Index j = 0; j < 4; ++j)
        for (Index i = 0; i < 3; ++i) REQUIRE(m(i, j) == standard_normal(b));

    Matrix<float> f = Matrix<float>::Zero(2, 5);
    RandomStream c(3), d(3);
    fill_uniform(c, f.col(2));  // a block works as output
    CHECK(c.position() == 2);
    CHECK(f(0, 2) == static_cast<float>(d.uniform()));
    CHECK(f(1, 2) == static_cast<float>(d.uniform()));
    CHECK(f.col(1).isZero());

    RandomStream e(4), g(4);
    const Vector<double> v = normal_vector(e, 5);
    const Vector<double> w = uniform_vector(e, 2);
    for (Index i = 0; i < 5; ++i) CHECK(v(i) == standard_normal(g));
    for (Index i = 0; i < 2; ++i) CHECK(w(i) == g.uniform());
    RandomStream h(4);
    const Matrix<double> nm = normal_matrix(h, 5, 1);
    CHECK(nm.col(0) == v);
    CHECK_THROWS_WITH(normal_vector(e, -1), Catch::Contains("normal_vector: n must be >= 0"));
}
