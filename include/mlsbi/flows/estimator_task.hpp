// SPDX-License-Identifier: MIT
/// \file
/// \brief EstimatorTask: what a conditional estimator is trained to be, q(x | theta) for NLE or
/// q(theta | x) for NPE, as part of its type, so that a posterior estimator cannot be used as a
/// likelihood (and the reverse) by mistake.
#pragma once

#include <type_traits>

namespace mlsbi::flows {

/// The task an estimator is for. `unspecified` is the default of flows::ConditionalEstimator
/// (usable for both, as before tasks were part of the type); flows::LikelihoodEstimator and
/// flows::PosteriorEstimator fix it.
enum class EstimatorTask {
    unspecified,  ///< either task; nothing is checked
    likelihood,   ///< NLE: y = x, c = theta; only a likelihood (inference::NlePosterior)
    posterior,    ///< NPE: y = theta, c = x; only a posterior (inference::NpePosterior)
};

[[nodiscard]] constexpr const char* to_string(EstimatorTask task) {
    switch (task) {
        case EstimatorTask::unspecified:
            return "unspecified";
        case EstimatorTask::likelihood:
            return "likelihood";
        case EstimatorTask::posterior:
            return "posterior";
    }
    return "unknown";
}

/// E::task when E declares one (`static constexpr EstimatorTask task`), else unspecified.
template <class E>
[[nodiscard]] constexpr EstimatorTask estimator_task() {
    if constexpr (requires { E::task; })
        return E::task;
    else
        return EstimatorTask::unspecified;
}

/// Estimators that may serve as a likelihood q(x | theta): all but posterior estimators.
template <class E>
concept LikelihoodTaskCompatible = estimator_task<std::remove_cvref_t<E>>()
!= EstimatorTask::posterior;

/// Estimators that may serve as a posterior q(theta | x): all but likelihood estimators.
template <class E>
concept PosteriorTaskCompatible = estimator_task<std::remove_cvref_t<E>>()
!= EstimatorTask::likelihood;

}  // namespace mlsbi::flows
