"""Named optimizers, each a composition of the transformations in ``transform.py``."""

from __future__ import annotations

import functools

from jaxopt_course.optim import transform
from jaxopt_course.optim.base import GradientTransformation, ScalarOrSchedule, chain


def sgd(
    learning_rate: ScalarOrSchedule, momentum: float | None = None, nesterov: bool = False, accumulator_dtype=None
) -> GradientTransformation:
    """theta_{k+1} = theta_k - gamma_k m_k with m_k = g_k (+ momentum mu m_{k-1}).

    With ``momentum=None`` this is plain (stochastic) gradient descent
    ``u_k = -gamma_k g_k``; the gradient may be a full gradient (GD) or the
    gradient of one sampled term (SGD): the update rule is the same.
    ``accumulator_dtype`` (as optax's) stores the momentum buffer in another dtype.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxopt_course import optim
        >>> opt = optim.sgd(0.1)
        >>> state = opt.init(jnp.ones(2))
        >>> u, state = opt.update(jnp.array([1.0, -2.0]), state)
        >>> u.tolist()
        [-0.10000000149011612, 0.20000000298023224]
    """
    parts = [] if momentum is None else [transform.trace(momentum, nesterov, accumulator_dtype)]
    return chain(*parts, transform.scale_by_learning_rate(learning_rate))


gd = sgd
heavy_ball = functools.partial(sgd, nesterov=False)
nesterov = functools.partial(sgd, nesterov=True)


def adam(
    learning_rate: ScalarOrSchedule,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    mu_dtype=None,
) -> GradientTransformation:
    """theta_{k+1} = theta_k - gamma m_hat_k / (sqrt(v_hat_k) + eps), bias-corrected moments.

    ``mu_dtype`` (as optax's) stores the first moment in another dtype.

    Reference: Kingma and Ba, "Adam: A Method for Stochastic Optimization", 2015.
    """
    return chain(
        transform.scale_by_adam(b1, b2, eps, eps_root, mu_dtype), transform.scale_by_learning_rate(learning_rate)
    )


def adagrad(
    learning_rate: ScalarOrSchedule,
    initial_accumulator_value: float = 0.0,
    eps: float = 1e-8,
    eps_inside_sqrt: bool = False,
) -> GradientTransformation:
    """theta_{k+1} = theta_k - gamma g_k / (sqrt(sum_{j<=k} g_j^2) + eps), coordinatewise.

    The defaults are the course's formula. optax.adagrad's defaults are
    ``adagrad(lr, initial_accumulator_value=0.1, eps=1e-7, eps_inside_sqrt=True)``.

    Reference: Duchi, Hazan and Singer, "Adaptive Subgradient Methods", JMLR 2011.
    """
    return chain(
        transform.scale_by_rss(initial_accumulator_value, eps, eps_inside_sqrt),
        transform.scale_by_learning_rate(learning_rate),
    )


def scaled_gd(learning_rate: ScalarOrSchedule, h_inv_diagonal) -> GradientTransformation:
    """theta_{k+1} = theta_k - gamma H^{-1} grad f(theta_k), H^{-1} diagonal > 0 (pytree like params)."""
    return chain(transform.scale_by_diagonal(h_inv_diagonal), transform.scale_by_learning_rate(learning_rate))
