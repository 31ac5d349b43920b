"""jaxopt_course: the experiments of an optimization-for-learning course as pure,
jit-compiled, seed-vectorized JAX functions, with one CLI command per figure."""

__version__ = "0.1.0"
