"""The catalogue of experiments: one module per ID, in a folder per SPEC section.

``least_squares/p3_sgd.py`` declares P3, ``networks/n4_optimizers.py`` N4, and so on;
each declares ``ID``, ``TITLE``, ``Config`` (with ``quick()``), ``run(config, key,
sweeper)``, ``plot(results, out_dir)`` and ``CAPTIONS`` (see ``registry``). Modules
are found by name, so adding a file is all it takes to add an experiment.
"""

from jaxopt_course.experiments.config import ExperimentConfig, param
from jaxopt_course.experiments.registry import Experiment, Results, all_experiments, get, make_config, run_quick

__all__ = ["Experiment", "ExperimentConfig", "Results", "all_experiments", "get", "make_config", "param",
           "run_quick"]
