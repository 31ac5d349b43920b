"""The compiled one-pass kernel S^T (S v - y): values, batching, derivatives, errors, fallbacks."""

import dataclasses
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxopt_course import kernels
from jaxopt_course.experiments.matrix_sensing import m2_overparameterized as M2
from jaxopt_course.problems import matrix_sensing as ms
from jaxopt_course.results import load_npz

ROOT = Path(__file__).resolve().parents[1]

# Skipped only where no C++ compiler exists at all (test_the_kernel_builds_where_a_compiler_exists).
needs_kernel = pytest.mark.skipif(not kernels.available(), reason=f"no compiled kernel: {kernels.unavailable_reason()}")


def _reference(S, y, v):
    """S^T (S v - y) in float64 NumPy, for any leading batch axes of S, y, v (broadcast)."""
    S, y, v = (np.asarray(a, np.float64) for a in (S, y, v))
    r = np.einsum("...mn,...n->...m", S, v) - y
    return np.einsum("...m,...mn->...n", r, S)


def _assert_close(got, expected, rtol=2e-6):
    """Equal up to float32 rounding, relative to the largest entry."""
    np.testing.assert_allclose(got, expected, atol=rtol * np.abs(expected).max(), rtol=0)


def _operands(key, m, n, batch=()):
    """A random S (m, n), y (m,) and v (batch..., n) with residuals of order one."""
    ks, ky, kv = jax.random.split(key, 3)
    S = jax.random.normal(ks, (m, n))
    return S, jax.random.normal(ky, (m,)), jax.random.normal(kv, batch + (n,)) / np.sqrt(n)


# m: fewer rows than one group of 8, rows left over after the groups, several chunks of rows;
# n: below one 16-lane vector, a vector plus a tail, whole vectors only.
@needs_kernel
@pytest.mark.parametrize("m,n", [(5, 7), (203, 37), (1000, 48), (2051, 210)])
def test_kernel_equals_float64_reference(getkey, m, n):
    S, y, v = _operands(getkey(), m, n)
    _assert_close(jax.jit(kernels.residual_adjoint)(S, y, v), _reference(S, y, v))


@needs_kernel
@pytest.mark.parametrize("columns", [1, 5, 8, 11])  # 11 > 8: two passes over S (8 columns, then 3)
def test_vmapped_columns_share_one_s(getkey, columns):
    S, y, V = _operands(getkey(), 301, 53, (columns,))
    got = jax.jit(jax.vmap(kernels.residual_adjoint, in_axes=(None, None, 0)))(S, y, V)
    _assert_close(got, _reference(S, y, V))


@needs_kernel
def test_nested_vmap_and_batched_operators(getkey):
    S, y, V = _operands(getkey(), 130, 29, (3, 4))
    nested = jax.jit(jax.vmap(jax.vmap(kernels.residual_adjoint, (None, None, 0)), (None, None, 0)))(S, y, V)
    _assert_close(nested, _reference(S, y, V))
    Ss = jnp.stack([S, -2 * S, S + 1])  # three operators (a seed sweep), each with its own y
    ys = jnp.stack([y, y + 1, -y])
    per_operator = jax.jit(jax.vmap(kernels.residual_adjoint))(Ss, ys, V[:, 0])
    _assert_close(per_operator, _reference(Ss, ys, V[:, 0]))
    shared_v = jax.jit(jax.vmap(kernels.residual_adjoint, (0, 0, None)))(Ss, ys, V[0, 0])
    _assert_close(shared_v, _reference(Ss, ys, V[0, 0]))
    per_y = jax.jit(jax.vmap(kernels.residual_adjoint, (None, 0, None)))(S, ys, V[0, 0])
    _assert_close(per_y, _reference(S, ys, V[0, 0]))


