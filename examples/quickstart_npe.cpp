// SPDX-License-Identifier: MIT
// Quick start, NPE (the block between the markers is README.md's, line for line): a coupled
// two-level simulator, seed-matched simulations at both levels, ML-NPE training with the
// default recipe (MLMC loss, Algorithm 1 of Hikida et al. 2025), and 1000 posterior draws
// sampled directly, with the acceptance rate inside the prior support. Levels: Euler with 4 and
// 64 steps of dx = -theta_0 x dt + theta_1 dW, x(0) = 1, both driven by the same 64 Brownian
// increments.
//   quickstart_npe [--quick]   (--quick: fewer epochs, for CI)
#include <cmath>
#include <cstdio>
#include <cstring>

#include "mlsbi/distributions/box_uniform.hpp"
#include "mlsbi/rng/normal.hpp"
#include "mlsbi/sbi.hpp"
#include "mlsbi/simulators/function_level.hpp"

using namespace mlsbi;

// The coupling invariant: both levels read the same 64 normals from RandomStream(seed); a coarse
// increment is the exact sum of 64 / steps fine ones.
template <int steps>
void euler(const ConstVectorRef<double>& theta, RandomStream& rng, VectorRef<double> x) {
    double state = 1.0;
    for (int i = 0; i < steps; ++i) {
        double dw = 0;
        for (int j = 0; j < 64 / steps; ++j) dw += std::sqrt(1.0 / 64) * standard_normal(rng);
        state += -theta(0) * state / steps + theta(1) * dw;
    }
    x(0) = state;
}

int main(int argc, char** argv) {
    const int epochs = argc > 1 && std::strcmp(argv[1], "--quick") == 0 ? 50 : 1000;
    // [quickstart-npe]
    const auto simulator = simulators::MultilevelSimulator(simulators::make_level(1, euler<4>),
                                                           simulators::make_level(1, euler<64>));
    const distributions::BoxUniform prior({0.5, 0.2}, {3.0, 1.0});
    Vector<double> x_o(1);
    simulator.simulate(1, Vector<double>{{1.5, 0.5}}, /*seed=*/7, x_o);  // "observed" data

    auto npe = sbi::make_npe(prior, {.seed = 1});  // MAF posterior, all seeds from 1
    npe.simulate(simulator, {4000, 100});          // n_0 cheap runs, n_1 seed-matched pairs
    npe.train({.training = {.max_epochs = epochs, .adam = {.learning_rate = 3e-3}}});
    const auto draws = npe.build_posterior(x_o).sample(1000);
    std::printf("%s", draws.summary().c_str());  // status, mean, sd, acceptance rate
    // [quickstart-npe]
    return npe.training_summary().ok() && draws.size() == 1000 ? 0 : 1;
}
