// SPDX-License-Identifier: MIT
// Tests for diagnostics/nlpd.hpp: summaries of -log q and of the paper's -q.
#include <catch2/catch.hpp>
#include <cmath>

#include "mlsbi/diagnostics/nlpd.hpp"

using namespace mlsbi;
using namespace mlsbi::diagnostics;

TEST_CASE("NLPD summarises -log q at the truth", "[diagnostics][nlpd]") {
    Vector<double> lq(4);
    lq << 0.0, -1.0, -2.0, 1.0;
    const NlpdSummary s = nlpd(lq);
    CHECK(s.mean == Approx(0.5));
    CHECK(s.median == Approx(0.5));  // values 0, 1, 2, -1: middle pair 0 and 1
    CHECK(s.per_test(3) == -1.0);
    CHECK(s.negative_density_mean ==
          Approx(-(1 + std::exp(-1.0) + std::exp(-2.0) + std::exp(1.0)) / 4));
    CHECK(s.negative_density_median == Approx(-(1 + std::exp(-1.0)) / 2));
    Vector<double> odd(3);
    odd << -3.0, -1.0, -2.0;
    CHECK(nlpd(odd).median == 2.0);
    CHECK_THROWS_WITH(nlpd(Vector<double>()), Catch::Contains("no test points"));
    odd(1) = std::nan("");
    CHECK_THROWS_WITH(nlpd(odd), Catch::Contains("NaN"));
}
