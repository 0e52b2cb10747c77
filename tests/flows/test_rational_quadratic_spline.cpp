// SPDX-License-Identifier: MIT
// Tests for flows/rational_quadratic_spline.hpp: values against the PyTorch reference
// (rq_spline_linear_tails in ../shared/bench/torch_reference/gnk_reference.py) and against a
// plain re-implementation of nflows' algorithm, finite-difference gradients (parameters and
// inputs, inside and outside the tail bound, float and double, batch 1 and larger),
// invertibility, the shared-parameter fast path and option validation.
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "mlsbi/flows/rational_quadratic_spline.hpp"
#include "mlsbi/testing/gradient_check.hpp"

using namespace mlsbi;
using flows::RationalQuadraticSpline;
using flows::RationalQuadraticSplineOptions;

namespace {

// Straightforward transcription of nflows' unconstrained RQ spline with linear tails (one
// sample, double precision, no tiles, no vectorisation): the independent reference.
struct NaiveResult {
    double y;
    double lad;
};

NaiveResult naive_spline(double x, const double* p, const RationalQuadraticSplineOptions& o) {
    const int K = static_cast<int>(o.bins);
    const double B = o.tail_bound;
    if (x < -B || x > B) return {x, 0.0};
    auto knots = [&](const double* u, double min_bin) {
        std::vector<double> e(K);
        double mx = -1e300, sum = 0;
        for (int k = 0; k < K; ++k) mx = std::max(mx, o.logit_scale * u[k]);
        for (int k = 0; k < K; ++k) sum += e[k] = std::exp(o.logit_scale * u[k] - mx);
        std::vector<double> c(K + 1);
        double cum = 0;
        c[0] = -B;
        for (int k = 0; k < K; ++k) {
            cum += min_bin + (1 - min_bin * K) * e[k] / sum;
            c[k + 1] = 2 * B * cum - B;
        }
        c[K] = B;
        return c;
    };
    const std::vector<double> cw = knots(p, o.min_bin_width);
    const std::vector<double> ch = knots(p + K, o.min_bin_height);
    std::vector<double> d(K + 1);
    const double pad = std::log(std::expm1(1 - o.min_derivative));
    auto softplus = [](double v) { return std::log1p(std::exp(v)); };
    d[0] = d[K] = o.min_derivative + softplus(pad);
    for (int k = 1; k < K; ++k) d[k] = o.min_derivative + softplus(p[2 * K + k - 1]);
    int i = 0;
    for (int k = 1; k < K; ++k)
        if (x >= cw[k]) i = k;
    const double w = cw[i + 1] - cw[i], h = ch[i + 1] - ch[i], delta = h / w;
    const double t = (x - cw[i]) / w, t1 = t * (1 - t);
    const double num = h * (delta * t * t + d[i] * t1);
    const double den = delta + (d[i] + d[i + 1] - 2 * delta) * t1;
    const double dnum =
        delta * delta * (d[i + 1] * t * t + 2 * delta * t1 + d[i] * (1 - t) * (1 - t));
    return {ch[i] + num / den, std::log(dnum) - 2 * std::log(den)};
}

template <typename Scalar>
Matrix<Scalar> random_params(Index rows, Index cols, RandomStream& rng, double scale) {
    Matrix<Scalar> m(rows, cols);
    for (Index j = 0; j < cols; ++j)
        for (Index i = 0; i < rows; ++i) m(i, j) = static_cast<Scalar>(rng.uniform(-scale, scale));
    return m;
}

// Inputs spread over [-1.3 B, 1.3 B], kept away from +-B by `margin` (finite differences must
// not straddle the bound, where d logdet / dx jumps).
template <typename Scalar>
Matrix<Scalar> random_inputs(Index n, double B, RandomStream& rng, double margin = 0.0) {
    Matrix<Scalar> x(1, n);
    for (Index j = 0; j < n; ++j) {
        double v;
        do v = rng.uniform(-1.3 * B, 1.3 * B);
        while (std::abs(std::abs(v) - B) < margin);
        x(0, j) = static_cast<Scalar>(v);
    }
    return x;
}

}  // namespace

