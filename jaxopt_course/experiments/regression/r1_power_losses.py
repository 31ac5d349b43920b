"""R1: power losses f_gamma(theta) = 1/N sum_i |a_i . theta - y_i|^gamma, minimized by SGD, Adam and Adagrad.

gamma in {0.4, 0.7, 1, 2, 3, 5}, batch 1, theta_0 ~ U(0, 0.1)^10, 1000 steps; every
replicate runs every (method, gamma) at every learning rate and gradient-noise scale
in ONE vmapped call (gammas x learning rates x noise scales x replicates vmapped
by the sweeper, methods a loop in the same trace); test loss mean
+- 2.5 standard errors; each method at the course's shared rate and at its own best.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import jax
import numpy as np
import xarray as xr

from jaxopt_course import divergence
from jaxopt_course import run as runner
from jaxopt_course.experiments.config import ExperimentConfig, axes, param
from jaxopt_course.experiments.regression import power_figures as figures
from jaxopt_course.experiments.regression import power_losses as pl
from jaxopt_course.experiments.registry import Results
from jaxopt_course.problems import power_regression as pr
from jaxopt_course.progress import log, timed
from jaxopt_course.validation import each, non_negative, one_of, positive, positive_int, seed_count, unit_interval

ID = "R1"
TITLE = "power losses |a.theta - y|^gamma: SGD, Adam, Adagrad, error bars, rate sweep"
RATES = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1.0, 3.0, 10.0)


@dataclass(frozen=True)
class Config(ExperimentConfig):
    """R1. Defaults: the course's set-up (lr 1e-3, shared) plus a learning-rate sweep per method.

    Gradient noise xi = s z is added to every stochastic gradient (off at the default
    s = 0): ``gaussian`` z ~ N(0, I_d); ``student_t`` z_j i.i.d. Student-t with
    ``grad_noise_df`` degrees of freedom (df = 2: finite mean, infinite variance).
    Adagrad is the course's u = -lr g / (sqrt(G_0 + sum_j g_j^2) + eps), G_0 = 0;
    (0.1, 1e-7, True) gives optax.adagrad's u = -lr g / sqrt(G_0 + sum g^2 + eps).
    """

    dim: int = param(10, "dimension d of theta", check=positive_int)
    num_train: int = param(1000, "training rows N (a_i ~ U(-1, 1)^d)", check=positive_int)
    num_test: int = param(50, "test rows", check=positive_int)
    noise_std: float = param(0.1, "sigma in y_i = a_i . theta_true + sigma z_i", check=non_negative)
    gammas: tuple[float, ...] = param(pr.COURSE_GAMMAS, "exponents gamma of the losses, one panel each",
                                      check=each(positive))
    methods: tuple[str, ...] = param(pl.METHODS, "optimizers (sgd, adam, adagrad)", check=each(one_of(pl.METHODS)))
    num_steps: int = param(1000, "steps T of every run", check=positive_int)
    batch_size: int = param(1, "rows per stochastic gradient (uniform, with replacement)", check=positive_int)
    learning_rate: float = param(RATES, "learning rates eta: every method runs at each (one vmapped axis)",
                                 check=positive, vmap=True)
    course_learning_rate: float = param(1e-3, "the course's shared rate (r1_test_loss, course_table); the nearest "
                                        "learning_rate on a log scale is used", check=positive)
    init_high: float = param(0.1, "theta_0 ~ U(0, init_high)^d", check=positive)
    record_every: int = param(50, "record the metrics every this many steps", check=positive_int)
    seeds: int = param(100, "replicates (theta_0, sampled indices, gradient noise; the data are fixed), >= 2 for "
                       "standard errors", check=seed_count(2))
    grad_noise: str = param("gaussian", "law of z in the gradient noise xi = s z (gaussian, student_t)",
                            check=one_of(pl.GRAD_NOISES))
    grad_noise_scale: float = param(0.0, "s in the gradient noise xi = s z (0: none)", check=non_negative, vmap=True)
    grad_noise_df: float = param(2.0, "degrees of freedom of the student_t gradient noise", check=positive)
    adam_b1: float = param(0.9, "Adam's first-moment decay beta_1", check=unit_interval)
    adam_b2: float = param(0.999, "Adam's second-moment decay beta_2", check=unit_interval)
    adam_eps: float = param(1e-8, "Adam's eps in m_hat / (sqrt(v_hat) + eps)", check=positive)
    adagrad_initial_accumulator_value: float = param(0.0, "Adagrad's G_0", check=non_negative)
    adagrad_eps: float = param(1e-8, "Adagrad's eps", check=positive)
    adagrad_eps_inside_sqrt: bool = param(False, "Adagrad's eps inside the root (optax) instead of outside (course)")
    divergence_threshold: float = param(1e6, "||theta||_inf above it counts as diverged (theta_true = 1)",
                                        check=positive)
    num_stderr: float = param(2.5, "k in the bands mean +- k SE and in a 'clear' winner's margin", check=positive)

    def __post_init__(self):
        super().__post_init__()
        if self.batch_size > self.num_train:
            raise ValueError(f"batch_size must be <= num_train = {self.num_train}, got {self.batch_size}")

    @classmethod
    def quick(cls):
        """10 replicates and 6 learning rates (the course's 1000 steps are cheap)."""
        return cls(seeds=10, learning_rate=(1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0))


def run(config: Config, key: jax.Array, sweeper: runner.Sweeper = runner.Sweeper()) -> Results:
    """R1: data from one key; every replicate x rate x noise scale x method x gamma in one sweep; tables."""
    k_data, k_runs = jax.random.split(key)
    data = pr.make_data(k_data, config.dim, config.num_train, config.num_test, config.noise_std)
    keys = jax.random.split(k_runs, config.seeds)
    hp = {"gamma": np.asarray(config.gammas)} | axes(config, "learning_rate", "grad_noise_scale")
    fn = functools.partial(pl.replicate, config=config, noisy=bool(np.any(hp["grad_noise_scale"] > 0)))
    sizes = (f"{config.seeds} replicates x {len(config.methods)} methods x {len(config.gammas)} gammas x "
             f"{hp['learning_rate'].size} rates x {hp['grad_noise_scale'].size} noise scales x {config.num_steps} steps")
    with timed(f"R1: {sizes}"):
        curves, diverged_at = jax.block_until_ready(sweeper.sweep(fn, keys, data, axes=hp))
    d = _dataset(config, hp, curves, diverged_at, pl.least_squares_reference(data, config.gammas))
    s = pl.summarize(d)
    course = pl.course_index(d, config.course_learning_rate)
    if not np.isclose(d.learning_rate.values[course], config.course_learning_rate):
        log(f"R1: course_learning_rate {config.course_learning_rate:g} is not among learning_rate; "
            f"the shared-rate table and figure use {d.learning_rate.values[course]:g}")
    metrics = {
        "least_squares": {"distance_to_theta_true": float(d.ls_distance),
                          "test_loss": {f"gamma={g:g}": float(v) for g, v in zip(config.gammas, d.ls_test_loss.values)}},
        "course_learning_rate": float(d.learning_rate.values[course]),
        "course_table": pl.course_table(d, s, course),
        "lr_sweep": pl.sweep_table(d, s),
        "winners": pl.winners(d, s, config.num_stderr),
        "num_diverged_runs": int((s.first >= 0).sum()),
        "num_runs": int(s.first.size),
    }
    for line in pl.format_tables(s, metrics, config.seeds, config.num_stderr):
        log(line)
    return Results(metrics, d, divergence.messages(d.diverged_at, over=("seed",), runs="replicates"))


def _dataset(config: Config, hp: dict, curves: dict, diverged_at, reference: tuple) -> xr.Dataset:
    """The runs as (method, gamma, learning_rate, grad_noise_scale, seed, step) arrays, with the LS reference."""
    order = (4, 0, 1, 2, 3)  # sweep output (gamma, lr, noise, seed, method, ...) -> method, gamma, lr, noise, seed
    run_dims = ("method", "gamma", "learning_rate", "grad_noise_scale", "seed")
    data = {name: (run_dims + ("step",), np.transpose(np.asarray(v), order + (5,))) for name, v in curves.items()}
    data["diverged_at"] = (run_dims, np.transpose(np.asarray(diverged_at), order))
    data["ls_test_loss"], data["ls_distance"] = ("gamma", reference[1]), ((), reference[0])
    coords = {"method": list(config.methods), "gamma": list(config.gammas), "learning_rate": hp["learning_rate"],
              "grad_noise_scale": hp["grad_noise_scale"], "seed": np.arange(config.seeds),
              "step": runner.stride_grid(config.num_steps, config.record_every)}
    attrs = {"course_learning_rate": config.course_learning_rate, "num_stderr": config.num_stderr}
    return xr.Dataset(data, coords=coords, attrs=attrs)


def plot(results: Results, out_dir: Path) -> list:
    """Test-loss curves at the course's rate and at each best rate, the rate sweep, final distances."""
    d, out_dir = results.data, Path(out_dir)
    s = pl.summarize(d)
    course = pl.course_index(d, d.attrs["course_learning_rate"])
    shared = xr.full_like(s.best, course)
    lr = d.learning_rate.values[course]
    return [
        figures.curves(d, s, shared, out_dir / "r1_test_loss", f"R1: batch-1 methods at the shared lr {lr:g}"),
        figures.curves(d, s, s.best, out_dir / "r1_test_loss_best_lr",
                       "R1: each method at its own best lr (least final training loss)"),
        figures.sweep(s, out_dir / "r1_lr_sweep", d.attrs["num_stderr"]),
        figures.distance(d, s, course, out_dir / "r1_distance"),
    ]


CAPTIONS = {
    "r1_test_loss": "Test loss, mean ± 2.5 standard errors over replicates, every 50 steps, one panel per γ, all "
                    "methods at the course's shared rate 1e-3: none has converged in 1000 steps.",
    "r1_test_loss_best_lr": "The same curves with each method at its own best rate: the comparison that is fair to "
                            "each method.",
    "r1_lr_sweep": "Final loss against learning rate per method and γ; diverged rates are marked, not plotted as NaN.",
    "r1_distance": "Distance of the final θ to θ_true per method and γ.",
}
