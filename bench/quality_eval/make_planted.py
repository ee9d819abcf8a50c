#!/usr/bin/env python3
"""A planted-defect corpus for `threadkit quality`, written before the rules and independent of them.

Every thread is built from the real tools run on the real BasicMotions smartwatch recordings
(`threadkit tools run`, fixtures/datasets): the numbers in tool results are the tools' own. The
reasoning cites those numbers the way people write them (rounded, as percentages, with units), some
threads fail a tool call and recover, all share the dataset description and a few questions. Then a
fraction of threads get exactly one planted defect, by perturbation, and `labels.json` says which.
`answer-wrong` is labelled wherever the final answer is not the ground truth, planted or not.
A second pass with its own random stream (the first pass's threads stay what they were) garbles the
text of some clean threads the ways broken pipelines do (a terminal colour code, a UTF-8 decode as
Windows-1252 or Latin-1, a lost byte, a bidi override, a zero-width space, a NUL in an argument) and
gives others clean look-alikes: curly quotes, dashes, accents, symbols, emoji with zero-width joiners,
a right-to-left mark in Arabic, tabs, CRLF, an escape written as text.

usage: make_planted.py THREADKIT OUT [--seed S] [--threads N]
writes OUT/train/*.json (the corpus), OUT/eval/*.json (an eval set for --against), OUT/labels.json
"""
import argparse
import copy
import json
import os
import random
import re
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "..", "fixtures", "datasets")
DATASET = "basic_motions"
RULES = ["number-not-grounded", "answer-contradicts-tools", "answer-not-in-labels", "label-in-question",
         "repeated-call", "tool-error-ignored", "reasoning-degenerate", "near-duplicate", "eval-overlap"]
GARBLED = "garbled-text"
# Sentences with no digit and no label, so that only the text's characters can make them a finding.
SMART = ["The signal isn\u2019t flat \u2014 it\u2019s periodic.", "The gyroscope\u2019s swings are small \u2026 but steady.",
         "Na\u00efve thresholds aside, the r\u00e9sum\u00e9 of the evidence is consistent."]
LOOK_ALIKES = SMART + ["Good sign \U0001F44D\U0001F3FD, the pattern holds \U0001F9D1\u200d\U0001F4BB.",
                       "In Arabic notes: \u0645\u0631\u062d\u0628\u0627\u200f is how the annotator greeted us.",
                       "Axis\tshape\tverdict: regular.", "Noted.\r\nThe swings are regular.",
                       "(A terminal would show \\u001b[1m as bold; here it is only text.)",
                       "The motion is \u2248 regular, in \u00b5s and \u00b0 alike."]
QUERIES = ["What was the person wearing the watch doing during this recording?",
           "Which activity does this smartwatch recording show?",
           "Identify the activity in this ten-second recording.",
           "What is the wearer of the watch doing here?",
           "Can you classify the movement captured by the watch?"]
# Forms of each label a question might use when it gives the answer away.
LEAKS = {"Walking": ["walking", "walk", "walked", "out for a walk"], "Running": ["running", "run", "jogging or running", "on a run"],
         "Standing": ["standing", "standing still", "stood"], "Badminton": ["badminton", "playing badminton", "a badminton match"]}
NOT_LABELS = ["Jogging", "Tennis", "Exercise", "Unknown activity", "Sitting"]


class Tools:
    def __init__(self, binary):
        self.binary, self.cache = binary, {}

    def run(self, session, name, args):
        key = (session, name, json.dumps(args, sort_keys=True))
        if key not in self.cache:
            out = subprocess.run([self.binary, "tools", "run", name, "--args", json.dumps(args), "--data-root", DATA,
                                  "--session", session], capture_output=True, text=True)
            self.cache[key] = json.loads(out.stdout)
        return self.cache[key]


def numbers_in(value, into):
    if isinstance(value, bool):
        return into
    if isinstance(value, (int, float)):
        into.append(float(value))
    elif isinstance(value, dict):
        for v in value.values():
            numbers_in(v, into)
    elif isinstance(value, list):
        for v in value:
            numbers_in(v, into)
    elif isinstance(value, str):
        into.extend(float(m) for m in re.findall(r"-?\d+(?:\.\d+)?", value))
    return into


