#!/usr/bin/env python3
"""Peer comparison: statsmodels' Holt-Winters through the same rolling-origin evaluation
as `conveyor forecast`.

What it does, honestly:

1. Reads the trace (CSV header ``timestamp,count``; an empty count is a missing interval).
2. For each season length M given with ``--season`` (the wrapper passes the lengths that
   `conveyor forecast` detected, so nothing here is tuned by hand), fits
   ``statsmodels.tsa.holtwinters.ExponentialSmoothing(trend="add", damped_trend=D,
   seasonal="add", seasonal_periods=M)`` on the first four seasons only (rows 0..4M-1),
   with statsmodels' own optimiser and initialisation (``initialization_method="estimated"``),
   for D in {True, False}.
3. statsmodels' ``HoltWintersResults`` has no ``append``/``extend``, so the online phase is
   implemented here: starting from the fitted final state (level, trend, the last M seasonal
   values) the component recursions of statsmodels' additive Holt-Winters are applied once per
   observation with the *fixed fitted parameters*:

       level_t  = alpha (y_t - s_{t-M}) + (1 - alpha)(level_{t-1} + phi trend_{t-1})
       trend_t  = beta (level_t - level_{t-1}) + (1 - beta) phi trend_{t-1}
       s_t      = gamma (y_t - level_{t-1} - phi trend_{t-1}) + (1 - gamma) s_{t-M}
       yhat_{t+h|t} = level_t + (phi + ... + phi^h) trend_t + s_{t+h-M*ceil(h/M)}

   A missing value is replaced by its one-step forecast. Before use, the same recursion is
   replayed over the training rows from statsmodels' fitted initial states and must reproduce
   ``fittedvalues`` (the script prints the largest difference and stops if it is not tiny),
   so the online update is statsmodels' model, not a different one.
4. The prediction for row t is made after observing rows 0..t-H only (H = ``--horizon``).
   Rows are scored from 4M + H on (strictly out of sample for every variant), and, when
   ``--ours`` gives the predictions file of `conveyor forecast`, only on rows present there,
   so every method is scored on exactly the same rows. Accuracy = 1 - WAPE.

Usage:
    python statsmodels_holtwinters.py --trace FILE.csv --horizon 1 --season 48 --season 336 \
        [--ours /tmp/predictions_h1.csv]
"""
import argparse
import csv
import math
import sys
import warnings

import numpy as np
from statsmodels.tsa.holtwinters import ExponentialSmoothing


