"""threadkit from Python: validate, audit and export tool-use threads held in memory.

The same checks and writers as the ``threadkit`` command, on batches of threads given as
dicts, JSON strings or bytes, a 🤗 ``datasets`` batch (a dict of columns), or a ``pyarrow``
Table or RecordBatch (one thread per row). Every call runs in parallel with the GIL released
and keeps no state between calls::

    import threadkit
    report = threadkit.validate(threads)                  # one row per thread, as `validate --format json`
    examples = threadkit.to_examples(threads, profile="trl")
    lines = threadkit.to_examples(threads, profile="openai", output="lines")   # export's bytes

A batch is reported as one JSONL file would be: ``record`` is the 1-based place of the
thread in the batch and ``path`` the batch's ``name``; a diagnostic's ``line`` and ``column``
are within its thread's text. Duplicate ids are not looked for (a corpus's property: run
``threadkit validate`` over the files).

Arrow has no "missing", only null: a key that some rows lack comes back as ``None`` in all
of them. Rows read through Arrow (``ray.data.read_json``, ``datasets``) therefore have their
``None`` values dropped, and the timestamps Arrow parsed written back in ISO 8601, before they
are checked. Arrow also holds one type per field, so a corpus in which one tool result is an
object and another a string does not load with ``read_json`` at all. Read files as bytes
(``ray.data.read_binary_files``, ``read_text`` for JSONL) to check the exact bytes on disk;
their batches can be passed as they come: a row holding only ``bytes``, ``text`` and ``path``
is its file's text.
"""
import json as _json
from collections.abc import Mapping as _Mapping

from . import _native

__version__ = _native.__version__
__all__ = ["validate", "quality", "to_examples", "count_tokens", "ThreadkitError", "report_schema"]


class ThreadkitError(ValueError):
    """A thread that could not be made into an example (``to_examples(..., errors="raise")``).

    ``diagnostic`` is what threadkit found (``id``, ``skipped``: the reason, ``detail``) and
    ``index`` the thread's 0-based place in the batch."""

    def __init__(self, index, diagnostic):
        self.index = index
        self.diagnostic = diagnostic
        super().__init__(f"thread {index} ({diagnostic.get('id')}): {diagnostic.get('skipped')}: {diagnostic.get('detail')}")


def _arrow_value(o):
    # Arrow's JSON readers turn ISO-8601 strings (a thread's created_at) into timestamps.
    isoformat = getattr(o, "isoformat", None)
    if isoformat is not None:
        return isoformat()
    raise TypeError(f"a {type(o).__name__} in a thread: threads hold JSON values (strings, numbers, lists, objects)")


def _drop_nulls(value):
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value


def _arrow_rows(threads):
    """Rows of a pyarrow Table/RecordBatch, or None if it is not one (pyarrow is optional)."""
    to_pylist = getattr(threads, "to_pylist", None)
    if to_pylist is None or not hasattr(threads, "schema"):
        return None
    return [_drop_nulls(r) for r in to_pylist()]


_FILE_COLUMNS = frozenset(("bytes", "text", "path"))


def _file_text(row):
    """A row of a file reader is its file's text: Ray's ``read_binary_files`` (``bytes``, and
    ``path`` with include_paths), ``read_text`` and 🤗 ``load_dataset("text")`` (``text``). No
    thread has only those keys; read as a thread, each row would be an invalid one."""
    if isinstance(row, dict) and row and row.keys() <= _FILE_COLUMNS:
        for key, kinds in (("bytes", (bytes, bytearray, memoryview)), ("text", str)):
            if isinstance(row.get(key), kinds):
                return row[key]
    return row


