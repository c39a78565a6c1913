"""Cytokine fields on the tissue grid, as Mesa property layers: one per configured cytokine.

The cytokines are a registry built from the config (``cytokines:``, by default IL-2, IFN-γ and
IL-6; :data:`cartsim.config.schema.DEFAULT_CYTOKINES`): each :class:`Cytokine` says how it
diffuses and decays and which cells release it at what rate (:data:`SOURCES`). Adding a
cytokine is one config entry; it is then advanced, recorded (``<name>_total``, ``<name>_max``),
pictured in snapshots and on the page, and can be the chemoattractant. The cytokines the model
reads by role (IL-2 for proliferation, IL-6 as the CRS proxy) are named in
:data:`cartsim.config.schema.CYTOKINE_ROLES`.

Each field holds molecules per site. Cells add to a source accumulator as they secrete or kill;
every ``cytokine_dt_min`` the accumulated amount is released as a constant-rate source over the
interval and the field is advanced by the exact diffusion-decay solver
(:mod:`cartsim.environment.diffusion`). A field that is zero and has no source is not touched,
so the cost tracks where cytokine actually is.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from collections.abc import Collection, Mapping

import numpy as np

from cartsim.config.errors import ConfigError
from cartsim.config.schema import CYTOKINE_ROLES, CytokineConfig
from cartsim.units import molecules_to_pM
from cartsim.environment.diffusion import DiffusionDecaySolver

NEGLIGIBLE = 1e-9  # molecules per site

#: The kinds of cell that release cytokine: source name -> (the rate's key in a ``cytokines:``
#: entry, its unit, how the cells deliver it). A new source (a new secreting cell kind) is one
#: entry here, one rate in :class:`~cartsim.config.schema.CytokineConfig`, and the call that
#: deposits it (like :meth:`CytokineFields.secrete`).
SOURCES: Mapping[str, tuple[str, str, str]] = MappingProxyType({
    "activated_cart": ("secretion_per_activated_cell_per_min", "molecules/cell/min",
                       "every activated CAR-T cell, steadily, at its site"),
    "tumor_kill": ("release_per_kill", "molecules/kill",
                   "a tumor cell killed by a CAR-T, at once, at its site"),
})

#: The cytokine whose field boosts CAR-T division.
PROLIFERATION_CYTOKINE = CYTOKINE_ROLES["proliferation"]


@dataclass(frozen=True)
class Cytokine:
    """One registered cytokine: transport, decay, and the rate of each of its sources."""

    name: str
    diffusivity_um2_per_s: float
    half_life_min: float
    secreted_by: Mapping[str, float]  # source (a key of SOURCES) -> rate in that source's unit

    @classmethod
    def from_config(cls, name: str, c: CytokineConfig) -> Cytokine:
        return cls(name, c.diffusivity_um2_per_s, c.half_life_min,
                   MappingProxyType({source: getattr(c, key) for source, (key, _, _) in SOURCES.items()}))


def cytokine_registry(config) -> dict[str, Cytokine]:
    """The experiment's cytokines by name, in config order; every role's cytokine must be there."""
    registry = {name: Cytokine.from_config(name, c) for name, c in config.cytokines.items()}
    for role, name in CYTOKINE_ROLES.items():
        if name not in registry:
            raise ConfigError(f"cytokines: {name} is missing; the model needs it as the {role} "
                              f"cytokine (cytokines configured: {', '.join(registry) or 'none'})")
    return registry


class CytokineFields:
    """The experiment's cytokine fields (molecules per site), their solvers and their sources.

    ``fields[name]`` is the field's Mesa property layer. Between records the fields that no
    cell reads at every step may lag (see :meth:`advance`): read them through :meth:`field`
    or :meth:`concentration_pM`, or call :meth:`sync` first (the model does, before each
    record and snapshot).
    """

    def __init__(self, tissue, config, interval_min: float):
        self.tissue = tissue
        self.mixed = tissue.space.mixes_fields  # stirred space: every field stays uniform
        self.interval = interval_min
        self.to_pM = molecules_to_pM(config.tissue.site_um)
        shape = (tissue.width, tissue.height)
        self.params = cytokine_registry(config)
        self.names: tuple[str, ...] = tuple(self.params)
        for name in self.names:
            if hasattr(tissue.grid, name):
                raise ConfigError(f"cytokines.{name}: the tissue grid already has an attribute "
                                  f"{name!r}; give the cytokine another name")
        self.fields: dict[str, np.ndarray] = {}
        self.solvers: dict[str, DiffusionDecaySolver] = {}
        self.pending: dict[str, np.ndarray] = {}
        for name, p in self.params.items():
            self.fields[name] = tissue.grid.create_property_layer(name, default_value=0.0, dtype=np.float32).data
            # single precision: ~1e-7 relative error, and transforms ~2.5x faster than double
            self.solvers[name] = DiffusionDecaySolver(
                shape, config.tissue.site_um, p.diffusivity_um2_per_s, p.half_life_min, interval_min,
                dtype=np.float32,
            )
            self.pending[name] = np.zeros(shape)  # molecules released by kills this interval
        # Each field's DCT coefficients after its last advance, and a copy of the field as then
        # written, so the next advance can skip the forward transform while the field is unchanged.
        self._coeffs: dict[str, np.ndarray | None] = dict.fromkeys(self.names)
        self._shown: dict[str, np.ndarray | None] = dict.fromkeys(self.names)
        # fields whose grid array lags their coefficients (advanced but not written back: see sync)
        self._stale: set[str] = set()
        self.cell_minutes = np.zeros(shape)  # activated-CAR-T minutes per site this interval
        self._has_source = dict.fromkeys(self.names, False)
        self._deposited = dict.fromkeys(self.names, False)  # pending holds secretion (deposit) too
        self.released = dict.fromkeys(self.names, 0.0)  # molecules released so far

    def secrete(self, x: np.ndarray, y: np.ndarray, minutes: float) -> None:
        """Activated CAR-T at sites (x, y) secrete for ``minutes``."""
        if x.size == 0:
            return
        # one site holds at most one CAR-T, so plain fancy-index addition is safe
        self.cell_minutes[x, y] += minutes
        for name, p in self.params.items():
            rate = p.secreted_by["activated_cart"]
            if rate > 0:
                self.released[name] += rate * minutes * x.size
                self._has_source[name] = True

    def deposit(self, name: str, x: np.ndarray, y: np.ndarray, molecules: float) -> None:
        """Cells at sites (x, y) release ``molecules`` each of cytokine ``name`` within this interval
        (for cells secreting at rates of their own, e.g. CD4 and CD8 CAR-T); released with the
        interval's other sources, as a constant rate over it."""
        if x.size == 0 or molecules <= 0:
            return
        self.pending[name][x, y] += molecules  # one CAR-T per site: plain fancy-index addition is safe
        self.released[name] += molecules * x.size
        self._has_source[name] = True
        self._deposited[name] = True

    def release_on_kill(self, sites: list[tuple[int, int]]) -> None:
        """Tumor cells killed at ``sites`` release their cytokines there."""
        for name, p in self.params.items():
            amount = p.secreted_by["tumor_kill"]
            if amount > 0 and sites:
                for x, y in sites:
                    self.pending[name][x, y] += amount
                self.released[name] += amount * len(sites)
                self._has_source[name] = True

    def advance(self, current: Collection[str] | None = None) -> None:
        """Advance every field by one interval, releasing the accumulated sources evenly over it.

        ``current``: the fields whose grid arrays must hold the new values at once (those the
        cells read at every step, e.g. IL-2); ``None``: all. The others are advanced as
        coefficients only and written back when asked for (:meth:`sync`, :meth:`field`), e.g.
        at the next record: the same values, without an inverse transform per interval.

        Field ``f`` (molecules per site) gets the source ``(pending_f + rate_f · cell_minutes) /
        interval`` (molecules per site per minute) for the interval. Values below ``NEGLIGIBLE``
        are set to 0 afterwards. Grid tissue: each field is kept as DCT coefficients between
        advances (the exact, unclipped solution), so an advance costs one inverse transform per
        field, one forward transform of ``cell_minutes`` shared by every secreting cytokine
        (their sources are multiples of it) and one of ``pending`` per cytokine with kills. The
        coefficients are rebuilt from the field whenever it was changed from outside. Stirred
        tissue: the uniform field follows the exact well-mixed amount, with no transform.
        """
        interval = self.interval
        cells_hat: np.ndarray | None = None  # DCT of cell_minutes, shared by the cytokines
        cells_mean: float | None = None  # its mean (mixed fields)
        secreted: bool | None = None  # any cell-minutes this interval (looked at once, if needed)
        for name, field in self.fields.items():
            has_source = self._has_source[name]
            stale = name in self._stale
            if not has_source:
                coeffs = self._coeffs[name]
                if stale and coeffs is not None:
                    # ‖field‖∞ <= ‖field‖₂ = ‖coefficients‖₂ (orthonormal basis): below NEGLIGIBLE
                    # everywhere, the field written back would be all zero
                    idle = float(np.vdot(coeffs, coeffs)) < NEGLIGIBLE**2
                    if idle:
                        field.fill(0.0)
                        self._stale.discard(name)
                else:
                    idle = not field.any()
                if idle:
                    self._coeffs[name] = None  # an idle field is not advanced: its coefficients are stale
                    continue
            solver = self.solvers[name]
            p = self.params[name]
            rate = p.secreted_by["activated_cart"] if has_source else 0.0
            if rate > 0.0 and secreted is None:
                secreted = bool(self.cell_minutes.any())
            secreting = rate > 0.0 and bool(secreted)
            pending = self.pending[name]
            # pending holds kill releases and deposits (cells with rates of their own)
            killed = (has_source and (p.secreted_by["tumor_kill"] > 0.0 or self._deposited[name])
                      and bool(pending.any()))

            if self.mixed:
                # The field is uniform: only the mean matters, and diffusion conserves it.
                src_mean = 0.0
                if secreting:
                    if cells_mean is None:
                        cells_mean = float(self.cell_minutes.mean())
                    src_mean += rate * cells_mean
                if killed:
                    src_mean += float(pending.mean())
                value = solver.step_mean(float(field.mean(dtype=np.float64)), src_mean / interval)
                field[...] = value if value >= NEGLIGIBLE else 0.0
                self._coeffs[name] = None
            else:
                coeffs, shown = self._coeffs[name], self._shown[name]
                if not stale and (coeffs is None or shown is None or not np.array_equal(field, shown)):
                    # (a field of zeros needs no transform)
                    coeffs = solver.transform(field) if field.any() else np.zeros_like(field)
                if secreting and cells_hat is None:
                    cells_hat = solver.transform(self.cell_minutes)  # same basis for every solver
                if killed:
                    src_hat = solver.transform(pending)  # molecules per site
                    if secreting:
                        src_hat += rate * cells_hat
                    solver.step_spectral(coeffs, src_hat, 1.0 / interval)
                elif secreting:
                    solver.step_spectral(coeffs, cells_hat, rate / interval)
                else:
                    solver.step_spectral(coeffs)
                self._coeffs[name] = coeffs
                if current is None or name in current:
                    self._write_back(name)
                else:
                    self._stale.add(name)
            if killed:
                pending.fill(0.0)
            self._has_source[name] = False
            self._deposited[name] = False
        self.cell_minutes.fill(0.0)

    def _write_back(self, name: str) -> None:
        """Write field ``name``'s coefficients to its grid array (and remember what was written)."""
        field, coeffs = self.fields[name], self._coeffs[name]
        # below a billionth of a molecule per site a field is zero; flushing it lets idle
        # fields be skipped instead of decaying through denormal numbers for ever
        self.solvers[name].synthesize(coeffs, out=field, floor=NEGLIGIBLE)
        shown = self._shown[name]
        if shown is None:
            shown = self._shown[name] = np.empty_like(field)
        np.copyto(shown, field)
        self._stale.discard(name)

    def sync(self) -> None:
        """Bring every grid array up to date (before a census, a snapshot, or reading ``fields``)."""
        for name in sorted(self._stale):
            self._write_back(name)

    def field(self, name: str) -> np.ndarray:
        """Field ``name`` now (molecules per site; the grid array itself, brought up to date)."""
        if name in self._stale:
            self._write_back(name)
        return self.fields[name]

    def concentration_pM(self, name: str) -> np.ndarray:
        return self.field(name) * self.to_pM
