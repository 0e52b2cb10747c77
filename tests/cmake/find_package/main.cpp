// SPDX-License-Identifier: MIT
// find_package consumer: a tiny MLP forward pass and a few normal draws through the installed
// headers (Eigen, Random123 and Boost.Math all reached); exits 0 on success.
#if __has_include(<mlsbi/mlsbi.hpp>)
#include <mlsbi/mlsbi.hpp>
#else
#include <mlsbi/nn/mlp.hpp>
#include <mlsbi/rng/normal.hpp>
#endif

#include <cmath>
#include <cstdio>

int main() {
    mlsbi::ParameterLayout layout;
    const mlsbi::nn::Mlp<double> net(layout, {.input_dim = 2, .hidden = {8}, .output_dim = 3});
    mlsbi::Vector<double> params(layout.size());
    mlsbi::RandomStream rng(2026);
    net.initialize(params.data(), rng);

    mlsbi::Matrix<double> x(2, 4);
    for (mlsbi::Index j = 0; j < x.cols(); ++j)
        for (mlsbi::Index i = 0; i < x.rows(); ++i) x(i, j) = mlsbi::standard_normal(rng);
    typename mlsbi::nn::Mlp<double>::Workspace ws;
    const auto& y = net.forward(params.data(), x, ws);

    const bool ok = y.rows() == 3 && y.cols() == 4 && y.allFinite();
    std::printf("find_package consumer: %s (output %ldx%ld, sum %.6f)\n", ok ? "ok" : "FAILED",
                static_cast<long>(y.rows()), static_cast<long>(y.cols()), y.sum());
    return ok ? 0 : 1;
}