@needs_kernel
def test_derivatives_match_the_xla_formula(getkey):
    S, y, v = _operands(getkey(), 97, 23)
    w = jax.random.normal(getkey(), (23,))

    def xla(S, y, v):
        return jnp.dot(jnp.dot(S, v, precision="highest") - y, S, precision="highest")

    for argnums in (0, 1, 2, (0, 1, 2)):  # a linear functional: no amplification of rounding
        got = jax.grad(lambda *a: jnp.dot(kernels.residual_adjoint(*a), w), argnums)(S, y, v)
        want = jax.grad(lambda *a: jnp.dot(xla(*a), w), argnums)(S, y, v)
        for g, e in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
            _assert_close(g, e, rtol=1e-5)
    dv = jax.random.normal(getkey(), (23,))
    _, tangent = jax.jvp(lambda v: kernels.residual_adjoint(S, y, v), (v,), (dv,))
    _assert_close(tangent, _reference(S, np.zeros(97), dv))  # d/dv S^T (S v - y) = S^T S dv


@needs_kernel
def test_bad_input_is_a_clear_error(getkey):
    S, y, v = _operands(getkey(), 20, 6)
    with pytest.raises(ValueError, match="expected S"):
        kernels.residual_adjoint(S, y[:-1], v)
    with pytest.raises(ValueError, match="expected S"):
        kernels.residual_adjoint(S[None], y, v)
    with pytest.raises(TypeError, match="float32 only"):
        kernels.residual_adjoint(S.astype(jnp.bfloat16), y, v)


@needs_kernel
@pytest.mark.parametrize("layout", ms.LAYOUTS)
def test_compiled_gradient_matches_course_formula(getkey, layout):
    key = getkey()
    d, m = 9, 70
    A = ms.measurement_matrices(jax.random.split(key)[1], d, m)
    p = ms.make_problem(key, d, 2, m, layout=layout, streamed=False)
    Us = jax.random.normal(getkey(), (5, d, d))  # R = d, five factors vmapped over one shared S
    grad = jax.jit(jax.vmap(lambda U: ms.gradient(p.operator, p.y, U, kernel="compiled")))
    expected = jax.vmap(lambda U: ms.gradient_reference(A, p.y, U))(Us)
    _assert_close(grad(Us), expected, rtol=1e-5)
    xla = jax.jit(jax.vmap(lambda U: ms.gradient(p.operator, p.y, U, kernel="xla")))(Us)
    _assert_close(grad(Us), xla, rtol=1e-5)


@needs_kernel
def test_compiled_and_xla_steps_give_the_same_m2_runs():
    """M2 through the compiled one-pass kernel and through XLA's products: the same trajectories."""
    config = M2.Config(d=20, r=1, m=100, num_steps=200, alphas=(1.0, 1e-3), num_records=20)
    runs = {k: M2.run(dataclasses.replace(config, kernel=k), jax.random.key(0)) for k in ("compiled", "xla")}
    assert runs["compiled"].metrics["step_kernel"] == "compiled" and runs["xla"].metrics["step_kernel"] == "xla"
    np.testing.assert_allclose(runs["compiled"].data.relative_error.values, runs["xla"].data.relative_error.values,
                               rtol=1e-3)
    np.testing.assert_allclose(runs["compiled"].data.singular_values.values,
                               runs["xla"].data.singular_values.values, rtol=1e-3, atol=1e-6)


@needs_kernel
def test_lowering_for_a_gpu_leaves_the_kernel_out(getkey):
    """kernel='compiled' is CPU-only: lowered for CUDA (no GPU needed), the step has XLA's products only."""
    p = ms.make_problem(getkey(), 10, 2, 60, streamed=False)
    Us = jax.random.normal(getkey(), (2, 10, 10))
    f = jax.jit(jax.vmap(lambda U: ms.gradient(p.operator, p.y, U, kernel="compiled")))
    lowered = {plat: f.trace(Us).lower(lowering_platforms=(plat,)).as_text() for plat in ("cpu", "cuda")}
    assert kernels.TARGET in lowered["cpu"]
    assert kernels.TARGET not in lowered["cuda"] and "dot_general" in lowered["cuda"]


