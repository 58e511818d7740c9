"""The check's verdicts on maps whose truth is known (issue #29, items 6 and 7): the part of
benchmarks/planted.py's report about `--check`. The check should call faithful the maps that
find the planted logo and not those that miss it; methods are compared by the check's own
statistic (insertion area minus deletion area, log-odds of "marked"), paired over photos."""

from __future__ import annotations

import statistics


def t_interval(values: list[float]) -> tuple[float, float, float]:
    from scipy import stats

    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, float("nan"), float("nan")
    half = stats.t.ppf(0.975, len(values) - 1) * statistics.stdev(values) / len(values) ** 0.5
    return mean, mean - half, mean + half


def check_report(rows: list[dict]) -> list[str]:
    methods = list(dict.fromkeys(r["method"] for r in rows))
    photos = sorted({r["photo"] for r in rows if r["checks"]})
    by = {(r["photo"], r["method"]): r["checks"] for r in rows}
    lines = ["", "## The check's verdicts on these maps", "",
             "Token drop, the log-odds of \"marked\", against up to 19 copies of the map moved over its mirror "
             "tiling, p <= 0.05 called faithful; "
             f"{sum(len(c) for c in by.values()) // max(1, len(methods))} marked scenes the probe got right, "
             f"from {len(photos)} photos. A map \"finds the logo\" when its peak lies on it (the pointing game).", "",
             "| method | checks | called faithful | when its peak is on the logo | when it is not | "
             "faithful, mean over photos (95% interval) |", "|---|---|---|---|---|---|"]
    found = missed = 0
    found_faithful = missed_faithful = 0
    for method in methods:
        checks = [c for p in photos for c in by[(p, method)]]
        on = [c for c in checks if c["points"]]
        off = [c for c in checks if not c["points"]]
        found, found_faithful = found + len(on), found_faithful + sum(c["faithful"] for c in on)
        missed, missed_faithful = missed + len(off), missed_faithful + sum(c["faithful"] for c in off)
        per_photo = t_interval([statistics.fmean(c["faithful"] for c in by[(p, method)]) for p in photos])
        lines.append(f"| {method} | {len(checks)} | {sum(c['faithful'] for c in checks)} | "
                     f"{sum(c['faithful'] for c in on)} of {len(on)} | {sum(c['faithful'] for c in off)} of {len(off)} | "
                     f"{per_photo[0]:.0%} ({max(0.0, per_photo[1]):.0%}–{min(1.0, per_photo[2]):.0%}) |")
    lines += ["", f"All methods: maps whose peak is on the logo called faithful {found_faithful} of {found}; "
              f"maps whose peak misses it {missed_faithful} of {missed}.", ""]
    means = {m: statistics.fmean(statistics.fmean(c["statistic"] for c in by[(p, m)]) for p in photos)
             for m in methods}
    ranked = sorted(means, key=means.get, reverse=True)
    best = ranked[0]
    lines += [f"By the check's statistic (insertion minus deletion area, log-odds; per photo the mean over its "
              f"scenes, n = {len(photos)} photos): best **{best}** ({means[best]:+.2f}), runner-up {ranked[1]} "
              f"({means[ranked[1]]:+.2f}). Paired differences, best minus each (95% t interval):", "",
              "| best minus | difference (95% interval) | ahead beyond its interval? |", "|---|---|---|"]
    for method in ranked[1:]:
        diff = t_interval([statistics.fmean(c["statistic"] for c in by[(p, best)])
                           - statistics.fmean(c["statistic"] for c in by[(p, method)]) for p in photos])
        lines.append(f"| {method} | {diff[0]:+.2f} ({diff[1]:+.2f} … {diff[2]:+.2f}) | "
                     f"{'yes' if diff[1] > 0 else 'no'} |")
    return lines
