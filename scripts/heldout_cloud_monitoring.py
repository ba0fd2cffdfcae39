#!/usr/bin/env python3
"""Builds the fourth split's held-out set, `cloud-held-out` of scripts/evaluate_nab.py (issue
13, fixed on 2026-12-04 before any detector ran on it), in NAB's layout, from a bare clone of
microsoft/cloud-monitoring-dataset (MIT), pinned to one commit and verified blob by blob. The
data, like NAB, is never committed to this repository. With `--set tuning` it builds instead the
dataset's other domains, `cloud-tuning` (added on 2026-12-06 before any detector ran on them
and before the held-out set was scored): crash rates, latencies and one count of
"service unavailable" answers, tuned on beside NAB's real series; the two sets share no series.

    git clone --bare <microsoft/cloud-monitoring-dataset> MIRROR
    python3 scripts/heldout_cloud_monitoring.py MIRROR OUT_DIR [--set held-out|tuning]
    cp -r /path/to/NAB/config OUT_DIR/     # evaluate_nab.py reads NAB's profiles and thresholds
    .venv-eval/bin/python scripts/evaluate_nab.py OUT_DIR --split cloud-held-out

Writes OUT_DIR/data/<folder>/<file>.csv (header `timestamp,value`, the source's
value text unchanged, timestamps `YYYY-MM-DD HH:MM:SS`), OUT_DIR/labels/combined_windows.json
(NAB's format), OUT_DIR/labels/combined_labels.json (the anomaly timestamps the windows are
centred on, as NAB's combined_labels.json) and OUT_DIR/labels/source_point_labels.json (every
row the source labels 1, for the record). Standard library only; reads the blobs with
`git --git-dir=MIRROR cat-file blob`.

Point labels become windows by NAB's own procedure (nab/labeler.py, LabelCombiner):
  1. each maximal run of consecutive rows labeled 1 is one raw anomaly, at its first row
     (its onset: NAB's labelers mark where an anomaly begins);
  2. raw anomalies are bucketed as NAB buckets its labelers' marks: an onset within
     buffer = 1 % of the series' length (windowSize / 10) of the current bucket's first onset
     joins that bucket; each bucket is one anomaly, at its earliest onset (NAB's merge with one
     labeler);
  3. window length W = int(0.10 * rows / anomalies) rows, each window
     [max(a - W // 2, 0), min(a + W // 2, rows - 1)], centred on its anomaly;
  4. every window that starts before the probationary row min(floor(0.15 * rows), 750) is
     deleted (NAB's checkWindows: "Windows overlapping with the probationary period are
     deleted"; its code tests only the first window), and overlapping windows (the next
     starting at or before the end of the current) are merged until none overlap.
No resampling: rows are kept at the source's own interval (hourly or one minute).
"""

import argparse
import csv
import io
import json
import math
import os
import subprocess
import sys
from collections import Counter
from datetime import datetime

