"""The matrix-sensing problem: gradients, operator/adjoint, layouts, streaming, dtypes, population view."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxopt_course.problems import matrix_sensing as ms

D, R_TRUE, M = 9, 2, 70


def _sym(key, d, dtype=jnp.float32):
    """A random symmetric d x d matrix."""
    G = jax.random.normal(key, (d, d), dtype)
    return G + G.T


@pytest.fixture(scope="module")
def raw():
    """The raw A_i of the test problem (key 0) and its problems in every layout."""
    key = jax.random.key(0)
    A = ms.measurement_matrices(jax.random.split(key)[1], D, M)
    problems = {layout: ms.make_problem(key, D, R_TRUE, M, layout=layout, streamed=False) for layout in ms.LAYOUTS}
    return A, problems


def test_measurements_match_the_raw_matrices(raw):
    A, problems = raw
    x_star = np.asarray(problems["full"].x_star, np.float64)
    np.testing.assert_allclose(np.linalg.norm(x_star), 1.0, rtol=1e-6)  # the stated normalization
    y_numpy = np.einsum("ijk,jk->i", np.asarray(A, np.float64), x_star)
    for p in problems.values():
        np.testing.assert_allclose(p.y, y_numpy, rtol=1e-5, atol=1e-5)
    # full layout: rows are vec((A_i + A_i^T) / 2)
    S = (np.asarray(A) + np.swapaxes(np.asarray(A), 1, 2)) / 2
    np.testing.assert_allclose(problems["full"].operator.matrix, S.reshape(M, D * D), rtol=1e-6)
    rows, cols = np.triu_indices(D)
    np.testing.assert_allclose(problems["packed"].operator.matrix, S[:, rows, cols], rtol=1e-6)


@pytest.mark.parametrize("layout", ms.LAYOUTS)
@pytest.mark.parametrize("passes", [1, 2])
def test_gradient_matches_course_formula_and_autodiff(raw, getkey, layout, passes):
    A, problems = raw
    p = problems[layout]
    U = jax.random.normal(getkey(), (D, 4))
    expected = np.asarray(ms.gradient_reference(A, p.y, U), np.float64)
    got = jax.jit(lambda U: ms.gradient(p.operator, p.y, U, passes=passes, block_rows=16))(U)
    autodiff = jax.grad(lambda U: ms.loss(p.operator, p.y, U))(U)
    scale = np.abs(expected).max()
    np.testing.assert_allclose(got, expected, atol=1e-5 * scale)
    np.testing.assert_allclose(autodiff, expected, atol=1e-5 * scale)
    np.testing.assert_allclose(ms.loss(p.operator, p.y, U), ms.loss_reference(A, p.y, U), rtol=1e-5)


def test_gradient_float64_storage_is_exact(x64, getkey):
    key = getkey()
    A = np.asarray(ms.measurement_matrices(jax.random.split(key)[1], D, M), np.float64)
    p = ms.make_problem(key, D, R_TRUE, M, dtype=jnp.float64, streamed=False)
    assert p.operator.matrix.dtype == jnp.float64 and p.y.dtype == jnp.float64
    U = jax.random.normal(getkey(), (D, 3), jnp.float64)
    # the course formula in NumPy float64: 1/m sum_i r_i (A_i + A_i^T) U
    r = np.einsum("ijk,jk->i", A, np.asarray(U @ U.T)) - np.einsum("ijk,jk->i", A, np.asarray(p.x_star, np.float64))
    expected = np.einsum("i,ijk->jk", r, A + np.swapaxes(A, 1, 2)) @ np.asarray(U) / M
    np.testing.assert_allclose(ms.gradient(p.operator, p.y, U), expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("layout", ms.LAYOUTS)
@pytest.mark.parametrize("streamed", [False, True])
def test_adjoint_identity(x64, getkey, layout, streamed):
    """<A(M), r> = <M, A^T(r)> for symmetric M (float64, so the tolerance is tight)."""
    op = ms.sensing_operator(getkey(), 11, 90, layout=layout, dtype=jnp.float64, streamed=streamed)
    M, r = _sym(getkey(), 11, jnp.float64), jax.random.normal(getkey(), (90,), jnp.float64)
    lhs = jnp.dot(ms.measure(op, M), r)
    rhs = jnp.sum(M * ms.adjoint(op, r))
    np.testing.assert_allclose(lhs, rhs, rtol=1e-12)
    G = ms.adjoint(op, r)
    np.testing.assert_allclose(G, G.T, atol=1e-12)  # A^T(r) = sum_i r_i S_i is symmetric


def test_streamed_equals_in_memory(getkey):
    """Same draws, same y, same gradient and same GD iterates; m not a multiple of the key block."""
    d, m = 40, 1500  # rows_per_key(40) = 655: three key blocks, the last one partial
    assert m % ms.rows_per_key(d) != 0
    key = getkey()
    memory = ms.make_problem(key, d, 3, m, streamed=False)
    streamed = ms.make_problem(key, d, 3, m, streamed=True)
    assert isinstance(streamed.operator, ms.StreamedOperator)
    G = ms.rows_per_key(d)  # the regenerated key block 2 is, bit for bit, rows 2G.. of the stored matrix
    block = jax.jit(ms.stored_block, static_argnums=(2, 3, 4))(streamed.operator.key, 2, d, "packed", "float32")
    np.testing.assert_array_equal(block[: m - 2 * G], memory.operator.matrix[2 * G:])
    np.testing.assert_allclose(streamed.y, memory.y, rtol=1e-5, atol=1e-5)  # summation order differs
    U = ms.init_factor(getkey(), d, 3, 0.5)
    grad = jax.jit(ms.gradient, static_argnames=("passes", "block_rows"))
    g_memory = grad(memory.operator, memory.y, U, passes=2)
    g_blocked = grad(memory.operator, memory.y, U, passes=1, block_rows=97)  # 97 does not divide m
    g_streamed = grad(streamed.operator, streamed.y, U)
    scale = float(jnp.abs(g_memory).max())
    np.testing.assert_allclose(g_streamed, g_memory, atol=1e-5 * scale)
    np.testing.assert_allclose(g_blocked, g_memory, atol=1e-5 * scale)

    five_steps = jax.jit(lambda p, U: jax.lax.fori_loop(0, 5, lambda k, u: ms.gd_step(p, 0.1)(u, k, None), U))
    np.testing.assert_allclose(five_steps(streamed, U), five_steps(memory, U), rtol=1e-4, atol=1e-6)


def test_bfloat16_storage_is_its_own_consistent_operator(getkey):
    key = getkey()
    f32 = ms.make_problem(key, 12, 2, 150, streamed=False)
    bf16 = ms.make_problem(key, 12, 2, 150, dtype="bfloat16", streamed=False)
    S32, S16 = f32.operator.matrix, bf16.operator.matrix
    assert S16.dtype == jnp.bfloat16 and bf16.y.dtype == jnp.float32
    # storage accuracy: every entry rounded to 8 significant bits, relative error <= 2^-8 (and attained)
    rel = np.abs(np.asarray(S16, np.float32) - S32) / np.abs(S32)
    assert 2.0**-9 < rel.max() <= 2.0**-8
    # y is measured with the rounded operator, so X* is still an exact solution of A(X) = y
    dequantized = ms.SensingOperator(S16.astype(jnp.float32), 12, "packed")
    np.testing.assert_allclose(bf16.y, ms.measure(dequantized, bf16.x_star), rtol=1e-5, atol=1e-6)
    U = jax.random.normal(getkey(), (12, 3))
    np.testing.assert_allclose(ms.gradient(bf16.operator, bf16.y, U), ms.gradient(dequantized, bf16.y, U),
                               rtol=1e-5, atol=1e-5)
    assert ms.resolve_passes(bf16.operator) == 1  # converted storage is read once, block by block


def test_hot_step_sees_its_dtypes_and_never_converts_A(raw, x64):
    _, problems = raw
    p = problems["packed"]
    U32 = jnp.ones((D, 2), jnp.float32)
    jaxpr = jax.make_jaxpr(lambda p, u: ms.gd_step(p, 0.1)(u, 0, None))(p, U32)
    converted = [e for e in jaxpr.jaxpr.eqns if e.primitive.name == "convert_element_type"
                 and e.invars[0].aval.shape == p.operator.matrix.shape]
    assert not converted
    with pytest.raises(TypeError, match="float32"):  # a float64 U would make every step convert A
        ms.gd_step(p, 0.1)(jnp.ones((D, 2), jnp.float64), 0, None)


def test_bad_input_is_a_clear_value_error(raw):
    _, problems = raw
    p = problems["packed"]
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="layout"):
        ms.make_problem(key, 5, 1, 10, layout="dense")
    with pytest.raises(ValueError, match="storage dtype"):
        ms.make_problem(key, 5, 1, 10, dtype=jnp.int32)
    with pytest.raises(ValueError, match="d must be a positive integer"):
        ms.make_problem(key, 0, 1, 10)
    with pytest.raises(ValueError, match="cannot exceed"):
        ms.make_problem(key, 3, 4, 10)
    with pytest.raises(ValueError, match="y must have shape"):
        ms.gradient(p.operator, p.y[:-1], jnp.ones((D, 2)))
    with pytest.raises(ValueError, match="passes"):
        ms.gradient(p.operator, p.y, jnp.ones((D, 2)), passes=3)
    with pytest.raises(ValueError, match="jax_enable_x64"):
        ms.make_problem(key, 5, 1, 10, dtype=jnp.float64)
    with pytest.raises(ValueError, match="step constant"):
        ms.step_size(p.y, jnp.ones((D, 2)), c=0.0)
    streamed = ms.sensing_operator(key, 5, 10, streamed=True)
    with pytest.raises(ValueError, match="one pass"):
        ms.residual_adjoint(streamed, jnp.zeros(10), jnp.zeros((5, 5)), passes=2)


def test_memory_threshold():
    assert ms.operator_bytes(100, 5000, "full", jnp.float32) == 5000 * 10_000 * 4
    assert ms.operator_bytes(100, 5000, "packed", jnp.bfloat16) == 5000 * 5050 * 2
    assert ms.fits_in_memory(100, 5000, "packed", available=10**9)  # 101 MB <= half of 1 GB
    assert not ms.fits_in_memory(100, 5000, "full", available=300 * 10**6)  # 200 MB > half of 300 MB
    assert ms.available_memory_bytes() > 0


def test_population_gradient_and_rank_one_critical_points(x64, getkey):
    d = 7
    U_star = ms.planted_factor(getkey(), d, 3, jnp.float64)
    x_star = U_star @ U_star.T
    U = jax.random.normal(getkey(), (d, 4), jnp.float64)
    np.testing.assert_allclose(ms.population_gradient(U, x_star), jax.grad(ms.population_loss)(U, x_star), rtol=1e-12)
    points, lams = ms.rank_one_critical_points(x_star)
    assert points.shape == (7, d)  # 0 and +-sqrt(lambda_k) v_k for k = 1, 2, 3
    eig = np.sort(np.linalg.eigvalsh(np.asarray(x_star)))[::-1][:3]
    hess = jax.vmap(jax.hessian(lambda u: ms.population_loss(u[:, None], x_star)))(points)
    for u, lam, H in zip(points, lams, hess):
        np.testing.assert_allclose(ms.population_gradient(u[:, None], x_star), 0, atol=1e-12)
        np.testing.assert_allclose(H, ms.rank_one_hessian(u, x_star), atol=1e-12)
        h = np.linalg.eigvalsh(np.asarray(H))
        if lam == 0:  # u = 0: Hessian -2 X*, a saddle with eigenvalue -2 lambda_1
            np.testing.assert_allclose(h[0], -2 * eig[0], rtol=1e-12)
        elif np.isclose(lam, eig[0], rtol=1e-10):  # the global minima: Hessian PSD, smallest eigenvalue 2(lambda_1 - lambda_2)
            np.testing.assert_allclose(h[0], 2 * (eig[0] - eig[1]), rtol=1e-10)
        else:  # the other eigenvectors: saddles
            assert h[0] < -1e-3


def test_population_loss_is_the_expected_loss(getkey):
    """E <S_i, M>^2 = ||M||_F^2 for Gaussian A_i: the mean of 1/2 r_i^2 over many measurements is F(U)."""
    d, m = 4, 60_000
    p = ms.make_problem(getkey(), d, 1, m, streamed=False)
    U = jax.random.normal(getkey(), (d, 2))
    np.testing.assert_allclose(ms.loss(p.operator, p.y, U), ms.population_loss(U, p.x_star), rtol=0.03)


def test_effective_rank_and_singular_values():
    U = jnp.diag(jnp.array([2.0, 1.0, 1.0, 0.0]))
    np.testing.assert_allclose(ms.top_singular_values(U, 6), [2, 1, 1, 0, 0, 0])
    p = np.array([4.0, 1.0, 1.0]) / 6.0  # eigenvalues of U U^T, normalized
    np.testing.assert_allclose(ms.effective_rank(U), np.exp(-np.sum(p * np.log(p))), rtol=1e-6)
    np.testing.assert_allclose(ms.effective_rank(jnp.eye(5)), 5.0, rtol=1e-6)
