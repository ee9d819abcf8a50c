"""The installed wheel, as a user of it would call it: the `threadkit` command it installs, the
Python API on in-memory threads, and the API inside Ray Data and 🤗 datasets. Every answer is
compared with the CLI's on the same threads (run through the wheel's own `threadkit` command).

    python wheel.py CORPUS VALID_THREADS DATA_ROOT CHAT_TEMPLATE WORK

Run with the Python of a venv into which the wheel (and ray, datasets, pyarrow) were installed.
CORPUS: a bench/make_corpus.py folder (a few percent of its threads carry defects).
"""
import glob
import json
import os
import shutil
import subprocess
import sys
import sysconfig

import threadkit

CORPUS, VALID, DATA_ROOT, TEMPLATE, WORK = (os.path.abspath(a) for a in sys.argv[1:6])
# The wheel's command, from the venv this Python runs in (not a threadkit on PATH).
TK = os.path.join(sysconfig.get_path("scripts"), "threadkit")
shutil.rmtree(WORK, ignore_errors=True)
os.makedirs(WORK)
FAILED = []


def check(what, ok, detail=""):
    print(("ok   " if ok else "FAIL ") + what + ("" if ok else f": {detail}"))
    if not ok:
        FAILED.append(what)


def cli(*args, code=None):
    run = subprocess.run([TK, *args], capture_output=True, text=True)
    if code is not None and run.returncode != code:
        sys.exit(f"threadkit {' '.join(args)}: exit {run.returncode}, wanted {code}\n{run.stdout}\n{run.stderr}")
    return run


def lines_of(paths):
    out = []
    for p in paths:
        with open(p, encoding="utf-8") as f:
            out.extend(line.rstrip("\n") for line in f if line.strip())
    return out


files = sorted(glob.glob(os.path.join(CORPUS, "*.json")))
texts = [open(p, encoding="utf-8").read() for p in files]

# -- the command ---------------------------------------------------------------------------
run = cli("--version", code=0)
check("`threadkit --version` is the module's version", run.stdout.split()[1] == threadkit.__version__, run.stdout)
run = cli("validate", "/no/such/folder")
check("a wrong path is exit 2 with the path named", run.returncode == 2 and "/no/such/folder" in run.stderr, run.stderr)
run = cli("valdiate", VALID)
check("a mistyped command is a usage error (exit 2)", run.returncode == 2 and "validate" in run.stderr, run.stderr)

# -- validate: the API's rows are the CLI's report ------------------------------------------
report = json.loads(cli("validate", CORPUS, "--format", "json").stdout)
by_name = {os.path.basename(f["path"]): f for f in report["files"]}


def key(d):
    return (d["code"], d["pointer"], d["line"], d["column"], d["severity"], d["message"])


rows = threadkit.validate(texts, jobs=2)
same = len(rows) == len(files)
invalid = 0
for path, row in zip(files, rows):
    cli_row = by_name.get(os.path.basename(path))
    cli_diags = sorted(map(key, cli_row["diagnostics"])) if cli_row else []
    if sorted(map(key, row["diagnostics"])) != cli_diags:
        same = False
        print("  differs:", path, row["diagnostics"], cli_diags)
    invalid += not row["valid"]
check(f"validate: {len(rows)} rows, {invalid} invalid, each thread's diagnostics equal the CLI's", same and invalid > 0)
check("validate: the CLI's invalid count too", invalid == report["summary"]["invalid"], (invalid, report["summary"]))
table = threadkit.validate(texts[:50], output="arrow")
check("validate(output='arrow'): a table with the report's columns",
      table.num_rows == 50 and table.column_names == ["path", "record", "schema_version", "valid", "diagnostics"], table.schema)
dicts = [json.loads(t) for t in texts[:50]]
check("strings and bytes give the same rows", threadkit.validate(texts[:50]) == threadkit.validate([t.encode() for t in texts[:50]]))
# A dict is serialized again, so lines move; what is found does not.
check("dicts give the same findings", [sorted((d["code"], d["pointer"]) for d in r["diagnostics"]) for r in threadkit.validate(dicts)]
      == [sorted((d["code"], d["pointer"]) for d in r["diagnostics"]) for r in threadkit.validate(texts[:50])])
try:
    threadkit.validate(texts[0])
    check("one string instead of a list is refused", False)
except TypeError as e:
    check("one string instead of a list is refused", "list" in str(e), e)
try:
    threadkit.validate(texts[:2], data_root="/no/such/root")
    check("a data_root that is not a folder is refused", False)
