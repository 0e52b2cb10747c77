// SPDX-License-Identifier: MIT
// Tests for inference/log_density.hpp: the BatchLogDensity concept (positive and negative
// cases) and batch_over_columns (values, exception propagation, thread-count independence).
#include <catch2/catch.hpp>
#include <stdexcept>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "mlsbi/inference/log_density.hpp"

using namespace mlsbi;
using namespace mlsbi::inference;

namespace {
struct Functor {
    void operator()(const ConstMatrixRef<double>& t, VectorRef<double> out) const {
        out = t.colwise().sum().transpose();
    }
};
struct WrongScalar {
    void operator()(const ConstMatrixRef<float>&, VectorRef<float>) const {}
};
struct PerPointOnly {
    double operator()(const ConstVectorRef<double>& t) const { return t.sum(); }
};
}  // namespace

static_assert(BatchLogDensity<Functor>);
static_assert(BatchLogDensity<decltype([](const ConstMatrixRef<double>&, VectorRef<double>) {})>);
static_assert(!BatchLogDensity<WrongScalar>);
static_assert(!BatchLogDensity<PerPointOnly>);
static_assert(BatchLogDensity<decltype(batch_over_columns(PerPointOnly{}))>);

TEST_CASE("batch_over_columns evaluates every column", "[inference][log_density]") {
    auto f = batch_over_columns([](const ConstVectorRef<double>& t) { return t.squaredNorm(); }, 2);
    const Matrix<double> thetas = Matrix<double>::Random(3, 101);
    Vector<double> out(101), serial(101);
#ifdef _OPENMP
    const int threads = omp_get_max_threads();
    omp_set_num_threads(1);
#endif
    f(thetas, serial);
#ifdef _OPENMP
    omp_set_num_threads(2);
#endif
    f(thetas, out);
#ifdef _OPENMP
    omp_set_num_threads(threads);
#endif
    CHECK(out == serial);
    for (Index j = 0; j < 101; ++j) CHECK(out(j) == thetas.col(j).squaredNorm());
}

TEST_CASE("batch_over_columns rethrows an exception from a column", "[inference][log_density]") {
    auto f = batch_over_columns(
        [](const ConstVectorRef<double>& t) {
            if (t(0) > 0.5) throw std::invalid_argument("bad theta");
            return 0.0;
        },
        2);
    Matrix<double> thetas = Matrix<double>::Zero(1, 10);
    thetas(0, 7) = 1.0;
    Vector<double> out(10);
    CHECK_THROWS_WITH(f(thetas, out), "bad theta");
}
