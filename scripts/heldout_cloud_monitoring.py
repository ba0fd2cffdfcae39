#!/usr/bin/env python3
"""Builds the fourth split's held-out set, `cloud-held-out` of scripts/evaluate_nab.py (issue
13, fixed on 2026-12-04 before any detector ran on it), in NAB's layout, from a bare clone of
microsoft/cloud-monitoring-dataset (MIT), pinned to one commit and verified blob by blob. The
data, like NAB, is never committed to this repository.

    git clone --bare <microsoft/cloud-monitoring-dataset> MIRROR
    python3 scripts/heldout_cloud_monitoring.py MIRROR OUT_DIR
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

import csv
import io
import json
import math
import os
import subprocess
import sys
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
WINDOW_SIZE = 0.10
PROBATION = 0.15


def git(mirror, *args):
    return subprocess.run(
        ["git", "--git-dir", mirror, *args], check=True, capture_output=True
    ).stdout


def nab_time(text):
    """`"2017-11-01T00:00:00Z"` -> `2017-11-01 00:00:00` (the source's clock, unchanged)."""
    t = datetime.strptime(text.strip().strip('"'), "%Y-%m-%dT%H:%M:%SZ")
    return t.strftime("%Y-%m-%d %H:%M:%S")


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
    mirror, out = sys.argv[1], sys.argv[2]
    tree = {}
    for line in git(mirror, "ls-tree", "-r", COMMIT, "data").decode().splitlines():
        meta, path = line.split("\t", 1)
        tree[path] = meta.split()[2]
    combined_windows, combined_labels, point_labels, summary = {}, {}, {}, []
    for path, blob in SERIES:
        if tree.get(path) != blob:
            sys.exit(f"{path}: blob {tree.get(path)} at {COMMIT}, expected {blob}")
        text = git(mirror, "cat-file", "blob", blob).decode("utf-8")
        records = [r for r in csv.reader(io.StringIO(text)) if r]
        if records[0] != ["TimeStamp", "Value", "Label"]:
            sys.exit(f"{path}: unexpected header {records[0]!r}")
        stamps, values, labels = [], [], []
        for t, v, lab in records[1:]:
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
        for a, b in windows:
            for i in (a, b):
                if stamps.count(stamps[i]) != 1:
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
