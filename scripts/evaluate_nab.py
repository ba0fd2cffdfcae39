#!/usr/bin/env python3
"""Evaluates `clickstream-lambda detect` against labeled public data (the Numenta Anomaly
Benchmark, NAB) and against the lab's KDA baseline, RANDOM_CUT_FOREST, on the same series.

NAB is not part of this repository and must never be committed to it: pass the path of a NAB
checkout (a clone of numenta/NAB; data/, labels/combined_windows.json and config/ are read).

    python3 -m venv .venv-eval && .venv-eval/bin/pip install -r scripts/requirements-eval.txt
    cargo build --release
    .venv-eval/bin/python scripts/evaluate_nab.py /path/to/NAB
    # the report: both splits, another build beside ours, the forest at four seeds, NAB's KDA run
    .venv-eval/bin/python scripts/evaluate_nab.py /path/to/NAB --split both --per-series \
        --baseline-bin /path/to/older/clickstream-lambda --rcf-seeds 42,1,7,123 --check-scorer

Detectors, each run causally over every series (each row judged from the rows before it):
- ours: `clickstream-lambda detect --kind count|level` (`count` for the count series, COUNTS
  below, `level` for the levels and prices), a row flagged where an episode opens (what the
  Lambda reports), at the default settings (any RATE_* variable of the calling shell is left
  out);
- baseline (with `--baseline-bin`): `detect` of another build, e.g. the model before a change,
  side by side on the same rows (with the same `--kind` where that build knows the option,
  every series a count for builds from before it);
- RCF@2: RANDOM_CUT_FOREST as the lab configured it in KDA SQL (100 trees, 256 samples per tree,
  time decay 100000, shingle size 1), each value scored and then learned, flagged when its score
  is above 2, the lab's rule. KDA's forest is AWS's managed one; this is AWS's open-source Random
  Cut Forest (random-cut-forest-by-aws, through the `krcf` bindings) with the same parameters and
  a fixed seed. `--check-scorer` also scores the KDA run NAB recorded, to compare;
- RCF@NAB: the same forest, flagged at the threshold NAB itself found for its RCF detector (NAB
  ran this very KDA configuration; config/thresholds.json holds the threshold that optimized the
  standard profile, on scores divided by log2(256) = 8 as its random_cut_forest.sql does).

Scoring is NAB's (nab/sweeper.py): standard profile, scaled sigmoid within windows, only the
first (best) detection in a window counts, every flagged row outside a window costs A_FP times
its sigmoid, probationary rows (the first 15 %, at most 750) not scored, and the normalized
score 100 (raw - null) / (perfect - null) over a split, null being no detection at all and
perfect a detection at the start of every window. Event-level counts beside it: windows hit and
missed, and false-alarm events (runs of consecutive flagged rows outside every window).
"""

import argparse
import csv
import json
import math
import os
import subprocess
import sys
from datetime import datetime

# The splits of 2026-12-03 (kept under other names, for the record): by NAB folder, fixed before
# the second-generation model was written. COUNT_TUNING holds every count series of
# realAWSCloudwatch and realKnownCause (7 series, 16 windows: machines' bytes and requests, New
# York's taxis); TWEETS holds all of realTweets (10 series, 33 windows: people posting). The
# second generation's constants were tuned on COUNT_TUNING only, and TWEETS was scored once as
# its held-out split (plus one diagnostic look, both in the README). Honest accounting: the
# first-generation model was developed on a split that mixed both folders, so its constants have
# seen five of the tweet series and its report figures the other five. Only count series were
# chosen then: CPU, latency, temperature, traffic speed, occupancy and travel time are levels,
# and the ad exchange's CPC and CPM prices mostly below 1, which the count model (a Poisson floor
# under its spread, nothing judged below RATE_MIN_EXPECTED) cannot judge.
COUNT_TUNING = [
    "realAWSCloudwatch/ec2_disk_write_bytes_1ef3de.csv",
    "realAWSCloudwatch/ec2_disk_write_bytes_c0d644.csv",
    "realAWSCloudwatch/ec2_network_in_257a54.csv",
    "realAWSCloudwatch/ec2_network_in_5abac7.csv",
    "realAWSCloudwatch/elb_request_count_8c0756.csv",
    "realAWSCloudwatch/iio_us-east-1_i-a2eb1cd9_NetworkIn.csv",
    "realKnownCause/nyc_taxi.csv",
]
TWEETS = [
    "realTweets/Twitter_volume_AAPL.csv",
    "realTweets/Twitter_volume_AMZN.csv",
    "realTweets/Twitter_volume_CRM.csv",
    "realTweets/Twitter_volume_CVS.csv",
    "realTweets/Twitter_volume_FB.csv",
    "realTweets/Twitter_volume_GOOG.csv",
    "realTweets/Twitter_volume_IBM.csv",
    "realTweets/Twitter_volume_KO.csv",
    "realTweets/Twitter_volume_PFE.csv",
    "realTweets/Twitter_volume_UPS.csv",
]
# Series whose values are counts or rates of events, what the count model is for (its spread at
# least a count's Poisson noise); every other series is a level or a price (issue 13).
COUNTS = set(COUNT_TUNING + TWEETS)

