#!/usr/bin/env python3
"""Writes fixtures/threads/: valid threads of every version and, for every rule, a
thread that must trigger it. Re-run after changing a rule; the output is committed
so that tests need no Python. Deterministic: same script, same bytes."""
import copy
import json
import os
import shutil

ROOT = os.path.join(os.path.dirname(__file__), "..", "fixtures")
OUT = os.path.join(ROOT, "threads")
UCI = json.load(open(os.path.join(ROOT, "data", "uci_har", "manifest.json")))
MHEALTH = json.load(open(os.path.join(ROOT, "data", "mhealth", "manifest.json")))


def first_message(manifest, query):
    return "Dataset Information:\n" + json.dumps(manifest, indent=2) + "\n\nUser Query: " + query


def call(tid, n, name, args):
    return {"id": f"call_{tid}_turn_{n}", "type": "function",
            "function": {"name": name, "arguments": json.dumps(args)}}


def counts(messages, status):
    turns = sum(1 for m in messages if m["role"] in ("assistant", "tool"))
    calls = sum(1 for m in messages if m["role"] == "assistant" and m.get("tool_calls"))
    responds = sum(1 for m in messages if m["role"] == "assistant" and not m.get("tool_calls"))
    if status == "finished" and messages and messages[-1]["role"] == "assistant" and not messages[-1].get("tool_calls"):
        responds -= 1
    return turns, calls, responds


def v4(tid, dataset, manifest, session, truth, query, steps, status, answer=None, confidence=None,
       explanation=None, created="2025-11-08T10:00:00+00:00", modified="2025-11-08T10:04:12+00:00", extra=None):
    messages = [{"role": "user", "content": first_message(manifest, query)}]
    n = 0
    for step in steps:
        n += 1
        if step[0] == "tool":
            _, reasoning, name, args, result = step
            c = call(tid, n, name, args)
            messages.append({"role": "assistant", "content": reasoning, "tool_calls": [c]})
            messages.append({"role": "tool", "tool_call_id": c["id"], "name": name, "content": json.dumps(result)})
        else:
            messages.append({"role": "assistant", "content": step[1], "tool_calls": None})
    meta = {"dataset": dataset, "session": session, "ground_truth": truth, "status": status}
    if status == "finished":
        messages.append({"role": "assistant", "content": f"{explanation}\n\nFinal Answer: {answer}", "tool_calls": None})
    turns, calls, responds = counts(messages, status)
    meta.update({"num_turns": turns, "num_tool_calls": calls, "num_responds": responds, "user_query": query,
                 "schema_version": "openai_v1", "created_at": created, "last_modified": modified})
    if extra:
        meta.update(extra)
    if status == "finished":
        meta.update({"final_answer": answer, "confidence": confidence,
                     "is_correct": answer.strip().lower() == truth.strip().lower()})
    return {"id": tid, "metadata": meta, "messages": messages}


def recount(t):
    turns, calls, responds = counts(t["messages"], t["metadata"]["status"])
    t["metadata"].update({"num_turns": turns, "num_tool_calls": calls, "num_responds": responds})
    return t


CHANNEL_STATS = {"dataset": "uci_har", "channels": [
    {"name": c["name"], "sampling_rate_hz": c["sampling_rate_hz"], "samples_per_session": 128} for c in UCI["channels"]]}
FEATURES = {"artifact_id": "ts_3f9a1c", "window_sec": [0.0, 2.56], "channels": {
    "total_acc_x": {"mean_g": 1.0113, "std_g": 0.0042, "dominant_frequency_hz": 0.39, "zero_crossing_rate_hz": 0.0},
    "total_acc_y": {"mean_g": -0.1261, "std_g": 0.0031, "dominant_frequency_hz": 0.39, "zero_crossing_rate_hz": 0.0},
    "total_acc_z": {"mean_g": 0.0932, "std_g": 0.0048, "dominant_frequency_hz": 0.78, "zero_crossing_rate_hz": 0.0}},
    "gravity_direction": {"x": 0.987, "y": -0.123, "z": 0.091}}
WALK_FEATURES = {"artifact_id": "ts_77b210", "channels": {
    "body_acc_x": {"std_g": 0.211, "dominant_frequency_hz": 1.95, "cadence_hz": 1.95}}}