TEST_CASE("RQ spline matches the PyTorch reference on hand-picked numbers", "[flows][spline]") {
    // Generated with rq_spline_linear_tails (torch 1.13, float64), K = 4, B = 3; the gradients
    // are of sum(y) + 0.5 sum(logdet).
    RationalQuadraticSplineOptions o{.bins = 4, .tail_bound = 3.0};
    RationalQuadraticSpline<double> spline(o);
    Matrix<double> p(11, 2);
    p.col(0) << 0.3, -1.2, 0.5, 2.0, -0.7, 0.4, 1.1, 0.0, 0.5, -2.0, 1.5;
    p.col(1) << 1.0, 0.0, -0.5, 0.25, 0.2, 0.9, -1.3, 0.6, -0.3, 0.8, 2.5;
    struct Case {
        double x[2], y[2], lad[2], gx[2];
        double g0[11];  // gradient of the first sample's parameters
    };
    const Case cases[] = {
        {{-2.2, 0.7},
         {-2.3419714850769253, 0.28574952472015536},
         {2.0672125081876733, 1.0198866123081805},
         {23.021096938073153, 1.7506651235234918},
         {-15.019126666123226, -0.7462206504623986, 2.8760017422172668, 12.889345574368358,
          0.40723058492387776, 0.30219637308170083, -0.53225474442528875, -0.17717221358029023,
          0.058474167073280174, -0.0033297463423600147, 0}},
        {{1.9, -3.5},
         {2.6845618664700499, -3.5},
         {-2.3308331553687549, 0},
         {0.52267576084799683, 1},
         {0.039409310112309817, 0.0087934056766988209, 0.048134640068364681,
          -0.096337355857373311, -0.047117970276008891, -0.14155020542050384,
          -0.28504710940854178, 0.47371528510505534, 0, 0, -0.12343716694151098}},
        {{2.95, 0.0},
         {2.9553342694945197, -1.6513005061210708},
         {-0.22538840872168731, 0.076337513068730489},
         {2.9226105940906262, 3.8408002304928059},
         {0.002011807555401624, 0.00044889494202458537, 0.0024572272970550123,
          -0.0049179297944812218, -0.009671888564202414, -0.029055959011972939,
          -0.058511516128511701, 0.097239363704687193, 0, 0, -0.034610365191921177}},
    };
    for (const Case& c : cases) {
        Matrix<double> x(1, 2), y(1, 2), gy = Matrix<double>::Ones(1, 2), gp(11, 2), gx(1, 2);
        x << c.x[0], c.x[1];
        Vector<double> lad = Vector<double>::Zero(2);
        const Vector<double> gl = Vector<double>::Constant(2, 0.5);
        spline.forward(p, x, y, lad);
        spline.backward(p, x, gy, gl, gp, gx);
        for (int j = 0; j < 2; ++j) {
            INFO("x = " << c.x[j]);
            CHECK(y(0, j) == Approx(c.y[j]).epsilon(1e-12));
            CHECK(lad(j) == Approx(c.lad[j]).epsilon(1e-12).margin(1e-14));
            CHECK(gx(0, j) == Approx(c.gx[j]).epsilon(1e-10));
        }
        for (int r = 0; r < 11; ++r) CHECK(gp(r, 0) == Approx(c.g0[r]).epsilon(1e-10).margin(1e-12));
        if (c.x[1] == -3.5) CHECK(gp.col(1).isZero(0));  // outside: no parameter gradient
    }
}

TEMPLATE_TEST_CASE("RQ spline agrees with a plain re-implementation", "[flows][spline]", float,
                   double) {
    using Scalar = TestType;
    const double tol = std::is_same_v<Scalar, double> ? 1e-11 : 2e-5;
    RandomStream rng(7);
    for (Index K : {Index(1), Index(2), Index(3), Index(10), Index(17)}) {
        for (double scale : {1.0, 1.0 / std::sqrt(50.0)}) {
            RationalQuadraticSplineOptions o{.bins = K, .tail_bound = 2.5, .logit_scale = scale};
            RationalQuadraticSpline<Scalar> spline(o);
            const Index n = 75;  // two full tiles and a partial one
            const Matrix<Scalar> p = random_params<Scalar>(3 * K - 1, n, rng, 3.0);
            const Matrix<Scalar> x = random_inputs<Scalar>(n, 2.5, rng);
            Matrix<Scalar> y(1, n);
            Vector<Scalar> lad = Vector<Scalar>::Constant(n, Scalar(0.25));  // accumulates
            spline.forward(p, x, y, lad);
            const Matrix<double> pd = p.template cast<double>();
            for (Index j = 0; j < n; ++j) {
                INFO("K = " << K << ", scale = " << scale << ", sample " << j << ", x = " << x(0, j));
                const NaiveResult r = naive_spline(static_cast<double>(x(0, j)), pd.col(j).data(), o);
                CHECK(static_cast<double>(y(0, j)) == Approx(r.y).epsilon(tol).margin(tol));
                CHECK(static_cast<double>(lad(j)) - 0.25 == Approx(r.lad).epsilon(tol).margin(10 * tol));
            }
        }
    }
}