COMMIT = "6a07a53c2fac495fb6831811df4c980d6c04bd10"
# (path in the repository, git blob id at COMMIT); the data are unchanged since 8b07785 (2019-02-15).
SERIES = [
    ("data/consumer-purchase-rate/purchase-01.csv", "74b9867b5b1c250b1e6108af63ae92f17b34feb8"),
    ("data/consumer-purchase-rate/purchase-02.csv", "40ceedd319419079658ed1383a06a1863a83656e"),
    ("data/consumer-purchase-rate/purchase-03.csv", "48521e9a0b4f660ec5318da46a3bfee75ec65f38"),
    ("data/consumer-purchase-rate/purchase-04.csv", "efa4e9b152efb67100eaa30c2568bedf6751b659"),
    ("data/consumer-purchase-rate/purchase-05.csv", "5b18d9fcdc8d37569a518ba0e4f2c44d43f858c5"),
    ("data/consumer-purchase-rate/purchase-06.csv", "0272856a4347a52d8ce370958b8bc9699e4286d8"),
    ("data/ecommerce-api-incoming-rps/api-01.csv", "18fca867dcd996d505ea961a1e63125617165b57"),
    ("data/mongodb-application-rps/mongo-01.csv", "2af05fbc8b1d4144f2af7daa4c95749ce9305959"),
    ("data/mongodb-application-rps/mongo-02.csv", "6ff73e58ab1b8a4b4144b22424652bb47aaec5c2"),
    ("data/mongodb-application-rps/mongo-03.csv", "7d874e014dd1ede9aeb14b6ea298046380c462e8"),
    ("data/mongodb-application-rps/mongo-04.csv", "be3f9f0f5c46792af31b443798b4a2ea630c91f4"),
    ("data/mongodb-machine-rps/machine-01.csv", "da43e20272dfc5678cdae4b4ed3c6513ffa6c82a"),
    ("data/data-ingress-rate/ingress-01.csv", "9a58ac65239ec0730e8fbaaf11232de1aa077b51"),
    ("data/data-ingress-rate/ingress-02.csv", "6670ee3bdd642ab449efaa77b306e51bf3c72b48"),
    ("data/data-ingress-rate/ingress-03.csv", "74ffd615f1fa510657173587416ca4173ba7c5d3"),
    ("data/data-ingress-rate/ingress-04.csv", "b161c7d400a914c8cd7b4f793f21773d3508484c"),
    ("data/data-ingress-rate/ingress-05.csv", "f39528069a1c55f162bee7775bd730dd9bdf79b3"),
]
# The dataset's other domains (every series not in SERIES), for tuning only (`--set tuning`):
# application crash rates (normalized to launches), a middle tier's latencies per dependency, and
# one series of "service unavailable" answers with no anomaly labeled.
TUNING_SERIES = [
    ("data/application-crash-rate-1/app1-01.csv", "91050b92713181c9614698f78c75bc14b3cf6987"),
    ("data/application-crash-rate-1/app1-02.csv", "4a472ad96bbef672540efeccc618d000a847df32"),
    ("data/application-crash-rate-1/app1-03.csv", "704a5a6bfd65875a0f01883f3ed7b39769b0eb85"),
    ("data/application-crash-rate-1/app1-04.csv", "ab475d424fffbf2c3f4bed319177984794df5927"),
    ("data/application-crash-rate-1/app1-05.csv", "d23a3cf499b03fc7e2435e58cfb999cf34e37d3a"),
    ("data/application-crash-rate-1/app1-06.csv", "7876c152afaf5a55f9def605af6c911effc9ecad"),
    ("data/application-crash-rate-1/app1-07.csv", "5071e20ee4107e25fae83df8d591823647f87f99"),
    ("data/application-crash-rate-1/app1-08.csv", "267e28609381dd79639983098751b01bde89123b"),
    ("data/application-crash-rate-1/app1-09.csv", "28df7455b8f404722f7edc6ee7e892d827d41276"),
    ("data/application-crash-rate-2/app2-01.csv", "5b68d83a8f7ff900378a211af08da34402c9fc0c"),
    ("data/application-crash-rate-2/app2-02.csv", "5ef556e49dcfbaad7873bb448ab5fed4ae14f383"),
    ("data/application-crash-rate-2/app2-03.csv", "5d00a7814e26e8451dc172e79819305bfbd685ef"),
    ("data/application-crash-rate-2/app2-04.csv", "e062b8ca98584e89416113fd8fc322d845b8187a"),
    ("data/application-crash-rate-2/app2-05.csv", "81d90818216c6a7e47d57c7ac912627b098115ad"),
    ("data/application-crash-rate-2/app2-06.csv", "93c13f3ba8ca1fbace01a7672c04837051b21687"),
    ("data/application-crash-rate-2/app2-07.csv", "945e50cce99ee860bf6f7d7260de0f4d7e53ba7f"),
    ("data/application-crash-rate-2/app2-08.csv", "41232999ac8d4f936542e49493f538bc729d4ed3"),
    ("data/application-crash-rate-2/app2-09.csv", "307095d15114045ff85700de1fa0813b9035da6a"),
    ("data/application-crash-rate-2/app2-10.csv", "a8bb9a409f979ef74c34a9adc9e819fc4c2bb514"),
    ("data/middle-tier-api-dependency-latency/outbound-01.csv", "bcee1a1462767d3e42c0517eb8933373b8597cbe"),
    ("data/middle-tier-api-dependency-latency/outbound-02.csv", "0718cd7ee375415783e996425edf96a22707857b"),
    ("data/middle-tier-api-dependency-latency/outbound-03.csv", "6973e93ee9b31a53c3ef4312dc05a744ae60b03b"),
    ("data/middle-tier-api-dependency-latency/outbound-04.csv", "054ba359224a01ba33f830f3a2bab5d7e5c41d0f"),
    ("data/middle-tier-api-dependency-latency/outbound-05.csv", "34201365c4ade2858785f4d43e674768678ac7dc"),
    ("data/middle-tier-api-dependency-latency/outbound-06.csv", "03d03a567d250d33ee15fa508d382ece878b67d8"),
    ("data/middle-tier-api-dependency-latency/outbound-07.csv", "cadbb6ab77007a4973033ea503aca44780ad1a6f"),
    ("data/middle-tier-api-dependency-latency/outbound-08.csv", "192529b99a766bfccf04890d3859beae560555ba"),
    ("data/middle-tier-api-dependency-latency/outbound-09.csv", "e9e57991a73a19a38e757820d917c1bb1f7fd5f5"),
    ("data/middle-tier-api-dependency-latency/outbound-10.csv", "a361df011de7055bd20fdbbc03b5b3e454d8124b"),
    ("data/middle-tier-api-dependency-latency/outbound-11.csv", "477c8682603adcfb3f36ecbda786b4557dd177a8"),
    ("data/middle-tier-api-dependency-latency/outbound-12.csv", "b37a8a57c9465b82d6d199fadaa96dd2115b5974"),
    ("data/middle-tier-api-dependency-latency/outbound-13.csv", "2687b5083427a5c594080981dd3c7d702243707f"),
    ("data/middle-tier-api-dependency-latency/outbound-14.csv", "52618ca532d624ec9c265e1377e27e9dd13692df"),
    ("data/middle-tier-api-dependency-latency/outbound-15.csv", "67fefd26d4547544f20e402ba31c510c61065989"),
    ("data/middle-tier-api-dependency-latency/outbound-16.csv", "eef5db1ebcc5c3913dd30c0d0aa509139a8fe63f"),
    ("data/middle-tier-api-dependency-latency/outbound-17.csv", "196b97eae8b4f057058870ef49bf81eb9663e71d"),
    ("data/middle-tier-api-dependency-latency/outbound-18.csv", "8431a55159cefc253bfd1f6721c6489e02bc0966"),
    ("data/middle-tier-api-dependency-latency/outbound-19.csv", "7483db5ef231d895597d2a67b0a6ddc01ebf1b73"),
    ("data/middle-tier-api-dependency-latency/outbound-20.csv", "20dc2501d7902d47442042e139c036cfbe518f63"),
    ("data/middle-tier-api-dependency-latency/outbound-21.csv", "941cbdfb09a502abf4b2ded4e7d7c76d8e251e35"),
    ("data/middle-tier-api-dependency-latency/outbound-22.csv", "9ba323a5f393fc5f2df81c24c5041129207ca28b"),
    ("data/middle-tier-api-dependency-latency/outbound-23.csv", "de77e4b06a4a08f09273f485e092b68577eb33a1"),
    ("data/service-unavailable/unavail-01.csv", "5ddc8eb9129362e2aa09380ac4a7f7ef3cf65bd6"),
]
WINDOW_SIZE = 0.10
PROBATION = 0.15


