"""Where the validated config becomes objects and runs: `builders` (data, classifiers, GANs), `models`
(the run's trained GANs and CycleGANs), `planning` (what each group trains on), `estimate` (every
model built before training, and how long a run takes here) and `runner`."""

from tfganaug.experiment.builders import (
                                          build_classifier,
                                          build_cyclegan,
                                          build_from_spec,
                                          build_gan,
                                          classifier_recipe,
                                          load_source,
                                          make_splits,
                                          RunData,
)
from tfganaug.experiment.estimate import check_models, describe_times, estimate_times
from tfganaug.experiment.planning import describe_plan, plan_group
from tfganaug.experiment.runner import (
                                          check_metric,
                                          run_experiment,
                                          run_key,
                                          run_sweep,
                                          sweep_points,
                                          train,
)

__all__ = ["build_classifier", "build_cyclegan", "build_from_spec", "build_gan", "check_metric", "check_models",
           "classifier_recipe",
           "describe_plan", "describe_times", "estimate_times", "load_source", "make_splits", "plan_group", "RunData",
           "run_experiment", "run_key", "run_sweep", "sweep_points", "train"]
