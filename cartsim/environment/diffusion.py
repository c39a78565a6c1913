"""Cytokine field numerics: exact-in-time diffusion + first-order decay on a 2-D grid.

Model
-----
A field ``u`` (amount per site, e.g. molecules per site) lives on a regular grid of
square sites of side ``h`` (µm) and obeys the semi-discrete (method-of-lines) system

    du/dt = D Δ_h u − k u + s,        k = ln 2 / t_half,

where ``s`` is a source (amount per site per minute, constant over a step) and
``Δ_h`` is the 5-point Laplacian with no-flux (Neumann) edges in its cell-centred,
finite-volume form (ghost value = edge value), i.e. in 1-D

    (Δ_h u)_j = (u_{j-1} − 2 u_j + u_{j+1}) / h²,  with u_{-1} := u_0, u_N := u_{N-1}.

Each site only exchanges amount with its 4 neighbours, so diffusion conserves the
total exactly; only decay and sources change it.

Method
------
``Δ_h`` is diagonalised by the orthonormal type-II DCT ``C`` (``scipy.fft.dctn``,
``norm="ortho"``): ``Δ_h = Cᵀ Λ C`` with

    λ_pq = −(4/h²) [sin²(π p / 2Nx) + sin²(π q / 2Ny)],   p < Nx, q < Ny.

With ``μ_pq = D λ_pq − k ≤ 0`` the step is the exact solution of the semi-discrete
system for a source held constant over ``dt``:

    û ← e^{μ dt} û + φ(μ) ŝ,      φ(μ) = (e^{μ dt} − 1) / μ   (φ(0) = dt).

There is no time-discretisation error and no stability restriction on ``dt``; one
step of ``n·dt`` equals ``n`` steps of ``dt`` up to round-off.  The only error
w.r.t. the continuum PDE is the O(h²) spatial error of the 5-point stencil (the
discrete second moment still grows by exactly ``2 D t`` per axis).

Units
-----
Diffusivity is given in µm²/s (the usual literature unit) and converted internally
to µm²/min; half-life and time step are in minutes; spacing in µm.

Cost
----
A step with an array source is three 2-D real-to-real transforms (the DCT of the field
and of the source, and the inverse DCT), each run in place in a private copy; without a
source, or with a scalar one (it only feeds the λ = 0 mode), it is two.  The transforms
are ~90 % of the time; the multiplies by the precomputed multipliers and the clip are
single passes over the grid.  A caller that keeps a field as coefficients between steps
(:meth:`~DiffusionDecaySolver.transform`, :meth:`~DiffusionDecaySolver.step_spectral`,
:meth:`~DiffusionDecaySolver.synthesize`) saves the forward transform of the field: one
inverse transform per step, plus one forward transform per source array, which can be
shared by sources that are multiples of one array.  The multipliers are computed once in
``__init__`` (~3 ms at 300², ~20–35 ms at 1000², ~100 ms at 2000²).

The time grows as N log N in the number of sites N (~9–14 ns per site per step with a
source in float32 from 300² to 2000²) when both sides have only small prime factors.
scipy's DCT-II of length n runs a real FFT of the same length n, with no padding; a side
with a large prime factor goes through Bluestein's algorithm and is ~5x slower (a
float32 step with a source: 997² 59 ms against 1000² 11 ms; 1999² 330 ms against 2000²
56 ms).  Padding to a fast length would move the no-flux walls, so a grid is transformed
at its own size: prefer sides n with ``scipy.fft.next_fast_len(n, real=True) == n``.

Measured with ``timeit`` (numpy 2.5, scipy 1.18 with its ducc FFT, one FFT worker, CPU
time, best of 45 interleaved rounds on a shared 2-core AMD EPYC; runs differ by up to
~20 %), in ms per step of random data; "spectral" is ``step_spectral`` + ``synthesize``
into the field, with the ``transform`` of the source when there is one:

                     float32                            float64
    grid         step              spectral          step              spectral
                 source   none     source   none     source   none     source   none
    100×100      0.11     0.07     0.08     0.05     0.17     0.11     0.13     0.07
    300×300      0.84     0.55     0.66     0.33     1.5      0.94     1.25     0.57
    512×512      2.5      1.7      2.0      0.92     4.5      2.8      3.6      1.7
    1000×1000    11.3     6.9      8.8      4.4      24       14       19       9.2
    1024×1024    11.6     6.8      9.2      4.4      25       16       20       11
    2000×2000    56       37       50       22       102      65       86       47

``workers=2`` helps only when the second core is idle (on a loaded 2-core machine it was
~20 % slower), hence the default of one worker.
"""