def _texts(threads):
    if isinstance(threads, (str, bytes, bytearray)):
        raise TypeError("threads: give a list of threads (dicts, JSON strings or bytes), a datasets batch or an Arrow table, not one string")
    if threads is None:
        raise TypeError("threads: None; give a list of threads (dicts, JSON strings or bytes), a datasets batch or an Arrow table")
    rows = _arrow_rows(threads)
    if rows is None and isinstance(threads, _Mapping):
        # A datasets batch: {column: [values]} (a dict, or the LazyBatch that Dataset.map passes).
        columns = list(threads)
        # Lists, or the numpy arrays of Ray's batch_format="numpy".
        if not all(hasattr(threads[c], "__len__") and not isinstance(threads[c], (str, bytes, bytearray, _Mapping)) for c in columns):
            raise TypeError("threads: a dict is read as a batch of columns ({name: [values]}), and these are not all lists; "
                            "give a list of threads (for a Ray read_binary_files batch: list(batch['bytes']))")
        n = len(threads[columns[0]]) if columns else 0
        rows = [_drop_nulls({c: threads[c][i] for c in columns}) for i in range(n)]
    if rows is None:
        rows = list(threads)
    out = []
    for i, t in enumerate(rows):
        t = _file_text(t)
        if isinstance(t, str):
            out.append(t)
        elif isinstance(t, bytes):
            out.append(t)  # checked for UTF-8 (and a byte-order mark) as the CLI reads files
        elif isinstance(t, (bytearray, memoryview)):
            out.append(bytes(t))
        elif isinstance(t, dict):
            try:
                out.append(_json.dumps(t, ensure_ascii=False, default=_arrow_value))
            except (TypeError, ValueError) as e:  # a set, an object, a dict holding itself
                raise type(e)(f"threads[{i}]: cannot be written as JSON: {e}") from None
        else:
            raise TypeError(f"threads[{i}]: {type(t).__name__!r} is not a thread; give dicts, JSON strings or bytes")
    return out


def _native_call(fn, texts, *args, what="threads"):
    try:
        return fn(texts, *args)
    except (TypeError, UnicodeEncodeError):
        # A str that is no UTF-8 (a lone surrogate, as json.loads makes of "\ud800") cannot cross to Rust.
        for i, t in enumerate(texts):
            if isinstance(t, str):
                try:
                    t.encode("utf-8")
                except UnicodeEncodeError as e:
                    raise ValueError(f"{what}[{i}]: {e.reason} at character {e.start} ({t[e.start]!r}): not UTF-8 text") from None
            elif what == "texts":
                raise TypeError(f"texts[{i}]: {type(t).__name__!r} is not a string; give strings") from None
        raise


def _jobs(jobs):
    if jobs is not None and not (isinstance(jobs, int) and not isinstance(jobs, bool) and 1 <= jobs <= 256):
        raise ValueError(f"jobs {jobs!r}: give a number of worker threads from 1 to 256, or None for one per core")
    return jobs


def report_schema():
    """The Arrow schema of a report table (``output="arrow"``): the columns of ``validate
    --format json``'s ``files`` entries. Needs ``pyarrow``."""
    import pyarrow as pa

    diagnostic = pa.struct([
        ("code", pa.string()), ("name", pa.string()), ("severity", pa.string()), ("message", pa.string()),
        ("pointer", pa.string()), ("line", pa.int64()), ("column", pa.int64()), ("fixable", pa.bool_()),
    ])
    return pa.schema([
        ("path", pa.string()), ("record", pa.int64()), ("schema_version", pa.string()), ("valid", pa.bool_()),
        ("diagnostics", pa.list_(diagnostic)),
    ])


def _report(rows, output):
    rows = [_json.loads(r) for r in rows]
    if output == "arrow":
        import pyarrow as pa

        return pa.Table.from_pylist(rows, schema=report_schema())
    if output != "rows":
        raise ValueError(f"output {output!r}: choose 'rows' or 'arrow'")
    return rows


