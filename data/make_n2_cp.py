"""Regenerate the nitrogen heat-capacity tables used in notebook 02.

Run from the repository root (CoolProp is an optional extra, never a runtime dependency)::

    pip install "course_lib[coolprop]"
    python data/make_n2_cp.py

It writes two identical pairs of files:

- ``data/n2_cp.csv`` and ``course_lib/resources/n2_cp.csv``: 35 rows,
  T = 300, 350, ..., 2000 K, the training data of notebook 02;
- ``data/n2_cp_extrapolation.csv`` and ``course_lib/resources/n2_cp_extrapolation.csv``:
  T = 275 K and 2100 K, just outside the training range, for the
  extrapolation exercise.

Columns: ``T_K`` (temperature in kelvin) and ``Cp_kJ_per_kgK`` (isobaric heat
capacity in kJ/(kg K)), at p = 1 bar = 100 000 Pa.

Source. CoolProp evaluates the reference equation of state for nitrogen of
Span, Lemmon, Jacobsen, Wagner and Yokozeki (J. Phys. Chem. Ref. Data 29, 1361,
2000), the equation behind the NIST Chemistry WebBook's fluid data. At 1 bar
nitrogen is nearly an ideal gas, so Cp is dominated by the equation's
ideal-gas part (molecular vibration switching on as T rises). The equation is
stated to be valid up to 2000 K; the 2100 K value is 100 K beyond that and is
the equation's smooth extrapolation, which is exactly what the exercise needs:
a "true" value just outside the data.

Precision: six decimals. The notebook's target is an RMSE of 0.0005 kJ/(kg K);
rounding to four decimals would add up to 0.00005 of error to every point
(a tenth of the target), while six decimals add at most 0.0000005, a
thousandth of it, so the fit is judged on the physics and not on the
rounding. Rounded to four decimals, the first rows read 1.0413, 1.0423 and
1.0450 kJ/(kg K) at 300, 350 and 400 K, as the course text quotes them.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

PRESSURE_PA = 100_000.0  # 1 bar
TRAIN_TEMPERATURES_K = list(range(300, 2001, 50))  # 35 temperatures
EXTRAPOLATION_TEMPERATURES_K = [275, 2100]
DECIMALS = 6
HEADER = ("T_K", "Cp_kJ_per_kgK")

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {
    "n2_cp.csv": TRAIN_TEMPERATURES_K,
    "n2_cp_extrapolation.csv": EXTRAPOLATION_TEMPERATURES_K,
}


def cp_kj_per_kgk(temperature_k: float) -> float:
    """Isobaric heat capacity of N2 at 1 bar, in kJ/(kg K), from CoolProp."""
    try:
        from CoolProp.CoolProp import PropsSI
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise SystemExit(
            "CoolProp is not installed. Install it with `pip install CoolProp` "
            "(or `pip install 'course_lib[coolprop]'`) and run this script again."
        ) from error
    return PropsSI("Cpmass", "T", float(temperature_k), "P", PRESSURE_PA, "Nitrogen") / 1000.0


def rows(temperatures_k: list[int]) -> list[tuple[int, str]]:
    """(T, Cp formatted with ``DECIMALS`` decimals) for each temperature."""
    return [(t, f"{cp_kj_per_kgk(t):.{DECIMALS}f}") for t in temperatures_k]


def write_csv(path: Path, table: list[tuple[int, str]]) -> None:
    """Write one table with a header row and Unix line endings."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(HEADER)
        writer.writerows(table)


def main() -> int:
    for name, temperatures in TARGETS.items():
        table = rows(temperatures)
        for folder in (ROOT / "data", ROOT / "course_lib" / "resources"):
            write_csv(folder / name, table)
            print(f"wrote {(folder / name).relative_to(ROOT)} ({len(table)} rows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