except ValueError as e:
    check("a data_root that is not a folder is refused", "/no/such/root" in str(e), e)

for what, call, needle in [
    ("a lone surrogate (json.loads of \"\\ud800\") is a ValueError naming the thread", lambda: threadkit.validate(["{}", "\ud800"]), "threads[1]"),
    ("jobs=0 is refused", lambda: threadkit.validate(["{}"], jobs=0), "1 to 256"),
    ("a batch of columns that are not lists is refused with what to give", lambda: threadkit.validate({"bytes": b"{}"}), "list(batch['bytes'])"),
    ("an item that is no thread is named by its place", lambda: threadkit.validate(["{}", 7]), "threads[1]: 'int' is not a thread"),
    ("a dict that holds itself is named by its place", lambda: threadkit.quality([{}, (lambda d: d.update(me=d) or d)({})]), "threads[1]: cannot be written as JSON"),
    ("a dict holding a set is named by its place", lambda: threadkit.validate([{"x": {1}}]), "threads[0]: cannot be written as JSON"),
    ("count_tokens names a text that is not a string", lambda: threadkit.count_tokens(["a", None]), "texts[1]: 'NoneType' is not a string"),
]:
    try:
        call()
        check(what, False, "no exception")
    except (ValueError, TypeError) as e:
        check(what, needle in str(e), e)
deep = threadkit.validate(["[" * 100000, "", b'{"id": "\xff"}'])
check("hostile texts are findings, not crashes (deep nesting, empty, invalid UTF-8)",
      [r["diagnostics"][0]["code"] for r in deep] == ["TK003", "TK004", "TK002"], [r["diagnostics"] for r in deep])

# -- quality ------------------------------------------------------------------------------
qreport = json.loads(cli("quality", CORPUS, "--format", "json").stdout)
qby = {os.path.basename(f["path"]): sorted(map(key, f["diagnostics"])) for f in qreport["files"]}
qrows = threadkit.quality(texts, jobs=2)
qsame = all(sorted(map(key, r["diagnostics"])) == qby.get(os.path.basename(p), []) for p, r in zip(files, qrows))
flagged = sum(1 for r in qrows if r["diagnostics"])
check(f"quality: {flagged} threads flagged, each one's findings equal `threadkit quality`'s", qsame and flagged > 0)

# -- to_examples: the export's lines --------------------------------------------------------
single = os.path.join(WORK, "cli_openai.jsonl")
cli("export", CORPUS, "--profile", "openai", "--out", single, "--quality", "off", "-q", code=0)
cli_lines = lines_of([single])
api_lines = threadkit.to_examples(texts, "openai", output="lines", jobs=2)
check(f"to_examples: {len(api_lines)} lines, byte-equal to `threadkit export`'s (as a set)",
      sorted(api_lines) == sorted(cli_lines) and len(api_lines) > 0, (len(api_lines), len(cli_lines)))
api_rows = threadkit.to_examples(texts, "openai", output="rows")
skipped = [r for r in api_rows if "skipped" in r]
check("to_examples(output='rows'): one row per thread, the left-out ones with their reason",
      len(api_rows) == len(texts) and len(skipped) == len(texts) - len(api_lines) and all(r["detail"] for r in skipped))
try:
    threadkit.to_examples(texts, "openai", errors="raise")
    check("errors='raise' raises ThreadkitError on a left-out thread", False)
except threadkit.ThreadkitError as e:
    check("errors='raise' raises ThreadkitError on a left-out thread",
          texts[e.index] and e.diagnostic["skipped"] and e.diagnostic == skipped[0], e)
trl_cli = os.path.join(WORK, "cli_trl.jsonl")
cli("export", VALID, "--status", "all", "--profile", "trl", "--chat-template", TEMPLATE, "--out", trl_cli, "--quality", "off",
    "--data-root", DATA_ROOT, "-q", code=0)
valid_texts = [open(p, encoding="utf-8").read() for p in sorted(glob.glob(os.path.join(VALID, "*.json")))]
trl = threadkit.to_examples(valid_texts, "trl", chat_template=TEMPLATE, status=None, output="lines", data_root=DATA_ROOT)
check(f"to_examples(profile='trl', chat_template=...): {len(trl)} lines equal the CLI's", sorted(trl) == sorted(lines_of([trl_cli])))
try:
    threadkit.to_examples(valid_texts, "openai", chat_template=TEMPLATE)
    check("a chat template with the openai profile is refused", False)
except ValueError as e:
    check("a chat template with the openai profile is refused", "trl" in str(e), e)
