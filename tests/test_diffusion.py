"""Tests for cartsim.environment.diffusion (exact DCT diffusion-decay propagator).

Reference solutions used here are independent of the DCT implementation: closed-form
decay, exact discrete moments of the 5-point stencil, the exact lattice heat kernel
(modified Bessel functions), the continuum Gaussian with its leading O(h²) correction,
and a sparse-matrix Neumann Laplacian fed to ``expm_multiply`` / ``spsolve``.  The last
test checks the cytokine fields' ``advance`` (cartsim.environment.cytokines), which keeps
fields as DCT coefficients, against one plain double-precision step per field.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy.sparse.linalg import expm_multiply, spsolve
from scipy.special import ive

import cartsim.environment.diffusion as diffusion_mod
from cartsim.environment.cytokines import NEGLIGIBLE, CytokineFields
from cartsim.environment.diffusion import (
    SECONDS_PER_MINUTE,
    DiffusionDecaySolver,
    diffuse_decay,
)
from cartsim.environment.space import make_space

from .conftest import small_config

LN2 = math.log(2.0)


# -- helpers ----------------------------------------------------------------------
def neumann_laplacian(nx: int, ny: int, h: float) -> sp.csr_matrix:
    """5-point Laplacian, no-flux (ghost = edge) boundaries, C-order flattening."""

    def lap1(n: int) -> sp.csr_matrix:
        main = -2.0 * np.ones(n)
        main[0] += 1.0
        main[-1] += 1.0
        off = np.ones(n - 1)
        return sp.diags([off, main, off], [-1, 0, 1], shape=(n, n), format="csr")

    return (sp.kron(lap1(nx), sp.identity(ny)) + sp.kron(sp.identity(nx), lap1(ny))).tocsr() / h**2


def reference_step(
    u0: np.ndarray, h: float, d_um2_s: float, half_life: float | None, dt: float, src=None
) -> np.ndarray:
    """Exact affine step via expm of the augmented matrix [[A, s], [0, 0]]."""
    nx, ny = u0.shape
    n = nx * ny
    k = 0.0 if half_life is None else LN2 / half_life
    a = d_um2_s * SECONDS_PER_MINUTE * neumann_laplacian(nx, ny, h) - k * sp.identity(n)
    s = np.zeros(n) if src is None else np.asarray(src, float).ravel()
    aug = sp.bmat([[a, sp.csr_matrix(s[:, None])], [None, sp.csr_matrix((1, 1))]]).tocsc()
    v = np.append(u0.ravel(), 1.0)
    return expm_multiply(aug * dt, v)[:n].reshape(nx, ny)


def centred_moments(u: np.ndarray, h: float) -> tuple[float, float, float, float, float]:
    """Mass-weighted mean x, mean y, var x, var y, cov xy (µm, µm²)."""
    x = np.arange(u.shape[0])[:, None] * h
    y = np.arange(u.shape[1])[None, :] * h
    m = u.sum()
    mx = (x * u).sum() / m
    my = (y * u).sum() / m
    vx = ((x - mx) ** 2 * u).sum() / m
    vy = ((y - my) ** 2 * u).sum() / m
    cxy = ((x - mx) * (y - my) * u).sum() / m
    return mx, my, vx, vy, cxy


def run(solver: DiffusionDecaySolver, u: np.ndarray, n: int, src=None) -> np.ndarray:
    for _ in range(n):
        u = solver.step(u, src)
    return u


# -- pure decay -------------------------------------------------------------------
@pytest.mark.parametrize("diffusivity", [0.0, 50.0])
@pytest.mark.parametrize("dt", [1e-3, 0.37, 5.0, 60.0, 240.0])
def test_uniform_field_decays_exponentially(diffusivity: float, dt: float) -> None:
    half_life = 30.0
    solver = DiffusionDecaySolver((23, 31), 10.0, diffusivity, half_life, dt)
    u = np.full((23, 31), 7.5)
    n_steps = max(1, int(round(240.0 / dt))) if dt >= 0.37 else 50
    for i in range(1, n_steps + 1):
        u = solver.step(u)
        expected = 7.5 * math.exp(-i * dt * LN2 / half_life)
        np.testing.assert_allclose(u, expected, rtol=1e-12, atol=0)


@pytest.mark.parametrize("diffusivity", [0.0, 25.0])
@pytest.mark.parametrize("with_source", [False, True])
def test_one_long_step_equals_many_short_steps(diffusivity: float, with_source: bool) -> None:
    rng = np.random.default_rng(1)
    shape = (19, 27)
    u0 = rng.random(shape) * 1e3
    u0[5, 7] = 5e4  # a sharp feature
    src = rng.random(shape) * 10.0 if with_source else None
    t_total = 45.0
    long = DiffusionDecaySolver(shape, 12.0, diffusivity, 17.0, t_total).step(u0, src)
    for n in (3, 10, 90):
        short = run(DiffusionDecaySolver(shape, 12.0, diffusivity, 17.0, t_total / n), u0, n, src)
        np.testing.assert_allclose(short, long, rtol=1e-10, atol=1e-12 * long.max())


def test_zero_diffusivity_is_pointwise_ode_solution() -> None:
    rng = np.random.default_rng(2)
    u0 = rng.random((8, 9))
    src = rng.random((8, 9))
    k, dt = LN2 / 12.0, 7.0
    out = DiffusionDecaySolver((8, 9), 5.0, 0.0, 12.0, dt).step(u0, src)
    expected = u0 * math.exp(-k * dt) + src * (1.0 - math.exp(-k * dt)) / k
    np.testing.assert_allclose(out, expected, rtol=1e-14)
    # no decay, no diffusion: u + s dt
    out = DiffusionDecaySolver((8, 9), 5.0, 0.0, None, dt).step(u0, src)
    np.testing.assert_allclose(out, u0 + src * dt, rtol=1e-15)


def test_no_decay_none_and_inf_are_equivalent() -> None:
    rng = np.random.default_rng(3)
    u0 = rng.random((12, 10))
    a = DiffusionDecaySolver((12, 10), 10.0, 30.0, None, 3.0)
    b = DiffusionDecaySolver((12, 10), 10.0, 30.0, math.inf, 3.0)
    assert a.decay_rate_per_min == b.decay_rate_per_min == 0.0
    assert a.half_life_min is None and b.half_life_min is None
    np.testing.assert_array_equal(a.step(u0), b.step(u0))


# -- agreement with an independent sparse-matrix propagator ----------------------------
@pytest.mark.parametrize(
    ("shape", "h", "diffusivity", "half_life", "dt"),
    [
        ((17, 23), 10.0, 20.0, 15.0, 2.0),
        ((1, 30), 5.0, 3.0, None, 10.0),  # 1-D degenerate grid
        ((9, 9), 20.0, 100.0, 4.0, 0.05),
        ((13, 6), 8.0, 1.0, 600.0, 500.0),  # very long step
    ],
)
def test_matches_expm_of_sparse_neumann_laplacian(shape, h, diffusivity, half_life, dt) -> None:
    rng = np.random.default_rng(4)
    u0 = rng.random(shape) ** 4 * 100.0
    src = rng.random(shape)
    solver = DiffusionDecaySolver(shape, h, diffusivity, half_life, dt)
    for s in (None, src):
        got = solver.step(u0, s)
        ref = reference_step(u0, h, diffusivity, half_life, dt, s)
        np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-11 * np.abs(ref).max())


def test_scalar_source_equals_uniform_array_source() -> None:
    rng = np.random.default_rng(5)
    u0 = rng.random((14, 11))
    solver = DiffusionDecaySolver((14, 11), 10.0, 40.0, 20.0, 3.0)
    np.testing.assert_allclose(
        solver.step(u0, 2.5), solver.step(u0, np.full((14, 11), 2.5)), rtol=1e-13, atol=1e-13
    )


# -- diffusion against analytic solutions ------------------------------------------
def test_point_source_matches_exact_lattice_heat_kernel() -> None:
    # Semi-discrete 1-D heat equation from a delta: u_j(t) = e^{-2τ} I_j(2τ), τ = D t / h².
    n, c, h, d = 101, 50, 10.0, 5.0  # D in µm²/s; τ ≤ 7.5, so σ ≤ 4 sites ≪ 50
    u0 = np.zeros((n, n))
    u0[c, c] = 1000.0
    solver = DiffusionDecaySolver((n, n), h, d, None, 0.5)
    u = u0
    for i in range(1, 6):
        u = solver.step(u)
        tau = d * SECONDS_PER_MINUTE * 0.5 * i / h**2
        k1 = ive(np.abs(np.arange(n) - c), 2.0 * tau)
        np.testing.assert_allclose(u, 1000.0 * np.outer(k1, k1), rtol=0, atol=1e-12 * u.max())


def lattice_kernel(n: int, c: int, tau: float) -> np.ndarray:
    """Exact 1-D semi-discrete heat kernel e^{-2τ} I_j(2τ) from site c on n no-flux sites.

    The cell-centred wall (ghost value = edge value) reflects about the half-site j = -1/2
    (and n - 1/2), so the wall is an image source at -1 - c (and 2n - 1 - c).  Only images
    within reach are summed: for τ ≤ 30 the kernel is < 1e-180 beyond 290 sites, so on
    sides of 300 sites or more the further images (reflections of reflections) vanish.
    """
    j = np.arange(n)
    k = np.zeros(n)
    for image in (c, -1 - c, 2 * n - 1 - c):
        k += ive(np.abs(j - image), 2.0 * tau)
    return k


@pytest.mark.parametrize(
    ("shape", "dtype"),
    [
        ((1000, 1000), np.float64),
        ((997, 1024), np.float64),  # a prime side: the transform takes another FFT path
        ((1000, 1000), np.float32),
        ((300, 1001), np.float32),
    ],
)
def test_large_grid_matches_exact_lattice_kernel_with_walls_and_decay(shape, dtype) -> None:
    # A point release 3 sites from one wall and ~40 from the other: the no-flux image and
    # the decay are both visible, and the sizes are the large / awkward ones.
    (nx, ny), h, d, half_life, dt = shape, 10.0, 10.0, 20.0, 1.5
    cx, cy = 3, ny - 41
    u = np.zeros(shape, dtype=dtype)
    u[cx, cy] = 1e4
    solver = DiffusionDecaySolver(shape, h, d, half_life, dt, dtype=dtype)
    for i in range(1, 4):
        u = solver.step(u)
        t = dt * i
        tau = d * SECONDS_PER_MINUTE * t / h**2  # 9 · i
        exact = 1e4 * math.exp(-LN2 * t / half_life) * np.outer(
            lattice_kernel(nx, cx, tau), lattice_kernel(ny, cy, tau)
        )
        tol = 1e-12 if dtype == np.float64 else 2e-6
        assert u.dtype == dtype
        np.testing.assert_allclose(u, exact, rtol=0, atol=tol * exact.max())


@pytest.mark.parametrize("offset", [(0, 0), (7, -4)])
def test_second_moment_grows_by_exactly_2Dt(offset: tuple[int, int]) -> None:
    # For the 5-point stencil d/dt Σ x² u = 2 D Σ u exactly (no O(h²) error), until
    # mass reaches the no-flux edges.  Here σ(t) ≲ 6 sites and the edges are ≥ 50
    # sites away, so the edge values are < 1e-15 of the peak.
    n, h, d = 121, 5.0, 1.0
    cx, cy = n // 2 + offset[0], n // 2 + offset[1]
    x = np.arange(n)[:, None] * h
    y = np.arange(n)[None, :] * h
    # anisotropic, tilted initial blob of width ~2-3 sites
    dx, dy = x - cx * h, y - cy * h
    u0 = np.exp(-(dx**2 / (2 * 12.0**2) + dy**2 / (2 * 8.0**2) + dx * dy / 300.0))
    mx0, my0, vx0, vy0, c0 = centred_moments(u0, h)
    solver = DiffusionDecaySolver((n, n), h, d, None, 0.7)
    u = u0
    for i in range(1, 9):
        u = solver.step(u)
        t = 0.7 * i
        mx, my, vx, vy, cxy = centred_moments(u, h)
        growth = 2.0 * d * SECONDS_PER_MINUTE * t  # µm²
        assert vx - vx0 == pytest.approx(growth, rel=1e-9)
        assert vy - vy0 == pytest.approx(growth, rel=1e-9)
        assert cxy == pytest.approx(c0, rel=1e-9)  # diffusion does not change covariance
        assert (mx, my) == pytest.approx((mx0, my0), rel=1e-12)
    # test is meaningful: edges untouched, and the spread actually grew a lot
    edges = np.concatenate([u[0, :], u[-1, :], u[:, 0], u[:, -1]])
    assert edges.max() < 1e-15 * u.max()
    assert vx > 3.0 * vx0 and vy > 3.0 * vy0


def gaussian_run(h: float) -> tuple[float, float, float]:
    """Gaussian σ0 = 20 µm, D = 10 µm²/s, t = 5 min on a 1.6 mm square at spacing h.

    Returns (max |u − u_exact| / peak, peak/peak_exact − 1, predicted peak error).
    """
    length, s0, d, t, mass = 1600.0, 20.0, 10.0, 5.0, 1.0
    n = int(round(length / h)) + 1
    x = (np.arange(n) - (n - 1) / 2) * h
    r2 = x[:, None] ** 2 + x[None, :] ** 2

    def gauss(var: float) -> np.ndarray:  # amount per site of a continuum Gaussian
        return mass * h * h / (2 * np.pi * var) * np.exp(-r2 / (2 * var))

    two_dt = 2.0 * d * SECONDS_PER_MINUTE * t
    var = s0**2 + two_dt
    u = DiffusionDecaySolver((n, n), h, d, None, t).step(gauss(s0**2))
    exact = gauss(var)
    err = np.abs(u - exact).max() / exact.max()
    peak_err = u.max() / exact.max() - 1.0
    # The lattice walk adds a 4th cumulant κ4 = 2Dt·h² per axis (the continuum adds 0);
    # Edgeworth: peak factor per axis 1 + κ4/(8σ⁴)  ⇒ 2-D peak error ≈ 2Dt h² / (4σ⁴).
    predicted = two_dt * h**2 / (4.0 * var**2)
    return err, peak_err, predicted


def test_gaussian_matches_continuum_with_second_order_spatial_error() -> None:
    err_coarse, peak_coarse, pred_coarse = gaussian_run(10.0)  # σ(t) = 8 sites
    err_fine, peak_fine, pred_fine = gaussian_run(5.0)
    # honest absolute tolerance: the O(h²) stencil error, ~0.4 % at h = σ/8
    assert err_coarse < 5e-3 and err_fine < 1.3e-3
    # the error is the predicted leading O(h²) term, located at the peak
    assert peak_coarse == pytest.approx(pred_coarse, rel=0.03)
    assert peak_fine == pytest.approx(pred_fine, rel=0.01)
    assert err_coarse == pytest.approx(abs(peak_coarse), rel=0.05)
    # second-order convergence
    assert 3.8 < err_coarse / err_fine < 4.2


# -- mass balance ------------------------------------------------------------------
def test_mass_conserved_without_decay_even_when_plume_hits_walls() -> None:
    rng = np.random.default_rng(6)
    shape = (30, 40)
    u0 = np.zeros(shape)
    u0[:3, :4] = rng.random((3, 4)) * 1e4  # blob in a corner: immediately hits two walls
    m0 = u0.sum()
    solver = DiffusionDecaySolver(shape, 10.0, 50.0, None, 2.0)
    u = u0
    for _ in range(200):
        u = solver.step(u)
        assert abs(u.sum() - m0) <= 1e-10 * m0
    assert u[-1, -1] > 0.5 * m0 / u.size  # it really reached the far corner
    # one very long step: uniform equilibrium at the same total
    eq = DiffusionDecaySolver(shape, 10.0, 50.0, None, 1e6).step(u0)
    np.testing.assert_allclose(eq, m0 / u.size, rtol=1e-10)


def test_mass_with_decay_is_exponential() -> None:
    rng = np.random.default_rng(7)
    u0 = rng.random((25, 25)) ** 8 * 1e5
    m0, half_life, dt = u0.sum(), 9.0, 1.5
    solver = DiffusionDecaySolver((25, 25), 10.0, 80.0, half_life, dt)
    u = u0
    for i in range(1, 80):
        u = solver.step(u)
        assert u.sum() == pytest.approx(m0 * math.exp(-LN2 * i * dt / half_life), rel=1e-10)


@pytest.mark.parametrize("m0_scale", [0.0, 1.0, 50.0])  # approach S/k from below and above
def test_mass_with_source_and_decay_relaxes_to_S_over_k(m0_scale: float) -> None:
    rng = np.random.default_rng(8)
    shape = (20, 28)
    u0 = rng.random(shape) * m0_scale
    src = np.zeros(shape)
    src[3:6, 10:12] = rng.random((3, 2)) * 40.0  # localised secretion
    half_life, dt = 6.0, 0.8
    k, s_tot, m0 = LN2 / half_life, src.sum(), u0.sum()
    solver = DiffusionDecaySolver(shape, 10.0, 30.0, half_life, dt)
    u = u0
    for i in range(1, 301):  # 40 half-lives
        u = solver.step(u, src)
        t = i * dt
        expected = s_tot / k + (m0 - s_tot / k) * math.exp(-k * t)
        assert u.sum() == pytest.approx(expected, rel=1e-10)
    assert u.sum() == pytest.approx(s_tot / k, rel=1e-9)


def test_mass_with_source_no_decay_grows_linearly() -> None:
    rng = np.random.default_rng(9)
    u0 = rng.random((15, 15))
    src = rng.random((15, 15))
    solver = DiffusionDecaySolver((15, 15), 10.0, 30.0, None, 0.25)
    u = run(solver, u0, 40, src)
    assert u.sum() == pytest.approx(u0.sum() + src.sum() * 10.0, rel=1e-12)


def test_uniform_source_steady_state_is_s_over_k() -> None:
    rng = np.random.default_rng(10)
    s, half_life = 3.0, 20.0
    k = LN2 / half_life
    u0 = rng.random((18, 22)) * 100.0  # arbitrary initial condition
    solver = DiffusionDecaySolver((18, 22), 10.0, 15.0, half_life, 5.0)
    u = run(solver, u0, 200, np.full((18, 22), s))  # 1000 min = 50 half-lives
    np.testing.assert_allclose(u, s / k, rtol=1e-12)
    # scalar source path, single huge step
    u = DiffusionDecaySolver((18, 22), 10.0, 15.0, half_life, 1e5).step(u0, s)
    np.testing.assert_allclose(u, s / k, rtol=1e-12)


def test_nonuniform_source_steady_state_matches_linear_solve() -> None:
    rng = np.random.default_rng(11)
    shape, h, d, half_life = (16, 21), 10.0, 5.0, 10.0
    k = LN2 / half_life
    src = np.zeros(shape)
    src[rng.integers(0, 16, 6), rng.integers(0, 21, 6)] = 10.0
    a = k * sp.identity(src.size) - d * SECONDS_PER_MINUTE * neumann_laplacian(*shape, h)
    ref = spsolve(a.tocsc(), src.ravel()).reshape(shape)
    got = DiffusionDecaySolver(shape, h, d, half_life, 2000.0).step(np.zeros(shape), src)
    np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-12 * ref.max())


# -- positivity & symmetry -----------------------------------------------------------
_grid = st.tuples(st.integers(1, 12), st.integers(1, 12))
_value = st.one_of(st.just(0.0), st.floats(0.0, 1e6, allow_nan=False, allow_infinity=False))


@st.composite
def _problem(draw):
    shape = draw(_grid)
    field = draw(hnp.arrays(np.float64, shape, elements=_value))
    src = draw(st.one_of(st.none(), hnp.arrays(np.float64, shape, elements=_value)))
    spacing = draw(st.floats(0.5, 50.0))
    diffusivity = draw(st.one_of(st.just(0.0), st.floats(1e-3, 1e3)))
    half_life = draw(st.one_of(st.none(), st.floats(1e-3, 1e4)))
    dt = draw(st.floats(1e-4, 1e4))
    return field, src, spacing, diffusivity, half_life, dt


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_problem())
def test_property_non_negative_and_mass_balanced(problem) -> None:
    field, src, spacing, diffusivity, half_life, dt = problem
    out = diffuse_decay(field, spacing, diffusivity, half_life, dt, src)
    assert out.shape == field.shape and out.dtype == np.float64
    assert np.all(np.isfinite(out))
    assert np.all(out >= 0.0)
    # total: M0 e^{-k dt} + S φ(-k), diffusion moves amount but never changes it
    k = 0.0 if half_life is None else LN2 / half_life
    phi0 = dt if k == 0.0 else -math.expm1(-k * dt) / k
    s_tot = 0.0 if src is None else src.sum()
    expected = field.sum() * math.exp(-k * dt) + s_tot * phi0
    scale = field.sum() + s_tot * phi0
    assert abs(out.sum() - expected) <= 1e-12 * scale + 1e-300


def test_sharp_spike_stays_non_negative() -> None:
    # A lone spike is where DCT round-off produces tiny negatives (≈ -1e-10 here)
    # that the exact propagator cannot; they must be clipped.
    u0 = np.zeros((64, 64))
    u0[0, 0] = 1e6
    u0[40, 17] = 1e6
    solver = DiffusionDecaySolver((64, 64), 10.0, 0.5, 60.0, 0.01)
    u = run(solver, u0, 5)
    assert u.min() >= 0.0
    # clipping removed round-off only: the total is still exact
    assert u.sum() == pytest.approx(2e6 * math.exp(-LN2 * 0.05 / 60.0), rel=1e-12)


def test_transpose_symmetry_is_preserved() -> None:
    rng = np.random.default_rng(12)
    a = rng.random((33, 33)) ** 6 * 1e3
    u0 = a + a.T
    src = np.zeros((33, 33))
    src[4, 20] = src[20, 4] = 7.0
    solver = DiffusionDecaySolver((33, 33), 10.0, 20.0, 25.0, 1.3)
    u = run(solver, u0, 20, src)
    np.testing.assert_allclose(u, u.T, rtol=0, atol=1e-13 * u.max())


def test_mirror_symmetry_of_no_flux_walls() -> None:
    # Reflecting the grid commutes with the propagator (both walls are identical).
    rng = np.random.default_rng(13)
    u0 = rng.random((21, 14)) ** 5
    solver = DiffusionDecaySolver((21, 14), 10.0, 20.0, 25.0, 4.0)
    for axis in (0, 1):
        np.testing.assert_allclose(
            solver.step(np.flip(u0, axis)), np.flip(solver.step(u0), axis), atol=1e-14
        )


# -- API behaviour -------------------------------------------------------------------
def test_input_not_modified_and_output_is_float64() -> None:
    rng = np.random.default_rng(14)
    u0 = rng.random((10, 12)).astype(np.float32)
    src = rng.random((10, 12))
    u0_copy, src_copy = u0.copy(), src.copy()
    for d in (0.0, 10.0):
        out = DiffusionDecaySolver((10, 12), 10.0, d, None, 1.0).step(u0, src)
        assert out.dtype == np.float64 and out.shape == (10, 12)
        assert out is not u0 and not np.shares_memory(out, src)
    np.testing.assert_array_equal(u0, u0_copy)
    np.testing.assert_array_equal(src, src_copy)
    # no-op step (D = 0, no decay, no source) still returns a fresh array
    u64 = rng.random((3, 3))
    out = DiffusionDecaySolver((3, 3), 1.0, 0.0, None, 1.0).step(u64)
    assert not np.shares_memory(out, u64)
    np.testing.assert_array_equal(out, u64)


def test_function_matches_solver() -> None:
    rng = np.random.default_rng(15)
    u0 = rng.random((9, 13))
    src = rng.random((9, 13))
    solver = DiffusionDecaySolver((9, 13), 7.0, 11.0, 30.0, 2.0)
    np.testing.assert_array_equal(diffuse_decay(u0, 7.0, 11.0, 30.0, 2.0, src), solver.step(u0, src))


def test_step_does_not_recompute_multipliers(monkeypatch: pytest.MonkeyPatch) -> None:
    solver = DiffusionDecaySolver((30, 30), 10.0, 10.0, 30.0, 1.0)

    def boom(*args, **kwargs):
        raise AssertionError("eigenvalues recomputed during step()")

    monkeypatch.setattr(diffusion_mod, "_neumann_eigenvalues", boom)
    monkeypatch.setattr(diffusion_mod.np, "exp", boom)
    monkeypatch.setattr(diffusion_mod.np, "expm1", boom)
    solver.step(np.ones((30, 30)), np.ones((30, 30)))


def test_properties_and_units() -> None:
    s = DiffusionDecaySolver((4, 5), 10.0, 2.0, 30.0, 0.5)
    assert s.shape == (4, 5)
    assert s.spacing_um == 10.0 and s.dt_min == 0.5 and s.half_life_min == 30.0
    assert s.diffusivity_um2_per_s == 2.0
    assert s.diffusivity_um2_per_min == 120.0
    assert s.decay_rate_per_min == pytest.approx(LN2 / 30.0)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"spacing_um": 0.0}, "spacing_um"),
        ({"spacing_um": -1.0}, "spacing_um"),
        ({"spacing_um": math.nan}, "spacing_um"),
        ({"spacing_um": math.inf}, "spacing_um"),
        ({"diffusivity_um2_per_s": -1e-9}, "diffusivity_um2_per_s"),
        ({"diffusivity_um2_per_s": math.nan}, "diffusivity_um2_per_s"),
        ({"diffusivity_um2_per_s": "fast"}, "diffusivity_um2_per_s"),
        ({"dt_min": 0.0}, "dt_min"),
        ({"dt_min": -0.1}, "dt_min"),
        ({"dt_min": math.inf}, "dt_min"),
        ({"half_life_min": 0.0}, "half_life_min"),
        ({"half_life_min": -5.0}, "half_life_min"),
        ({"half_life_min": math.nan}, "half_life_min"),
        ({"half_life_min": -math.inf}, "half_life_min"),
        ({"shape": (0, 5)}, "shape"),
        ({"shape": (5,)}, "shape"),
        ({"shape": (5, 5, 5)}, "shape"),
        ({"shape": (5.0, 5)}, "shape"),
        ({"shape": 5}, "shape"),
    ],
)
def test_bad_constructor_arguments_raise(kwargs: dict, name: str) -> None:
    args = {
        "shape": (5, 6),
        "spacing_um": 10.0,
        "diffusivity_um2_per_s": 10.0,
        "half_life_min": 30.0,
        "dt_min": 1.0,
    } | kwargs
    with pytest.raises(ValueError, match=name):
        DiffusionDecaySolver(**args)


def test_bad_step_arguments_raise() -> None:
    solver = DiffusionDecaySolver((5, 6), 10.0, 10.0, 30.0, 1.0)
    with pytest.raises(ValueError, match="field"):
        solver.step(np.zeros((6, 5)))
    with pytest.raises(ValueError, match="source_per_min"):
        solver.step(np.zeros((5, 6)), np.zeros((5, 5)))
    with pytest.raises(ValueError, match="field"):
        diffuse_decay(np.zeros(5), 10.0, 10.0, 30.0, 1.0)
    with pytest.raises(ValueError, match="dt_min"):
        diffuse_decay(np.zeros((3, 3)), 10.0, 10.0, 30.0, 0.0)


def test_single_precision_solver_matches_double():
    """The float32 solver (used for cytokine fields) agrees with float64 to single precision."""
    rng = np.random.default_rng(5)
    field = rng.random((40, 30)) * 1e4
    source = rng.random((40, 30)) * 50
    exact = DiffusionDecaySolver((40, 30), 15.0, 10.0, 12.9, 10.0)
    single = DiffusionDecaySolver((40, 30), 15.0, 10.0, 12.9, 10.0, dtype=np.float32)
    a, b = field.copy(), field.astype(np.float32)
    for _ in range(50):
        a, b = exact.step(a, source), single.step(b, source)
    assert b.dtype == np.float32
    np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-5 * a.max())
    with pytest.raises(ValueError, match="dtype"):
        DiffusionDecaySolver((4, 4), 15.0, 10.0, 12.9, 10.0, dtype=np.int64)


# -- spectral representation (transform / step_spectral / synthesize / step_mean) ------
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_spectral_stepping_matches_step(dtype) -> None:
    # Keeping the coefficients between steps (one inverse transform per step) gives the
    # steps of step() up to round-off: the carried coefficients are just not clipped.
    rng = np.random.default_rng(16)
    shape = (45, 32)
    u0 = rng.random(shape) ** 6 * 1e3
    src = np.zeros(shape)
    src[rng.integers(0, 45, 9), rng.integers(0, 32, 9)] = 50.0
    solver = DiffusionDecaySolver(shape, 10.0, 10.0, 12.9, 5.0, dtype=dtype)
    coeffs = solver.transform(u0)
    assert coeffs.dtype == dtype and coeffs.shape == shape
    src_hat = solver.transform(src / 2.0)  # the rate comes in through source_scale
    u = u0
    for _ in range(30):
        u = solver.step(u, src)
        solver.step_spectral(coeffs, src_hat, 2.0)
        got = solver.synthesize(coeffs)
        assert got.dtype == dtype and got.min() >= 0.0
        tol = 1e-12 if dtype == np.float64 else 2e-6
        np.testing.assert_allclose(got, u, rtol=0, atol=tol * u.max())
    # the same result written into a given array, and without a source: decay + spread
    out = np.full(shape, -1.0, dtype=dtype)
    assert solver.synthesize(solver.step_spectral(coeffs), out=out) is out
    np.testing.assert_allclose(out, solver.step(u), rtol=0, atol=tol * u.max())


def test_transform_and_synthesize_are_inverse_and_leave_inputs_alone() -> None:
    rng = np.random.default_rng(17)
    a = rng.random((21, 34))
    a_copy = a.copy()
    solver = DiffusionDecaySolver((21, 34), 10.0, 10.0, 30.0, 1.0)
    c = solver.transform(a)
    c_copy = c.copy()
    assert not np.shares_memory(c, a)
    np.testing.assert_allclose(solver.synthesize(c), a, rtol=0, atol=1e-14)
    np.testing.assert_array_equal(a, a_copy)
    np.testing.assert_array_equal(c, c_copy)
    # orthonormal: the DC coefficient is the total / sqrt(N), and norms are kept
    assert c[0, 0] == pytest.approx(a.sum() / math.sqrt(a.size), rel=1e-13)
    assert np.linalg.norm(c) == pytest.approx(np.linalg.norm(a), rel=1e-13)
    # a float64 grid into a float32 out array
    out = np.empty((21, 34), np.float32)
    assert solver.synthesize(c, out=out) is out
    np.testing.assert_allclose(out, a, rtol=1e-6)


def test_step_spectral_source_is_linear_in_the_source() -> None:
    # sources that are multiples of one array can share one forward transform
    rng = np.random.default_rng(18)
    shape = (16, 25)
    base = rng.random(shape)
    solver = DiffusionDecaySolver(shape, 10.0, 30.0, 10.0, 3.0)
    base_hat = solver.transform(base)
    a = solver.step_spectral(solver.transform(np.zeros(shape)), base_hat, 7.5)
    b = solver.step_spectral(solver.transform(np.zeros(shape)), solver.transform(7.5 * base))
    np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-13 * np.abs(b).max())
    expected = solver.step(np.zeros(shape), 7.5 * base)
    np.testing.assert_allclose(solver.synthesize(a), expected, rtol=1e-12)


def test_synthesize_floor_flushes_small_values_and_negatives() -> None:
    solver = DiffusionDecaySolver((3, 4), 10.0, 10.0, 30.0, 1.0)
    a = np.array([[1.0, 1e-10, -1e-12, 5e-9], [0.0, 2.0, 0.9e-9, -3.0], [4.0, 4.0, 4.0, 1.1e-9]])
    c = solver.transform(a)
    got = solver.synthesize(c, floor=1e-9)
    expected = np.where(a < 1e-9, 0.0, a)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-14)
    assert got[0, 1] == 0.0 and got[0, 2] == 0.0 and got[1, 2] == 0.0 and got[1, 3] == 0.0
    assert got[0, 3] > 0.0 and got[2, 3] > 0.0
    plain = solver.synthesize(c)  # default floor 0: only the negatives go
    assert plain[1, 3] == 0.0 and plain[0, 1] == pytest.approx(1e-10, abs=1e-14)
    with pytest.raises(ValueError, match="floor"):
        solver.synthesize(c, floor=-1.0)
    with pytest.raises(ValueError, match="out"):
        solver.synthesize(c, out=np.zeros((4, 3)))
    with pytest.raises(ValueError, match="coeffs"):
        solver.synthesize(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="coeffs"):
        solver.step_spectral(c.astype(np.float32))
    with pytest.raises(ValueError, match="source_coeffs"):
        solver.step_spectral(c, np.zeros((2, 2)))
    with pytest.raises(ValueError, match="values"):
        solver.transform(np.zeros(12))


@pytest.mark.parametrize("diffusivity", [0.0, 40.0])
def test_step_mean_is_the_exact_mean_of_step(diffusivity: float) -> None:
    rng = np.random.default_rng(19)
    shape = (14, 19)
    u0 = rng.random(shape) ** 3 * 100.0
    src = rng.random(shape) * 4.0
    solver = DiffusionDecaySolver(shape, 10.0, diffusivity, 25.0, 3.5)
    expected = solver.step(u0, src).mean()
    assert solver.step_mean(u0.mean(), src.mean()) == pytest.approx(expected, rel=1e-13)
    k = LN2 / 25.0
    assert solver.step_mean(2.0) == pytest.approx(2.0 * math.exp(-k * 3.5), rel=1e-15)


# -- cytokine fields (cartsim.environment.cytokines) -----------------------------------
class _Layer:
    def __init__(self, shape, value, dtype) -> None:
        self.data = np.full(shape, value, dtype=dtype)


class _Grid:
    def __init__(self, shape) -> None:
        self.shape = shape

    def create_property_layer(self, name, default_value, dtype):
        return _Layer(self.shape, default_value, dtype)


class _Tissue:
    """Just what CytokineFields reads of a tissue."""

    def __init__(self, width: int, height: int, stirred: bool) -> None:
        self.width, self.height = width, height
        self.space = make_space("stirred" if stirred else "grid", width, height)
        self.grid = _Grid((width, height))


@pytest.mark.parametrize("stirred", [False, True])
def test_cytokine_advance_matches_a_step_per_field(stirred: bool) -> None:
    """advance() = for each field: one double-precision step with its source, then flush.

    advance() shares one transform of the secreting cells among the cytokines, keeps each
    field's coefficients between intervals, and skips the transforms when stirred; none of
    that may change the result beyond single-precision round-off. The run covers secretion
    and kills, a field changed from outside, and fields decaying to exactly zero.
    """
    w, h, interval = 37, 23, 10.0
    cfg = small_config(tissue={"width": w, "height": h})
    fields = CytokineFields(_Tissue(w, h, stirred), cfg, interval)
    ref_solvers = {
        name: DiffusionDecaySolver(
            (w, h), cfg.tissue.site_um, p.diffusivity_um2_per_s, p.half_life_min, interval
        )
        for name, p in fields.params.items()
    }
    ref = {name: np.zeros((w, h)) for name in fields.names}
    rng = np.random.default_rng(20)
    for i in range(340):  # IL-6 (half-life 1 h) needs ~45 half-lives to fall below NEGLIGIBLE
        if i < 40 and i % 8 < 5:  # bursts of secretion and killing, then quiet
            sites = rng.choice(w * h, size=12, replace=False)
            fields.secrete(sites // h, sites % h, interval)
            if i % 3 == 0:
                kills = rng.choice(w * h, size=4, replace=False)
                fields.release_on_kill([(int(s // h), int(s % h)) for s in kills])
        if i == 25:  # somebody edits a field between intervals
            fields.fields["IFNg"][5, 7] += 500.0
            ref["IFNg"][5, 7] += 500.0
        for name, p in fields.params.items():
            rate = p.secreted_by["activated_cart"]
            source = (fields.pending[name] + rate * fields.cell_minutes) / interval
            new = ref_solvers[name].step(ref[name], source)
            if stirred:
                new[:] = new.mean()
            new[new < NEGLIGIBLE] = 0.0
            ref[name] = new
        fields.advance()
        for name in fields.names:
            got = fields.fields[name]
            assert got.dtype == np.float32 and got.min() >= 0.0
            scale = max(ref[name].max(), 1e-9)
            np.testing.assert_allclose(got, ref[name], rtol=0, atol=3e-6 * scale)
        assert not fields.cell_minutes.any() and not any(a.any() for a in fields.pending.values())
    # long after the last release every field is exactly zero again, and skipped
    for name in fields.names:
        assert not fields.fields[name].any() and not ref[name].any()