def standing_thread():
    tid = "uci_har_train_01_0000_v4_0001"
    return v4(tid, "uci_har", UCI, "train_01_0000", "standing", "What activity is the person doing in this recording?", [
        ("tool", "First I need to know which sensors are available and at what rate.", "show_channel_stats",
         {"dataset_name": "uci_har"}, CHANNEL_STATS),
        ("tool", "The total acceleration channels include gravity; their statistics tell posture and movement.",
         "compute_features", {"artifact_id": "ts_3f9a1c", "channel_names": ["total_acc_x", "total_acc_y", "total_acc_z"]},
         FEATURES),
    ], "finished", answer="standing", confidence="high",
        explanation="Gravity lies almost entirely on the x axis (upright device) and the variance is tiny, so the person is upright and still.",
        extra={"gemini_model": "gemini-2.5-flash", "query_temperature": 0.9, "step_temperature": 0.7,
               "initial_artifact_id": "ts_3f9a1c"})


def walking_wrong_thread():
    tid = "uci_har_train_01_0078_v4_0002"
    return v4(tid, "uci_har", UCI, "train_01_0078", "walking", "Is this person moving, and if so how?", [
        ("tool", "Let me look at the body acceleration rhythm.", "compute_features",
         {"artifact_id": "ts_77b210", "channel_names": ["body_acc_x"]}, WALK_FEATURES),
        ("respond", "There is a clear periodic component near 2 Hz, typical of gait."),
    ], "finished", answer="walking_upstairs", confidence="medium",
        explanation="A cadence near 2 Hz with strong vertical variation suggests climbing.",
        created="2025-11-08T11:00:00Z", modified="2025-11-08T11:02:30Z")


def active_thread():
    tid = "uci_har_test_24_2888_v4_0003"
    return v4(tid, "uci_har", UCI, "test_24_2888", "walking", "Wie bewegt sich die Person – läuft sie?", [
        ("tool", "Zuerst prüfe ich die verfügbaren Kanäle.", "show_channel_stats", {"dataset_name": "uci_har"}, CHANNEL_STATS),
        ("respond", "Die Kanäle sind bekannt; als Nächstes die Merkmale der Körperbeschleunigung."),
    ], "active", created="2025-11-09T08:00:00+01:00", modified="2025-11-09T08:01:00+01:00")


def max_turns_thread():
    tid = "mhealth_subject1_seg009_0000_v4_0004"
    steps = [("tool", f"Step {i}: checking channel statistics again.", "show_channel_stats", {"dataset_name": "mhealth"},
              {"dataset": "mhealth", "channels": len(MHEALTH["channels"])}) for i in range(5)]
    t = v4(tid, "mhealth", MHEALTH, "subject1_seg009_0000", "running", "What exercise is being performed?", steps,
           "max_turns_reached")
    return t


def v3_thread():
    return {
        "thread_id": "uci_har_train_01_0051_v3_0042", "schema_version": "3.0", "status": "finished",
        "dataset_name": "uci_har", "session_id": "train_01_0051", "ground_truth_label": "laying",
        "created_at": "2025-10-01T09:00:00+00:00", "last_modified": "2025-10-01T09:03:00+00:00",
        "initial_context": {"user_query": "What is the person doing?", "manifest": UCI},
        "generation_metadata": {"model": "gemini-2.0-flash", "query_temperature": 0.9, "step_temperature": 0.7},
        "conversation": [
            {"turn": 1, "action": "use_tool", "reasoning": "Check the channels.",
             "tool_call": {"tool_name": "show_channel_stats", "parameters": {"dataset_name": "uci_har"}},
             "tool_result": CHANNEL_STATS},
            {"turn": 2, "action": "respond", "reasoning": "Gravity is on the z axis.",
             "response": "The device lies flat; gravity points along z."},
        ],
        "metadata": {"num_turns": 2, "num_tool_calls": 1},
        "final_answer": "laying", "explanation": "Gravity along z and no motion: lying down.", "confidence": "high",
        "is_correct": True,
    }


