"""The course's polynomial least-squares problem, shared by P1-P4 and the runs they make on it."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from jaxopt_course import run as runner
from jaxopt_course.problems import least_squares as ls

PLOT_GRID = np.linspace(-1.0, 1.0, 401)


@dataclass(frozen=True)
class Problem:
    """One polynomial least-squares instance and its closed-form minimizer."""

    degree: int
    X: jax.Array  # (N, n+1) features
    y: jax.Array  # (N,) targets
    beta: float  # 2/N ||X^T X||_2
    theta_star: jax.Array  # unique solution (N >= n+1) or minimum-norm solution


def make_problem(degree: int) -> Problem:
    """Features, targets, beta and the minimizer of the course's problem for degree n.

    The data are constants, so they are computed eagerly even when called while
    tracing (inside a jit-compiled sweep), and beta is a Python float.
    """
    with jax.ensure_compile_time_eval():
        xs, ys = ls.course_data()
        X = ls.features(xs, degree)
        under = X.shape[0] >= X.shape[1]
        theta_star = ls.unique_solution(X, ys) if under else ls.min_norm_solution(X, ys)
        return Problem(degree, X, ys, float(ls.smoothness(X)), theta_star)


def gap_metrics(problem: Problem, state: runner.OptimState) -> dict:
    """f(theta_k) - f* and f(bar theta_k) - f*, each as 1/N ||X (theta - theta*)||^2."""
    gap = functools.partial(ls.suboptimality, X=problem.X, theta_star=problem.theta_star)
    return {"gap": gap(state.params), "gap_avg": gap(state.average.mean)}


def sq_dist_metric(target: jax.Array, state: runner.OptimState) -> dict:
    """||theta_k - theta*||^2."""
    return {"sq_dist": jnp.sum((state.params - target) ** 2)}


def full_grad(problem: Problem):
    """(theta, noise) -> grad f(theta): the full-batch gradient, noise ignored."""
    return lambda theta, _: ls.grad(theta, problem.X, problem.y)


def index_grad(problem: Problem):
    """(theta, i) -> grad f_i(theta): the gradient of one sampled term."""
    return lambda theta, i: ls.grad_i(theta, problem.X, problem.y, i)


def index_sampler(problem: Problem):
    """(key, n) -> n uniform indices in {0..N-1}."""
    return functools.partial(ls.sample_indices, num_points=problem.X.shape[0])
