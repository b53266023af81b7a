"""Model layer: examples, dispatch-time features, the estimator, honest evaluation, risk flag, registry, training, serving."""
