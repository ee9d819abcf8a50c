"""Load threadkit's export profiles with the frameworks' own loaders.

Run by .ci/run in a virtualenv with `datasets`, `transformers` and `jinja2`:

    python tests/python/loaders.py EXPORT_ROOT TEMPLATE

EXPORT_ROOT holds one folder per profile (openai, trl, axolotl, llama-factory, raw), each
written by `threadkit export --profile P --out EXPORT_ROOT/P`. Exits non-zero on the first
broken promise.
"""

import json
import sys
from pathlib import Path

import datasets
from tokenizers import Tokenizer, models
from transformers import PreTrainedTokenizerFast

datasets.disable_progress_bars()


def lines(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def data_files(folder):
    manifest = json.loads((folder / "export.json").read_text())
    return {f["split"]: str(folder / f["path"]) for f in manifest["files"] if f.get("split")}, manifest


def load(folder):
    files, manifest = data_files(folder)
    out = {}
    for split, path in files.items():
        ds = datasets.load_dataset("json", data_files=path, split="train")
        rows = lines(path)
        assert len(ds) == len(rows) == manifest["counts"]["splits"][split]["examples"], (folder, split, len(ds))
        out[split] = (ds, rows)
    return out


def check_messages_profile(folder, arguments_as):
    checked = 0
    for split, (ds, rows) in load(folder).items():
        for row, loaded in zip(rows, ds):
            assert len(row["messages"]) == len(loaded["messages"])
            for m, lm in zip(row["messages"], loaded["messages"]):
                assert isinstance(lm["content"], str) or (lm.get("content") is None and "content" not in m), (folder, lm)
                if m["role"] == "tool":
                    # Tool results must come back as the very same strings, not decoded JSON.
                    assert lm["content"] == m["content"], (folder, type(lm["content"]))
                    checked += 1
                for c, lc in zip(m.get("tool_calls") or [], lm.get("tool_calls") or []):
                    args = lc["function"]["arguments"]
                    assert isinstance(args, arguments_as), (folder, type(args))
                    assert args == c["function"]["arguments"], (folder, args)
    assert checked > 0, f"{folder}: no tool message was checked"
    return checked


def render_with_template(folder, template):
    """transformers' apply_chat_template with a real model family's template."""
    tok = PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer(models.WordLevel({"<unk>": 0}, unk_token="<unk>")), unk_token="<unk>"
    )
    tok.chat_template = Path(template).read_text()
    rendered = 0
    for split, (ds, rows) in load(folder).items():
        for row, loaded in zip(rows, ds):
            text = tok.apply_chat_template(loaded["messages"], tools=loaded["tools"], tokenize=False)
            for m in row["messages"]:
                for c in m.get("tool_calls") or []:
                    f = c["function"]
                    expected = '{"name": "%s", "arguments": %s}' % (f["name"], json.dumps(f["arguments"]))
                    assert expected in text, (folder, expected, text[:2000])
                    rendered += 1
                if m["role"] == "tool":
                    assert "<tool_response>\n" + m["content"] + "\n</tool_response>" in text
            for t in row["tools"]:
                assert json.dumps(t["function"]["name"]) in text
    assert rendered > 0, f"{folder}: no tool call was rendered"
    return rendered


def llama_factory_alternation(folder):
    """LLaMA-Factory's sharegpt converter rule, restated from its documentation and
    converter: after an optional system turn, odd positions (1st, 3rd, ...) are human or
    observation, even ones gpt or function_call, and the count is even; otherwise the
    example is dropped with a warning."""
    odd_tags, even_tags = ("human", "observation"), ("gpt", "function_call")
    info = json.loads((folder / "dataset_info.json").read_text())
    for entry in info.values():
        assert entry["formatting"] == "sharegpt" and entry["columns"]["messages"] == "conversations"
        assert (folder / entry["file_name"]).exists(), entry["file_name"]
    kept = 0
    for split, (ds, rows) in load(folder).items():
        for row in rows:
            msgs = row["conversations"]
            if msgs and msgs[0]["from"] == "system":
                msgs = msgs[1:]
            broken = len(msgs) % 2 != 0
            for i, m in enumerate(msgs):
                if m["from"] not in (odd_tags if i % 2 == 0 else even_tags):
                    broken = True
                if m["from"] == "function_call":
                    call = json.loads(m["value"])
                    assert set(call) == {"name", "arguments"} and isinstance(call["arguments"], dict), call
            assert not broken, ("LLaMA-Factory would drop this example", [m["from"] for m in msgs])
            tools = json.loads(row["tools"])
            assert all("name" in t and "parameters" in t for t in tools)
            kept += 1
    assert kept > 0
    return kept


def main():
    root, template = Path(sys.argv[1]), sys.argv[2]
    print("openai: tool messages checked:", check_messages_profile(root / "openai", str))
    print("trl: tool messages checked:", check_messages_profile(root / "trl", dict))
    print("trl: tool calls rendered by the chat template:", render_with_template(root / "trl", template))
    print("axolotl: tool messages checked:", check_messages_profile(root / "axolotl", dict))
    print("llama-factory: examples kept by the alternation rule:", llama_factory_alternation(root / "llama-factory"))
    raw = load(root / "raw")
    print("raw: rows:", sum(len(ds) for ds, _ in raw.values()))
    print("all loaders agree")


if __name__ == "__main__":
    main()
