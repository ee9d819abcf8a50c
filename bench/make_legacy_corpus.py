#!/usr/bin/env python3
"""Write N legacy `3.0` threads (manifest inside, 2-5 tool turns, a respond turn, final answer) into OUT.

usage: make_legacy_corpus.py N OUT [--seed S]"""
import argparse
import json
import os
import random

from make_corpus import LABELS, MANIFESTS, QUERIES, TOOLS, result


def thread(rng, n):
    dataset = rng.choice(sorted(MANIFESTS))
    manifest = MANIFESTS[dataset]
    truth = rng.choice(LABELS)
    tid = f"{dataset}_session_{n:05d}_v3_{n:05d}"
    turns = []
    for i in range(rng.randint(2, 5)):
        tool = rng.choice(TOOLS)
        turns.append({"turn": i + 1, "action": "use_tool", "reasoning": f"Step {i + 1}: {tool} shows the signal shape. " * rng.randint(1, 3),
                      "tool_call": {"tool_name": tool, "parameters": {"dataset_name": dataset}}, "tool_result": result(rng, tool, manifest)})
    turns.append({"turn": len(turns) + 1, "action": "respond", "reasoning": "Summarise.", "response": "The evidence points one way."})
    answer = truth if rng.random() < 0.6 else rng.choice(LABELS)
    return tid, {
        "thread_id": tid, "schema_version": "3.0", "status": "finished", "dataset_name": dataset,
        "session_id": f"session_{n:05d}", "ground_truth_label": truth, "created_at": "2025-10-01T09:00:00+00:00",
        "last_modified": "2025-10-01T09:03:00+00:00", "initial_context": {"user_query": rng.choice(QUERIES), "manifest": manifest},
        "generation_metadata": {"model": "gemini-2.0-flash", "query_temperature": 0.9, "step_temperature": 0.7},
        "conversation": turns, "metadata": {"num_turns": len(turns), "num_tool_calls": len(turns) - 1},
        "final_answer": answer, "explanation": "Cadence and gravity direction decide it.", "confidence": "medium",
        "is_correct": answer == truth,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("n", type=int)
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=11)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    os.makedirs(a.out, exist_ok=True)
    for n in range(a.n):
        tid, t = thread(rng, n)
        with open(os.path.join(a.out, tid + ".json"), "w") as f:
            json.dump(t, f, indent=2)
    print(f"{a.n} legacy threads in {a.out}")


if __name__ == "__main__":
    main()
