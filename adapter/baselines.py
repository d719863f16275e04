"""Reference scores of simple forecasts, shipped with a benchmark data directory.

`baselines.csv` (optional) beside `sites.csv` holds one row per site, lead day and
baseline (e.g. `persistence`, `climatology_doy`): `site_id,lead_days,baseline,nse,kge`.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from domain.errors import DataFormatError

BASELINE_COLUMNS = ("site_id", "lead_days", "baseline", "nse", "kge")


def read_baselines(data_dir: Path) -> pd.DataFrame | None:
    """Return the data directory's baseline scores, or None when it has none.

    Raises:
        DataFormatError: The file lacks a column or holds non-numeric scores.
    """
    path = data_dir / "baselines.csv"
    if not path.exists():
        return None
    try:
        table = pd.read_csv(path, dtype={"site_id": str, "baseline": str})
        missing = [column for column in BASELINE_COLUMNS if column not in table.columns]
        if missing:
            raise ValueError(f"missing column {missing[0]!r}")
        table[["nse", "kge"]] = table[["nse", "kge"]].astype(float)
        table["lead_days"] = table["lead_days"].astype(int)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise DataFormatError(f"{path}: {exc}") from exc
    return table[list(BASELINE_COLUMNS)]