TEMPLATE_TEST_CASE("RQ spline backward matches finite differences", "[flows][spline]", float,
                   double) {
    using Scalar = TestType;
    RandomStream rng(11);
    for (Index K : {Index(1), Index(3), Index(10)}) {
        // Float finite differences of a sum over many samples drown in rounding; float checks
        // use batch 5 here (and the float-vs-double test below covers batch 37).
        for (Index n : {Index(1), std::is_same_v<Scalar, double> ? Index(37) : Index(5)}) {
            for (bool outside : {false, true}) {
                INFO("K = " << K << ", n = " << n << (outside ? ", some inputs outside" : ", inside"));
                RationalQuadraticSplineOptions o{.bins = K, .tail_bound = 3.0, .logit_scale = 0.5};
                RationalQuadraticSpline<Scalar> spline(o);
                const Matrix<Scalar> p = random_params<Scalar>(3 * K - 1, n, rng, 2.0);
                Matrix<Scalar> x = random_inputs<Scalar>(n, 3.0, rng, 0.05);
                if (!outside) x = (x.array() * Scalar(0.7)).matrix();  // |x| < 0.91 B
                if (outside) x(0, 0) = Scalar(3.6);                     // at least one outside
                const Matrix<Scalar> a = random_params<Scalar>(1, n, rng, 1.0);
                const Vector<Scalar> b = random_params<Scalar>(n, 1, rng, 1.0);
                // L = sum_j a_j y_j + b_j logdet_j.
                auto loss = [&](const Matrix<Scalar>& pp, const Matrix<Scalar>& xx) {
                    Matrix<Scalar> y(1, n);
                    Vector<Scalar> lad = Vector<Scalar>::Zero(n);
                    spline.forward(pp, xx, y, lad);
                    return (y.array() * a.array()).template cast<double>().sum() +
                           (lad.array() * b.array()).template cast<double>().sum();
                };
                Matrix<Scalar> gp(3 * K - 1, n), gx(1, n);
                spline.backward(p, x, a, b, gp, gx);
                const Vector<Scalar> p_flat = p.reshaped();
                const Vector<Scalar> gp_flat = gp.reshaped();
                const auto by_params = testing::check_gradient<Scalar>(
                    [&](const Vector<Scalar>& v) { return loss(v.reshaped(3 * K - 1, n), x); },
                    p_flat, gp_flat, {.directions = 10, .coordinate_checks = 8});
                INFO(by_params.report());
                CHECK(by_params.passed);
                const Vector<Scalar> x_flat = x.reshaped();
                const Vector<Scalar> gx_flat = gx.reshaped();
                const auto by_x = testing::check_gradient<Scalar>(
                    [&](const Vector<Scalar>& v) { return loss(p, v.reshaped(1, n)); }, x_flat,
                    gx_flat, {.directions = 10, .coordinate_checks = 8});
                INFO(by_x.report());
                CHECK(by_x.passed);
                if (outside) {
                    CHECK(gp.col(0).isZero(0));
                    CHECK(gx(0, 0) == a(0, 0));
                }
            }
        }
    }
}

TEST_CASE("RQ spline float gradients agree with double gradients", "[flows][spline]") {
    RandomStream rng(13);
    RationalQuadraticSplineOptions o{.bins = 10, .tail_bound = 3.0, .logit_scale = 0.2};
    RationalQuadraticSpline<double> sd(o);
    RationalQuadraticSpline<float> sf(o);
    const Index n = 101;
    const Matrix<double> p = random_params<double>(29, n, rng, 3.0);
    const Matrix<double> x = random_inputs<double>(n, 3.0, rng);
    const Matrix<double> a = random_params<double>(1, n, rng, 1.0);
    const Vector<double> b = random_params<double>(n, 1, rng, 1.0);
    Matrix<double> gpd(29, n), gxd(1, n);
    Matrix<float> gpf(29, n), gxf(1, n);
    sd.backward(p, x, a, b, gpd, gxd);
    const Matrix<float> pf = p.cast<float>(), xf = x.cast<float>(), af = a.cast<float>();
    const Vector<float> bf = b.cast<float>();
    sf.backward(pf, xf, af, bf, gpf, gxf);
    // Relative to each sample's gradient scale.
    for (Index j = 0; j < n; ++j) {
        const double scale = std::max(1.0, gpd.col(j).cwiseAbs().maxCoeff());
        INFO("sample " << j << ", x = " << x(0, j));
        CHECK((gpf.col(j).cast<double>() - gpd.col(j)).cwiseAbs().maxCoeff() < 2e-4 * scale);
        CHECK(double(gxf(0, j)) == Approx(gxd(0, j)).epsilon(2e-4).margin(2e-4));
    }
}