def step_text(rng, tool, result, channels):
    """What a careful model writes after reading `result`: real numbers, written as people write them."""
    if tool == "show_session_stats":
        d = result["duration_sec"]["mean"]
        return rng.choice([f"Every recording lasts {d} s and there are {result['total_sessions']} of them.",
                           f"Sessions are {d:.1f} seconds long, sampled at 10 Hz.",
                           f"The {result['total_sessions']} sessions are balanced across the classes."])
    if tool == "show_channel_stats":
        return rng.choice(["Six channels are available: a three-axis accelerometer and a three-axis gyroscope.",
                           "The watch records acc_x, acc_y, acc_z and the gyroscope axes at 10 Hz."])
    if tool == "select_channels":
        return "With only the channels I need selected, the statistics will be easier to read."
    if tool == "compute_features":
        out = []
        for c in rng.sample(channels, 2):
            f = result["channels"][c]
            form = rng.randrange(7)
            if form == 4:
                out.append(f"Roughly {f['rms_su']:.1f} RMS on {c}, i.e. about {f['rms_su']:.0f} in round numbers.")
            elif form == 5:
                out.append(f"{c}: mean≈{f['mean_su']:.2f}, std~{f['std_su']:.1f}, 2nd-order structure aside.")
            elif form == 6:
                out.append(f"For the 3-axis signal, {c} crosses zero {f['zero_crossing_rate_hz']:.1f} times per second "
                           f"({f['zero_crossing_rate_hz'] * 60:.0f} per minute).")
            elif form == 0:
                out.append(f"{c} has a standard deviation of {f['std_su']:.2f} around a mean of {f['mean_su']:.1f}.")
            elif form == 1:
                out.append(f"On {c} the dominant frequency is {f['dominant_frequency_hz']} Hz, carrying "
                           f"{f['dominant_power_share_ratio'] * 100:.0f}% of the power.")
            elif form == 2:
                out.append(f"{c} swings from {f['min_su']:.1f} to {f['max_su']:.1f} (RMS {f['rms_su']:.2f}).")
            else:
                out.append(f"The zero-crossing rate of {c} is about {f['zero_crossing_rate_hz']:.1f} Hz.")
        return " ".join(out)
    if tool == "classify_activity":
        top = result["top_labels"][0]
        near = result["neighbours"][0]
        return rng.choice([f"The nearest recordings vote {top['label']} with {top['score'] * 100:.0f} percent of the votes.",
                           f"{top['label']} wins the vote ({top['score']:.2f}); the closest neighbour is {near['distance']:.2f} away."])
    return "Noted."


def build(rng, tools, session, truth, n, labels_all, channels, manifest, query=None):
    tid = f"{DATASET}_{session}_v4_{n:04d}"
    query = query or rng.choice(QUERIES)
    messages = [{"role": "user", "content": "Dataset Information:\n" + json.dumps(manifest, indent=2) + "\n\nUser Query: " + query}]
    plan = []
    if rng.random() < 0.5:
        plan.append(("show_session_stats", {}))
    if rng.random() < 0.4:
        plan.append(("show_channel_stats", {}))
    recovers = rng.random() < 0.25
    if recovers:
        plan.append(("select_channels", {"channel_names": ["acc_x", "acc_w"]}))
    plan.append(("compute_features", {}))
    classified = rng.random() < 0.75
    if classified:
        plan.append(("classify_activity", {}))
    openers = ["First", "Next", "Then", "Now", "After that"]
    calls = 0
    last = None
    for i, (tool, args) in enumerate(plan):
        calls += 1
        cid = f"call_{tid}_turn_{calls}"
        if last is None:
            text = f"{openers[0]} I look at what the recording offers with {tool}."
        else:
            text = step_text(rng, *last, channels) + f" {rng.choice(openers[1:])} I call {tool}."
        if last is not None and "error" in last[1]:
            text = rng.choice([f"That call failed: {last[1]['error'].split(';')[0]}. I will retry with channel names that exist, so {tool} again.",
                               f"Oops, acc_w is not a channel of this recording. Using acc_x, acc_y and gyro_x with {tool}.",
                               f"The tool rejected that request; the recording has no such channel. Let me pick real ones."])
        messages.append({"role": "assistant", "content": text,
                         "tool_calls": [{"id": cid, "type": "function", "function": {"name": tool, "arguments": json.dumps(args)}}]})
        result = tools.run(session, tool, args)
        messages.append({"role": "tool", "tool_call_id": cid, "name": tool, "content": json.dumps(result)})
        last = (tool, result)
        if "error" in result:
            fixed = {"channel_names": ["acc_x", "acc_y", "gyro_x"]}
            plan.insert(i + 1, ("select_channels", fixed))
    evidence = last[1]["top_labels"][0]["label"] if classified else truth
    answer = evidence
    feats = next(json.loads(m["content"]) for m in messages if m.get("name") == "compute_features")["channels"]
    c = rng.choice(channels)
    explanation = step_text(rng, *last, channels) + (f" Together with the spread of {c} (std {feats[c]['std_su']:.1f}) "
                                                     f"this fits {answer.lower()}.")
    messages.append({"role": "assistant", "content": f"{explanation}\n\nFinal Answer: {answer}"})
    meta = {"dataset": DATASET, "session": session, "ground_truth": truth, "status": "finished",
            "num_turns": 2 * calls + 1, "num_tool_calls": calls, "num_responds": 0, "user_query": query,
            "schema_version": "openai_v1", "created_at": "2026-11-20T10:00:00+00:00",
            "last_modified": "2026-11-20T10:03:00+00:00", "final_answer": answer, "confidence": "high",
            "is_correct": answer == truth}
    return {"id": tid, "metadata": meta, "messages": messages}