def v2_thread():
    return {"conversation_id": "uci_har_train_01_0027_v2_0007", "schema_version": "2.0", "dataset_name": "uci_har",
            "session_id": "train_01_0027", "ground_truth_label": "sitting", "created_at": "2025-09-15T14:20:00",
            "initial_context": {"user_query": "Is the person sitting or standing?"},
            "conversation": [{"turn": 1, "reasoning": "Check channels.",
                              "tool_call": {"tool_name": "show_channel_stats", "parameters": {"dataset_name": "uci_har"}},
                              "tool_result": {"channels": 9}}],
            "final_classification": "sitting"}


def write(path, obj, raw=None):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        if raw is not None:
            f.write(raw)
        else:
            f.write(json.dumps(obj, indent=2, ensure_ascii=False).encode() + b"\n")


def rule_case(code_name, obj=None, raw=None, name=None):
    tid = name or (obj or {}).get("id") or (obj or {}).get("thread_id") or "case"
    write(os.path.join(OUT, "rules", code_name, tid + ".json"), obj, raw)


def main():
    shutil.rmtree(OUT, ignore_errors=True)
    valid = [standing_thread(), walking_wrong_thread(), active_thread(), max_turns_thread()]
    for t in valid:
        write(os.path.join(OUT, "valid", t["id"] + ".json"), t)
    v3 = v3_thread()
    write(os.path.join(OUT, "valid", v3["thread_id"] + ".json"), v3)
    # An export-style JSONL file: one thread per line, as written by the old export.
    os.makedirs(os.path.join(OUT, "valid", "exports"), exist_ok=True)
    with open(os.path.join(OUT, "valid", "exports", "train.jsonl"), "w") as f:
        for t in valid[:2]:
            e = copy.deepcopy(t)
            e["id"] = e["id"] + "_export"
            f.write(json.dumps(e) + "\n")

    for t in legacy_cases():
        tid = t.get("thread_id") or t["conversation_id"]
        write(os.path.join(OUT, "legacy", tid + ".json"), t)
    # Exactly as the original generator saved them: json.dump(thread, f, indent=2), Python's defaults.
    os.makedirs(os.path.join(OUT, "legacy_python"), exist_ok=True)
    for t in python_legacy_cases():
        with open(os.path.join(OUT, "legacy_python", t["thread_id"] + ".json"), "w") as f:
            json.dump(t, f, indent=2)

    base = standing_thread
    rule_case("TK002-invalid-utf8", raw=json.dumps(base()).replace("standing", "caf\u00e9", 1).encode("latin-1"), name="latin1")
    rule_case("TK003-invalid-json", raw=json.dumps(base(), indent=2).encode()[:1500], name="truncated")
    rule_case("TK004-empty-file", raw=b"", name="empty")
    rule_case("TK006-unknown-format", {"dataset_name": "UCI HAR", "channels": []}, name="manifest_in_threads")
    t = base(); t["metadata"]["schema_version"] = "3.0"; rule_case("TK007-version-mismatch", t)
    v3 = v3_thread(); rule_case("TK008-legacy-v3", v3)
    rule_case("TK009-legacy-v2", v2_thread(), name="uci_har_train_01_0027_v2_0007")
    os.makedirs(os.path.join(OUT, "rules", "TK010-duplicate-id"), exist_ok=True)
    with open(os.path.join(OUT, "rules", "TK010-duplicate-id", "backup.jsonl"), "w") as f:
        f.write(json.dumps(base()) + "\n" + json.dumps(base()) + "\n")
    rule_case("TK011-id-file-stem-mismatch", base(), name="renamed_by_hand")
    # A hand edit that left one key twice (same value, so nothing else differs).
    text = json.dumps(base(), indent=2, ensure_ascii=False)
    text = text.replace('"status": "finished",', '"status": "finished",\n    "status": "finished",', 1)
    rule_case("TK013-duplicate-key", raw=text.encode() + b"\n", name=base()["id"])
    # Python's json.dump writes a float that is not finite as a bare NaN (allow_nan=True).
    t = base(); t["metadata"]["score_std"] = float("nan")
    rule_case("TK014-non-finite-number", raw=json.dumps(t, indent=2).encode() + b"\n", name=t["id"])
    t = base(); t["messages"][1]["role"] = "robot"; del t["metadata"]["status"]; rule_case("TK100-schema-violation", t)
    t = base(); del t["messages"][4]; rule_case("TK201-tool-call-unanswered", recount(t))
    t = base(); t["messages"].insert(3, {"role": "tool", "tool_call_id": "call_invented", "name": "show_channel_stats", "content": "{}"})
    rule_case("TK202-tool-answer-orphan", recount(t))
    t = base(); t["messages"].insert(3, copy.deepcopy(t["messages"][2])); rule_case("TK203-tool-call-answered-twice", recount(t))
    t = base(); t["messages"][2]["name"] = "compute_features"; rule_case("TK204-tool-name-mismatch", t)
    t = base(); t["messages"][1]["tool_calls"][0]["function"]["arguments"] = {"dataset_name": "uci_har"}
    t["messages"][3]["tool_calls"][0]["function"]["arguments"] = "{'artifact_id': 'ts_3f9a1c'}"
    rule_case("TK205-tool-arguments-not-json-string", t)
    t = base(); t["messages"][2]["content"] = CHANNEL_STATS; rule_case("TK206-tool-content-not-string", t)
    t = base(); t["messages"][3]["tool_calls"][0]["id"] = t["messages"][1]["tool_calls"][0]["id"]
    t["messages"][4]["tool_call_id"] = t["messages"][1]["tool_calls"][0]["id"]; rule_case("TK207-duplicate-tool-call-id", t)
    t = base(); q = t["metadata"]["user_query"]
    t["messages"][0:1] = [{"role": "user", "content": "Dataset Information:\n" + json.dumps(UCI, indent=2)},
                          {"role": "user", "content": {"type": "timeseries", "artifact_id": "ts_3f9a1c"}},
                          {"role": "user", "content": "User Query: " + q}]
    rule_case("TK208-user-content-not-string", t)
    t = base(); t["messages"].insert(2, {"role": "system", "content": "You are a helpful assistant."}); rule_case("TK209-system-message-not-first", t)
    t = base(); t["messages"][-1]["tool_calls"] = []; rule_case("TK210-empty-tool-calls", t)
    t = base(); t["messages"].insert(0, {"role": "assistant", "content": "Hello!", "tool_calls": None}); rule_case("TK301-first-message-not-user", recount(t))
    t = base(); t["messages"][0]["content"] = t["metadata"]["user_query"]; rule_case("TK302-first-message-layout", t)
    t = base(); t["metadata"]["user_query"] = "What is the person doing right now?"; rule_case("TK303-user-query-mismatch", t)
    t = active_thread(); t["metadata"]["num_responds"] -= 1; rule_case("TK401-metadata-counts", t)
    t = base(); del t["messages"][-1]; rule_case("TK402-finished-without-final-message", recount(t))
    t = base(); t["metadata"]["confidence"] = None; rule_case("TK403-finished-missing-fields", t)
    t = walking_wrong_thread(); t["metadata"]["is_correct"] = True; rule_case("TK404-is-correct-mismatch", t)
    t = base(); t["messages"][-1]["content"] = t["messages"][-1]["content"].replace("Final Answer: standing", "Final Answer: sitting")
    rule_case("TK405-final-answer-text-mismatch", t)
    t = base(); t["messages"][-1]["content"] = "The person is standing still."; rule_case("TK406-final-answer-marker-missing", t)
    t = base(); t["metadata"]["created_at"] = "yesterday"; rule_case("TK407-timestamp-invalid", t)
    t = base(); t["metadata"]["created_at"] = "2025-11-08T10:00:00.123456"; t["metadata"]["last_modified"] = "2025-11-08T10:04:12.000001"
    rule_case("TK408-timestamp-without-offset", t)
    t = base(); t["metadata"]["created_at"] = "2025-11-09T10:00:00+00:00"; rule_case("TK409-timestamps-out-of-order", t)
    # Gaps are legitimate (the generator's skip step); a number that does not increase is not.
    t = v3_thread(); t["conversation"][1]["turn"] = 1; rule_case("TK501-turn-numbering", t)
    t = v3_thread(); t["conversation"][1]["tool_call"] = {"tool_name": "show_channel_stats", "parameters": {}}; rule_case("TK502-action-fields-mismatch", t)
    t = v3_thread()
    t["conversation"].append({"turn": 3, "reasoning": "Done.", "action": "final_answer", "final_answer": "sitting",
                              "confidence": "high", "explanation": t["explanation"]})
    t["metadata"]["num_turns"] = 3
    rule_case("TK503-final-answer-turn-mismatch", t)
    t = base(); t["metadata"]["dataset"] = "pamap3"; rule_case("TK601-dataset-not-found", t)
    t = base(); t["metadata"]["session"] = "train_99_9999"; rule_case("TK602-session-not-found", t)
    t = base(); t["metadata"]["ground_truth"] = "sitting"; t["metadata"]["is_correct"] = False; rule_case("TK603-ground-truth-mismatch", t)
    t = base(); m = copy.deepcopy(UCI); m["channels"][0]["sampling_rate_hz"] = 100.0
    t["messages"][0]["content"] = first_message(m, t["metadata"]["user_query"]); rule_case("TK604-manifest-mismatch", t)