from __future__ import annotations

import math
import operator
from typing import Final

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import fft

__all__ = ["DiffusionDecaySolver", "diffuse_decay", "SECONDS_PER_MINUTE"]

SECONDS_PER_MINUTE: Final[float] = 60.0

FloatArray = NDArray[np.float64]


def _finite_float(name: str, value: float) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a real number, got {value!r}") from None
    if not math.isfinite(x):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return x


def _decay_rate_per_min(half_life_min: float | None) -> float:
    """k = ln2 / t_half [1/min]; ``None`` or ``+inf`` means no decay (k = 0)."""
    if half_life_min is None:
        return 0.0
    try:
        t_half = float(half_life_min)
    except (TypeError, ValueError):
        raise ValueError(
            f"half_life_min must be a positive number, inf or None, got {half_life_min!r}"
        ) from None
    if t_half == math.inf:
        return 0.0
    if not (math.isfinite(t_half) and t_half > 0.0):
        raise ValueError(
            f"half_life_min must be a positive number, inf or None, got {half_life_min!r}"
        )
    return math.log(2.0) / t_half


def _neumann_eigenvalues(n: int, spacing_um: float) -> FloatArray:
    """λ_p = −(4/h²) sin²(π p / 2n), p = 0..n−1 [1/µm²]: 1-D no-flux 3-point Laplacian."""
    p = np.arange(n, dtype=np.float64)
    return -(4.0 / spacing_um**2) * np.sin(np.pi * p / (2.0 * n)) ** 2