def sources(thread, upto):
    found = []
    for m in thread["messages"][:upto]:
        if m["role"] in ("user", "tool"):
            numbers_in(m["content"], found)
        for call in m.get("tool_calls") or []:
            numbers_in(call["function"]["arguments"], found)
    return found


def set_answer(thread, answer):
    last = thread["messages"][-1]
    last["content"] = re.sub(r"Final Answer: .*$", f"Final Answer: {answer}", last["content"])
    meta = thread["metadata"]
    meta["final_answer"] = answer
    meta["is_correct"] = answer.lower() == meta["ground_truth"].lower()


def steps(thread):
    return [i for i, m in enumerate(thread["messages"]) if m["role"] == "assistant" and m.get("tool_calls")]


def renumber(thread):
    calls = sum(len(m.get("tool_calls") or []) for m in thread["messages"])
    meta = thread["metadata"]
    meta["num_tool_calls"] = calls
    meta["num_turns"] = sum(1 for m in thread["messages"] if m["role"] in ("assistant", "tool"))


def insert_call(thread, at, tool, args, result, text):
    tid = thread["id"]
    cid = f"call_{tid}_extra_{at}"
    thread["messages"][at:at] = [
        {"role": "assistant", "content": text,
         "tool_calls": [{"id": cid, "type": "function", "function": {"name": tool, "arguments": json.dumps(args)}}]},
        {"role": "tool", "tool_call_id": cid, "name": tool, "content": json.dumps(result)}]
    renumber(thread)


