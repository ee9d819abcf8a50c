"""threadkit's token counts against OpenAI's own `tiktoken`, example by example.

    python tiktoken_counts.py THREADKIT THREADS_DIR WORK_DIR VOCAB_DIR

VOCAB_DIR holds `o200k_base.tiktoken.gz` and `cl100k_base.tiktoken.gz` (the copies the
`bpe-openai` crate ships). tiktoken would download the same files; there is no network here,
so its loader is pointed at them, after checking them against the SHA-256 that tiktoken
itself pins for OpenAI's files: the vocabulary is OpenAI's, byte for byte.

threadkit reports each example's count through `validate --profile openai --max-tokens 1`
(TK709 says "N tokens"); the same example is counted here with tiktoken and the framing
threadkit documents (OpenAI cookbook: 3 per message, 1 per role, 1 per call,
3 to prime the reply, tools as compact JSON). Every count must be equal.
"""
import gzip
import hashlib
import json
import os
import re
import subprocess
import sys

import tiktoken.load
import tiktoken_ext.openai_public as openai_public

THREADKIT, THREADS, WORK, VOCAB = (os.path.abspath(a) for a in sys.argv[1:5])

_read = tiktoken.load.read_file_cached


def local_vocab(blobpath, expected_hash=None):
    name = blobpath.rsplit("/", 1)[-1]
    data = gzip.decompress(open(os.path.join(VOCAB, name + ".gz"), "rb").read())
    if hashlib.sha256(data).hexdigest() != expected_hash:
        sys.exit(f"{name}: not OpenAI's file (sha256 differs from the hash tiktoken pins)")
    return data


tiktoken.load.read_file_cached = local_vocab


def framing_count(enc, example):
    n = 3 + len(enc.encode_ordinary(json.dumps(example["tools"], separators=(",", ":"), ensure_ascii=False)))
    for m in example["messages"]:
        n += 3 + 1
        n += len(enc.encode_ordinary(m.get("content") or ""))
        for c in m.get("tool_calls") or []:
            n += len(enc.encode_ordinary(c["function"]["name"])) + len(enc.encode_ordinary(c["function"]["arguments"])) + 1
    return n


# Every class the pre-tokenizer's pattern distinguishes, ASCII and not: letters by case
# (and `ǅ` titlecase, `ʰ` modifier, `中` other), combining marks, digits of other scripts,
# `ſ` (folds to `s` in `'s`), Unicode spaces, line separators, symbols, emoji, contractions.
STRESS_ALPHABET = [
    "a", "e", "l", "r", "s", "t", "v", "m", "d", "x", "A", "E", "L", "R", "S", "T", "Z", "0", "7", "9", " ", " ",
    "\t", "\n", "\r\n", "'", "/", "{", "\"", ":", ",", ".", "-", "_", "é", "É", "ſ", "ǅ", "ʰ", "中",
    "\u0301", "²", "٣", "\u00a0", "\u0085", "\u2028", "\u3000", "’", "€", "🏃", "'s", "'LL", "'ve", "'Re", "'m", "'D", " don't", "  \n  ",
]


def stress_threads(threads, out, n=40):
    """Copies of corpus threads whose reasoning is text over STRESS_ALPHABET (seeded)."""
    import random
    rng = random.Random(15)
    os.makedirs(out, exist_ok=True)
    for k, f in enumerate(sorted(os.listdir(threads))[:n]):
        t = json.load(open(os.path.join(threads, f)))
        t["id"] = f"stress_{k:03d}"
        for m in t["messages"]:
            if m["role"] == "assistant" and m.get("tool_calls"):
                m["content"] = "".join(rng.choice(STRESS_ALPHABET) for _ in range(rng.randrange(1, 400)))
        with open(os.path.join(out, t["id"] + ".json"), "w", encoding="utf-8") as w:
            json.dump(t, w, ensure_ascii=bool(k % 2), indent=1)
    return out


def main():
    total = stressed = 0
    stress_threads(THREADS, os.path.join(WORK, "stress"))
    for name in ("o200k_base", "cl100k_base"):
        enc = getattr(openai_public, name)()
        enc = tiktoken.Encoding(**enc)
        out = os.path.join(WORK, "tiktoken", name)
        subprocess.run([THREADKIT, "export", THREADS, os.path.join(WORK, "stress"), "--status", "all", "--profile", "openai", "--out", out,
                        "--tokenizer", name, "--allow-few-examples", "--quality", "off", "-q"], check=True, stdout=subprocess.DEVNULL)
        files = [os.path.join(out, f["path"]) for f in json.load(open(os.path.join(out, "export.json")))["files"] if f.get("split")]
        for path in files:
            report = subprocess.run([THREADKIT, "validate", "--profile", "openai", "--max-tokens", "1", "--tokenizer", name,
                                     "--format", "json", path], capture_output=True, text=True)
            reported = {}
            for rec in json.loads(report.stdout)["files"]:
                for d in rec["diagnostics"]:
                    if d["code"] == "TK709":
                        reported[rec["record"]] = int(re.match(r"(\d+) tokens", d["message"]).group(1))
            for i, line in enumerate(open(path), start=1):
                want = framing_count(enc, json.loads(line))
                if reported.get(i) != want:
                    sys.exit(f"{name} {path}:{i}: threadkit counts {reported.get(i)}, tiktoken {want}")
                total += 1
                stressed += "ſ" in line or "\\u017f" in line
    if stressed < 2 * 30:
        sys.exit(f"only {stressed} examples with stress text were compared")
    print(f"{total} examples ({stressed} with Unicode stress text): threadkit's counts equal tiktoken "
          f"{tiktoken.__version__}'s (o200k_base, cl100k_base)")


main()
