"""Exports proven with the trainers' own code, not with a restatement of their rules.

    python frameworks.py THREADKIT THREADS_DIR TEMPLATES_DIR WORK_DIR trl,llama-factory,axolotl

Each framework runs in its own environment with the versions it pins (LLaMA-Factory 0.9.5:
transformers <= 5.6, datasets <= 4.0; Axolotl 0.19: torch 2.13, transformers 5.16.1,
datasets 4.8.4, trl 1.9.0; TRL: the newest), so the last argument names the ones this
interpreter has.

For every framework this runs threadkit's export into WORK_DIR and then the framework's
own data path on the files, from a *different* working directory (configs must not
depend on where a trainer is started):

- transformers / TRL: `datasets.load_dataset` (arguments must come back unchanged), then
  TRL's `maybe_apply_chat_template` with each model template in TEMPLATES_DIR (via the
  tokenizer's `apply_chat_template`); every call, result and reasoning text must be in
  the rendered text;
- LLaMA-Factory: `get_dataset_list` reads the exported `dataset_info.json`, its sharegpt
  converter aligns the lines, `get_template_and_fix_tokenizer` + `SupervisedDatasetProcessor`
  tokenize them; every reasoning text and call must be in the *trained* labels; and a
  3-shard export merged by `threadkit merge` loads through its multi-dataset path
  (`dataset: threads_shard1,…`) as the same rows as the single export;
- Axolotl 0.19 (with the real torch: its prompt strategies import the trainer stack):
  `load_dataset_with_config` reads the exported `axolotl.yaml` from another folder, its
  `chat_template` prompt strategy tokenizes with each template; every reasoning text and
  call must be in the trained labels; and a 3-shard export merged by `threadkit merge` loads
  through the merged axolotl.yaml as the same rows as the single export.

No model weights are downloaded: the tokenizer is a byte-level BPE with no merges built
with `tokenizers` (one token per byte), so decoding the unmasked labels gives back exactly
the text a trainer would learn. LLaMA-Factory and Axolotl import torch (and peft) at module
level for their training code; `stubs/` stands in for them and raises if the data path
ever calls it (see stubs/torch/__init__.py).

Prints a table (framework × template → examples kept, reasoning texts trained) and exits 1
on any loss.
"""
import glob
import json
import os
import subprocess
import sys
import tempfile
import types

import importlib.util  # noqa: E402

# The stand-ins only where the real torch is not installed (the Axolotl environment has it).
if importlib.util.find_spec("torch") is None:
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "stubs"))

import datasets  # noqa: E402
import yaml  # noqa: E402
from tokenizers import Tokenizer, decoders, models, pre_tokenizers  # noqa: E402
from transformers import PreTrainedTokenizerFast  # noqa: E402

THREADKIT, THREADS, TEMPLATES, WORK = (os.path.abspath(a) for a in sys.argv[1:5])
FRAMEWORKS = sys.argv[5].split(",")
# LLaMA-Factory checks the versions of its training dependencies (accelerate, peft, trl) at
# import; they are not installed (the data path does not use them). Its own switch:
os.environ["DISABLE_VERSION_CHECK"] = "1"
# Axolotl sends telemetry unless told not to; this machine has no network anyway.
os.environ["AXOLOTL_DO_NOT_TRACK"] = "1"
FAILURES = []
ROWS = []

# Templates whose family renders no assistant text beside a call *and* forbids an extra
# assistant turn (strict user/assistant alternation): threadkit reports those texts as
# dropped; the proof counts them, it does not hide them.
NO_PLACE_FOR_REASONING = {"mistralai-Mistral-Nemo-Instruct-2407", "Mistral-Small-3.2-24B-Instruct-2506"}


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs)))


def byte_tokenizer(chat_template=None):
    vocab = {ch: i for i, ch in enumerate(bytes_to_unicode().values())}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>")
    if chat_template is not None:
        fast.chat_template = chat_template
    return fast