def plant(rng, kind, thread, labels_all, tools, eval_sessions, corpus):
    """Perturb `thread` with one defect of `kind`; False when this thread cannot carry it."""
    meta = thread["metadata"]
    msgs = thread["messages"]
    if kind == "number-not-grounded":
        cited = [(i, m) for i, m in enumerate(msgs) if m["role"] == "assistant"
                 and re.search(r"(?<![\w.])\d+\.\d+", m["content"] or "")]
        if cited and rng.random() < 0.5:
            i, m = rng.choice(cited)
            have = sources(thread, i + 1)
            nums = list(re.finditer(r"(?<![\w.-])(\d+)\.(\d+)(?![\w.])", m["content"]))
            if nums:
                n = rng.choice(nums)
                d = len(n.group(2))
                for _ in range(100):
                    x = float(n.group(0)) * rng.choice([1.7, 2.3, 3.1, 0.4]) + rng.choice([1.3, 2.9, 4.1])
                    x = round(x, d)
                    tol = 10 ** -d
                    if all(abs(abs(v) * s_ - x) > tol for v in have for s_ in (1, 100, 0.01, 1000, 0.001, 60, 1 / 60)):
                        m["content"] = m["content"][:n.start()] + f"{x:.{d}f}" + m["content"][n.end():]
                        return True
        at = rng.choice(steps(thread)[1:] + [len(msgs) - 1])
        have = sources(thread, at)
        while True:
            x = round(rng.uniform(11, 95), 2)
            if all(abs(v - x) > 1 and abs(v * 100 - x) > 1 for v in have):
                break
        unit = rng.choice([" Hz", "", " s", "%"])
        sentence = rng.choice([f"The peak on acc_z reaches {x}{unit}.", f"Its energy peaks at {x}{unit} here.",
                               f"I also see a spread of {x}{unit} on gyro_y."])
        msgs[at]["content"] = sentence + " " + msgs[at]["content"]
        return True
    if kind == "answer-contradicts-tools":
        top = next((json.loads(m["content"])["top_labels"][0]["label"] for m in msgs if m.get("name") == "classify_activity"), None)
        if top is None:
            return False
        set_answer(thread, rng.choice([l for l in labels_all if l != top]))
        return True
    if kind == "answer-not-in-labels":
        set_answer(thread, rng.choice(NOT_LABELS))
        return True
    if kind == "label-in-question":
        form = rng.choice(LEAKS[meta["ground_truth"]])
        q = rng.choice([f"Was the person {form} during this recording?", f"Confirm that this recording shows {form}.",
                        f"Is this {form}, judging by the watch?"])
        msgs[0]["content"] = msgs[0]["content"].rsplit("User Query: ", 1)[0] + "User Query: " + q
        meta["user_query"] = q
        return True
    if kind == "repeated-call":
        i = rng.choice(steps(thread))
        call = msgs[i]["tool_calls"][0]["function"]
        insert_call(thread, i + 2, call["name"], json.loads(call["arguments"]), json.loads(msgs[i + 1]["content"]),
                    f"To be sure, I run {call['name']} once more with the same arguments.")
        return True
    if kind == "tool-error-ignored":
        later = [i for i in steps(thread)[1:] if "fail" not in msgs[i]["content"]]
        if not later:
            return False
        i = rng.choice(later)
        nxt = msgs[i]["tool_calls"][0]["function"]["name"]
        bad = rng.choice([("filter_by_time", {"start_time_sec": 20, "end_time_sec": 30}),
                          ("select_channels", {"channel_names": ["heart_rate"]}),
                          ("motion_tokenizer", {"word_length": 0})])
        if bad[0] == nxt:
            return False
        result = tools.run(meta["session"], *bad)
        if "error" not in result:
            return False
        insert_call(thread, i, bad[0], bad[1], result, f"A closer look with {bad[0]} should help.")
        return True
    if kind == "reasoning-degenerate":
        s = steps(thread)
        how = rng.randrange(3)
        if how == 0 and len(s) >= 2:
            k = rng.randrange(1, len(s))
            msgs[s[k]]["content"] = "Step %d: " % (k + 1) + msgs[s[k - 1]]["content"]
            msgs[s[k - 1]]["content"] = "Step %d: " % k + msgs[s[k - 1]]["content"]
        elif how == 1:
            i = rng.choice(s)
            sentence = rng.choice(["I need to look at the signal more closely.", "The data should tell us the answer."])
            msgs[i]["content"] = " ".join([sentence] * rng.randint(3, 4)) + " " + msgs[i]["content"]
        else:
            if len(s) < 2:
                return False
            msgs[rng.choice(s[1:])]["content"] = ""
        return True
    if kind == "eval-overlap":
        session, truth = rng.choice(eval_sessions)
        fresh = build(rng, tools, session, truth, 900 + rng.randrange(99), labels_all, CHANNELS, MANIFEST)
        thread.clear()
        thread.update(fresh)
        return True
    raise ValueError(kind)


def near_duplicate_of(rng, original):
    dup = copy.deepcopy(original)
    dup["id"] = original["id"] + "_copy"
    for m in dup["messages"]:
        if m.get("tool_calls"):
            for c in m["tool_calls"]:
                c["id"] = c["id"].replace(original["id"], dup["id"])
        if m["role"] == "tool":
            m["tool_call_id"] = m["tool_call_id"].replace(original["id"], dup["id"])
    s = steps(dup)
    i = rng.choice(s)
    dup["messages"][i]["content"] = dup["messages"][i]["content"].replace(" I call ", " I run ", 1) + " Good."
    return dup


def garble(rng, thread):
    """One defect of the kinds broken pipelines write into text; False when the thread cannot carry it."""
    msgs = thread["messages"]
    at = rng.choice([i for i, m in enumerate(msgs) if m["role"] == "assistant"])
    m = msgs[at]
    how = rng.randrange(7)
    # Words of the reasoning only: a garbled `Final Answer:` line is another defect (the answer
    # no longer matches `final_answer`), which validate reports first.
    head, answer_line, tail = m["content"].partition("\n\nFinal Answer:")
    words = head.split(" ")
    if how == 0:  # a terminal colour code the model copied from a tool's log
        k = rng.randrange(len(words))
        words[k] = "\x1b[1;32m" + words[k] + "\x1b[0m"
        m["content"] = " ".join(words) + answer_line + tail
    elif how == 1:  # UTF-8 decoded as Windows-1252 somewhere on the way
        m["content"] = (rng.choice(SMART) + " ").encode("utf-8").decode("cp1252") + m["content"]
    elif how == 2:  # ... or as Latin-1: the C1 controls
        m["content"] = (rng.choice(SMART) + " ").encode("utf-8").decode("latin-1") + m["content"]
    elif how == 3:  # a byte lost mid-character, decoded with replacement
        raw = (rng.choice(SMART) + " ").encode("utf-8")
        cut = next(i for i, b in enumerate(raw) if b >= 0xC0) + 1
        m["content"] = (raw[:cut] + raw[cut + 1:]).decode("utf-8", "replace") + m["content"]
    elif how == 4:  # the Trojan Source reordering
        m["content"] = "\u202eThe order of this text is not what it shows.\u202c " + m["content"]
    elif how == 5:  # an invisible character inside a word
        # A word of letters: a zero-width space inside a number splits it into two numbers.
        k = rng.choice([i for i, w in enumerate(words) if len(w) > 3 and w.isalpha()] or [0])
        words[k] = words[k][:2] + "\u200b" + words[k][2:]
        m["content"] = " ".join(words) + answer_line + tail
    else:  # a NUL or a bell in a call's arguments (a C string's end, a terminal's beep)
        calls = [(i, x) for i, x in enumerate(msgs) if x.get("tool_calls")]
        if not calls:
            return False
        i, x = rng.choice(calls)
        f = x["tool_calls"][0]["function"]
        args = json.loads(f["arguments"])
        args["note"] = rng.choice(["end\x00", "look\x07"])
        f["arguments"] = json.dumps(args)
    return True