# The third split, fixed on 2026-12-03 (issue 13) before any detector was run on its held-out
# part: TWEETS was spent as a held-out split once it had been scored, so it joins the tuning data,
# and the held-out data is taken from NAB folders no model of this repository has been tuned or
# scored on. HELD_OUT holds every series of realTraffic (7: speed, occupancy and travel time of
# Minnesota's roads) and realAdExchange (6: an ad exchange's CPC and CPM prices), 28 windows;
# TUNING every other real series of realAWSCloudwatch, realKnownCause and realTweets (34 series,
# 82 windows: the 7 count series above, the 10 tweets and the levels: CPU, latency,
# temperature, ...). Constants are tuned on TUNING only; HELD_OUT is scored once, at the end
# (`--split held-out`), and nothing is changed after it.
TUNING_FOLDERS = ["realAWSCloudwatch", "realKnownCause", "realTweets"]
HELD_OUT_FOLDERS = ["realTraffic", "realAdExchange"]
# The fourth split, fixed on 2026-12-04 (issue 13) before any detector, ours or the forest, ran
# on it: `held-out` was scored once on 2026-12-03 and is spent, and every real NAB folder has
# now been tuned or scored on, so the next held-out set comes from other labeled public data.
# CLOUD_HELD_OUT: 17 request, query, purchase and ingress rate series of Microsoft's Cloud
# Monitoring Dataset (MIT; every series of the domains that count events, chosen by what each
# domain's note says it measures; latency, crash rates and a 0/1 error flag left out), its
# per-row expert labels made into 57 NAB windows by NAB's own rule. Built, with the commit and
# blob ids it is pinned to, by scripts/heldout_cloud_monitoring.py; judged as counts. The whole
# of NAB's real series may now be tuned on (`tuning` plus `held-out`); CLOUD_HELD_OUT is scored
# once, at the end, and the 2026-12-03 splits stay as they were for the record. It was scored on
# 2026-12-06 (README, Quality) and is spent too.
CLOUD_HELD_OUT = [
    "consumer-purchase-rate/purchase-01.csv",
    "consumer-purchase-rate/purchase-02.csv",
    "consumer-purchase-rate/purchase-03.csv",
    "consumer-purchase-rate/purchase-04.csv",
    "consumer-purchase-rate/purchase-05.csv",
    "consumer-purchase-rate/purchase-06.csv",
    "ecommerce-api-incoming-rps/api-01.csv",
    "mongodb-application-rps/mongo-01.csv",
    "mongodb-application-rps/mongo-02.csv",
    "mongodb-application-rps/mongo-03.csv",
    "mongodb-application-rps/mongo-04.csv",
    "mongodb-machine-rps/machine-01.csv",
    "data-ingress-rate/ingress-01.csv",
    "data-ingress-rate/ingress-02.csv",
    "data-ingress-rate/ingress-03.csv",
    "data-ingress-rate/ingress-04.csv",
    "data-ingress-rate/ingress-05.csv",
]
COUNTS |= set(CLOUD_HELD_OUT)
# Added to the fourth split's tuning data on 2026-12-06, before any detector ran on them and
# before CLOUD_HELD_OUT was scored: every other series of the same dataset (43), built with
# `heldout_cloud_monitoring.py --set tuning` into a directory of their own. NAB's series have
# at most 5 windows each and CLOUD_HELD_OUT has two series with 12 and 20, so a model tuned on
# NAB alone is only ever rewarded for reporting a series' first few anomalies; these series
# (many windows each, labeled by the same procedure, in domains the held-out set does not
# have) say whether a choice holds when anomalies recur. Crash rates (normalized to launches)
# and latencies are levels; the count of "service unavailable" answers is a count, with no
# anomaly labeled.
CLOUD_TUNING_DOMAINS = [
    "application-crash-rate-1",
    "application-crash-rate-2",
    "middle-tier-api-dependency-latency",
    "service-unavailable",
]
COUNTS |= {"service-unavailable/unavail-01.csv"}
SPLITS = {
    "tuning": TUNING_FOLDERS,
    "held-out": HELD_OUT_FOLDERS,
    "cloud-held-out": CLOUD_HELD_OUT,
    # The fourth split's tuning data: NAB's real series, and (in the directory built with
    # `heldout_cloud_monitoring.py --set tuning`) the cloud dataset's other domains.
    "nab-real": TUNING_FOLDERS + HELD_OUT_FOLDERS,
    "cloud-tuning": CLOUD_TUNING_DOMAINS,
    "count-tuning-2026-12-03": COUNT_TUNING,
    "tweets-2026-12-03": TWEETS,
}