def export(profile, out, *extra):
    subprocess.run(
        [THREADKIT, "export", THREADS, "--status", "all", "--profile", profile, "--out", out, "-q", "--quality", "off", *extra],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return json.load(open(os.path.join(out, "export.json")))


def pieces(example):
    """What must be trained: (kind, text) for each assistant text and call, in the example's form."""
    out = []
    if "messages" in example:
        for m in example["messages"]:
            if m["role"] != "assistant":
                continue
            for key in ("content", "reasoning_content", "thinking"):
                if (m.get(key) or "").strip():
                    out.append(("text", m[key].strip()))
            for c in m.get("tool_calls") or []:
                args = c["function"]["arguments"]
                args = json.loads(args) if isinstance(args, str) else args
                out.append(("call", (c["function"]["name"], args)))
    else:
        for t in example["conversations"]:
            if t["from"] == "gpt":
                out.append(("text", t["value"].strip()))
            elif t["from"] == "function_call":
                text, _, rest = t["value"].partition("<tool_call>")
                call = json.loads(rest.rpartition("</tool_call>")[0] if rest else t["value"])
                if text.strip():
                    out.append(("text", text.strip()))
                for c in call if isinstance(call, list) else [call]:
                    out.append(("call", (c["name"], c["arguments"])))
    return out


def squeeze(s):
    return "".join(s.split())


def shown(piece, text):
    kind, value = piece
    if kind == "text":
        # Merged turns keep every paragraph; look for each one.
        return all(squeeze(p) in squeeze(text) for p in value.split("\n\n") if p.strip())
    name, args = value
    if name not in text:
        return False
    if squeeze(json.dumps(args, ensure_ascii=False)) in squeeze(text):
        return True
    return all(k in text and squeeze(v if isinstance(v, str) else json.dumps(v)) in squeeze(text) for k, v in args.items())


def record(framework, profile, template, examples, total, texts_kept, texts, calls_kept, calls, expected_texts_lost=0):
    ROWS.append((framework, profile, template, f"{examples}/{total}", f"{texts_kept}/{texts}", f"{calls_kept}/{calls}"))
    lost = texts - texts_kept
    if examples != total or calls_kept != calls or lost > expected_texts_lost:
        FAILURES.append(f"{framework} {profile} {template}: examples {examples}/{total}, texts {texts_kept}/{texts}, calls {calls_kept}/{calls}")


def count(pairs):
    """(kept, total) for texts and calls from [(piece, was_it_shown)]."""
    t = [ok for (k, _), ok in pairs if k == "text"]
    c = [ok for (k, _), ok in pairs if k == "call"]
    return sum(t), len(t), sum(c), len(c)


def check_trl():
    from trl.data_utils import maybe_apply_chat_template

    for path in sorted(glob.glob(os.path.join(TEMPLATES, "*.jinja"))):
        name = os.path.basename(path)[: -len(".jinja")]
        out = os.path.join(WORK, "trl", name)
        # Mistral's templates have no place for reasoning beside a call: an export through them
        # fails unless the loss is accepted (what is counted below is that loss).
        opt_in = ["--allow-template-drops"] if name in NO_PLACE_FOR_REASONING else []
        manifest = export("trl", out, "--chat-template", path, *opt_in)
        files = [os.path.join(out, f["path"]) for f in manifest["files"] if f.get("split")]
        lines = [json.loads(line) for f in files for line in open(f)]
        loaded = datasets.load_dataset("json", data_files=files, split="train")
        # Arguments must survive `datasets`' type unification (older versions pad objects with nulls).
        for row, line in zip(loaded, lines):
            for mr, ml in zip(row["messages"], line["messages"]):
                for cr, cl in zip(mr.get("tool_calls") or [], ml.get("tool_calls") or []):
                    a = cr["function"]["arguments"]
                    a = json.loads(a) if isinstance(a, str) else a
                    b = cl["function"]["arguments"]
                    b = json.loads(b) if isinstance(b, str) else b
                    if a != b:
                        FAILURES.append(f"datasets {datasets.__version__} changed arguments: {b} -> {a}")
        tokenizer = byte_tokenizer(open(path).read())
        pairs = []
        rendered_examples = 0
        for row in loaded:
            example = {"messages": row["messages"], "tools": row["tools"]}
            # As SFTTrainer does: the example's own `tools` column is passed as `tools`.
            text = maybe_apply_chat_template(example, tokenizer, tools=example["tools"])["text"]
            rendered_examples += 1
            pairs += [(p, shown(p, text)) for p in pieces(example)]
            for m in row["messages"]:
                if m["role"] == "tool" and squeeze(m["content"]) not in squeeze(text) and squeeze(json.dumps(m["content"])) not in squeeze(text):
                    FAILURES.append(f"trl {name}: a tool result is not rendered")
        texts_kept, texts, calls_kept, calls = count(pairs)
        lost_expected = texts if name in NO_PLACE_FOR_REASONING else 0
        reported = sum(n for what, n in manifest["changes"].items() if "not rendered" in what)
        if texts - texts_kept != reported:
            FAILURES.append(f"trl {name}: {texts - texts_kept} texts not rendered, export.json reports {reported}")
        record("TRL maybe_apply_chat_template", "trl", name, rendered_examples, manifest["counts"]["exported"], texts_kept, texts, calls_kept, calls, lost_expected)


# LLaMA-Factory template → the function_call form it reads. Templates built on its base
# `Template` pass `tool_call_words` to the FunctionFormatter (the reasoning before a call is
# kept); `Llama2Template` ones (mistral, gemma, llama2) do not, and need the bare JSON form.
LF_TEMPLATES = [("qwen", "tool-call"), ("qwen3", "tool-call"), ("llama3", "tool-call"), ("glm4", "tool-call"),
                ("deepseek3", "tool-call"), ("mistral", "json")]


def llama_factory_train(folder, dataset, template_name):
    """LLaMA-Factory's own data path on a folder with a dataset_info.json, run from another
    working directory: `get_dataset_list`, its converter, template and `SupervisedDatasetProcessor`.
    Returns the rows, the model inputs and the byte tokenizer that decodes their labels."""
    from llamafactory.data.converter import get_dataset_converter
    from llamafactory.data.parser import get_dataset_list
    from llamafactory.data.processor.supervised import SupervisedDatasetProcessor
    from llamafactory.data.template import get_template_and_fix_tokenizer
    from llamafactory.hparams import DataArguments

    with tempfile.TemporaryDirectory() as elsewhere:
        os.chdir(elsewhere)
        data_args = DataArguments(dataset=dataset, dataset_dir=folder, template=template_name, cutoff_len=1 << 20)
        (attr,) = get_dataset_list([dataset], folder)
        data = datasets.load_dataset("json", data_files=os.path.join(folder, attr.dataset_name), split="train")
    converter = get_dataset_converter(attr.formatting, attr, data_args)
    aligned = [converter(row) for row in data]
    tokenizer = byte_tokenizer()
    template = get_template_and_fix_tokenizer(tokenizer, data_args)
    processor = SupervisedDatasetProcessor(template=template, tokenizer=tokenizer, processor=None, data_args=data_args)
    batch = {k: [a[k] for a in aligned] for k in aligned[0]}
    batch.update({"_images": [None] * len(aligned), "_videos": [None] * len(aligned), "_audios": [None] * len(aligned)})
    return data, processor.preprocess_dataset(batch), tokenizer


def check_llama_factory():
    for template_name, form in LF_TEMPLATES:
        out = os.path.join(WORK, "llama-factory", form)
        manifest = export("llama-factory", out, "--name", "threads", "--llama-factory-calls", form)
        lines = [json.loads(line) for f in manifest["files"] if f.get("split") for line in open(os.path.join(out, f["path"]))]
        dropped = sum(n for what, n in manifest["changes"].items() if "dropped" in what and "reasoning" in what)
        _, model_inputs, tokenizer = llama_factory_train(out, "threads", template_name)
        pairs = []
        for labels, line in zip(model_inputs["labels"], lines):
            trained = tokenizer.decode([t for t in labels if t != -100], skip_special_tokens=False)
            pairs += [(p, shown(p, trained)) for p in pieces(line)]
        texts_kept, texts, calls_kept, calls = count(pairs)
        record("LLaMA-Factory converter + SupervisedDatasetProcessor", f"llama-factory ({form})", template_name,
               len(model_inputs["input_ids"]), len(lines), texts_kept, texts + dropped, calls_kept, calls, dropped)


def sharded_export(profile, base, *extra):
    """The single export (base/whole) and 3 shards of it merged by `threadkit merge --out`
    (base/parts/export.json beside part-1..3). Returns both folders."""
    whole, parts = os.path.join(base, "whole"), os.path.join(base, "parts")
    export(profile, whole, *extra)
    for i in (1, 2, 3):
        export(profile, os.path.join(parts, f"part-{i}"), *extra, "--shard", f"{i}/3")
    subprocess.run([THREADKIT, "merge", *[os.path.join(parts, f"part-{i}", "export.json") for i in (1, 2, 3)],
                    "--out", os.path.join(parts, "export.json")], check=True, stdout=subprocess.DEVNULL)
    return whole, parts


def record_merged(framework, profile, loaded, whole_dir, parts_dir, whole, merged):
    """The rows a trainer loaded from the merged shards are the single export's. A copy whose
    twin is in another shard is not found by either (the merged manifest says so under
    `not_checked_across_parts`): the merged rows are the single export's plus those."""
    duplicates = lambda d: json.load(open(os.path.join(d, "export.json")))["counts"]["skipped"].get("duplicate_example", 0)
    across = duplicates(whole_dir) - duplicates(parts_dir)
    same = len(set(whole) & set(merged))
    ROWS.append((framework, f"{profile}, 3 shards merged", loaded, f"{same}/{len(set(whole))}", "-", "-"))
    if not whole or set(whole) != set(merged) or len(merged) != len(whole) + across:
        FAILURES.append(f"{framework} on 3 merged shards ({loaded}): {len(merged)} rows ({len(set(merged))} distinct), "
                        f"{same} of the single export's {len(set(whole))}, {across} copies across shards")


def check_llama_factory_shards():
    """A sharded export merged by `threadkit merge --out` is read by LLaMA-Factory's own
    multi-dataset path (`_get_merged_dataset`, which `get_dataset` calls for `dataset: a,b,c`)
    through the merged dataset_info.json, from another working directory, as the same rows
    (after its converter) as the single export."""
    from llamafactory.data.loader import _get_merged_dataset
    from llamafactory.hparams import DataArguments

    whole_dir, parts = sharded_export("llama-factory", os.path.join(WORK, "llama-factory-shards"), "--name", "threads")
    names = json.load(open(os.path.join(parts, "export.json")))["merged"]["llama_factory_datasets"]["threads"]

    def rows(folder, dataset):
        with tempfile.TemporaryDirectory() as elsewhere:
            os.chdir(elsewhere)
            data_args = DataArguments(dataset=dataset, dataset_dir=folder, template="qwen", cutoff_len=1 << 20)
            # What the loader reads of the model and training arguments: no model is involved.
            model_args = types.SimpleNamespace(cache_dir=None, hf_hub_token=None)
            training_args = types.SimpleNamespace(seed=42, dataloader_num_workers=0)
            data = _get_merged_dataset(data_args.dataset, model_args, data_args, training_args, "sft")
        return sorted(json.dumps(row, sort_keys=True) for row in data)

    record_merged("LLaMA-Factory _get_merged_dataset", "llama-factory", f"{names.count(',') + 1} entries", whole_dir, parts,
                  rows(whole_dir, "threads"), rows(parts, names))


# gpt-oss is left out: axolotl finds turn boundaries by rendering dummy conversations,
# which trips that template's own check that a tool message follows a call ("Message has
# tool role, but there was no previous assistant message with a tool call!") whatever the data.
AXOLOTL_TEMPLATES = ["Qwen-Qwen2.5-7B-Instruct", "Qwen-Qwen3-0.6B", "meta-llama-Llama-3.1-8B-Instruct", "GLM-4.6",
                     "deepseek-ai-DeepSeek-R1-Distill-Qwen-32B", "NousResearch-Hermes-3-Llama-3.1-8B-tool_use"]
# Mistral's templates likewise: the dummy renders break their strict user/assistant alternation.


def check_axolotl():
    from axolotl.prompt_strategies.chat_template import load as load_strategy
    from axolotl.utils.data.shared import load_dataset_with_config
    from axolotl.utils.dict import DictDefault

    for name in AXOLOTL_TEMPLATES:
        path = os.path.join(TEMPLATES, name + ".jinja")
        out = os.path.join(WORK, "axolotl", name)
        manifest = export("axolotl", out, "--chat-template", path)
        config = yaml.safe_load(open(os.path.join(out, "axolotl.yaml")))
        ds_cfg = DictDefault(config["datasets"][0])
        with tempfile.TemporaryDirectory() as elsewhere:
            os.chdir(elsewhere)
            data = load_dataset_with_config(ds_cfg, use_auth_token=False)
        tokenizer = byte_tokenizer(open(path).read())
        cfg = DictDefault({"sequence_len": 1 << 20, "train_on_inputs": False, "chat_template": "tokenizer_default"})
        strategy = load_strategy(tokenizer, cfg, ds_cfg)
        pairs = []
        kept = 0
        for row in data:
            tokenized = strategy.tokenize_prompt(row)
            if tokenized.get("input_ids"):
                kept += 1
            trained = tokenizer.decode([t for t in tokenized["labels"] if t != -100])
            pairs += [(p, shown(p, trained)) for p in pieces(row)]
        texts_kept, texts, calls_kept, calls = count(pairs)
        lost_expected = texts if name in NO_PLACE_FOR_REASONING else 0
        record("Axolotl load_dataset_with_config + chat_template strategy", "axolotl", name, kept,
               manifest["counts"]["exported"], texts_kept, texts, calls_kept, calls, lost_expected)


def check_axolotl_shards():
    """A sharded export merged by `threadkit merge --out` gets one axolotl.yaml listing every
    part's files; Axolotl's own `load_dataset_with_config` reads its `datasets:` entry, from
    another working directory, as the same rows as the single export's."""
    from axolotl.utils.data.shared import load_dataset_with_config
    from axolotl.utils.dict import DictDefault

    whole_dir, parts = sharded_export("axolotl", os.path.join(WORK, "axolotl-shards"))

    def rows(folder):
        config = yaml.safe_load(open(os.path.join(folder, "axolotl.yaml")))
        with tempfile.TemporaryDirectory() as elsewhere:
            os.chdir(elsewhere)
            data = load_dataset_with_config(DictDefault(config["datasets"][0]), use_auth_token=False)
        return sorted(json.dumps(row, sort_keys=True) for row in data), len(config["datasets"][0]["data_files"])

    (whole, _), (merged, files) = rows(whole_dir), rows(parts)
    record_merged("Axolotl load_dataset_with_config", "axolotl", f"{files} data_files", whole_dir, parts, whole, merged)


PUBLIC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "fixtures", "training", "public")