def look_alike(rng, thread):
    """Clean text that a careless check would call garbled."""
    msgs = thread["messages"]
    m = msgs[rng.choice([i for i, m in enumerate(msgs) if m["role"] == "assistant"])]
    m["content"] = rng.choice(LOOK_ALIKES) + " " + m["content"]


MANIFEST = json.load(open(os.path.join(DATA, DATASET, "manifest.json")))
CHANNELS = [c["name"] for c in MANIFEST["channels"]]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("threadkit")
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--threads", type=int, default=400)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    tools = Tools(os.path.abspath(a.threadkit))
    labels = json.load(open(os.path.join(DATA, DATASET, "labels.json")))
    sessions = sorted(labels)
    labels_all = sorted({l[0] for l in labels.values()})
    rng.shuffle(sessions)
    eval_sessions = [(s, labels[s][0]) for s in sessions[:12]]
    train_sessions = sessions[12:]
    os.makedirs(os.path.join(a.out, "train"), exist_ok=True)
    os.makedirs(os.path.join(a.out, "eval"), exist_ok=True)
    for j, (s, truth) in enumerate(eval_sessions):
        t = build(rng, tools, s, truth, j, labels_all, CHANNELS, MANIFEST)
        json.dump(t, open(os.path.join(a.out, "eval", t["id"] + ".json"), "w"), indent=2)
    truth_of = {}
    threads = {}
    written = []
    for n in range(a.threads):
        s = train_sessions[n % len(train_sessions)]
        t = build(rng, tools, s, labels[s][0], n, labels_all, CHANNELS, MANIFEST)
        planted = []
        if rng.random() < 0.45:
            kind = rng.choice(RULES)
            if kind == "near-duplicate" and written:
                original = rng.choice(written)
                t = near_duplicate_of(rng, original)
                planted.append(kind)
            elif kind != "near-duplicate" and plant(rng, kind, t, labels_all, tools, eval_sessions, written):
                planted.append(kind)
        else:
            written.append(t)
        if t["metadata"]["final_answer"].lower() != t["metadata"]["ground_truth"].lower():
            planted.append("answer-wrong")
        if t["id"] in truth_of:
            continue
        truth_of[t["id"]] = planted
        json.dump(t, open(os.path.join(a.out, "train", t["id"] + ".json"), "w"), indent=2)
        threads[t["id"]] = t
    # The second pass: only clean threads no copy was made of (a near-duplicate stays one).
    second = random.Random(a.seed * 7919 + 1)
    look_alikes = 0
    copied = {t["id"][:-len("_copy")] for t in threads.values() if t["id"].endswith("_copy")}
    for tid in sorted(truth_of):
        if truth_of[tid] or tid in copied:
            continue
        roll = second.random()
        if roll < 0.12 and garble(second, threads[tid]):
            truth_of[tid] = [GARBLED]
        elif 0.12 <= roll < 0.32:
            look_alike(second, threads[tid])
            look_alikes += 1
        else:
            continue
        json.dump(threads[tid], open(os.path.join(a.out, "train", tid + ".json"), "w"), indent=2)
    json.dump(truth_of, open(os.path.join(a.out, "labels.json"), "w"), indent=1, sort_keys=True)
    counts = {}
    for p in truth_of.values():
        for k in p or ["clean"]:
            counts[k] = counts.get(k, 0) + 1
    counts["clean, with a look-alike of garbled text"] = look_alikes
    print(json.dumps(counts, sort_keys=True))


if __name__ == "__main__":
    main()