# A status given as one string is that status (not its letters, which no thread has), and
# "all" is every thread, as on the command line; a misspelt status or limit is refused, not an empty result.
check("status='finished' is the default list; status='all' is status=None",
      threadkit.to_examples(valid_texts, "openai", status="finished", output="lines") == threadkit.to_examples(valid_texts, "openai", output="lines")
      and threadkit.to_examples(valid_texts, "openai", status="all", output="lines") == threadkit.to_examples(valid_texts, "openai", status=None, output="lines"))
for what, call, needle in [
    ("a misspelt status is refused, naming the choices", lambda: threadkit.to_examples(valid_texts, "openai", status=["finshed"]), "max_turns_reached"),
    ("max_tokens=0 is refused", lambda: threadkit.to_examples(valid_texts, "openai", max_tokens=0), "max_tokens 0"),
    ("a negative max_tokens is refused by name", lambda: threadkit.to_examples(valid_texts, "openai", max_tokens=-1), "max_tokens -1"),
    ("jobs=True is refused (a bool is no thread count)", lambda: threadkit.validate(["{}"], jobs=True), "1 to 256"),
    ("threads=None is refused with what to give", lambda: threadkit.validate(None), "list of threads"),
]:
    try:
        call()
        check(what, False, "no exception")
    except (ValueError, TypeError) as e:
        check(what, needle in str(e), e)
try:
    threadkit.to_examples(valid_texts, "sharegpt")
    check("an unknown profile names the choices", False)
except ValueError as e:
    check("an unknown profile names the choices", "llama-factory" in str(e), e)

# -- count_tokens: OpenAI's vocabularies ----------------------------------------------------
counts = threadkit.count_tokens(["hello world", "", "Die Person geht die Treppe hinauf. 🚶"])
check("count_tokens (o200k_base)", counts[:2] == [2, 0] and counts[2] > 5, counts)
check("count_tokens (cl100k_base)", threadkit.count_tokens(["hello world"], "cl100k_base") == [2])

# -- Ctrl-C: a long call stops at once with KeyboardInterrupt, and the module works after it ---
# Each call is sized to take ~5 s; SIGINT comes 0.5 s in from another process, as a terminal's
# Ctrl-C does (a Python thread could not send it while the call holds the GIL).
import time  # noqa: E402

one = valid_texts[0]
for what, call in [
    ("validate", lambda t: threadkit.validate(t)),
    ("quality", lambda t: threadkit.quality(t)),
    ("to_examples", lambda t: threadkit.to_examples(t, "openai", output="lines")),
    ("count_tokens", lambda t: threadkit.count_tokens(t)),
]:
    start = time.monotonic()
    before = call([one] * 2000)
    per = (time.monotonic() - start) / 2000
    n = min(int(5.0 / per), 400_000)
    start = time.monotonic()
    timer = subprocess.Popen(["sh", "-c", f"sleep 0.5; kill -INT {os.getpid()}"])
    try:
        call([one] * n)
        check(f"Ctrl-C stops {what}", False, f"ran to the end of {n} threads ({time.monotonic() - start:.1f} s)")
    except KeyboardInterrupt:
        took = time.monotonic() - start
        check(f"Ctrl-C stops {what} at once (KeyboardInterrupt {took:.2f} s in, the whole call ~{n * per:.1f} s)", took < 1.5, took)
    timer.wait()
    check(f"after Ctrl-C, {what} answers as before", call([one] * 2000) == before)

# -- Ray Data: read → map_batches(threadkit) → write, on a local cluster ---------------------
import ray  # noqa: E402

ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)


def examples_of(batch):
    # read_binary_files gives {"bytes": [...], "path": [...]}; one example line per kept thread.
    return {"line": threadkit.to_examples(list(batch["bytes"]), "openai", output="lines", jobs=1)}


def errors_of(batch):
    rows = threadkit.validate(list(batch["bytes"]), jobs=1)
    return {"valid": [r["valid"] for r in rows], "errors": [sum(d["severity"] == "error" for d in r["diagnostics"]) for r in rows]}


ds = ray.data.read_binary_files(CORPUS, file_extensions=["json"], override_num_blocks=8)
ray_out = os.path.join(WORK, "ray_openai")
ds.map_batches(examples_of, batch_size=64, batch_format="numpy").write_json(ray_out)
ray_lines = [json.loads(r)["line"] for r in lines_of(sorted(glob.glob(os.path.join(ray_out, "*.json"))))]
check(f"Ray Data: read_binary_files -> map_batches(to_examples) -> write_json: {len(ray_lines)} lines, the CLI's set",
      sorted(ray_lines) == sorted(cli_lines), (len(ray_lines), len(cli_lines)))
