"""Make the small example traces shipped here (synthetic, made for fedray; no real devices).

devices.csv: FedScale's device-capacity fields per client: computation (ms per sample),
communication (kbit/s); a phone-like lognormal spread. availability.csv: FedScale's
availability fields, one row per interval: a client is online from `active` to `inactive`
seconds into a day (`finish_time` = 86400, the pattern repeating daily); most clients come
online in the evening and at night (charging, on Wi-Fi), a few also at midday.

    python scenarios/traces/make_traces.py
"""

from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
CLIENTS = 200
DAY = 86400


def main() -> None:
    rng = np.random.default_rng(2026)
    ms = np.round(np.exp(rng.normal(np.log(40.0), 0.7, CLIENTS)), 2)
    kbps = np.round(np.exp(rng.normal(np.log(8000.0), 0.8, CLIENTS)), 1)
    lines = ["client_id,computation,communication"]
    lines += [f"{c},{m},{k}" for c, m, k in zip(range(CLIENTS), ms, kbps)]
    (HERE / "devices.csv").write_text("\n".join(lines) + "\n")
    rows = ["client_id,active,inactive,finish_time"]
    for c in range(CLIENTS):
        start = int(rng.normal(22 * 3600, 2.5 * 3600)) % DAY  # evening to night
        length = int(rng.uniform(2, 8) * 3600)
        spans = [(start, min(start + length, DAY))]
        if start + length > DAY:  # wraps past midnight: the morning part
            spans.append((0, start + length - DAY))
        if rng.random() < 0.3:  # a midday session
            noon = int(rng.uniform(11, 14) * 3600)
            spans.append((noon, noon + int(rng.uniform(0.5, 2) * 3600)))
        rows += [f"{c},{a},{b},{DAY}" for a, b in sorted(spans)]
    (HERE / "availability.csv").write_text("\n".join(rows) + "\n")


if __name__ == "__main__":
    main()
