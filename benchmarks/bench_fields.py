"""The cytokine field solver's cost against grid size: does it grow as N log N?

    python benchmarks/bench_fields.py            # 100², 300², 512², 1000², 1024², 2000² and 997²
    python benchmarks/bench_fields.py --quick    # up to 1000²

For each grid, one cytokine field (IL-2's diffusivity and half-life, 10-minute interval, float32,
as the model runs it) is advanced with a source array in the two ways the model uses: ``step``
(forward transforms of the field and the source, inverse transform) and the spectral path of
:class:`cartsim.environment.cytokines.CytokineFields` (the field kept as coefficients: forward
transform of the source, inverse transform). It prints CPU milliseconds per step (best of the
repeats, since the machine may be shared), nanoseconds per site, and nanoseconds per site and
per log2(N): if the cost grows as N log N, the last column stays about level from 100² to 2000².
997² (a prime side, so the FFT falls back to Bluestein's algorithm) shows why grid sides with
small prime factors are preferred (``scipy.fft.next_fast_len``).
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
from scipy import fft

from cartsim.environment.diffusion import DiffusionDecaySolver

SIDES = (100, 300, 512, 1000, 1024, 2000, 997)
QUICK_SIDES = (100, 300, 512, 1000, 997)


def cpu_ms(fn, repeats: int) -> float:
    """Best CPU time of ``fn()`` over ``repeats`` calls, in ms."""
    best = math.inf
    for _ in range(repeats):
        t0 = time.process_time()
        fn()
        best = min(best, time.process_time() - t0)
    return best * 1e3


def measure(side: int, repeats: int) -> dict:
    shape = (side, side)
    solver = DiffusionDecaySolver(shape, 15.0, 10.0, 12.9, 10.0, dtype=np.float32)
    rng = np.random.default_rng(side)
    field = rng.random(shape).astype(np.float32)
    source = rng.random(shape).astype(np.float32)
    coeffs = solver.transform(field)

    def spectral() -> None:
        solver.step_spectral(coeffs, solver.transform(source), 0.1)
        solver.synthesize(coeffs, out=field)

    solver.step(field, source)  # warm up plans and caches
    spectral()
    n = side * side
    step_ms = cpu_ms(lambda: solver.step(field, source), repeats)
    spectral_ms = cpu_ms(spectral, repeats)
    return {
        "side": side,
        "fast": fft.next_fast_len(side, real=True) == side,
        "step_ms": step_ms,
        "spectral_ms": spectral_ms,
        "ns_per_site": spectral_ms * 1e6 / n,
        "ns_per_site_log": spectral_ms * 1e6 / (n * math.log2(n)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="grids up to 1000² only")
    parser.add_argument("--repeats", type=int, default=15, help="calls per measurement (best is kept)")
    args = parser.parse_args(argv)
    sides = QUICK_SIDES if args.quick else SIDES
    print("cytokine field solver, float32, one field with a source array, CPU ms per step (best of "
          f"{args.repeats})")
    print(f"{'grid':>11} {'fast side':>9} {'step ms':>9} {'spectral ms':>12} {'ns/site':>8} "
          f"{'ns/(site·log2 N)':>17}")
    rows = [measure(side, args.repeats) for side in sides]
    for r in rows:
        print(f"{r['side']:>5}×{r['side']:<5} {'yes' if r['fast'] else 'no':>9} {r['step_ms']:>9.2f} "
              f"{r['spectral_ms']:>12.2f} {r['ns_per_site']:>8.2f} {r['ns_per_site_log']:>17.3f}")
    fast = [r for r in rows if r["fast"] and r["side"] >= 300]
    spread = max(r["ns_per_site_log"] for r in fast) / min(r["ns_per_site_log"] for r in fast)
    print(f"\nN log N check (fast sides from 300²): ns per site·log2 N varies by {spread:.2f}× "
          f"(level within 2×: {'PASS' if spread <= 2.0 else 'FAIL'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
