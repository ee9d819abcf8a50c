"""The export a Python user would write instead of `threadkit export --profile openai`: the peer
that `bench/export_py.sh` measures threadkit against.

    python export_python.py THREADS_DIR OUT_DIR TOOLS_JSON VOCAB_DIR [--jobs N] [--seed S] [--max-tokens N]

What it does is what threadkit's export does on the bench corpus, with the libraries a Python
pipeline reaches for: `orjson` to read and write, OpenAI's `tiktoken` to count, a
`multiprocessing` pool with one process per core.
  - keeps `finished` threads whose every tool call is answered (threadkit's TK201: the bench
    corpus's one broken thread per 50);
  - writes OpenAI's fine-tuning lines: `messages` (tool `name` and `tool_calls: null` removed,
    a trailing tool result dropped) and the `tools` list;
  - counts tokens as OpenAI's cookbook does (3 per message, 1 per role, 1 per call, 3 to prime
    the reply, the tools as compact JSON) and leaves out examples over --max-tokens;
  - splits by recording with threadkit's hash (SHA-256 of seed, dataset and session: the same
    recording lands in the same split in both);
  - writes train.jsonl and val.jsonl in id order, each to a temporary file, fsynced, renamed.
It prints the counts per split, so a run can be checked against threadkit's export.json.
"""
import argparse
import gzip
import hashlib
import json
import multiprocessing
import os
import struct
import sys

import orjson
import tiktoken

O200K_PATTERN = "|".join([
    r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
    r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
    r"""\p{N}{1,3}""",
    r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
    r"""\s*[\r\n]+""",
    r"""\s+(?!\S)""",
    r"""\s+""",
])

ENC = None
TOOLS = None
TOOLS_TOKENS = 0
ARGS = None


def load_encoding(vocab_dir):
    """o200k_base from the vocabulary file on disk (tiktoken would download the same file)."""
    ranks = {}
    with gzip.open(os.path.join(vocab_dir, "o200k_base.tiktoken.gz"), "rb") as f:
        import base64
        for line in f:
            if line.strip():
                token, rank = line.split()
                ranks[base64.b64decode(token)] = int(rank)
    return tiktoken.Encoding("o200k_base", pat_str=O200K_PATTERN, mergeable_ranks=ranks, special_tokens={})


def init(args):
    global ENC, TOOLS, TOOLS_TOKENS, ARGS
    ARGS = args
    ENC = load_encoding(args.vocab)
    TOOLS = orjson.loads(open(args.tools, "rb").read())
    TOOLS_TOKENS = len(ENC.encode_ordinary(orjson.dumps(TOOLS).decode()))


def split_of(seed, dataset, session, ratios):
    digest = hashlib.sha256(struct.pack("<Q", seed) + dataset.encode() + b"\0" + session.encode()).digest()
    at = (struct.unpack("<Q", digest[:8])[0] >> 11) / float(1 << 53)
    upto = 0.0
    for k, r in enumerate(ratios):
        upto += r
        if at < upto:
            return k
    return len(ratios) - 1


def one(path):
    doc = orjson.loads(open(path, "rb").read())
    meta = doc.get("metadata") or {}
    if meta.get("status") != "finished":
        return None
    messages = []
    asked, answered = set(), set()
    for m in doc["messages"]:
        out = {"role": m["role"], "content": m.get("content")}
        if m["role"] == "assistant" and m.get("tool_calls"):
            out["tool_calls"] = m["tool_calls"]
            asked.update(c["id"] for c in m["tool_calls"])
        if m["role"] == "tool":
            out = {"role": "tool", "tool_call_id": m["tool_call_id"], "content": m["content"]}
            if not isinstance(out["content"], str):
                # As threadkit serializes a result object (and the generator's Python wrote it): json.dumps.
                out["content"] = json.dumps(out["content"], ensure_ascii=False)
            answered.add(m["tool_call_id"])
        messages.append(out)
    if asked - answered:
        return None
    while messages and messages[-1]["role"] == "tool":
        messages.pop()
    n = 3 + TOOLS_TOKENS
    for m in messages:
        n += 4 + len(ENC.encode_ordinary(m.get("content") or ""))
        for c in m.get("tool_calls") or []:
            args = c["function"]["arguments"]
            if not isinstance(args, str):
                args = orjson.dumps(args).decode()
                c["function"]["arguments"] = args
            n += len(ENC.encode_ordinary(c["function"]["name"])) + len(ENC.encode_ordinary(args)) + 1
    if n > ARGS.max_tokens:
        return None
    line = orjson.dumps({"messages": messages, "tools": TOOLS}) + b"\n"
    return doc["id"], split_of(ARGS.seed, meta.get("dataset", ""), meta.get("session", ""), [0.9, 0.1]), line


def main():
    p = argparse.ArgumentParser()
    p.add_argument("threads")
    p.add_argument("out")
    p.add_argument("tools")
    p.add_argument("vocab")
    p.add_argument("--jobs", type=int, default=os.cpu_count())
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--max-tokens", type=int, default=16385)
    args = p.parse_args()
    paths = []
    for root, dirs, files in os.walk(args.threads):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        paths.extend(os.path.join(root, f) for f in sorted(files) if f.endswith(".json"))
    with multiprocessing.Pool(args.jobs, initializer=init, initargs=(args,)) as pool:
        results = [r for r in pool.imap(one, paths, chunksize=64) if r is not None]
    results.sort(key=lambda r: r[0])
    os.makedirs(args.out, exist_ok=True)
    counts = {}
    for k, name in enumerate(["train", "val"]):
        lines = [r[2] for r in results if r[1] == k]
        tmp = os.path.join(args.out, f".{name}.jsonl.tmp")
        with open(tmp, "wb") as f:
            f.writelines(lines)
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, os.path.join(args.out, f"{name}.jsonl"))
        counts[name] = len(lines)
    dfd = os.open(args.out, os.O_RDONLY)
    os.fsync(dfd)
    os.close(dfd)
    print(f"{len(paths)} threads read, {len(results)} exported: " + ", ".join(f"{k} {v}" for k, v in counts.items()))


if __name__ == "__main__":
    sys.exit(main())
