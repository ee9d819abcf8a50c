"""The peer for show_session_stats: pandas + pyarrow computing the same exact statistics
(label distribution; duration min/max/mean/median over every session)."""
import json
import sys

import pandas as pd

root = sys.argv[1]
labels = json.load(open(f"{root}/labels.json"))
durations = []
for session in labels:
    df = pd.read_parquet(f"{root}/sessions/{session}/data.parquet", columns=["timestamp_sec"])
    durations.append(df["timestamp_sec"].iloc[-1] - df["timestamp_sec"].iloc[0])
d = pd.Series(durations)
dist = pd.Series([v[0] for v in labels.values()]).value_counts().to_dict()
print(json.dumps({"total_sessions": len(labels), "label_distribution": dist,
                  "duration_sec": {"min": d.min(), "max": d.max(), "mean": d.mean(), "median": d.median()}}))