def convert(source, to, out, *extra):
    subprocess.run([THREADKIT, "convert", source, "--to", to, "--out", out, "-q", *extra], check=True, stdout=subprocess.DEVNULL)
    return json.load(open(os.path.join(out, "export.json")))


def validate_ok(profile, path):
    return subprocess.run([THREADKIT, "validate", "--profile", profile, path, "-q"], stdout=subprocess.DEVNULL).returncode == 0


def check_trl_public():
    """Files TRL's users have (its docs' example, Axolotl's fixture, LLaMA-Factory's glaive demo
    converted by threadkit), loaded with `datasets` and rendered by TRL with model templates: for
    every file × template, `threadkit validate --profile P --chat-template T` reports no error iff
    TRL's path renders every example with every call and result in the text."""
    from trl.data_utils import maybe_apply_chat_template

    converted = os.path.join(WORK, "public", "glaive-to-trl")
    convert(os.path.join(PUBLIC, "llama-factory", "glaive_toolcall_en_demo.json"), "trl", converted)
    sources = [("trl docs", "trl", os.path.join(PUBLIC, "trl", "dataset_formats_tool_calling.jsonl")),
               ("axolotl fixture", "axolotl", os.path.join(PUBLIC, "axolotl", "toolcalling_dataset.jsonl")),
               ("glaive demo via convert", "trl", os.path.join(converted, "train.jsonl"))]
    for name, profile, path in sources:
        if not validate_ok(profile, path):
            FAILURES.append(f"public {name}: threadkit validate --profile {profile} says it is invalid")
        loaded = datasets.load_dataset("json", data_files=[path], split="train")
        for template_name in ["Qwen-Qwen3-0.6B", "Qwen-Qwen2.5-7B-Instruct", "meta-llama-Llama-3.1-8B-Instruct", "GLM-4.6"]:
            template = os.path.join(TEMPLATES, template_name + ".jinja")
            tokenizer = byte_tokenizer(open(template).read())
            threadkit_ok = validate_ok(profile, path) and subprocess.run(
                [THREADKIT, "validate", "--profile", profile, "--chat-template", template, path, "-q"], stdout=subprocess.DEVNULL
            ).returncode == 0
            calls = rendered = results = results_rendered = 0
            error = None
            for row in loaded:
                tools = row.get("tools")
                tools = json.loads(tools) if isinstance(tools, str) else tools
                try:
                    text = maybe_apply_chat_template({"messages": row["messages"]}, tokenizer, tools=tools)["text"]
                except Exception as e:  # the template refusing the example is TRL's verdict
                    error = f"{type(e).__name__}: {e}"
                    break
                for m in row["messages"]:
                    for c in m.get("tool_calls") or []:
                        calls += 1
                        rendered += c["function"]["name"] in text
                    if m["role"] == "tool":
                        results += 1
                        # As in check_trl: a template may encode a string result once more (Llama 3.1's `tojson`).
                        content = str(m["content"])
                        encoded = json.dumps(content, ensure_ascii=False)  # transformers' `tojson` keeps non-ASCII
                        results_rendered += squeeze(content) in squeeze(text) or squeeze(encoded) in squeeze(text)
            trl_ok = error is None and rendered == calls and results_rendered == results
            if trl_ok != threadkit_ok:
                FAILURES.append(f"public {name} × {template_name}: TRL {'takes' if trl_ok else 'refuses'} it ({error or f'{rendered}/{calls} calls'}), "
                                f"threadkit validate says {'no error' if threadkit_ok else 'error'}")
            verdict = "renders" if trl_ok else f"fails ({(error or '')[:40]})"
            ROWS.append(("TRL load + maybe_apply_chat_template (public)", profile, f"{name} × {template_name}", len(loaded), verdict, f"{rendered}/{calls}"))