BM_CHANNEL_STATS = {"dataset": "basic_motions", "channels": [
    {"name": n, "description": f"dimension {n} of the archive's series", "sampling_rate_hz": 10.0}
    for n in ["acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z"]], "samples_per_session": {"min": 100, "max": 100}}
BM_SESSION_STATS = {"dataset": "basic_motions", "total_sessions": 80,
                    "label_distribution": {"Badminton": 20, "Running": 20, "Standing": 20, "Walking": 20},
                    "duration_sec": {"min": 9.9, "max": 9.9, "mean": 9.9, "median": 9.9}, "sessions_without_data": 0}


def python_legacy_cases():
    """Legacy threads shaped exactly as the original Python generator wrote them: json.dump(indent=2) (ASCII
    escapes, NaN/Infinity for floats that are not finite), final-answer turns, turn gaps from its "skip" step,
    null explanations, last_modified in metadata, and its placeholder tools (random numbers)."""
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "..", "fixtures", "datasets", "basic_motions", "manifest.json")) as f:
        manifest = json.load(f)
    def base(tid, session, truth, query):
        return {"thread_id": tid, "schema_version": "3.0", "status": "finished", "dataset_name": "basic_motions",
                "session_id": session, "ground_truth_label": truth, "created_at": "2025-08-02T10:15:00.123456",
                "last_modified": "2025-08-02T10:17:41.654321",
                "initial_context": {"user_query": query, "manifest": manifest},
                "generation_metadata": {"model": "gemini-2.0-flash", "query_temperature": 0.9, "step_temperature": 0.7},
                "conversation": [], "metadata": {"num_turns": 0, "num_tool_calls": 0,
                                                 "last_modified": "2025-08-02T10:17:41.654321"}}
    def tool(n, reasoning, name, params, result):
        return {"turn": n, "action": "use_tool", "reasoning": reasoning,
                "tool_call": {"tool_name": name, "parameters": params}, "tool_result": result}
    def final(n, answer, confidence, explanation):
        return {"turn": n, "reasoning": "I have enough evidence.", "action": "final_answer", "final_answer": answer,
                "confidence": confidence, "explanation": explanation}
    def count(t):
        t["metadata"]["num_turns"] = len(t["conversation"])
        t["metadata"]["num_tool_calls"] = sum(1 for x in t["conversation"] if x["action"] == "use_tool")
        return t
    cases = []
    # NaN and Infinity in a placeholder result, a gap (turn 3 skipped), a final-answer turn, an explanation with
    # surrounding white space, and a question that Python escapes (\u2019, \u00e9).
    t = base("basic_motions_train_0003_v3_0101", "train_0003", "Standing", "What\u2019s the wearer doing \u2014 caf\u00e9 break?")
    t["conversation"] = [
        tool(1, "First the channels.", "show_channel_stats", {"dataset_name": "basic_motions"}, BM_CHANNEL_STATS),
        tool(2, "Now the motion classifier.", "human_activity_motion_classifier", {"window": 10},
             {"prediction": "Standing", "probabilities": {"Standing": 0.71, "Walking": float("nan")},
              "energy": float("inf"), "drift": float("-inf")}),
        final(4, "Standing", "high", "  Almost no motion and steady gravity.  "),
    ]
    t.update(final_answer="Standing", confidence="high", explanation="  Almost no motion and steady gravity.  ",
             is_correct=True)
    cases.append(count(t))
    # A null explanation (the original wrote the text "None"), gaps 1, 3, a final-answer turn.
    t = base("basic_motions_train_0010_v3_0102", "train_0010", "Running", "Is the person moving?")
    t["conversation"] = [
        tool(1, "Dataset overview.", "show_session_stats", {"dataset_name": "basic_motions"}, BM_SESSION_STATS),
        tool(3, "Tokenize the motion.", "human_activity_motion_tokenizer", {"alphabet": 4},
             {"tokens": ["a", "b", "b", "c"], "entropy": float("nan")}),
        final(4, " running ", "medium", None),
    ]
    t.update(final_answer=" running ", confidence="medium", explanation=None, is_correct=True)
    cases.append(count(t))
    # An active thread: last_modified only in metadata (no top-level key), one gap.
    t = base("basic_motions_test_0005_v3_0103", "test_0005", "Standing", "What activity is this?")
    del t["last_modified"]
    t["status"] = "active"
    t["conversation"] = [
        tool(2, "Channels first.", "show_channel_stats", {"dataset_name": "basic_motions"}, BM_CHANNEL_STATS),
        {"turn": 3, "action": "respond", "reasoning": "Gravity is steady.", "response": "The watch barely moves."},
    ]
    t.update(final_answer=None, confidence=None, explanation=None, is_correct=None)
    cases.append(count(t))
    # The capture placeholders, compact floats, no gaps; finished without a final-answer turn.
    t = base("basic_motions_train_0020_v3_0104", "train_0020", "Walking", "How intense is this activity?")
    t["conversation"] = [
        tool(1, "Capture tokens.", "human_activity_motion_capture_tokenizer", {}, {"tokens": 128, "rate": 1e-07}),
        tool(2, "Capture classifier.", "human_activity_motion_capture_classifier", {},
             {"label": "Walking", "score": -0.0, "spread": float("-inf")}),
    ]
    t.update(final_answer="Walking", confidence="low", explanation="Steady periodic motion.", is_correct=True)
    cases.append(count(t))
    return cases


