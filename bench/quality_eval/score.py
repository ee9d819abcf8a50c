#!/usr/bin/env python3
"""Score `threadkit quality` against a planted corpus (make_planted.py): per-rule precision and
recall at the thread level, and the share of clean threads flagged by any quality rule.

usage: score.py THREADKIT CORPUS [--min 0.9] [--max-clean-flagged 0.02]
exits 1 when a rule is under --min or clean threads are flagged more than allowed.
"""
import argparse
import json
import os
import subprocess
import sys

RULES = ["number-not-grounded", "answer-contradicts-tools", "answer-not-in-labels", "label-in-question",
         "repeated-call", "tool-error-ignored", "reasoning-degenerate", "near-duplicate", "eval-overlap", "answer-wrong",
         "garbled-text"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("threadkit")
    ap.add_argument("corpus")
    ap.add_argument("--min", type=float, default=0.9)
    ap.add_argument("--max-clean-flagged", type=float, default=0.02)
    a = ap.parse_args()
    truth = json.load(open(os.path.join(a.corpus, "labels.json")))
    run = subprocess.run([a.threadkit, "quality", os.path.join(a.corpus, "train"), "--against", os.path.join(a.corpus, "eval"),
                          "--data-root", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "fixtures", "datasets"),
                          "--format", "json"], capture_output=True, text=True)
    if run.returncode not in (0, 1):
        sys.exit(f"threadkit quality exited {run.returncode}: {run.stderr}")
    report = json.loads(run.stdout)
    found = {}
    for f in report["files"]:
        tid = os.path.basename(f["path"])[:-5]
        found.setdefault(tid, set()).update(d["name"] for d in f["diagnostics"])
    ok = True
    print(f"{'rule':<26} {'planted':>7} {'flagged':>7} {'precision':>9} {'recall':>6}")
    for rule in RULES:
        planted = {t for t, p in truth.items() if rule in p}
        flagged = {t for t, names in found.items() if rule in names}
        tp = len(planted & flagged)
        precision = tp / len(flagged) if flagged else 1.0
        recall = tp / len(planted) if planted else 1.0
        print(f"{rule:<26} {len(planted):>7} {len(flagged):>7} {precision:>9.3f} {recall:>6.3f}")
        for t in sorted(flagged - planted)[:3]:
            print(f"    false positive: {t}")
        for t in sorted(planted - flagged)[:3]:
            print(f"    missed: {t}")
        ok &= precision >= a.min and recall >= a.min
    clean = [t for t, p in truth.items() if not p]
    flagged_clean = [t for t in clean if found.get(t, set()) & set(RULES)]
    share = len(flagged_clean) / len(clean)
    print(f"clean threads flagged: {len(flagged_clean)} of {len(clean)} ({share:.1%})")
    for t in flagged_clean[:5]:
        print(f"    {t}: {sorted(found[t])}")
    ok &= share <= a.max_clean_flagged
    print("PASS" if ok else "FAIL")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