@needs_kernel
def test_resolve_kernel_rules(getkey):
    key = getkey()
    f32 = ms.make_problem(key, 6, 1, 30, streamed=False).operator
    bf16 = ms.make_problem(key, 6, 1, 30, dtype="bfloat16", streamed=False).operator
    streamed = ms.make_problem(key, 6, 1, 30, streamed=True).operator
    assert ms.resolve_kernel(f32) == "compiled"  # one CPU device here
    assert ms.resolve_passes(f32) == 1
    assert ms.resolve_kernel(f32, passes=2) == "xla" and ms.resolve_passes(f32, kernel="xla") == 2
    assert ms.resolve_kernel(f32, block_rows=8) == "xla"
    assert ms.resolve_kernel(bf16) == "xla" and ms.resolve_kernel(streamed) == "xla"
    assert ms.default_transpose_copy("float32") is False and ms.default_transpose_copy("bfloat16") is True
    with pytest.raises(ValueError, match="kernel must be one of"):
        ms.resolve_kernel(f32, "fast")
    with pytest.raises(ValueError, match="cannot run this operator"):
        ms.resolve_kernel(bf16, "compiled")
    with pytest.raises(ValueError, match="reads S once"):
        ms.resolve_kernel(f32, "compiled", passes=2)


def test_the_kernel_builds_where_a_compiler_exists():
    if shutil.which("g++") or shutil.which("c++") or os.environ.get("CXX"):
        assert kernels.available(), kernels.unavailable_reason()
    else:
        assert "no C++ compiler" in kernels.unavailable_reason()


def test_without_a_compiler_the_xla_path_runs(tmp_path):
    script = textwrap.dedent("""
        import jax
        from jaxopt_course import kernels
        from jaxopt_course.problems import matrix_sensing as ms
        assert not kernels.available()
        print(kernels.unavailable_reason())
        p = ms.make_problem(jax.random.key(0), 6, 1, 30, streamed=False)
        assert ms.resolve_kernel(p.operator) == "xla" and ms.default_transpose_copy("float32")
        print(float(ms.gradient(p.operator, p.y, p.u_star).sum()))
    """)
    env = dict(os.environ, CXX="/bin/false", JAXOPT_COURSE_CACHE=str(tmp_path), JAX_PLATFORMS="cpu")
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert "could not be built" in out.stdout
    assert abs(float(out.stdout.split()[-1])) < 1e-4  # the gradient vanishes at the planted factor
    assert not list(tmp_path.rglob("*.so"))  # a failed build leaves no library behind
    off = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=dict(env, CXX="", JAXOPT_COURSE_KERNELS="0"),
                         capture_output=True, text=True, timeout=120)
    assert off.returncode == 0 and "turned off" in off.stdout, off.stderr


SHARDED = textwrap.dedent("""
    import sys
    import jax, jax.numpy as jnp, numpy as np
    from jaxopt_course import run as runner
    from jaxopt_course.problems import matrix_sensing as ms
    p = ms.make_problem(jax.random.key(0), 12, 2, 150, streamed=False)
    def grad(key, kernel):
        U = ms.init_factor(key, 12, 12, 0.5)
        return ms.gradient(p.operator, p.y, U, kernel=kernel)
    out = {k: np.asarray(runner.sweep(lambda key, k=k: grad(key, k), runner.seed_keys(0, 6)))
           for k in ("auto", "compiled", "xla")}
    np.savez(sys.argv[1], kernel=ms.resolve_kernel(p.operator), **out)
""")


@needs_kernel
def test_seed_sweep_over_four_devices(tmp_path):
    results = {}
    for devices in (1, 4):
        path = tmp_path / f"out{devices}.npz"
        env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}", JAX_PLATFORMS="cpu")
        subprocess.run([sys.executable, "-c", SHARDED, str(path)], check=True, cwd=ROOT, env=env, timeout=300)
        results[devices] = load_npz(path)
    assert str(results[1]["kernel"]) == "compiled" and str(results[4]["kernel"]) == "xla"
    reference = results[1]["xla"]
    for out in results.values():
        for kernel in ("auto", "compiled", "xla"):
            _assert_close(out[kernel], reference, rtol=1e-5)