def git(mirror, *args):
    return subprocess.run(
        ["git", "--git-dir", mirror, *args], check=True, capture_output=True
    ).stdout


def nab_time(text):
    """`"2017-11-01T00:00:00Z"` (or `2017-11-01 00:00:00`) -> `2017-11-01 00:00:00` (the
    source's clock, unchanged)."""
    text = text.strip().strip('"')
    # Every held-out series writes `...T...Z`; some of the other domains write the NAB form.
    form = "%Y-%m-%dT%H:%M:%SZ" if "T" in text else "%Y-%m-%d %H:%M:%S"
    return datetime.strptime(text, form).strftime("%Y-%m-%d %H:%M:%S")


def probation_row(rows):
    return int(min(math.floor(PROBATION * rows), PROBATION * 5000))


def windows_for(labels):
    """NAB's windows (row indices) for a 0/1 label vector; also the anomaly rows."""
    rows = len(labels)
    onsets = [i for i in range(rows) if labels[i] and (i == 0 or not labels[i - 1])]
    buffer = rows * WINDOW_SIZE / 10
    anomalies, first = [], None
    for o in onsets:
        if first is None or o - first > buffer:
            anomalies.append(o)
            first = o
    if not anomalies:
        return [], [], onsets
    length = int(WINDOW_SIZE * rows / len(anomalies))
    windows = [[max(a - length // 2, 0), min(a + length // 2, rows - 1)] for a in anomalies]
    # NAB: "Windows overlapping with the probationary period are deleted" (its code tests only
    # the first window, the only one that can overlap in NAB's corpus; here every one is tested).
    windows = [w for w in windows if w[0] >= probation_row(rows)]
    merged = []
    for w in windows:
        if merged and w[0] <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], w[1])
        else:
            merged.append(list(w))
    return merged, anomalies, onsets


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mirror", help="a bare clone of microsoft/cloud-monitoring-dataset")
    parser.add_argument("out", help="the directory to write, in NAB's layout")
    parser.add_argument("--set", dest="which", choices=["held-out", "tuning"], default="held-out")
    args = parser.parse_args()
    which, mirror, out = args.which, args.mirror, args.out
    chosen = SERIES if which == "held-out" else TUNING_SERIES
    tree = {}
    for line in git(mirror, "ls-tree", "-r", COMMIT, "data").decode().splitlines():
        meta, path = line.split("\t", 1)
        tree[path] = meta.split()[2]
    combined_windows, combined_labels, point_labels, summary = {}, {}, {}, []
    for path, blob in chosen:
        if tree.get(path) != blob:
            sys.exit(f"{path}: blob {tree.get(path)} at {COMMIT}, expected {blob}")
        text = git(mirror, "cat-file", "blob", blob).decode("utf-8")
        records = [r for r in csv.reader(io.StringIO(text)) if r]
        if records[0] != ["TimeStamp", "Value", "Label"]:
            sys.exit(f"{path}: unexpected header {records[0]!r}")
        stamps, values, labels = [], [], []
        for t, v, lab in records[1:]:
            if which == "tuning" and not v.strip():
                continue  # three crash-rate series miss a few values: no row, as no window came
            float(v)  # every value is a number (checked, written as the source has it)
            stamps.append(nab_time(t))
            values.append(v.strip())
            labels.append(int(lab))
        rel = path[len("data/"):]
        dest = os.path.join(out, "data", rel)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        with open(dest, "w", newline="\n") as f:
            f.write("timestamp,value\n")
            for t, v in zip(stamps, values):
                f.write(f"{t},{v}\n")
        windows, anomalies, onsets = windows_for(labels)
        repeated = {t for t, n in Counter(stamps).items() if n > 1}
        if which == "tuning":
            # Crash rates are stamped in a local clock that repeats an hour for daylight saving:
            # NAB names window edges by timestamp, so an edge on a repeated one moves inwards
            # to the nearest row whose timestamp is unique (the held-out set needs no such move).
            for w in windows:
                while w[0] < w[1] and stamps[w[0]] in repeated:
                    w[0] += 1
                while w[1] > w[0] and stamps[w[1]] in repeated:
                    w[1] -= 1
        for a, b in windows:
            for i in (a, b):
                if stamps[i] in repeated:
                    sys.exit(f"{rel}: window edge {stamps[i]} is a repeated timestamp")
        combined_windows[rel] = [[stamps[a] + ".000000", stamps[b] + ".000000"] for a, b in windows]
        combined_labels[rel] = [stamps[a] + ".000000" for a in anomalies]
        point_labels[rel] = [stamps[i] for i in range(len(labels)) if labels[i]]
        covered = sum(1 for i in range(len(labels)) if labels[i] and any(a <= i <= b for a, b in windows))
        prob = probation_row(len(labels))
        summary.append(
            {
                "series": rel,
                "rows": len(labels),
                "labeled_rows": sum(labels),
                "runs": len(onsets),
                "anomalies": len(anomalies),
                "window_rows": int(WINDOW_SIZE * len(labels) / len(anomalies)) if anomalies else 0,
                "windows": len(windows),
                "windows_scored": sum(1 for a, b in windows if b >= prob),
                "labeled_rows_outside_windows": sum(labels) - covered,
            }
        )
    os.makedirs(os.path.join(out, "labels"), exist_ok=True)
    for name, obj in [
        ("combined_windows.json", combined_windows),
        ("combined_labels.json", combined_labels),
        ("source_point_labels.json", point_labels),
    ]:
        with open(os.path.join(out, "labels", name), "w") as f:
            json.dump(obj, f, indent=4, sort_keys=True)
            f.write("\n")
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
        f.write("\n")
    for s in summary:
        print(" ".join(f"{k}={v}" for k, v in s.items()))
    print("total windows", sum(s["windows"] for s in summary),
          "scored", sum(s["windows_scored"] for s in summary))


if __name__ == "__main__":
    main()
