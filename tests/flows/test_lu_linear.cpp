// SPDX-License-Identifier: MIT
// Tests for flows/lu_linear.hpp: identity initialisation, W = L U and its log-determinant
// against Eigen's LU, invertibility, finite-difference gradients (parameters and inputs, with
// and without the log-determinant term; float and double; batch 1 and larger).
#include <catch2/catch.hpp>

#include <Eigen/LU>

#include "mlsbi/flows/lu_linear.hpp"
#include "nsf_test_support.hpp"

using namespace mlsbi;
using flows::LuLinear;
using nsf_test::random_matrix;

TEST_CASE("LuLinear starts at the identity", "[flows][lu]") {
    ParameterLayout layout;
    LuLinear<double> lu(layout, 4);
    REQUIRE(layout.size() == lu.parameter_count());
    REQUIRE(lu.parameter_count() == 4 + 6 + 6 + 4);
    Vector<double> p(layout.size());
    lu.initialize(p.data());
    CHECK(lu.weight(p.data()).isIdentity(1e-12));
    CHECK(std::abs(lu.log_abs_det(p.data())) < 1e-12);
    RandomStream rng(1);
    const Matrix<double> x = random_matrix<double>(4, 5, rng, -2, 2);
    Matrix<double> z(4, 5);
    Vector<double> ld = Vector<double>::Zero(5);
    lu.forward(p.data(), x, z, ld.data());
    CHECK((z - x).cwiseAbs().maxCoeff() < 1e-12);
}

TEST_CASE("LuLinear weight, determinant and inverse", "[flows][lu]") {
    for (Index d : {Index(1), Index(2), Index(5)}) {
        ParameterLayout layout;
        LuLinear<double> lu(layout, d);
        RandomStream rng(static_cast<std::uint64_t>(d));
        const Vector<double> p = random_matrix<double>(layout.size(), 1, rng, -1.5, 1.5);
        const Matrix<double> L = lu.lower(p.data()), U = lu.upper(p.data());
        CHECK(L.isLowerTriangular(0));
        CHECK(U.isUpperTriangular(0));
        CHECK((L.diagonal().array() == 1.0).all());
        CHECK((U.diagonal().array() > 1e-3).all());
        const Matrix<double> W = lu.weight(p.data());
        CHECK(lu.log_abs_det(p.data()) == Approx(std::log(std::abs(W.partialPivLu().determinant()))));
        const Matrix<double> x = random_matrix<double>(d, 9, rng, -3, 3);
        Matrix<double> z(d, 9), back(d, 9);
        Vector<double> l1 = Vector<double>::Zero(9), l2 = Vector<double>::Zero(9);
        lu.forward(p.data(), x, z, l1.data());
        const Matrix<double> expected =
            (W * x).colwise() + p.segment(lu.offset(), d);  // bias is the first block
        CHECK((z - expected).cwiseAbs().maxCoeff() < 1e-12);
        lu.inverse(p.data(), z, back, l2.data());
        INFO("d = " << d);
        CHECK((back - x).cwiseAbs().maxCoeff() < 1e-10);
        CHECK((l1 + l2).cwiseAbs().maxCoeff() < 1e-12);
    }
}

TEMPLATE_TEST_CASE("LuLinear backward matches finite differences", "[flows][lu]", float, double) {
    using Scalar = TestType;
    for (Index n : {Index(1), Index(6)}) {
        for (Index d : {Index(2), Index(4)}) {
            INFO("n = " << n << ", d = " << d);
            ParameterLayout layout;
            LuLinear<Scalar> lu(layout, d);
            RandomStream rng(static_cast<std::uint64_t>(10 * n + d));
            const Vector<Scalar> p = random_matrix<Scalar>(layout.size(), 1, rng, -1, 1);
            const Matrix<Scalar> x = random_matrix<Scalar>(d, n, rng, -2, 2);
            const Matrix<Scalar> r = random_matrix<Scalar>(d, n, rng, -1, 1);
            const Vector<Scalar> g = random_matrix<Scalar>(n, 1, rng, -1, 1);
            // L = sum(r o z) + sum_j g_j logdet_j, evaluated in double from the cast point.
            ParameterLayout twin_layout;
            LuLinear<double> twin(twin_layout, d);
            auto loss = [&](const Vector<Scalar>& pp, const Matrix<Scalar>& xx) {
                Matrix<double> z(d, n);
                Vector<double> ld = Vector<double>::Zero(n);
                const Vector<double> pd = pp.template cast<double>();
                twin.forward(pd.data(), xx.template cast<double>(), z, ld.data());
                return (z.array() * r.template cast<double>().array()).sum() +
                       ld.dot(g.template cast<double>());
            };
            Vector<Scalar> grad = Vector<Scalar>::Zero(layout.size());
            Matrix<Scalar> gx;
            lu.backward(p.data(), x, r, g, grad.data(), &gx);
            const auto by_params = testing::check_gradient<Scalar>(
                [&](const Vector<Scalar>& v) { return loss(v, x); }, p, grad);
            INFO(by_params.report());
            CHECK(by_params.passed);
            const Vector<Scalar> x_flat = x.reshaped(), gx_flat = gx.reshaped();
            const auto by_x = testing::check_gradient<Scalar>(
                [&](const Vector<Scalar>& v) { return loss(p, v.reshaped(d, n)); }, x_flat, gx_flat);
            INFO(by_x.report());
            CHECK(by_x.passed);
        }
    }
}

TEST_CASE("LuLinear rejects a non-positive size", "[flows][lu]") {
    ParameterLayout layout;
    CHECK_THROWS_WITH(LuLinear<double>(layout, 0), Catch::Contains("features"));
}
