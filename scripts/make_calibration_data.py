"""Write the data files of the shipped calibration examples into configs/data/ (run once; the files are
committed, so nothing is computed or downloaded when an example runs).

raji_cartmath.csv: CARTmath's Raji / CAR-T19 protocol (Barros et al. 2021, Cancers 13:2941): 3e6 Raji
cells on day 0, 1e7 CAR-T on day 7, daily readings to day 15, from the published ODE fit with
measurement noise of 0.05 log10 units (~12 %) on each reading. The mouse measurements behind the
published fit are not in the CARTmath repository, so the published model's curve stands in for them.

    .venv/bin/python scripts/make_calibration_data.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cartsim.odes.solve import simulate

OUT = Path(__file__).resolve().parents[1] / "configs" / "data"
NOISE_LOG10 = 0.05
SEED = 2021


def raji_cartmath() -> pd.DataFrame:
    days = np.arange(0.0, 15.01, 1.0)
    sol = simulate("cartmath", "raji", {"tumor": 3e6}, (0.0, 15.0), doses=[(7.0, 1e7)], t_eval=days,
                   extinction_cells=1.0)
    ts = sol.as_dataframe()
    rng = np.random.default_rng(SEED)
    out = pd.DataFrame({"day": days})
    for column, name in (("tumor_total", "tumor_cells"), ("cart_total", "car_t_cells")):
        values = ts[column].to_numpy(float) * 10 ** rng.normal(0.0, NOISE_LOG10, len(days))
        out[name] = np.round(values, 0)
    out.loc[out["day"] < 7, "car_t_cells"] = 0.0  # no CAR-T before the infusion
    return out


if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    raji_cartmath().to_csv(OUT / "raji_cartmath.csv", index=False)
    print(f"wrote {OUT / 'raji_cartmath.csv'}")