def legacy_cases():
    """Legacy threads for `migrate`: one per case its mapping must handle."""
    cases = []
    t = v3_thread(); cases.append(t)
    t = v3_thread(); t["thread_id"] = "uci_har_train_01_0150_v3_0043"; t["session_id"] = "train_01_0150"
    t["ground_truth_label"] = "walking_upstairs"; t["status"] = "active"; t["final_answer"] = None; t["explanation"] = None
    t["confidence"] = None; t["is_correct"] = None; del t["initial_context"]["manifest"]
    t["conversation"].append({"turn": 3, "action": "respond", "reasoning": "Need more evidence.", "response": "Let me look at the gyroscope next."})
    t["metadata"] = {"num_turns": 3, "num_tool_calls": 1}
    cases.append(t)
    t = v3_thread(); t["thread_id"] = "uci_har_train_01_0125_v3_0044"; t["session_id"] = "train_01_0125"
    t["ground_truth_label"] = "walking_downstairs"; t["final_answer"] = "walking"; t["is_correct"] = False
    t["notes"] = "hand-checked by the annotator"; t["reviewer"] = {"name": "Zoë", "score": 3}
    t["initial_context"]["session_hint"] = "second half of the recording"
    t["conversation"][0]["timestamp"] = "2025-10-01T09:01:00+00:00"
    t["metadata"]["tokens_used"] = 1234
    cases.append(t)
    t = v3_thread(); t["thread_id"] = "mhealth_subject1_seg009_0001_v3_0045"; t["dataset_name"] = "mhealth"
    t["session_id"] = "subject1_seg009_0001"; t["ground_truth_label"] = "running"; t["status"] = "max_turns_reached"
    t["initial_context"] = {"user_query": "この記録ではどんな運動をしていますか？", "manifest": MHEALTH}
    t["conversation"] = [{"turn": i + 1, "action": "use_tool", "reasoning": f"Schritt {i + 1}: Kanäle prüfen – äöü ß.",
                          "tool_call": {"tool_name": "show_channel_stats", "parameters": {"dataset_name": "mhealth"}},
                          "tool_result": {"channels": len(MHEALTH["channels"]), "note": "größte Varianz: 胸"}} for i in range(10)]
    t["metadata"] = {"num_turns": 10, "num_tool_calls": 10}
    for k in ("final_answer", "explanation", "confidence", "is_correct"):
        t[k] = None
    cases.append(t)
    cases.append(v2_thread())
    return cases


if __name__ == "__main__":
    main()