TEST_CASE("RQ spline inverse undoes forward to 1e-6 and negates the log-determinant",
          "[flows][spline]") {
    RandomStream rng(3);
    for (Index K : {Index(1), Index(2), Index(5), Index(10)}) {
        RationalQuadraticSplineOptions o{.bins = K, .tail_bound = 4.0};
        RationalQuadraticSpline<double> spline(o);
        const Index n = 200;
        const Matrix<double> p = random_params<double>(3 * K - 1, n, rng, 4.0);
        Matrix<double> x = random_inputs<double>(n, 4.0, rng);
        x(0, 0) = -4.0;  // the bounds themselves
        x(0, 1) = 4.0;
        Matrix<double> y(1, n), back(1, n);
        Vector<double> lf = Vector<double>::Zero(n), li = Vector<double>::Zero(n);
        spline.forward(p, x, y, lf);
        spline.inverse(p, y, back, li);
        INFO("K = " << K);
        CHECK((back - x).cwiseAbs().maxCoeff() < 1e-6);
        CHECK((lf + li).cwiseAbs().maxCoeff() < 1e-6);
        // Monotone increasing: sort by x, y must follow.
        for (Index j = 0; j < n; ++j) {
            Matrix<double> xs = Matrix<double>::Constant(1, 2, x(0, j));
            xs(0, 1) += 1e-3;
            Matrix<double> ys(1, 2), pp(3 * K - 1, 2);
            pp.col(0) = p.col(j);
            pp.col(1) = p.col(j);
            Vector<double> l = Vector<double>::Zero(2);
            spline.forward(pp, xs, ys, l);
            CHECK(ys(0, 1) > ys(0, 0));
        }
    }
    // Float: invertible to float accuracy (moderate parameters: with extreme bins the error in x
    // is the float error in y divided by a slope that can be 1e-3).
    RationalQuadraticSpline<float> sf(RationalQuadraticSplineOptions{.bins = 10, .tail_bound = 3.0});
    const Matrix<float> p = random_params<float>(29, 100, rng, 1.0);
    const Matrix<float> x = random_inputs<float>(100, 3.0, rng);
    Matrix<float> y(1, 100), back(1, 100);
    Vector<float> l = Vector<float>::Zero(100);
    sf.forward(p, x, y, l);
    sf.inverse(p, y, back, l);
    CHECK((back - x).cwiseAbs().maxCoeff() < 1e-5f);
    CHECK(l.cwiseAbs().maxCoeff() < 1e-5f);
}

TEST_CASE("RQ spline is continuous and C1 at the knots and the tail bound", "[flows][spline]") {
    RationalQuadraticSplineOptions o{.bins = 6, .tail_bound = 2.0};
    RationalQuadraticSpline<double> spline(o);
    RandomStream rng(5);
    const Matrix<double> p = random_params<double>(17, 1, rng, 3.0);
    double cw[7], ch[7], d[7];
    spline.knots_of_column(p.data(), cw, ch, d);
    CHECK(d[0] == Approx(1.0).epsilon(1e-12));
    CHECK(d[6] == Approx(1.0).epsilon(1e-12));
    for (int k = 0; k <= 6; ++k) {
        const double eps = 1e-10;
        Matrix<double> xs(1, 3);
        xs << cw[k] - eps, cw[k], cw[k] + eps;
        Matrix<double> ys(1, 3), pp = p.replicate(1, 3);
        Vector<double> l = Vector<double>::Zero(3);
        spline.forward(pp, xs, ys, l);
        INFO("knot " << k);
        CHECK(ys(0, 1) == Approx(ch[k]).margin(1e-12));
        CHECK(ys(0, 0) == Approx(ch[k]).margin(1e-8));
        CHECK(ys(0, 2) == Approx(ch[k]).margin(1e-8));
        CHECK(std::exp(l(0)) == Approx(d[k]).epsilon(1e-5));
        CHECK(std::exp(l(2)) == Approx(d[k]).epsilon(1e-5));
    }
}

