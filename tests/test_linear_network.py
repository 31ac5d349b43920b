"""The two-layer linear network of R2: parameter shapes and count, and its MSE against NumPy."""

import jax
import numpy as np

from jaxopt_course.models import linear_network


def test_linear_network_parameters_and_mse(getkey):
    params = linear_network.init(getkey(), 10, 32)
    assert all(p.dtype == np.float32 for p in jax.tree.leaves(params))
    assert sum(p.size for p in jax.tree.leaves(params)) == 10 * 32 + 32 + 32 + 1
    x, y = jax.random.normal(getkey(), (7, 10)), jax.random.normal(getkey(), (7,))
    p = params["params"]
    w1, b1, w2, b2 = (np.asarray(p[layer][name]) for layer in ("hidden", "output") for name in ("kernel", "bias"))
    assert w1.shape == (10, 32) and w2.shape == (32, 1)
    pred = (np.asarray(x) @ w1 + b1) @ w2[:, 0] + b2[0]
    np.testing.assert_allclose(linear_network.mse(params, 32, x, y), np.mean((pred - np.asarray(y)) ** 2), rtol=1e-5)