def split_series(labels, split):
    """The series of a split: its listed files, or every labeled series of its folders (NAB's
    labels name every data file, windows or not), sorted."""
    members = SPLITS[split]
    if all("/" in m for m in members):
        return list(members)
    return sorted(rel for rel in labels if rel.split("/")[0] in members)

# The lab's KDA SQL: RANDOM_CUT_FOREST(cursor, 100, 256, 100000, 1).
RCF_TREES = 100
RCF_SAMPLES = 256
RCF_TIME_DECAY = 100000
RCF_SHINGLE = 1
RCF_LAB_THRESHOLD = 2.0
# The forest samples at random; a fixed seed makes the figures reproducible (--rcf-seed varies it).
RCF_SEED = 42
# NAB's random_cut_forest.sql divides KDA's score by log2(subSampleSize) to bring it into [0, 1].
NAB_RCF_SCALE = math.log2(RCF_SAMPLES)

PROBATION = 0.15


def parse_time(text):
    return datetime.fromisoformat(text.strip())


def read_series(path):
    """Timestamps and values of one NAB CSV."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return [parse_time(r["timestamp"]) for r in rows], [float(r["value"]) for r in rows]


def kind_of(rel):
    """What `detect --kind` a series gets: `count` for the count series, `level` for every other
    (decided by what the values are, from NAB's description of its data, never by a score)."""
    return "count" if rel in COUNTS else "level"


def run_ours(binary, path, rows, kind="count"):
    """Flags from `clickstream-lambda detect --kind KIND`: 1 where an episode opens. At the
    defaults: `detect` reads the RATE_* settings the function reads, and a tuning session's would
    skew the figures."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RATE_", "DETECT_"))}
    out = subprocess.run(
        [binary, "detect", path] + (["--kind", kind] if kind else []),
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    if out.returncode != 0:
        sys.exit(f"{binary} detect {path} failed: {out.stderr.strip()}")
    result = list(csv.DictReader(out.stdout.splitlines()))
    if len(result) != rows:
        sys.exit(f"{path}: {len(result)} rows out of detect for {rows} in")
    return [int(r["anomaly"]) for r in result]


def run_rcf(values, seed):
    """KDA's RANDOM_CUT_FOREST scores, each value scored before it is learned. KDA outputs 0
    until the forest holds a full sample (NAB's own RCF results start with 256 zeros)."""
    import krcf  # only this detector needs it

    forest = krcf.RandomCutForest(
        {
            "dimensions": 1,
            "shingle_size": RCF_SHINGLE,
            "num_trees": RCF_TREES,
            "sample_size": RCF_SAMPLES,
            "output_after": RCF_SAMPLES,
            "lambda": 1.0 / RCF_TIME_DECAY,
            "random_seed": seed,
        }
    )
    scores = []
    for v in values:
        point = [v]
        scores.append(forest.score(point))
        forest.update(point)
    return scores


def scaled_sigmoid(position):
    """NAB's sweeper.scaledSigmoid."""
    if position > 3.0:
        return -1.0
    return 2.0 / (1.0 + math.exp(5.0 * position)) - 1.0


def probationary_length(rows):
    return min(math.floor(PROBATION * rows), PROBATION * 5000)


def window_indices(timestamps, windows):
    """Each window as (first row, last row), rows matched exactly as NAB requires."""
    index = {t: i for i, t in enumerate(timestamps)}
    result = []
    for start, end in windows:
        a, b = parse_time(start), parse_time(end)
        if a not in index or b not in index:
            sys.exit(f"window {start} .. {end} does not match the data's timestamps")
        result.append((index[a], index[b]))
    return result


def nab_row_weights(rows, windows, cost):
    """Per row, as nab/sweeper.calcSweepScore: the window it is in (or None), and what a
    detection there is worth under `cost`."""
    max_tp = scaled_sigmoid(-1.0)
    names, weights = [], []
    prev_right, prev_width = None, None
    for i in range(rows):
        inside = next((w for w, (a, b) in enumerate(windows) if a <= i <= b), None)
        if inside is not None:
            a, b = windows[inside]
            width = b - a + 1
            position = -(b - i + 1) / width
            weights.append(scaled_sigmoid(position) * cost["tpWeight"] / max_tp)
        else:
            if prev_right is None:
                unweighted = -1.0
            else:
                unweighted = scaled_sigmoid(abs(prev_right - i) / (prev_width - 1))
            weights.append(unweighted * cost["fpWeight"])
        names.append(inside)
        if inside is not None and i == windows[inside][1]:
            prev_right, prev_width = i, windows[inside][1] - windows[inside][0] + 1
    return names, weights


def score_series(flags, windows, cost):
    """NAB raw score, its null (no detection) and event-level counts for one series."""
    rows = len(flags)
    names, weights = nab_row_weights(rows, windows, cost)
    start = probationary_length(rows)
    scorable = [i for i in range(rows) if i >= start]
    in_play = sorted({names[i] for i in scorable if names[i] is not None})
    best = {w: -cost["fnWeight"] for w in in_play}
    fp = 0.0
    false_events, flagged, run_open = 0, 0, False
    for i in scorable:
        if flags[i]:
            flagged += 1
        w = names[i]
        if w is None:
            if flags[i]:
                fp += weights[i]
                if not run_open:
                    false_events += 1
            run_open = bool(flags[i])
        else:
            run_open = False
            if flags[i]:
                best[w] = max(best[w], weights[i])
    raw = sum(best.values()) + fp
    hit = sum(1 for w in in_play if any(flags[i] for i in scorable if names[i] == w))
    return {
        "raw": raw,
        "null": -cost["fnWeight"] * len(in_play),
        "perfect": cost["tpWeight"] * len(windows),
        "windows": len(windows),
        "hit": hit,
        "missed": len(in_play) - hit,
        "false_events": false_events,
        "flagged": flagged,
    }


def total(results):
    keys = ["raw", "null", "perfect", "windows", "hit", "missed", "false_events", "flagged"]
    t = {k: sum(r[k] for r in results) for k in keys}
    # A series without windows (NAB has a few, for false alarms alone) has no normalized score
    # of its own; it still counts in a split's, through its false alarms.
    span = t["perfect"] - t["null"]
    t["nab"] = 100.0 * (t["raw"] - t["null"]) / span if span else float("nan")
    return t


def check_scorer(nab, cost, threshold, labels, splits):
    """This scorer against NAB's own: the raw standard score of every chosen series, from the
    KDA anomaly scores NAB recorded for its randomCutForest detector at NAB's threshold, must be
    the one NAB's results table holds. Also gives the NAB-recorded KDA run as a reference."""
    base = os.path.join(nab, "results", "randomCutForest")
    with open(os.path.join(base, "randomCutForest_standard_scores.csv"), newline="") as f:
        expected = {r["File"]: float(r["Score"]) for r in csv.DictReader(f)}
    for split in splits:
        results = []
        for rel in split_series(labels, split):
            folder, name = rel.split("/")
            with open(os.path.join(base, folder, "randomCutForest_" + name), newline="") as f:
                rows = list(csv.DictReader(f))
            timestamps = [parse_time(r["timestamp"]) for r in rows]
            flags = [int(float(r["anomaly_score"]) >= threshold) for r in rows]
            r = score_series(flags, window_indices(timestamps, labels[rel]), cost)
            if abs(r["raw"] - expected[rel]) > 1e-9:
                sys.exit(f"scorer check: {rel}: {r['raw']} here, {expected[rel]} in NAB's results")
            results.append(r)
        t = total(results)
        print(
            f"scorer check, {split}: NAB's recorded KDA RCF at its threshold scores as NAB says "
            f"on all {len(results)} series: NAB standard {t['nab']:.1f}, windows hit "
            f"{t['hit']}/{t['windows']}, false-alarm events {t['false_events']}"
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("nab", help="path of a NAB checkout (data/, labels/, config/)")
    parser.add_argument(
        "--bin",
        default=os.environ.get("CLICKSTREAM_BIN")
        or os.path.join(
            os.environ.get("CARGO_TARGET_DIR", "target"), "release", "clickstream-lambda"
        ),
        help="the clickstream-lambda binary (default: $CLICKSTREAM_BIN, else "
        "$CARGO_TARGET_DIR/release/clickstream-lambda)",
    )
    parser.add_argument(
        "--split",
        choices=[*SPLITS, "both"],
        default="tuning",
        help="which split to evaluate (default: tuning). The fourth split (2026-12-06): tune "
        "on nab-real (a NAB checkout) and cloud-tuning (heldout_cloud_monitoring.py --set "
        "tuning); cloud-held-out was scored once and is spent. Earlier rounds: tuning and "
        "held-out (`both`: the two, of NAB), count-tuning-2026-12-03 and tweets-2026-12-03",
    )
    parser.add_argument("--no-rcf", action="store_true", help="run only our detector")
    parser.add_argument(
        "--rcf-seed", type=int, default=None, help="the forest's seed (default %d)" % RCF_SEED
    )
    parser.add_argument(
        "--rcf-seeds",
        default=None,
        help="comma-separated seeds: the forest is run once per seed, each a column, and the "
        "spread over seeds summarized (e.g. 42,1,7,123)",
    )
    parser.add_argument(
        "--baseline-bin",
        default=None,
        help="another clickstream-lambda binary (e.g. built before a model change), scored "
        "side by side as `baseline`",
    )
    parser.add_argument("--per-series", action="store_true", help="also print each series")
    parser.add_argument(
        "--check-scorer",
        action="store_true",
        help="first score NAB's own randomCutForest results (results/ of the checkout, the KDA "
        "scores NAB recorded) with this scorer and compare with NAB's per-series scores",
    )
    args = parser.parse_args()

    with open(os.path.join(args.nab, "config", "profiles.json")) as f:
        cost = json.load(f)["standard"]["CostMatrix"]
    with open(os.path.join(args.nab, "config", "thresholds.json")) as f:
        nab_threshold = json.load(f)["randomCutForest"]["standard"]["threshold"]
    with open(os.path.join(args.nab, "labels", "combined_windows.json")) as f:
        labels = json.load(f)

    splits = ["tuning", "held-out"] if args.split == "both" else [args.split]
    if args.rcf_seeds:
        seeds = [int(x) for x in args.rcf_seeds.split(",") if x.strip()]
    else:
        seeds = [args.rcf_seed if args.rcf_seed is not None else RCF_SEED]
    if args.check_scorer:
        check_scorer(args.nab, cost, nab_threshold, labels, splits)
    detectors = ["ours"] + (["baseline"] if args.baseline_bin else [])
    baseline_knows_kind = bool(args.baseline_bin) and "--kind" in subprocess.run(
        [args.baseline_bin, "detect", "--help"], capture_output=True, text=True, check=False
    ).stdout
    rcf_columns = []
    if not args.no_rcf:
        for seed in seeds:
            suffix = "" if len(seeds) == 1 else f" s{seed}"
            rcf_columns += [f"RCF@2{suffix}", f"RCF@NAB{suffix}"]
    detectors += rcf_columns
    print(
        f"NAB standard profile: A_TP={cost['tpWeight']}, A_FP=-{cost['fpWeight']}, "
        f"A_FN=-{cost['fnWeight']}; probationary {PROBATION:.0%}"
    )
    if not args.no_rcf:
        print(
            f"RCF@NAB: score/{NAB_RCF_SCALE:g} >= {nab_threshold} (NAB's thresholds.json), "
            f"i.e. KDA score >= {nab_threshold * NAB_RCF_SCALE:.4f}; RCF@2: KDA score > 2; "
            f"forest seeds {', '.join(map(str, seeds))}"
        )
    width = max(10, max(len(d) for d in detectors) + 1)
    for split in splits:
        results = {d: [] for d in detectors}
        for rel in split_series(labels, split):
            path = os.path.join(args.nab, "data", rel)
            timestamps, values = read_series(path)
            windows = window_indices(timestamps, labels[rel])
            flags = {"ours": run_ours(args.bin, path, len(values), kind_of(rel))}
            if args.baseline_bin:
                # A build from before `--kind` judges every series as counts.
                kind = kind_of(rel) if baseline_knows_kind else None
                flags["baseline"] = run_ours(args.baseline_bin, path, len(values), kind)
            if not args.no_rcf:
                for seed in seeds:
                    suffix = "" if len(seeds) == 1 else f" s{seed}"
                    scores = run_rcf(values, seed)
                    flags[f"RCF@2{suffix}"] = [int(s > RCF_LAB_THRESHOLD) for s in scores]
                    flags[f"RCF@NAB{suffix}"] = [
                        int(s / NAB_RCF_SCALE >= nab_threshold) for s in scores
                    ]
            for d in detectors:
                r = score_series(flags[d], windows, cost)
                results[d].append(r)
                if args.per_series:
                    one = total([r])
                    print(
                        f"  {split:6} {rel:58} {d:{width}} NAB {one['nab']:7.1f}  hit {r['hit']}/"
                        f"{r['windows']}  false events {r['false_events']:4}  "
                        f"flagged rows {r['flagged']}",
                        flush=True,
                    )
        print(f"\n{split} split: {len(split_series(labels, split))} series")
        print(
            f"{'detector':{width}} {'NAB standard':>12} {'windows hit':>12} {'missed':>7} "
            f"{'false-alarm events':>19} {'flagged rows':>13}"
        )
        totals = {d: total(results[d]) for d in detectors}
        for d in detectors:
            t = totals[d]
            print(
                f"{d:{width}} {t['nab']:12.1f} {str(t['hit']) + '/' + str(t['windows']):>12} "
                f"{t['missed']:7} {t['false_events']:19} {t['flagged']:13}"
            )
        if rcf_columns:
            best = None
            for rule in ["RCF@2", "RCF@NAB"]:
                scores = [totals[c]["nab"] for c in rcf_columns if c.split(" ")[0] == rule]
                mean = sum(scores) / len(scores)
                print(
                    f"{rule}: over {len(scores)} seed(s) min {min(scores):.1f}, mean {mean:.1f}, "
                    f"max {max(scores):.1f}"
                )
                if best is None or mean > best[1]:
                    best = (rule, mean, max(scores))
            ours = totals["ours"]["nab"]
            print(
                f"ours - the better RCF configuration ({best[0]}): {ours - best[1]:+.1f} against "
                f"its mean over seeds, {ours - best[2]:+.1f} against its best seed"
            )


if __name__ == "__main__":
    main()