def validate(threads, *, name="batch", data_root=None, output="rows", jobs=None):
    """Check threads against their schema and threadkit's rules (``threadkit validate``).

    Returns one entry per thread with the columns of ``validate --format json``: ``path``
    (``name``), ``record`` (1-based), ``schema_version``, ``valid`` and ``diagnostics`` (each
    with ``code``, ``name``, ``severity``, ``message``, ``pointer``, ``line``, ``column``,
    ``fixable``) — a list of dicts, or a ``pyarrow.Table`` with ``output="arrow"``.
    ``data_root``: the datasets folder, to check threads against their recordings."""
    return _report(_native_call(_native.validate, _texts(threads), name, _path(data_root), _jobs(jobs)), output)


def quality(threads, *, name="batch", data_root=None, output="rows", jobs=None):
    """The quality audit (``threadkit quality``): validate's errors, the per-thread quality rules,
    and near-duplicates within this batch (the first of a group kept). Same columns as
    ``validate``. Near-copies across batches are found by one ``threadkit quality`` over all."""
    return _report(_native_call(_native.quality, _texts(threads), name, _path(data_root), _jobs(jobs)), output)


def to_examples(threads, profile="trl", *, chat_template=None, output="examples", errors="skip", tokenizer="o200k_base",
                max_tokens=None, status=("finished",), quality="off", unplaceable="drop", llama_factory_calls="tool-call",
                data_root=None, jobs=None):
    """Training examples of a profile (``openai``, ``trl``, ``axolotl``, ``llama-factory``, ``raw``),
    as ``threadkit export`` writes them.

    ``output``: ``"examples"`` (each example as the training file holds it, a dict),
    ``"lines"`` (each as the exact JSON line export writes), or ``"rows"`` (one dict per thread:
    ``id``, ``dataset``, ``session``, ``label``, ``tokens`` and ``example``, or ``skipped`` and
    ``detail`` for a thread that was left out). Threads left out (invalid, filtered, too long, a
    template's refusal) are dropped from ``examples`` and ``lines``; ``errors="raise"`` raises
    ``ThreadkitError`` for the first instead. ``status``: the thread statuses kept, one or a
    list (``"active"``, ``"finished"``, ``"max_turns_reached"``; ``"all"`` or ``None``: every
    thread). ``max_tokens``: leave out examples longer than this (1 to 2³²−1). ``quality``: ``"off"``, ``"warn"`` or ``"deny"`` (leave out threads with per-thread quality
    errors; near-duplicates and repeated lines are a corpus's property, found by ``threadkit export``
    or ``quality`` over the whole corpus).
    ``chat_template``: a model's ``.jinja`` or ``tokenizer_config.json`` (trl, axolotl)."""
    if errors not in ("skip", "raise"):
        raise ValueError(f"errors {errors!r}: choose 'skip' or 'raise'")
    if output not in ("examples", "lines", "rows"):
        raise ValueError(f"output {output!r}: choose 'examples', 'lines' or 'rows'")
    if isinstance(status, str):
        status = (status,)  # one status, not its letters
    pairs = _native_call(_native.to_examples, _texts(threads), profile, _path(chat_template), tokenizer, max_tokens,
                                None if status is None else list(status), quality, unplaceable, llama_factory_calls,
                                _path(data_root), _jobs(jobs))
    if errors == "raise":
        for i, (meta, line) in enumerate(pairs):
            if line is None:
                raise ThreadkitError(i, _json.loads(meta))
    if output == "lines":
        return [line for _, line in pairs if line is not None]
    if output == "examples":
        return [_json.loads(line) for _, line in pairs if line is not None]
    rows = []
    for meta, line in pairs:
        row = _json.loads(meta)
        if line is not None:
            row["example"] = _json.loads(line)
        rows.append(row)
    return rows


def count_tokens(texts, tokenizer="o200k_base", *, jobs=None):
    """Exact token counts of strings with OpenAI's vocabularies (equal to ``tiktoken``'s
    ``encode_ordinary``): ``o200k_base`` (GPT-4o, 4.1, o-series) or ``cl100k_base``."""
    if isinstance(texts, str):
        raise TypeError("texts: give a list of strings")
    return _native_call(_native.count_tokens, list(texts), tokenizer, _jobs(jobs), what="texts")


def _path(p):
    return None if p is None else str(p)