class DiffusionDecaySolver:
    """Exact-in-time propagator for ``du/dt = D Δ_h u − k u + s`` on a fixed grid.

    Parameters
    ----------
    shape:
        Grid shape ``(Nx, Ny)`` in sites; fields passed to :meth:`step` must match.
    spacing_um:
        Site side length ``h`` [µm], > 0.
    diffusivity_um2_per_s:
        Diffusion coefficient ``D`` [µm²/s], >= 0 (converted to µm²/min inside).
    half_life_min:
        Decay half-life [min], > 0; ``None`` or ``math.inf`` disables decay.
        ``k = ln 2 / half_life_min``.
    dt_min:
        Step length [min], > 0.  Any value is stable and exact in time.
    workers:
        Passed to ``scipy.fft`` (number of threads); ``None`` = scipy default (1).
    dtype:
        Floating type of the computation and the result: float64 (default), or float32,
        which halves memory and runs a step ~1.5–2x faster (see the module's Cost table)
        at ~1e-7 relative precision (ample for cytokine fields).
    """

    def __init__(
        self,
        shape: tuple[int, int],
        spacing_um: float,
        diffusivity_um2_per_s: float,
        half_life_min: float | None,
        dt_min: float,
        *,
        workers: int | None = None,
        dtype: type = np.float64,
    ) -> None:
        try:
            nx, ny = (operator.index(n) for n in shape)
        except (TypeError, ValueError):
            raise ValueError(f"shape must be a pair of ints, got {shape!r}") from None
        if nx < 1 or ny < 1:
            raise ValueError(f"shape must be positive, got {shape!r}")
        h = _finite_float("spacing_um", spacing_um)
        if h <= 0.0:
            raise ValueError(f"spacing_um must be > 0, got {spacing_um!r}")
        d_um2_s = _finite_float("diffusivity_um2_per_s", diffusivity_um2_per_s)
        if d_um2_s < 0.0:
            raise ValueError(f"diffusivity_um2_per_s must be >= 0, got {diffusivity_um2_per_s!r}")
        k = _decay_rate_per_min(half_life_min)
        dt = _finite_float("dt_min", dt_min)
        if dt <= 0.0:
            raise ValueError(f"dt_min must be > 0, got {dt_min!r}")

        self._shape: tuple[int, int] = (nx, ny)
        self._spacing_um = h
        self._d_um2_per_s = d_um2_s
        self._d_um2_per_min = d_um2_s * SECONDS_PER_MINUTE
        self._half_life_min = None if k == 0.0 else float(half_life_min)  # type: ignore[arg-type]
        self._k_per_min = k
        self._dt_min = dt
        self._workers = workers
        self._dtype = np.dtype(dtype)
        if self._dtype not in (np.dtype(np.float64), np.dtype(np.float32)):
            raise ValueError(f"dtype must be float64 or float32, got {dtype!r}")

        self._zero_row = np.zeros(ny, dtype=self._dtype)  # see _floor
        self._zero_row.flags.writeable = False

        # Scalar (uniform, λ = 0) mode: exact pointwise ODE solution.
        self._growth0 = math.exp(-k * dt)
        self._phi0 = dt if k == 0.0 else -math.expm1(-k * dt) / k

        # Per-mode multipliers, computed once: e^{μ dt} and φ(μ) = expm1(μ dt)/μ.
        if self._d_um2_per_min > 0.0:
            lam = (
                _neumann_eigenvalues(nx, h)[:, None] + _neumann_eigenvalues(ny, h)[None, :]
            )
            mu = self._d_um2_per_min * lam - k  # [1/min], <= 0
            growth = np.exp(mu * dt)
            phi = np.full(self._shape, dt, dtype=np.float64)  # φ(0) = dt
            # a masked divide: boolean indexing would gather and scatter the whole grid
            np.divide(np.expm1(mu * dt), mu, out=phi, where=mu != 0.0)
            growth = growth.astype(self._dtype)
            phi = phi.astype(self._dtype)
            growth.flags.writeable = False
            phi.flags.writeable = False
            self._growth: FloatArray | None = growth
            self._phi: FloatArray | None = phi
        else:
            self._growth = None
            self._phi = None

    # -- read-only parameters ---------------------------------------------------
    @property
    def shape(self) -> tuple[int, int]:
        return self._shape

    @property
    def spacing_um(self) -> float:
        return self._spacing_um

    @property
    def diffusivity_um2_per_s(self) -> float:
        return self._d_um2_per_s

    @property
    def diffusivity_um2_per_min(self) -> float:
        return self._d_um2_per_min

    @property
    def half_life_min(self) -> float | None:
        """Half-life [min]; ``None`` when there is no decay."""
        return self._half_life_min

    @property
    def decay_rate_per_min(self) -> float:
        """k = ln 2 / half-life [1/min] (0 without decay)."""
        return self._k_per_min

    @property
    def dt_min(self) -> float:
        return self._dt_min

    # -- stepping ---------------------------------------------------------------
    def _checked(self, name: str, a: ArrayLike, *, cast: bool = True) -> NDArray[np.floating]:
        """``a`` as an array of the grid shape; cast to the solver's dtype only if ``cast``."""
        arr = np.asarray(a, dtype=self._dtype) if cast else np.asarray(a)
        if arr.shape != self._shape:
            raise ValueError(f"{name} has shape {arr.shape}, solver grid is {self._shape}")
        return arr

    def _dct(self, a: FloatArray) -> FloatArray:
        """Orthonormal 2-D DCT-II of ``a`` (solver dtype, C order), computed in ``a``'s buffer."""
        # In place: the out-of-place transform costs ~15 % more (an extra pass over memory).
        return fft.dctn(a, type=2, norm="ortho", overwrite_x=True, workers=self._workers)

    def _idct(self, a: FloatArray) -> FloatArray:
        """Inverse of :meth:`_dct`, computed in ``a``'s buffer."""
        return fft.idctn(a, type=2, norm="ortho", overwrite_x=True, workers=self._workers)

    def _floor(self, out: FloatArray, floor: float) -> None:
        """Set the values of ``out`` below ``floor`` to 0, in place (``floor = 0``: the negatives)."""
        if floor > 0.0:
            # one masked write also removes the negatives: no separate clip pass
            np.copyto(out, 0.0, where=out < floor)
        else:
            # against a row of zeros rather than the scalar 0: numpy's vectorised loop for two
            # arrays runs ~2x faster than its loop for an array and a scalar
            np.maximum(out, self._zero_row, out=out)

    def transform(self, values: ArrayLike) -> FloatArray:
        """Coefficients of ``values`` in the basis in which the propagator is diagonal.

        The orthonormal 2-D DCT-II of a grid array, in the same unit as ``values`` (e.g.
        molecules per site, or molecules per site per minute for a source).  Returns a new
        array of the solver's dtype; ``values`` is not modified.  Together with
        :meth:`step_spectral` and :meth:`synthesize` this lets a caller keep a field in
        this representation between steps: one inverse transform per step instead of a
        forward and an inverse, and one forward transform for several sources that are
        multiples of the same array.
        """
        arr = self._checked("values", values, cast=False)
        # a private C-ordered copy of the solver's dtype, so the transform can run in place
        return self._dct(np.array(arr, dtype=self._dtype, order="C", copy=True))

    def step_spectral(
        self,
        coeffs: FloatArray,
        source_coeffs: FloatArray | None = None,
        source_scale: float = 1.0,
    ) -> FloatArray:
        """Advance the coefficients ``coeffs`` (from :meth:`transform`) by ``dt_min``, in place.

        ``û ← e^{μ dt} û + φ(μ) · c · ŝ`` with ``ŝ = source_coeffs`` (the :meth:`transform`
        of a source array) and ``c = source_scale``: ``c · ŝ`` must be in amount per site per
        minute, so ``c`` converts the unit of the transformed array (e.g. a secretion rate
        in molecules per cell-minute, divided by the interval, for an array of cell-minutes).
        Exactly the mode-by-mode update of :meth:`step`.  ``coeffs`` must be a writeable
        array of the grid shape and the solver's dtype; ``source_coeffs`` is not modified.
        Returns ``coeffs``.
        """
        if coeffs.shape != self._shape or coeffs.dtype != self._dtype:
            raise ValueError(
                f"coeffs must have shape {self._shape} and dtype {self._dtype}, "
                f"got {coeffs.shape} {coeffs.dtype}"
            )
        coeffs *= self._growth0 if self._growth is None else self._growth
        if source_coeffs is not None:
            s_hat = self._checked("source_coeffs", source_coeffs, cast=False)
            scale = _finite_float("source_scale", source_scale)
            phi = self._phi0 if self._phi is None else self._phi
            term = np.multiply(s_hat, phi, dtype=self._dtype)
            if scale != 1.0:
                term *= scale
            coeffs += term
        return coeffs

    def synthesize(
        self, coeffs: ArrayLike, out: FloatArray | None = None, *, floor: float = 0.0
    ) -> FloatArray:
        """Grid values from coefficients (the inverse of :meth:`transform`).

        Values below ``floor`` (amount per site, >= 0) are set to 0: the default 0 removes
        only the round-off negatives (see :meth:`step`); a small positive floor also flushes
        negligible amounts.  ``coeffs`` is not modified.  Writes into ``out`` (an array of
        the grid shape) when given and returns it, else returns a new array of the
        solver's dtype.
        """
        c = self._checked("coeffs", coeffs, cast=False)
        level = _finite_float("floor", floor)
        if level < 0.0:
            raise ValueError(f"floor must be >= 0, got {floor!r}")
        if out is not None and out.shape != self._shape:
            raise ValueError(f"out has shape {out.shape}, solver grid is {self._shape}")
        if (
            out is not None
            and out.dtype == self._dtype
            and out.flags.c_contiguous
            and out.flags.writeable
        ):
            np.copyto(out, c)  # transform in the caller's array: no temporary
            buf = out
        else:
            buf = np.array(c, dtype=self._dtype, order="C", copy=True)
        res = self._idct(buf)
        self._floor(res, level)
        if out is None:
            return res
        if res is not out:
            np.copyto(out, res)
        return out

    def step_mean(self, mean_amount: float, mean_source_per_min: float = 0.0) -> float:
        """Exact step of a uniform field: ``e^{−k dt} u + φ(−k) s`` [amount per site].

        A uniform field is the λ = 0 mode, on which diffusion does nothing.  Because
        diffusion conserves the total, the same formula applied to the *means* of any field
        and source gives the exact mean after :meth:`step` (the well-mixed amount), with
        no transform at all.  ``mean_amount`` in amount per site, ``mean_source_per_min``
        in amount per site per minute.
        """
        return self._growth0 * float(mean_amount) + self._phi0 * float(mean_source_per_min)

    def step(self, field: ArrayLike, source_per_min: ArrayLike | None = None) -> FloatArray:
        """Advance ``field`` by ``dt_min`` and return the new field (a new array of the solver's dtype).

        ``field`` is an amount per site, ``source_per_min`` an amount per site per
        minute held constant over the step: an array of the grid shape, a scalar
        (uniform source) or ``None``.  Computes, mode by mode in the DCT-II basis,
        ``û ← e^{μ dt} û + (e^{μ dt} − 1)/μ · ŝ`` with ``μ = D λ − k``.
        The input is not modified.  For non-negative ``field`` and ``source_per_min``
        the result is non-negative.
        """
        growth, phi = self._growth, self._phi
        coupled = growth is not None and phi is not None
        # With D > 0 the inputs are cast while they are copied for the in-place transforms.
        u = self._checked("field", field, cast=not coupled)
        scalar_src: float | None = None
        src: NDArray[np.floating] | None = None
        if source_per_min is not None:
            if np.ndim(source_per_min) == 0:
                scalar_src = float(source_per_min)  # type: ignore[arg-type]
            else:
                src = self._checked("source_per_min", source_per_min, cast=not coupled)

        if growth is None or phi is None:
            # D = 0: sites are uncoupled, exact pointwise ODE solution.
            out = u * self._growth0
            if src is not None:
                out += self._phi0 * src
        else:
            # step_spectral(transform(u), transform(src)) inlined, with the transforms in place
            # in the private copies made here (u_hat becomes the result): at small grids the
            # checks and temporaries of the public methods would cost ~10 % of the step.
            u_hat = self._dct(np.array(u, dtype=self._dtype, order="C", copy=True))
            u_hat *= growth
            if src is not None:
                s_hat = self._dct(np.array(src, dtype=self._dtype, order="C", copy=True))
                s_hat *= phi
                u_hat += s_hat
            out = self._idct(u_hat)
        if scalar_src is not None:
            # A uniform source is the λ = 0 eigenvector (Neumann): it only adds φ(−k)·s.
            out += self._phi0 * scalar_src

        # D Δ_h − k I has non-negative off-diagonal entries (a Metzler matrix), so the
        # exact propagator e^{(DΔ_h−k)dt} and φ = ∫₀^dt e^{(DΔ_h−k)τ} dτ are entrywise
        # non-negative: for u, s >= 0 the exact result is >= 0.  Any negative value here
        # is DCT round-off of size ~eps·max|u|, so clipping only removes round-off
        # (and changes the total by at most that much).
        self._floor(out, 0.0)
        return out

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(shape={self._shape}, spacing_um={self._spacing_um}, "
            f"diffusivity_um2_per_s={self._d_um2_per_s}, half_life_min={self._half_life_min}, "
            f"dt_min={self._dt_min})"
        )


def diffuse_decay(
    field: ArrayLike,
    spacing_um: float,
    diffusivity_um2_per_s: float,
    half_life_min: float | None,
    dt_min: float,
    source_per_min: ArrayLike | None = None,
) -> FloatArray:
    """One-off exact step of ``du/dt = D Δ_h u − k u + s`` (see :class:`DiffusionDecaySolver`).

    Builds the propagator for ``field``'s shape each call; for repeated stepping use
    :class:`DiffusionDecaySolver`, which precomputes it.  Units: ``field`` amount per
    site, ``spacing_um`` µm, ``diffusivity_um2_per_s`` µm²/s, ``half_life_min`` and
    ``dt_min`` min (``half_life_min=None``/``inf``: no decay), ``source_per_min``
    amount per site per minute.
    """
    u = np.asarray(field, dtype=np.float64)
    if u.ndim != 2:
        raise ValueError(f"field must be 2-D, got shape {u.shape}")
    solver = DiffusionDecaySolver(
        (u.shape[0], u.shape[1]), spacing_um, diffusivity_um2_per_s, half_life_min, dt_min
    )
    return solver.step(u, source_per_min)