TEMPLATE_TEST_CASE("RQ spline shared-parameter path equals the batched path", "[flows][spline]",
                   float, double) {
    using Scalar = TestType;
    RationalQuadraticSplineOptions o{.bins = 10, .tail_bound = 3.0, .logit_scale = 0.3};
    RationalQuadraticSpline<Scalar> spline(o);
    RandomStream rng(9);
    const Matrix<Scalar> column = random_params<Scalar>(29, 1, rng, 3.0);
    const Index m = 70;
    const Matrix<Scalar> x = random_inputs<Scalar>(m, 3.0, rng);
    Matrix<Scalar> y1(1, m), y2(1, m), y3(1, m);
    Vector<Scalar> l1 = Vector<Scalar>::Zero(m), l2 = Vector<Scalar>::Zero(m),
                   l3 = Vector<Scalar>::Zero(m);
    spline.forward(column.replicate(1, m), x, y1, l1);
    spline.forward_shared(column.data(), m, {x.data(), 1}, {y2.data(), 1}, l2.data());
    spline.forward(m, {column.data(), 1, 0}, {x.data(), 1}, {y3.data(), 1}, l3.data());  // shared
    const Scalar tol = std::is_same_v<Scalar, double> ? Scalar(1e-12) : Scalar(2e-5);
    CHECK((y1 - y2).cwiseAbs().maxCoeff() <= tol);
    CHECK((l1 - l2).cwiseAbs().maxCoeff() <= tol);
    CHECK((y1 - y3).cwiseAbs().maxCoeff() == Scalar(0));
    CHECK((l1 - l3).cwiseAbs().maxCoeff() == Scalar(0));
}

TEST_CASE("RQ spline works on strided rows of a batch, in place", "[flows][spline]") {
    RationalQuadraticSpline<double> spline(RationalQuadraticSplineOptions{.bins = 5});
    RandomStream rng(21);
    const Index n = 40;
    const Matrix<double> p = random_params<double>(14, n, rng, 2.0);
    Matrix<double> batch = random_params<double>(3, n, rng, 3.5);
    const Matrix<double> original = batch;
    Matrix<double> expected(1, n);
    Vector<double> l1 = Vector<double>::Zero(n), l2 = Vector<double>::Zero(n);
    spline.forward(p, original.row(1), expected, l1);
    spline.forward(p, batch.row(1), batch.row(1), l2);  // in place on a strided row
    CHECK((batch.row(1) - expected).cwiseAbs().maxCoeff() == 0.0);
    CHECK(batch.row(0) == original.row(0));
    CHECK(batch.row(2) == original.row(2));
    CHECK((l1 - l2).cwiseAbs().maxCoeff() == 0.0);
}

TEST_CASE("RQ spline rejects bad options and shapes", "[flows][spline]") {
    CHECK_THROWS_WITH(RationalQuadraticSpline<double>(RationalQuadraticSplineOptions{.bins = 0}),
                      Catch::Contains("bins"));
    CHECK_THROWS_WITH(
        RationalQuadraticSpline<double>(RationalQuadraticSplineOptions{.tail_bound = -1}),
        Catch::Contains("tail_bound"));
    CHECK_THROWS_WITH(RationalQuadraticSpline<double>(
                          RationalQuadraticSplineOptions{.bins = 10, .min_bin_width = 0.2}),
                      Catch::Contains("min_bin_width"));
    CHECK_THROWS_WITH(
        RationalQuadraticSpline<double>(RationalQuadraticSplineOptions{.min_derivative = 1.0}),
        Catch::Contains("min_derivative"));
    RationalQuadraticSpline<double> spline(RationalQuadraticSplineOptions{.bins = 3});
    Matrix<double> p = Matrix<double>::Zero(7, 4), x = Matrix<double>::Zero(1, 4), y(1, 4);
    Vector<double> l = Vector<double>::Zero(4);
    CHECK_THROWS_WITH(spline.forward(p, x, y, l), Catch::Contains("expected params 8 x n"));
}
