#!/usr/bin/env python3
"""Write N realistic openai_v1 threads (~8 KB each: manifest in the first message, 2-5 tool
rounds with JSON results, a final answer) into OUT. Deterministic for a given seed.
About 2% carry a defect (unanswered call, object tool content, wrong counts), as real corpora do.

usage: make_corpus.py N OUT [--seed S]"""
import argparse
import glob
import json
import os
import random

HERE = os.path.dirname(os.path.abspath(__file__))
MANIFESTS = {os.path.basename(p)[:-5]: json.load(open(p)) for p in sorted(glob.glob(os.path.join(HERE, "..", "fixtures", "manifests", "*.json")))}
LABELS = ["walking", "walking_upstairs", "walking_downstairs", "sitting", "standing", "laying", "running", "cycling"]
QUERIES = ["What activity is the person doing in this recording?", "Is the subject moving or resting?",
           "Can you tell whether this is walking or climbing stairs?", "What is the dominant motion pattern here?",
           "Welche Aktivität zeigt diese Aufnahme?", "Is this person sitting or standing?"]
TOOLS = ["show_channel_stats", "show_session_stats", "select_channels", "filter_by_time", "compute_features",
         "motion_tokenizer", "classify_activity"]


def result(rng, tool, manifest):
    chans = [c["name"] for c in manifest["channels"]][: rng.randint(3, 6)]
    if tool == "compute_features":
        return {"artifact_id": "ts_%06x" % rng.getrandbits(24), "channels": {c: {
            "mean_g": round(rng.uniform(-1, 1), 4), "std_g": round(rng.uniform(0, 0.5), 4), "rms_g": round(rng.uniform(0, 1), 4),
            "dominant_frequency_hz": round(rng.uniform(0, 5), 2), "dominant_power_share": round(rng.random(), 3),
            "zero_crossing_rate_hz": round(rng.uniform(0, 3), 2)} for c in chans}}
    if tool == "classify_activity":
        return {"top": [{"label": l, "score": round(rng.random(), 3)} for l in rng.sample(LABELS, 3)],
                "neighbours": ["train_%02d_%04d" % (rng.randint(1, 30), rng.randint(0, 9999)) for _ in range(5)]}
    if tool == "motion_tokenizer":
        return {"artifact_id": "tok_%06x" % rng.getrandbits(24), "alphabet_size": 6, "word_length": 16,
                "words": {c: "".join(rng.choice("abcdef") for _ in range(16)) for c in chans}}
    return {"channels": [{"name": c, "sampling_rate_hz": 50.0, "samples_per_session": 128} for c in chans],
            "artifact_id": "ts_%06x" % rng.getrandbits(24)}


def thread(rng, n):
    dataset = rng.choice(sorted(MANIFESTS))
    manifest = MANIFESTS[dataset]
    session = "session_%05d" % n
    truth = rng.choice(LABELS)
    tid = f"{dataset}_{session}_v4_{n:05d}"
    query = rng.choice(QUERIES)
    messages = [{"role": "user", "content": "Dataset Information:\n" + json.dumps(manifest, indent=2) + "\n\nUser Query: " + query}]
    rounds = rng.randint(2, 5)
    for turn in range(1, rounds + 1):
        tool = rng.choice(TOOLS)
        cid = f"call_{tid}_turn_{turn}"
        args = {"artifact_id": "ts_%06x" % rng.getrandbits(24)} if turn > 1 else {"dataset_name": dataset}
        messages.append({"role": "assistant", "content": "Reasoning step %d: I will use %s to look at the signal. " % (turn, tool) * rng.randint(1, 3),
                         "tool_calls": [{"id": cid, "type": "function", "function": {"name": tool, "arguments": json.dumps(args)}}]})
        messages.append({"role": "tool", "tool_call_id": cid, "name": tool, "content": json.dumps(result(rng, tool, manifest))})
    answer = truth if rng.random() < 0.6 else rng.choice(LABELS)
    messages.append({"role": "assistant", "content": f"The features point to {answer}.\n\nFinal Answer: {answer}", "tool_calls": None})
    meta = {"dataset": dataset, "session": session, "ground_truth": truth, "status": "finished",
            "num_turns": 2 * rounds + 1, "num_tool_calls": rounds, "num_responds": 0, "user_query": query,
            "schema_version": "openai_v1", "created_at": "2025-11-08T10:00:00+00:00", "last_modified": "2025-11-08T10:04:12+00:00",
            "gemini_model": "gemini-2.5-flash", "query_temperature": 0.9, "step_temperature": 0.7,
            "final_answer": answer, "confidence": rng.choice(["high", "medium", "low"]), "is_correct": answer == truth}
    t = {"id": tid, "metadata": meta, "messages": messages}
    defect = rng.random()
    if defect < 0.007:
        del t["messages"][2]
    elif defect < 0.014:
        t["messages"][2]["content"] = json.loads(t["messages"][2]["content"])
    elif defect < 0.02:
        meta["num_turns"] += 1
    return tid, t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("n", type=int)
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    os.makedirs(a.out, exist_ok=True)
    total = 0
    for n in range(a.n):
        tid, t = thread(rng, n)
        text = json.dumps(t, indent=2)
        total += len(text)
        with open(os.path.join(a.out, tid + ".json"), "w") as f:
            f.write(text)
    print(f"{a.n} threads, {total / a.n / 1024:.1f} KB on average, {total / 1e6:.0f} MB in {a.out}")


if __name__ == "__main__":
    main()
