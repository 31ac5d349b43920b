"""The experiments of the catalogue, one module per SPEC section.

Every module in this package registers its experiments on import; importing the
package imports them all, so adding a module is all it takes to add experiments.
"""

import importlib
import pkgutil

from jaxopt_course.experiments.registry import Experiment, Results, all_experiments, get, make_config, register

for _module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    if _module != "registry" and not _module.startswith("_"):
        importlib.import_module(f"{__name__}.{_module}")

__all__ = ["Experiment", "Results", "all_experiments", "get", "make_config", "register"]