def read_trace(path):
    timestamps, values = [], []
    with open(path, newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None or [h.strip().lower() for h in header] != ["timestamp", "count"]:
            sys.exit(f"{path}: line 1: expected the header 'timestamp,count'")
        for line, row in enumerate(reader, start=2):
            if not row or all(not field.strip() for field in row):
                continue
            if len(row) != 2:
                sys.exit(f"{path}: line {line}: expected 2 fields, found {len(row)}")
            text = row[1].strip()
            if text == "":
                value = math.nan
            else:
                try:
                    value = float(text)
                except ValueError:
                    sys.exit(f"{path}: line {line}: count '{text}' is not a number")
                if not math.isfinite(value):
                    sys.exit(f"{path}: line {line}: count '{text}' is not finite")
            timestamps.append(row[0].strip())
            values.append(value)
    if not values:
        sys.exit(f"{path}: the trace has no data rows")
    return timestamps, np.array(values, dtype=float)


def read_ours(path):
    predictions = {}
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        for row in reader:
            predictions[row["timestamp"]] = float(row["predicted"])
    return predictions


class OnlineHoltWinters:
    """Additive (damped) Holt-Winters with fixed parameters, updated once per observation."""

    def __init__(self, alpha, beta, gamma, phi, level, trend, seasons):
        self.alpha, self.beta, self.gamma, self.phi = alpha, beta, gamma, phi
        self.level, self.trend = level, trend
        self.seasons = list(seasons)  # seasons[0] is the component for the next observation
        self.m = len(self.seasons)

    def forecast(self, h):
        damped = sum(self.phi ** k for k in range(1, h + 1))
        return self.level + damped * self.trend + self.seasons[(h - 1) % self.m]

    def update(self, y):
        if not math.isfinite(y):
            y = self.forecast(1)
        s_old = self.seasons[0]
        base = self.level + self.phi * self.trend
        level = self.alpha * (y - s_old) + (1 - self.alpha) * base
        trend = self.beta * (level - self.level) + (1 - self.beta) * self.phi * self.trend
        s_new = self.gamma * (y - base) + (1 - self.gamma) * s_old
        self.level, self.trend = level, trend
        self.seasons = self.seasons[1:] + [s_new]


def fit_peer(values, m, damped):
    train = values[: 4 * m].copy()
    if np.isnan(train).any():  # statsmodels cannot fit with gaps: carry the last value forward
        for i in range(len(train)):
            if math.isnan(train[i]):
                train[i] = train[i - 1] if i > 0 else np.nanmean(train)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = ExponentialSmoothing(
            train, trend="add", damped_trend=damped, seasonal="add", seasonal_periods=m,
            initialization_method="estimated",
        )
        result = model.fit()
    p = result.params
    phi = p["damping_trend"] if damped else 1.0
    online = OnlineHoltWinters(
        p["smoothing_level"], p["smoothing_trend"], p["smoothing_seasonal"], phi,
        p["initial_level"], p["initial_trend"], p["initial_seasons"],
    )
    # Replay the training rows from the fitted initial state: must reproduce fittedvalues.
    fitted = np.empty(len(train))
    for i, y in enumerate(train):
        fitted[i] = online.forecast(1)
        online.update(y)
    gap = float(np.max(np.abs(fitted - result.fittedvalues)))
    scale = float(np.max(np.abs(train))) or 1.0
    if gap > 1e-6 * scale:
        sys.exit(f"online recursion does not reproduce statsmodels fittedvalues (max diff {gap})")
    return online, p, gap


def accuracy(actual, predicted):
    denominator = float(np.sum(np.abs(actual)))
    if denominator == 0:
        return None
    return 1 - float(np.sum(np.abs(actual - predicted))) / denominator


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trace", required=True)
    parser.add_argument("--horizon", type=int, required=True)
    parser.add_argument("--season", type=int, action="append", required=True)
    parser.add_argument("--ours", help="predictions CSV written by `conveyor forecast`")
    args = parser.parse_args()
    if args.horizon < 1:
        sys.exit("--horizon must be at least 1")
    if any(m < 2 for m in args.season):
        sys.exit("--season must be at least 2")

    timestamps, values = read_trace(args.trace)
    n, h = len(values), args.horizon
    seasons = sorted(set(args.season))
    start = 4 * max(seasons) + h
    if start >= n:
        sys.exit(f"the trace has {n} rows: too short for four seasons of {max(seasons)} plus horizon {h}")

    peers = {}
    for m in seasons:
        for damped in (True, False):
            online, params, gap = fit_peer(values, m, damped)
            predictions = np.full(n, np.nan)
            for t in range(4 * m, n):
                online.update(values[t])
                if t + h < n:
                    predictions[t + h] = online.forecast(h)
            name = f"statsmodels HW m={m} {'damped' if damped else 'undamped'}"
            peers[name] = predictions
            print(
                f"{name}: alpha={params['smoothing_level']:.4f} beta={params['smoothing_trend']:.4f} "
                f"gamma={params['smoothing_seasonal']:.4f} phi={params['damping_trend'] if damped else 1:.4f} "
                f"(fitted on rows 1..{4 * m}; recursion check max diff {gap:.2e})"
            )

    ours = read_ours(args.ours) if args.ours else None
    rows = []
    for t in range(start, n):
        if not math.isfinite(values[t]) or not math.isfinite(values[t - h]):
            continue
        if any(not math.isfinite(values[t - m]) for m in seasons):
            continue
        if any(not math.isfinite(p[t]) for p in peers.values()):
            continue
        if ours is not None and timestamps[t] not in ours:
            continue
        rows.append(t)
    if not rows:
        sys.exit("no row can be scored by every method")
    rows = np.array(rows)
    actual = values[rows]
    print(f"\nhorizon {h}: {len(rows)} common rows (data rows {rows[0] + 1}..{rows[-1] + 1}), accuracy = 1 - WAPE")
    results = []
    if ours is not None:
        results.append(("conveyor forecaster", np.array([ours[timestamps[t]] for t in rows])))
    for name, predictions in peers.items():
        results.append((name, predictions[rows]))
    results.append((f"naive ({h} rows earlier)", values[rows - h]))
    for m in seasons:
        results.append((f"seasonal naive ({m} earlier)", values[rows - m]))
    for name, predictions in results:
        value = accuracy(actual, predictions)
        text = "undefined (all actual values are zero)" if value is None else f"{value * 100:.2f} %"
        print(f"  {name:<36} {text}")
    best = max(
        ((name, accuracy(actual, peers[name][rows])) for name in peers),
        key=lambda item: -1 if item[1] is None else item[1],
    )
    print(f"best statsmodels variant: {best[0]} at {best[1] * 100:.2f} %")


if __name__ == "__main__":
    main()
