// SPDX-License-Identifier: MIT
// Quick start (shown in README.md): write a coupled two-level simulator in a few lines, simulate
// a seed-matched multilevel dataset, train a neural likelihood with the multilevel loss (through
// the sbi::Nle front end), and use it. The "expensive" level integrates an Ornstein-Uhlenbeck-like
// process finely; the cheap one takes 4x coarser steps driven by exact sums of the same Brownian
// increments.
#include <cstdio>

#include "mlsbi/distributions/box_uniform.hpp"
#include "mlsbi/flows/maf.hpp"
#include "mlsbi/rng/normal.hpp"
#include "mlsbi/sbi.hpp"
#include "mlsbi/simulators/function_level.hpp"

using namespace mlsbi;

// x = state after time 1 of dx = -theta_0 x dt + theta_1 dW, x(0) = 1, Euler with `steps` steps.
// Both levels read the same 64 normals from RandomStream(seed): the coupling invariant.
template <int steps>
void euler(const ConstVectorRef<double>& theta, RandomStream& rng, VectorRef<double> x) {
    constexpr int fine = 64, group = fine / steps;
    double state = 1.0;
    const double dt = 1.0 / steps;
    for (int i = 0; i < steps; ++i) {
        double dw = 0;  // a coarse increment is the exact sum of `group` fine ones
        for (int j = 0; j < group; ++j) dw += std::sqrt(1.0 / fine) * standard_normal(rng);
        state += -theta(0) * state * dt + theta(1) * dw;
    }
    x(0) = state;
}

int main() {
    const auto simulator = simulators::MultilevelSimulator(
        simulators::make_level(1, euler<4>, /*cost=*/1.0),     // level 0: cheap
        simulators::make_level(1, euler<64>, /*cost=*/16.0));  // level 1: the one we trust
    const distributions::BoxUniform prior({0.5, 0.2}, {3.0, 1.0});

    // q(x | theta): a MAF (float) whose dimensions come from the data; every seed from 1.
    using Flow = flows::MaskedAutoregressiveFlow<float>;
    auto nle = sbi::make_nle<Flow>(prior, {.seed = 1, .density = {.transforms = 3, .hidden = 32}});
    // n_0 = 4000 cheap runs; n_1 = 100 seed-matched pairs (same theta and seed at both levels).
    nle.simulate(simulator, {4000, 100});
    // The multilevel loss with Algorithm 1's gradient adjustment, full batch, Adam.
    const auto& summary =
        nle.train({.training = {.max_epochs = 300, .adam = {.learning_rate = 3e-3}}});
    std::printf("%s after %d epochs, %ld gradient projections\n",
                training::to_string(summary.status), summary.epochs, summary.projections);

    // Use it: log q(x | theta) at a few points, and draws from q(. | theta).
    const auto& likelihood = nle.estimator();
    Matrix<float> x(1, 3), theta(2, 3);
    x << 0.2f, 0.4f, 0.6f;
    theta << 1.0f, 1.0f, 1.0f, 0.5f, 0.5f, 0.5f;
    std::printf("log q(x | theta = (1, 0.5)) at x = 0.2, 0.4, 0.6: %s\n",
                message(likelihood.log_prob(x, theta).transpose()).c_str());
    const Matrix<float> draws = likelihood.sample(theta, /*seed=*/3);
    std::printf("three draws: %s\n", message(draws).c_str());
    return summary.ok() ? 0 : 1;
}
