"""float32 by default; float64 on demand (``--x64`` or ``float64()``)."""

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


def float_dtype():
    """The default float dtype now in force: float64 under x64, else float32."""
    return jax.numpy.result_type(float)
