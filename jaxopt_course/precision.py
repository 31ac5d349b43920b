"""float32 by default; float64 on demand (``--x64`` or ``float64()``); float32 matrix products in full float32.

On GPUs (and TPUs) XLA computes a float32 matrix product by default with
TensorFloat-32 (10-bit mantissa) or bfloat16 passes: relative errors near 3e-4
instead of 1e-7. Measured on an H200: GD on matrix sensing then stalls at a
relative error of 5e-4 instead of float32's 1e-6, and analytic and autodiff
gradients disagree in the third digit. Every experiment therefore runs under
``full_float32_matmuls()`` (the CLI does this); library functions called directly
follow the caller's ``jax.default_matmul_precision``. On CPUs both are the same.
"""

from __future__ import annotations

from contextlib import contextmanager

import jax


def set_x64(enabled: bool) -> None:
    """Globally enable (or disable) 64-bit floats: jax_enable_x64."""
    jax.config.update("jax_enable_x64", bool(enabled))


@contextmanager
def float64():
    """Run the enclosed code with jax_enable_x64 on (for results that need 1e-16 accuracy)."""
    with jax.enable_x64(True):
        yield


MATMUL_PRECISION = "highest"  # float32 products in full float32 on every backend


@contextmanager
def full_float32_matmuls():
    """Run the enclosed code (its traces) with float32 matrix products in full float32, not TF32/bf16."""
    with jax.default_matmul_precision(MATMUL_PRECISION):
        yield


def float_dtype():
    """The default float dtype now in force: float64 under x64, else float32."""
    return jax.numpy.result_type(float)