# The file reader's batch itself (numpy or Arrow, with paths): each row is its file's text, not a thread of
# keys `bytes` and `path` (which every row would fail as).
for fmt in ("numpy", "pyarrow"):
    whole = ray.data.read_binary_files(CORPUS, file_extensions=["json"], include_paths=True, override_num_blocks=4).map_batches(
        lambda b: {"line": threadkit.to_examples(b, "openai", output="lines", jobs=1)}, batch_size=64, batch_format=fmt)
    got = [r["line"] for r in whole.take_all()]
    check(f"Ray Data: a read_binary_files batch as it comes ({fmt}, with paths) -> to_examples: the CLI's set",
          sorted(got) == sorted(cli_lines), (len(got), len(cli_lines)))
checked = ds.map_batches(errors_of, batch_size=64, batch_format="numpy")
ray_invalid = checked.count() - checked.sum("valid")
check(f"Ray Data: map_batches(validate): {ray_invalid} invalid of {checked.count()}, the CLI's counts",
      ray_invalid == report["summary"]["invalid"] and checked.sum("errors") == report["summary"]["errors"],
      (ray_invalid, checked.sum("errors"), report["summary"]))

# read_json: threads as Arrow rows. Arrow holds one type per field, and valid threads may carry a tool
# result as an object where others carry a string (TK warns): JSONL of the valid threads whose every
# content is a string is what read_json can load. (read_binary_files, above, takes any thread.)
clean = [json.loads(t) for t, r in zip(texts, rows) if r["valid"]]
clean = [t for t in clean if all(isinstance(m.get("content"), (str, type(None))) for m in t["messages"])]
jsonl = os.path.join(WORK, "clean.jsonl")
with open(jsonl, "w", encoding="utf-8") as f:
    f.writelines(json.dumps(t, ensure_ascii=False) + "\n" for t in clean)
clean_cli = os.path.join(WORK, "cli_clean.jsonl")
cli("export", jsonl, "--profile", "openai", "--out", clean_cli, "--quality", "off", "-q", code=0)
ray.data.read_json(jsonl).map_batches(lambda t: {"line": threadkit.to_examples(t, "openai", output="lines", jobs=1)},
                                      batch_format="pyarrow").write_json(os.path.join(WORK, "ray_arrow"))
arrow_lines = [json.loads(r)["line"] for r in lines_of(sorted(glob.glob(os.path.join(WORK, "ray_arrow", "*.json"))))]
check(f"Ray Data: read_json (Arrow rows) -> map_batches(to_examples): {len(arrow_lines)} lines, the CLI's set",
      sorted(arrow_lines) == sorted(lines_of([clean_cli])) and len(arrow_lines) == len(clean), (len(arrow_lines), len(clean)))
ray.shutdown()

# -- 🤗 datasets: Dataset.map(batched=True) -------------------------------------------------
import datasets  # noqa: E402

datasets.disable_progress_bars()
hf = datasets.Dataset.from_dict({"text": texts})
mapped = hf.map(lambda b: {"line": threadkit.to_examples(b["text"], "openai", output="lines")}, batched=True, batch_size=100,
                remove_columns=["text"], num_proc=2)
check(f"datasets: Dataset.map(batched=True, num_proc=2): {len(mapped)} lines, the CLI's set", sorted(mapped["line"]) == sorted(cli_lines))
loaded = datasets.load_dataset("json", data_files=jsonl, split="train")
mapped = loaded.map(lambda b: {"line": threadkit.to_examples(b, "openai", output="lines")}, batched=True,
                    remove_columns=loaded.column_names)
check(f"datasets: load_dataset('json') batches (dicts of columns): {len(mapped)} lines, the CLI's set",
      sorted(mapped["line"]) == sorted(lines_of([clean_cli])))
mapped = hf.map(lambda b: {"line": threadkit.to_examples(b, "openai", output="lines")}, batched=True, batch_size=100,
                remove_columns=["text"])
check("datasets: a batch of a `text` column (load_dataset('text') of JSONL) as it comes: the CLI's set",
      sorted(mapped["line"]) == sorted(cli_lines))
flags = hf.map(lambda b: {"valid": [r["valid"] for r in threadkit.validate(b["text"])]}, batched=True, batch_size=100)
check("datasets: map(validate) counts the CLI's invalid threads", flags["valid"].count(False) == report["summary"]["invalid"])

if FAILED:
    sys.exit(f"{len(FAILED)} failed: {FAILED}")
print("all wheel checks passed")
