"""Sensor readings of industrial pumps and whether each failed within a week.

The physics is fixed: failure risk rises with the true bearing temperature, vibration,
pressure, load (rpm) and age. What changes is what the sensors report:

- seasons move the ambient temperature and humidity (gradual drift);
- at ``recalibrated=True`` the temperature probes were recalibrated (they now read 12 °C
  lower) and the vibration sensors were swapped for ones reporting in different units
  (0.55x). A model trained before that sees "cooler, calmer" pumps and misses failures.

Everything is seeded, so a run of the demo is reproducible.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

FEATURES = ["temperature", "vibration", "pressure", "rpm", "humidity", "age_days"]
LABEL = "failure"


def sensors(n: int, seed: int, day: float = 0.0, recalibrated: bool = False) -> pd.DataFrame:
    """``n`` readings around day ``day`` of the year, with the ``failure`` label."""
    rng = np.random.default_rng(seed)
    season = np.sin(2 * np.pi * (day + rng.uniform(0, 30, n)) / 365.0)
    temp = 68 + 6 * season + rng.normal(0, 5, n)
    vib = rng.lognormal(mean=0.0, sigma=0.35, size=n)
    pressure = rng.normal(100, 7, n)
    rpm = rng.normal(1500, 150, n)
    humidity = np.clip(45 + 15 * season + rng.normal(0, 8, n), 5, 100)
    age = rng.uniform(0, 2500, n)
    logit = (-2.6 + 0.16 * (temp - 68) + 2.4 * (vib - 1.0) + 0.05 * (pressure - 100)
             + 0.004 * (rpm - 1500) + 0.0007 * (age - 1250))
    failure = (rng.uniform(0, 1, n) < 1 / (1 + np.exp(-logit))).astype(int)
    if recalibrated:
        temp = temp - 12.0
        vib = vib * 0.55
    return pd.DataFrame({"temperature": temp.round(2), "vibration": vib.round(4),
                         "pressure": pressure.round(2), "rpm": rpm.round(1),
                         "humidity": humidity.round(1), "age_days": age.round(0),
                         LABEL: failure})
