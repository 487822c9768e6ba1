#!/usr/bin/env python3
"""Times Prophet and statsforecast on the series of a `headroom forecast` input CSV.

Called by `cargo bench --bench engine -- --peers` with the CSV it also gives to
`headroom forecast`, so every tool sees the same series. Each series is fitted and forecast
`--horizon` steps ahead with 80 % and 95 % intervals, on one core. Prints one JSON object per
tool on standard output: {"tool", "series", "cpu_ms_per_series", "wall_ms_per_series"} or
{"tool", "missing"} when the package is not installed.

    pip install prophet==1.5.0 statsforecast      # into a virtual environment of your choice
    python bench/peers.py --input series.csv --horizon 288 --prophet 20 --statsforecast 3
"""
import argparse
import json
import os
import sys
import time

# One core: the numeric libraries must not start thread pools of their own.
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(var, "1")
if hasattr(os, "sched_setaffinity"):
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})


def read(path):
    """series_id -> (list of Unix seconds, list of values), in input order."""
    series = {}
    with open(path) as f:
        header = f.readline().strip().split(",")
        sid, ts, val = header.index("series_id"), header.index("timestamp"), header.index("value")
        for line in f:
            fields = line.strip().split(",")
            if len(fields) < 3:
                continue
            t, v = series.setdefault(fields[sid], ([], []))
            t.append(float(fields[ts]))
            v.append(float(fields[val]))
    return series


def cpu_seconds():
    """CPU seconds of this process and of its finished children (Prophet fits in a CmdStan
    child process, which time.process_time() would not count)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def time_prophet(series, horizon, count):
    try:
        import logging

        import numpy as np
        import pandas as pd
        from prophet import Prophet
    except ImportError:
        return {"tool": "prophet", "missing": "pip install prophet==1.5.0"}
    logging.getLogger("cmdstanpy").setLevel(logging.WARNING)
    logging.getLogger("prophet").setLevel(logging.WARNING)
    elapsed, cpu = [], []
    for sid, (t, v) in list(series.items())[:count]:
        df = pd.DataFrame({"ds": pd.to_datetime(t, unit="s"), "y": v})
        started, started_cpu = time.perf_counter(), cpu_seconds()
        model = Prophet(daily_seasonality=True, weekly_seasonality=True, yearly_seasonality=False, interval_width=0.95)
        model.fit(df)
        future = model.make_future_dataframe(periods=horizon, freq="%ds" % int(t[1] - t[0]), include_history=False)
        samples = model.predictive_samples(future)["yhat"]
        mean = samples.mean(axis=1)
        bands = np.quantile(samples, [0.1, 0.9, 0.025, 0.975], axis=1)
        elapsed.append(time.perf_counter() - started)
        cpu.append(cpu_seconds() - started_cpu)
        assert len(mean) == horizon and bands.shape == (4, horizon), sid
    return timing("prophet 1.5.0 (daily + weekly, 80/95 % from 1,000 samples)", elapsed, cpu)


def time_statsforecast(series, horizon, count):
    try:
        import pandas as pd
        import statsforecast
        from statsforecast import StatsForecast
        from statsforecast.models import MSTL, AutoETS
    except ImportError:
        return {"tool": "statsforecast", "missing": "pip install statsforecast"}
    elapsed, cpu = [], []
    for sid, (t, v) in list(series.items())[:count]:
        step = int(t[1] - t[0])
        day = 86400 // step
        df = pd.DataFrame({"unique_id": sid, "ds": pd.to_datetime(t, unit="s"), "y": v})
        seasons = [day, 7 * day] if len(v) >= 2 * 7 * day else [day]
        started, started_cpu = time.perf_counter(), cpu_seconds()
        model = MSTL(season_length=seasons, trend_forecaster=AutoETS(model="ZZN"))
        forecast = StatsForecast(models=[model], freq="%ds" % step, n_jobs=1).forecast(df=df, h=horizon, level=[80, 95])
        elapsed.append(time.perf_counter() - started)
        cpu.append(cpu_seconds() - started_cpu)
        assert len(forecast) == horizon, sid
    return timing("statsforecast %s MSTL + AutoETS(ZZN) (80/95 %%)" % statsforecast.__version__, elapsed, cpu)


def timing(tool, elapsed, cpu):
    n = max(1, len(elapsed))
    return {"tool": tool, "series": len(elapsed), "cpu_ms_per_series": 1000 * sum(cpu) / n,
            "wall_ms_per_series": 1000 * sum(elapsed) / n}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", required=True, help="CSV with series_id,timestamp,value (Unix seconds)")
    parser.add_argument("--horizon", type=int, default=288)
    parser.add_argument("--prophet", type=int, default=20, help="series timed with Prophet (0: skip)")
    parser.add_argument("--statsforecast", type=int, default=3, help="series timed with statsforecast (0: skip)")
    args = parser.parse_args()
    series = read(args.input)
    if args.prophet > 0:
        print(json.dumps(time_prophet(series, args.horizon, args.prophet)), flush=True)
    if args.statsforecast > 0:
        print(json.dumps(time_statsforecast(series, args.horizon, args.statsforecast)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