def calls_in(value):
    """The calls of a function_call value: bare JSON, or text then `<tool_call>JSON</tool_call>`."""
    if "<tool_call>" in value:
        value = value[value.index("<tool_call>") + len("<tool_call>"):value.rindex("</tool_call>")]
    calls = json.loads(value)
    return calls if isinstance(calls, list) else [calls]


def check_llama_factory_public():
    """LLaMA-Factory's own glaive demo through its own dataset_info entry, and TRL's and Axolotl's
    examples converted to llama-factory by threadkit: LLaMA-Factory's loader, converter and
    processor take them, every call in the trained labels."""
    demo = os.path.join(WORK, "public", "lf-demo")
    os.makedirs(demo, exist_ok=True)
    info = json.load(open(os.path.join(PUBLIC, "llama-factory", "dataset_info.json")))
    json.dump({"glaive_toolcall_en_demo": info["glaive_toolcall_en_demo"]}, open(os.path.join(demo, "dataset_info.json"), "w"))
    with open(os.path.join(PUBLIC, "llama-factory", "glaive_toolcall_en_demo.json")) as f, open(os.path.join(demo, "glaive_toolcall_en_demo.json"), "w") as g:
        g.write(f.read())
    sources = [("glaive demo", demo, "glaive_toolcall_en_demo")]
    for name, src in [("trl docs", os.path.join(PUBLIC, "trl", "dataset_formats_tool_calling.jsonl")),
                      ("axolotl fixture", os.path.join(PUBLIC, "axolotl", "toolcalling_dataset.jsonl"))]:
        out = os.path.join(WORK, "public", "to-lf-" + name.replace(" ", "-"))
        convert(src, "llama-factory", out, "--name", "converted")
        sources.append((name + " via convert", out, "converted"))
    for name, folder, dataset in sources:
        if subprocess.run([THREADKIT, "validate", "--profile", "llama-factory", folder, "-q"], stdout=subprocess.DEVNULL).returncode != 0:
            FAILURES.append(f"public {name}: threadkit validate --profile llama-factory says the folder is invalid")
        data, model_inputs, tokenizer = llama_factory_train(folder, dataset, "qwen")
        kept = len(model_inputs["input_ids"])
        calls = trained_calls = 0
        for row, labels in zip(data, model_inputs["labels"]):
            trained = tokenizer.decode([t for t in labels if t != -100], skip_special_tokens=False)
            for t in row["conversations"]:
                if t["from"] == "function_call":
                    for c in calls_in(t["value"]):
                        calls += 1
                        trained_calls += c["name"] in trained
        if kept != len(data) or trained_calls != calls:
            FAILURES.append(f"public {name}: LLaMA-Factory kept {kept} of {len(data)} examples, {trained_calls} of {calls} calls trained")
        ROWS.append(("LLaMA-Factory converter + SupervisedDatasetProcessor", "llama-factory", name, kept, "-", f"{trained_calls}/{calls}"))


def main():
    os.makedirs(WORK, exist_ok=True)
    failures_before = {}
    checks = {"trl": [check_trl, check_trl_public], "llama-factory": [check_llama_factory, check_llama_factory_public, check_llama_factory_shards],
              "axolotl": [check_axolotl, check_axolotl_shards]}
    for name in FRAMEWORKS:
        for check in checks[name]:
            try:
                check()
            except Exception as e:  # a framework refusing the files is the finding
                import traceback

                traceback.print_exc()
                FAILURES.append(f"{check.__name__}: {type(e).__name__}: {e}")
    widths = [max(len(str(r[i])) for r in ROWS + [("framework", "profile", "template", "examples", "texts", "calls")]) for i in range(6)]
    for r in [("framework", "profile", "template", "examples", "texts", "calls")] + ROWS:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)))
    if FAILURES:
        print("\nFAILED:\n  " + "\n  ".join(FAILURES))
        sys.exit(1)
    print(f"\nall kept ({len(ROWS)} framework × template runs; datasets {datasets.__version__})")


main()
