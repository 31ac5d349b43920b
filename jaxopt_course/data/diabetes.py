"""The diabetes regression data (Efron, Hastie, Johnstone and Tibshirani, 2004), offline.

442 patients, 10 baseline variables (age, sex, body-mass index, mean blood
pressure, six blood-serum measurements) and a quantitative measure of disease
progression one year later. The copy used here is the one bundled with
scikit-learn (``sklearn.datasets.load_diabetes``, no download), distributed under
scikit-learn's BSD-3-Clause licence; the original data are from
https://www4.stat.ncsu.edu/~boos/var.select/diabetes.html, published with
B. Efron et al., "Least Angle Regression", Annals of Statistics 32(2), 2004.

We load the raw (unscaled) values and standardize features and target with the
mean and standard deviation of the *training* split only, so that nothing about
the validation or test rows leaks into training.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

NUM_ROWS = 442
NUM_FEATURES = 10


class Splits(NamedTuple):
    """Standardized train / validation / test arrays and the training statistics used."""

    x_train: jax.Array  # shape=(n_train, 10): (x - mu_x) / sd_x.
    y_train: jax.Array  # shape=(n_train,): (y - mu_y) / sd_y.
    x_val: jax.Array  # shape=(n_val, 10).
    y_val: jax.Array  # shape=(n_val,).
    x_test: jax.Array  # shape=(n_test, 10).
    y_test: jax.Array  # shape=(n_test,).
    y_mean: jax.Array  # shape=(): mu_y of the raw training target.
    y_std: jax.Array  # shape=(): sd_y of the raw training target (MSE in raw units = MSE * sd_y^2).


def load_raw() -> tuple[np.ndarray, np.ndarray]:
    """The 442 x 10 raw feature matrix and the 442 targets from scikit-learn's bundled copy."""
    from sklearn.datasets import load_diabetes

    x, y = load_diabetes(return_X_y=True, scaled=False)
    return np.asarray(x, np.float64), np.asarray(y, np.float64)


def split_sizes(num_rows: int, val_fraction: float, test_fraction: float) -> tuple[int, int, int]:
    """(n_train, n_val, n_test) with n_val = round(f_val n), n_test = round(f_test n)."""
    if not (0 < val_fraction < 1 and 0 < test_fraction < 1 and val_fraction + test_fraction < 1):
        raise ValueError(f"fractions must be in (0, 1) with a positive remainder for training, "
                         f"got val {val_fraction!r}, test {test_fraction!r}")
    n_val, n_test = round(val_fraction * num_rows), round(test_fraction * num_rows)
    n_train = num_rows - n_val - n_test
    if min(n_train, n_val, n_test) < 2:
        raise ValueError(f"every split needs at least 2 rows, got {(n_train, n_val, n_test)}")
    return n_train, n_val, n_test


def standardize_splits(key: jax.Array, x, y, val_fraction: float = 0.2, test_fraction: float = 0.2,
                       dtype=None) -> Splits:
    """Random split (permutation from ``key``), then z = (v - mean_train) / std_train for x and y."""
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim != 2 or y.shape != (x.shape[0],):
        raise ValueError(f"need x of shape (n, p) and y of shape (n,), got {x.shape} and {y.shape}")
    n_train, n_val, _ = split_sizes(x.shape[0], val_fraction, test_fraction)
    order = np.asarray(jax.random.permutation(key, x.shape[0]))
    x, y = x[order], y[order]
    mu_x, sd_x = x[:n_train].mean(0), x[:n_train].std(0)
    mu_y, sd_y = y[:n_train].mean(), y[:n_train].std()
    if np.any(sd_x == 0) or sd_y == 0:
        raise ValueError("a feature or the target is constant on the training split")
    dtype = jnp.result_type(float) if dtype is None else dtype
    xs = jnp.asarray((x - mu_x) / sd_x, dtype)
    ys = jnp.asarray((y - mu_y) / sd_y, dtype)
    cut = (n_train, n_train + n_val)
    return Splits(xs[:cut[0]], ys[:cut[0]], xs[cut[0]:cut[1]], ys[cut[0]:cut[1]], xs[cut[1]:], ys[cut[1]:],
                  jnp.asarray(mu_y, dtype), jnp.asarray(sd_y, dtype))


def diabetes_splits(key: jax.Array, val_fraction: float = 0.2, test_fraction: float = 0.2, dtype=None) -> Splits:
    """The diabetes data split at random into train / validation / test and standardized on train."""
    x, y = load_raw()
    return standardize_splits(key, x, y, val_fraction, test_fraction, dtype)
