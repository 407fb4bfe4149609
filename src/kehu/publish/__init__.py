"""The publish stage: what ``kehu run`` computes on the analytics pipeline's features and writes to the store.

- :mod:`kehu.publish.run`: the run object (one store engine, one analytics backend, one extract per run)
- :mod:`kehu.publish.pipeline_run`: extract, run the pipeline, publish features, cohorts and the repeat curve
- :mod:`kehu.publish.value_models`: BG/NBD or Pareto/NBD, Gamma-Gamma and sBG scores
  (:mod:`kehu.publish.value_report`: their diagnostics report)
- :mod:`kehu.publish.churn`: churn, propensity and cross-sell scoring and model files
  (:mod:`kehu.publish.churn_train`, :mod:`kehu.publish.churn_data`: training on point-in-time snapshots)
- :mod:`kehu.publish.segments`: segment placement
- :mod:`kehu.publish.scores`: the one routine that merges model scores into the published ``scores``

It sits below the facade (:mod:`kehu.service`) and imports no front end, view or web cache.
"""
