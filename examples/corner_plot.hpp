// SPDX-License-Identifier: MIT
/// \file
/// \brief Example helpers: write samples as CSV and, when gnuplot is installed, draw a PNG corner
/// plot (pairwise scatter below the diagonal, marginal histograms on it).
#pragma once

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "mlsbi/core/types.hpp"

namespace mlsbi::examples {

/// Writes samples (p x n, one per column) as CSV with a header of parameter names.
inline void write_csv(const std::string& path, const ConstMatrixRef<double>& samples,
                      const std::vector<std::string>& names) {
    std::ofstream out(path);
    if (!out) throw std::runtime_error("write_csv: cannot open " + path);
    for (std::size_t i = 0; i < names.size(); ++i) out << (i ? "," : "") << names[i];
    out << '\n';
    out.precision(10);
    for (Index j = 0; j < samples.cols(); ++j) {
        for (Index i = 0; i < samples.rows(); ++i) out << (i ? "," : "") << samples(i, j);
        out << '\n';
    }
}

/// True when a `gnuplot` executable is on the PATH.
inline bool gnuplot_available() { return std::system("command -v gnuplot > /dev/null 2>&1") == 0; }

/// One sample set of a corner plot: a CSV written by write_csv, its legend and colour.
struct CornerSeries {
    std::string csv;
    std::string label;
    std::string color;  ///< gnuplot colour, e.g. "#1f77b4"
    Index count = 0;    ///< number of rows (for histogram normalisation)
};

/// A normal marginal N(mean, sd^2) drawn over a diagonal histogram (e.g. an exact posterior).
struct NormalMarginal {
    double mean = 0;
    double sd = 1;
};

/// Writes a gnuplot script `png` + ".gp" drawing a p x p corner plot of the series and runs
/// gnuplot on it. Returns false (and writes nothing) when gnuplot is not installed.
/// \param ranges per-parameter [low, high] axis ranges.
inline bool corner_plot(const std::string& png, const std::vector<CornerSeries>& series,
                        const std::vector<std::string>& names,
                        const std::vector<std::pair<double, double>>& ranges,
                        const std::vector<NormalMarginal>& exact = {},
                        Index max_scatter_points = 3000) {
    if (!gnuplot_available()) return false;
    const auto p = static_cast<Index>(names.size());
    const std::string script = png + ".gp";
    std::ofstream gp(script);
    gp << "set terminal pngcairo size " << 320 * p << "," << 320 * p << " font ',9'\n";
    gp << "set output '" << png << "'\n";
    gp << "set datafile separator ','\n";
    gp << "set multiplot layout " << p << "," << p << "\n";
    gp << "set key top right samplen 1\n";
    gp << "set tics scale 0.5\n";
    const int bins = 40;
    for (Index row = 0; row < p; ++row) {
        for (Index col = 0; col < p; ++col) {
            const auto [lo_x, hi_x] = ranges[static_cast<std::size_t>(col)];
            const auto [lo_y, hi_y] = ranges[static_cast<std::size_t>(row)];
            if (col > row) {
                gp << "set multiplot next\n";
                continue;
            }
            gp << "set xrange [" << lo_x << ":" << hi_x << "]\n";
            gp << "set xlabel '" << (row == p - 1 ? names[static_cast<std::size_t>(col)] : "")
               << "'\n";
            if (col == row) {
                const double width = (hi_x - lo_x) / bins;
                gp << "set autoscale y\nset ylabel ''\n";
                gp << "bin(x) = " << width << " * floor((x - " << lo_x << ") / " << width << ") + "
                   << lo_x + width / 2 << "\n";
                gp << "plot ";
                bool first = true;
                for (const auto& s : series) {
                    gp << (first ? "" : ", ") << "'" << s.csv << "' every ::1 using (bin($"
                       << col + 1 << ")):(1.0/" << static_cast<double>(s.count) * width
                       << ") smooth freq with steps lw 1.5 lc rgb '" << s.color << "' title '"
                       << (row == 0 ? s.label : "") << "'";
                    first = false;
                }
                if (static_cast<Index>(exact.size()) == p) {
                    const auto& e = exact[static_cast<std::size_t>(col)];
                    gp << ", exp(-0.5 * ((x - " << e.mean << ") / " << e.sd << ")**2) / (" << e.sd
                       << " * sqrt(2 * pi)) with lines lw 2 dt 2 lc rgb 'black' title '"
                       << (row == 0 ? "exact" : "") << "'";
                }
                gp << "\n";
            } else {
                gp << "set yrange [" << lo_y << ":" << hi_y << "]\n";
                gp << "set ylabel '" << (col == 0 ? names[static_cast<std::size_t>(row)] : "")
                   << "'\n";
                gp << "plot ";
                bool first = true;
                for (const auto& s : series) {
                    const Index every = std::max<Index>(1, s.count / max_scatter_points);
                    gp << (first ? "" : ", ") << "'" << s.csv << "' every " << every << "::1 using "
                       << col + 1 << ":" << row + 1 << " with dots lc rgb '" << s.color
                       << "' notitle";
                    first = false;
                }
                gp << "\n";
            }
        }
    }
    gp << "unset multiplot\n";
    gp.close();
    const std::string command = "gnuplot '" + script + "'";
    return std::system(command.c_str()) == 0;
}

}  // namespace mlsbi::examples
