// SPDX-License-Identifier: MIT
// Tests for flows/detail/row_gemm.hpp against Eigen products: every block shape and edge
// (rows, outputs and reduction lengths around the register-block sizes), bias, ReLU, ReLU mask,
// strided operands, and the lane-partial weight-gradient path; float and double.
#include <catch2/catch.hpp>

#include "mlsbi/flows/detail/row_gemm.hpp"
#include "nsf_test_support.hpp"

using namespace mlsbi;
using nsf_test::random_matrix;

TEMPLATE_TEST_CASE("row_gemm equals A B + bias with fused ReLU and mask", "[flows][row_gemm]",
                   float, double) {
    using Scalar = TestType;
    const double tol = std::is_same_v<Scalar, double> ? 1e-12 : 2e-5;
    RandomStream rng(1);
    for (Index rows : {Index(1), Index(7), Index(16), Index(33), Index(64), Index(130)})
        for (Index outs : {Index(1), Index(4), Index(5), Index(6), Index(13)})
            for (Index red : {Index(1), Index(3), Index(11)}) {
                INFO("rows " << rows << ", outs " << outs << ", red " << red);
                // A with a leading dimension larger than rows; B as W^T (W is outs x red).
                const Matrix<Scalar> Abig = random_matrix<Scalar>(rows + 3, red, rng, -1, 1);
                const Matrix<Scalar> W = random_matrix<Scalar>(outs, red, rng, -1, 1);
                const Vector<Scalar> b = random_matrix<Scalar>(outs, 1, rng, -1, 1);
                const Matrix<Scalar> A = Abig.topRows(rows);
                const Matrix<Scalar> pre = (A * W.transpose()).rowwise() + b.transpose();
                Matrix<Scalar> C(rows, outs);
                flows::detail::row_gemm<Scalar>(rows, outs, red, Abig.data(), Abig.outerStride(),
                                                W.data(), outs, 1, b.data(), true, nullptr, 0,
                                                C.data(), rows);
                CHECK((C - pre.cwiseMax(Scalar(0))).cwiseAbs().maxCoeff() <= tol * red);
                // No bias, mask instead of ReLU, B = W (input-gradient orientation).
                const Matrix<Scalar> G = random_matrix<Scalar>(rows, outs, rng, -1, 1);
                const Matrix<Scalar> mask_in = random_matrix<Scalar>(rows, red, rng, -1, 1);
                Matrix<Scalar> D(rows, red);
                flows::detail::row_gemm<Scalar>(rows, red, outs, G.data(), rows, W.data(), 1, outs,
                                                nullptr, false, mask_in.data(), rows, D.data(), rows);
                const Matrix<Scalar> expected =
                    (mask_in.array() > Scalar(0)).select(G * W, Scalar(0));
                CHECK((D - expected).cwiseAbs().maxCoeff() <= tol * outs);
            }
}

TEMPLATE_TEST_CASE("row_gemm_tn accumulates G^T A, directly and through lane partials",
                   "[flows][row_gemm]", float, double) {
    using Scalar = TestType;
    const double tol = std::is_same_v<Scalar, double> ? 1e-11 : 1e-4;
    RandomStream rng(2);
    for (Index rows : {Index(1), Index(9), Index(16), Index(100)})
        for (Index M : {Index(1), Index(4), Index(7)})
            for (Index K : {Index(1), Index(5), Index(6), Index(12)}) {
                INFO("rows " << rows << ", M " << M << ", K " << K);
                const Matrix<Scalar> G = random_matrix<Scalar>(rows, M, rng, -1, 1);
                const Matrix<Scalar> A = random_matrix<Scalar>(rows, K, rng, -1, 1);
                const Matrix<Scalar> C0 = random_matrix<Scalar>(M, K, rng, -1, 1);
                const Matrix<Scalar> expected = C0 + G.transpose() * A;
                Matrix<Scalar> C = C0;
                flows::detail::row_gemm_tn<Scalar>(rows, M, K, G.data(), rows, A.data(), rows,
                                                   C.data(), M);
                CHECK((C - expected).cwiseAbs().maxCoeff() <= tol * rows);
                // Two chunks through the lane partials, then one reduction.
                Matrix<Scalar> Cp = C0;
                Vector<Scalar> partial =
                    Vector<Scalar>::Zero(M * K * flows::detail::row_gemm_lanes<Scalar>());
                const Index half = rows / 2;
                flows::detail::row_gemm_tn<Scalar>(half, M, K, G.data(), rows, A.data(), rows,
                                                   Cp.data(), M, partial.data());
                flows::detail::row_gemm_tn<Scalar>(rows - half, M, K, G.data() + half, rows,
                                                   A.data() + half, rows, Cp.data(), M,
                                                   partial.data());
                flows::detail::row_gemm_tn_finish<Scalar>(M, K, partial.data(), Cp.data(), M);
                CHECK((Cp - expected).cwiseAbs().maxCoeff() <= tol * rows);
            }
}
