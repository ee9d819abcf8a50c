//! The rule registry: every check threadkit can report, with a stable code.
//!
//! Codes never change meaning once released. The table drives `threadkit rules`,
//! `--ignore`, the JSON report and the docs, and a test proves codes are unique. A leaf:
//! the readers (`source`) name their findings from it without depending on the checks.

use crate::diagnostic::Severity;

pub use crate::diagnostic::Rule;

macro_rules! rule {
    ($ident:ident, $code:literal, $name:literal, $sev:ident, $summary:literal, fix: $fix:expr, $explanation:literal) => {
        pub static $ident: Rule = Rule {
            code: $code,
            name: $name,
            severity: Severity::$sev,
            summary: $summary,
            explanation: $explanation,
            fix: $fix,
        };
    };
}

// ---- input: reading, parsing, recognising the document -------------------------------
rule!(IO_ERROR, "TK001", "unreadable-file", Error, "the file could not be read", fix: None,
"What: the operating system refused to give threadkit the file's bytes (permissions, a broken symlink, a symlink loop, a device or FIFO).\n\
Why: a file that cannot be read cannot be trained on; it is reported, never skipped silently, and the walk goes on.\n\
Fix: check the path and its permissions, or remove the entry from the threads folder.");
rule!(INVALID_UTF8, "TK002", "invalid-utf8", Error, "the file is not valid UTF-8", fix: None,
"What: the bytes are not UTF-8 text. JSON (RFC 8259) exchanged between systems must be UTF-8.\n\
Why: trainers and tokenizers decode UTF-8; a file in another encoding or a corrupted one gives garbage or a crash later.\n\
Example: a file saved as Latin-1 with `café` written as the single byte 0xE9.\n\
Fix: re-encode the file as UTF-8, or restore it from a backup if it is corrupt.");
rule!(INVALID_JSON, "TK003", "invalid-json", Error, "the file is not well-formed JSON", fix: None,
"What: the JSON parser stopped: a truncated file (a killed writer), a trailing comma, a missing quote, or nesting deeper than 128 levels.\n\
Why: every other check needs the parsed document.\n\
Example: `{\"id\": \"x\", \"messages\": [` (the writer was killed half-way).\n\
Fix: restore the file from a backup or regenerate the thread; threadkit itself writes atomically, so its own files are never half-written.");
rule!(EMPTY_FILE, "TK004", "empty-file", Error, "the file is empty", fix: None,
"What: the file has no content (or only white space).\n\
Why: usually a writer that crashed between creating and writing the file.\n\
Fix: delete the file or regenerate the thread.");
rule!(FILE_TOO_LARGE, "TK005", "file-too-large", Error, "the file is larger than the size limit", fix: None,
"What: the file is larger than `--max-file-size` (default 32 MiB). A thread is a few kilobytes; a file this large is almost certainly not one.\n\
Why: reading it whole would cost memory for every worker; JSONL files are read a line at a time and the limit applies to each line.\n\
Fix: if the file (or the JSONL line: a thread, a training example) is meant to be this large, raise the limit with `--max-file-size`.");
rule!(NOT_A_THREAD, "TK006", "unknown-format", Error, "the document is not a thread of any known version", fix: None,
"What: the document has neither the `openai_v1` shape (`id` + `messages`) nor the legacy shape (`thread_id`/`conversation_id` + `conversation`).\n\
Why: threadkit cannot tell which rules apply, and a trainer would not know how to read it either.\n\
Fix: check that the file is a thread; other JSON (manifests, labels, exports) does not belong in the threads folder. Files threadkit recognises are named in the message with where they are checked: training lines (`validate --profile P`), an export's `export.json` and LLaMA-Factory's `dataset_info.json`, and the JSON reports of `validate`, `quality`, `verify` and `stats` (shards' reports are combined with `threadkit merge`).");
rule!(VERSION_MISMATCH, "TK007", "version-mismatch", Error, "`schema_version` disagrees with the document's shape", fix: None,
"What: the declared `schema_version` names one format, but the keys present are those of another. threadkit validates by the shape and reports the disagreement.\n\
Why: tools that trust `schema_version` (older exporters, jq scripts) read such a file wrongly.\n\
Example: `{\"id\": …, \"messages\": […], \"metadata\": {\"schema_version\": \"3.0\"}}`.\n\
Fix: correct `schema_version`, or migrate the file if it is really legacy.");
rule!(LEGACY_V3, "TK008", "legacy-v3", Warning, "legacy `3.0` thread: valid, but trainers need `openai_v1`", fix: None,
"What: the thread uses the legacy turn-based `3.0` format.\n\
Why: it is a valid thread, but fine-tuning frameworks read OpenAI messages; `threadkit export` and training need `openai_v1`.\n\
Fix: run `threadkit migrate PATH` (keeps the original in a backup folder).");
rule!(LEGACY_V2, "TK009", "legacy-v2", Error, "legacy `2.0` thread: needs migration before use", fix: None,
"What: the thread uses the old `2.0` format (`conversation_id`, no `action`, `final_classification`).\n\
Why: no trainer and no current tool reads it; only `threadkit migrate` does.\n\
Fix: run `threadkit migrate PATH`.");
rule!(DUPLICATE_ID, "TK010", "duplicate-id", Error, "two threads share one id", fix: None,
"What: the same thread id appears in more than one file or record of the checked tree. The first one (in path order) is kept as the reference; every later one is reported.\n\
Why: duplicated conversations bias training and break tools that key threads by id (resume, export splits).\n\
Fix: remove the duplicate or give it a new id (and a matching file name).");
rule!(ID_FILE_STEM, "TK011", "id-file-stem-mismatch", Error, "the thread id differs from the file name", fix: None,
"What: a thread stored as `<name>.json` must have `id` (or `thread_id`) equal to `<name>`.\n\
Why: the generator finds threads to resume by file name and writes them back under their id; a mismatch creates a second copy.\n\
Fix: rename the file or correct the id (threadkit cannot tell which one is right).");

rule!(CHANGED_WHILE_FIXING, "TK012", "changed-while-fixing", Warning, "the file changed while `--fix` worked on it; it was not fixed", fix: None,
"What: `validate --fix` read the file, computed its fixes, and found right before writing that the file on disk was no longer the one it had read (its size, modification time, inode or the fixed records' text differ).\n\
Why: writing the fix would revert what the other program (an editor, a generator, another threadkit) just saved, or replace records by line number in a file whose lines moved. threadkit never writes over bytes it did not validate.\n\
Fix: run `threadkit validate --fix` again once the other program is done.");
rule!(DUPLICATE_KEY, "TK013", "duplicate-key", Error, "an object has the same key twice", fix: None,
"What: a JSON object names one key twice, e.g. `{\"status\": \"active\", …, \"status\": \"finished\"}`. RFC 8259 leaves the meaning open: Python keeps the last value, other parsers the first or refuse.\n\
Why: two programs reading the same thread would see different data; usually a hand edit or a bad merge.\n\
Fix: delete the occurrence that is wrong (both places are shown).");

rule!(NON_FINITE, "TK014", "non-finite-number", Error, "`NaN`, `Infinity` or `-Infinity`: Python's floats, not JSON", fix: Some("replace the value with null"),
"What: the file has a bare `NaN`, `Infinity` or `-Infinity`, as Python's `json.dump` writes a float that is not finite (its default `allow_nan=True`), e.g. the standard deviation of an empty selection.\n\
Why: JSON (RFC 8259) has no such numbers; trainers' JSON readers, `jq` and browsers reject the whole file. In legacy `3.0` threads they are a warning: the original generator wrote them, and `migrate` writes `null` in their place while keeping the token under `metadata.legacy_extras.non_finite` for `--reverse`. In `openai_v1` threads they are an error.\n\
Fix: threadkit replaces the value with `null` (the value was not a number anyway).");
// ---- schema -------------------------------------------------------------------------------
rule!(SCHEMA, "TK100", "schema-violation", Error, "the document does not match its JSON Schema", fix: None,
"What: a structural error found by the JSON Schema of the detected version (`threadkit schema NAME` prints it): a missing key, a wrong type, a value outside an enum, an unexpected key where the format is strict.\n\
Why: the schemas encode what trainers and threadkit rely on; they are also usable by other tools.\n\
Fix: correct the value at the reported place.");

// ---- messages and tool calls (openai_v1) ---------------------------------------------------
rule!(TOOL_CALL_UNANSWERED, "TK201", "tool-call-unanswered", Error, "a tool call has no `tool` message answering it", fix: None,
"What: every entry of an assistant's `tool_calls` must be answered by exactly one later `tool` message with the same `tool_call_id`.\n\
Why: OpenAI fine-tuning and chat templates reject conversations with unanswered calls, and the model would learn to call tools without reading results.\n\
Fix: regenerate from that step, or remove the unanswered call.");
rule!(TOOL_ANSWER_ORPHAN, "TK202", "tool-answer-orphan", Error, "a `tool` message answers no earlier tool call", fix: None,
"What: a `tool` message whose `tool_call_id` matches no tool call made before it.\n\
Why: the result has no call that produced it; trainers reject it and the conversation no longer makes sense.\n\
Fix: restore the missing call or remove the message.");
rule!(TOOL_ANSWERED_TWICE, "TK203", "tool-call-answered-twice", Error, "a tool call is answered more than once", fix: None,
"What: two `tool` messages carry the same `tool_call_id`.\n\
Why: a call has exactly one result; a second one is usually a duplicated save.\n\
Fix: remove the duplicated `tool` message.");
rule!(TOOL_NAME_MISMATCH, "TK204", "tool-name-mismatch", Error, "a tool answer names a different tool than its call", fix: None,
"What: the `name` of a `tool` message differs from `function.name` of the call it answers.\n\
Why: the model would learn that one tool returns another tool's results.\n\
Fix: correct the `name` (or the call) to the tool that actually ran.");
rule!(TOOL_ARGUMENTS, "TK205", "tool-arguments-not-json-string", Error, "`function.arguments` must be a string holding a JSON object", fix: Some("serialize the arguments object to a JSON string"),
"What: OpenAI's format stores tool arguments as a string whose content is a JSON object, e.g. `\"{\\\"dataset_name\\\": \\\"uci_har\\\"}\"`.\n\
Why: OpenAI fine-tuning rejects objects there; a string that is not a JSON object cannot be passed to any tool.\n\
Fix: when `arguments` is an object, threadkit serializes it (safe); other cases need a human.");
rule!(TOOL_CONTENT_NOT_STRING, "TK206", "tool-content-not-string", Warning, "`tool` message content should be a string", fix: Some("serialize the content to a JSON string"),
"What: a later variant of the generator stored tool results as JSON objects in `content`. OpenAI chat data requires a string.\n\
Why: Hugging Face `datasets` turns a column that mixes strings and objects into a generic type and re-decodes strings, so one such file corrupts a whole training set.\n\
Fix: threadkit serializes the value to a JSON string; the information is unchanged.");
rule!(DUPLICATE_TOOL_CALL_ID, "TK207", "duplicate-tool-call-id", Error, "two tool calls share one id", fix: None,
"What: tool call ids must be unique within a thread.\n\
Why: answers are matched to calls by id; with duplicates the pairing is ambiguous.\n\
Fix: give each call its own id (`call_<thread id>_turn_<n>`) and update its answer.");
rule!(USER_CONTENT_NOT_STRING, "TK208", "user-content-not-string", Error, "user message content is not a string", fix: None,
"What: a user message whose `content` is an object (a later variant split the first message into manifest, an artifact object `{\"type\": \"timeseries\", …}` and the query).\n\
Why: this is not valid OpenAI chat data; trainers reject it or drop the message.\n\
Fix: merge the three messages into one string message, as `threadkit migrate` writes it.");
rule!(SYSTEM_NOT_FIRST, "TK209", "system-message-not-first", Error, "a system message appears after the first message", fix: None,
"What: threadkit does not write system messages; hand-made files may have one, but only as the very first message.\n\
Why: chat templates place the system prompt first and reject or misplace later ones.\n\
Fix: move the system message to the front or remove it.");
rule!(EMPTY_TOOL_CALLS, "TK210", "empty-tool-calls", Warning, "`tool_calls` is an empty list", fix: Some("remove the empty `tool_calls` key"),
"What: an assistant message with `\"tool_calls\": []`.\n\
Why: OpenAI's fine-tuning validator rejects empty `tool_calls`; absent (or null) means 'no call'.\n\
Fix: threadkit removes the key.");

// ---- first message ----------------------------------------------------------------------
rule!(FIRST_MESSAGE_NOT_USER, "TK301", "first-message-not-user", Error, "the conversation does not start with the user message", fix: None,
"What: after an optional system message, the first message must be the user's (manifest + query).\n\
Why: the model must see the question before it acts.\n\
Fix: restore the user message at the front.");
rule!(FIRST_MESSAGE_LAYOUT, "TK302", "first-message-layout", Error, "the first user message lacks the manifest or the query", fix: None,
"What: the first user message must read `Dataset Information:\\n<manifest as pretty JSON>\\n\\nUser Query: <query>`.\n\
Why: the manifest tells the model which channels exist; without it tool calls are guesses. Generated training data should look like what the model will see.\n\
Fix: rebuild the message from the dataset's manifest.json and `metadata.user_query` (`threadkit migrate` does this for legacy threads).");
rule!(USER_QUERY_MISMATCH, "TK303", "user-query-mismatch", Error, "`metadata.user_query` differs from the query in the first message", fix: Some("copy the query from the first message into `metadata.user_query`"),
"What: the query stored in metadata must be the one the model saw.\n\
Why: filters and reports use `metadata.user_query`; the model only ever saw the message.\n\
Fix: threadkit copies the query from the message (the message is what was trained on).");

// ---- lifecycle and metadata ---------------------------------------------------------------
rule!(COUNTS, "TK401", "metadata-counts", Warning, "`metadata` counts disagree with the messages", fix: Some("recompute the counts from the messages"),
"What: `num_turns` = assistant + tool messages, `num_tool_calls` = assistant messages that call a tool, `num_responds` = assistant messages without a call, not counting a finished thread's final answer. For `3.0`: `num_turns` = turns, `num_tool_calls` = `use_tool` turns.\n\
Why: filters (`--min-tool-calls`) and statistics read the counts. The old generator undercounted `num_responds` of active threads by one.\n\
Fix: threadkit recomputes them (safe: they are derived data).");
rule!(FINISHED_WITHOUT_ANSWER_MESSAGE, "TK402", "finished-without-final-message", Error, "a finished thread does not end with an assistant answer", fix: None,
"What: `status: finished` requires the last message to be an assistant message without tool calls (the final answer).\n\
Why: a training example that ends on a tool call or tool result teaches the model to stop mid-task.\n\
Fix: set the status back to `active` and continue the thread, or regenerate it.");
rule!(FINISHED_MISSING_FIELDS, "TK403", "finished-missing-fields", Error, "a finished thread lacks `final_answer`, `confidence` or `is_correct`", fix: None,
"What: a finished thread records its answer, confidence and whether it was correct.\n\
Why: `export --correct-only` (rejection sampling) and statistics depend on them.\n\
Fix: continue the thread's final step, or set them by hand.");
rule!(IS_CORRECT_MISMATCH, "TK404", "is-correct-mismatch", Error, "`is_correct` disagrees with `final_answer` vs `ground_truth`", fix: Some("recompute `is_correct` from `final_answer` and `ground_truth`"),
"What: `is_correct` must be true exactly when `final_answer` equals `ground_truth`, ignoring case and surrounding/repeated white space.\n\
Why: exporting only correct threads is honest rejection sampling only if this flag is right.\n\
Fix: threadkit recomputes it.");
rule!(FINAL_ANSWER_TEXT, "TK405", "final-answer-text-mismatch", Error, "the answer in the last message differs from `final_answer`", fix: None,
"What: the last message of a finished thread ends with `Final Answer: <answer>`; that answer must equal `final_answer` (ignoring case and white space).\n\
Why: the model is trained on the message, but correctness is judged on the metadata; if they differ, 'correct' threads teach wrong answers.\n\
Fix: correct whichever one is wrong; threadkit cannot tell which.");
rule!(FINAL_ANSWER_MARKER, "TK406", "final-answer-marker-missing", Warning, "the final message has no `Final Answer:` line", fix: None,
"What: the generator ends a finished thread with `<explanation>\\n\\nFinal Answer: <answer>`.\n\
Why: without the marker the answer cannot be checked against `final_answer`, and training data becomes inconsistent in how it answers.\n\
Fix: append `\\n\\nFinal Answer: <final_answer>` to the last message.");
rule!(TIMESTAMP_INVALID, "TK407", "timestamp-invalid", Error, "a timestamp is not an RFC 3339 date-time", fix: None,
"What: `created_at` and `last_modified` must be RFC 3339 date-times such as `2025-11-08T10:00:00+00:00`.\n\
Why: resume ordering, 'last modified' listings and audits sort by them.\n\
Fix: write the time in RFC 3339.");
rule!(TIMESTAMP_NO_OFFSET, "TK408", "timestamp-without-offset", Warning, "a timestamp has no UTC offset", fix: None,
"What: an ISO 8601 time without `Z` or `±hh:mm` (Python's naive `datetime.now().isoformat()`).\n\
Why: it is not RFC 3339, and times written on machines in different zones cannot be ordered.\n\
Fix: add the offset the generator ran in; threadkit does not guess it.");
rule!(TIMESTAMP_ORDER, "TK409", "timestamps-out-of-order", Error, "`created_at` is later than `last_modified`", fix: None,
"What: a thread cannot be modified before it was created.\n\
Why: usually a hand edit or a clock problem; listings of threads to resume sort by these times.\n\
Fix: correct the timestamps.");

// ---- legacy 3.0 ------------------------------------------------------------------------------
rule!(TURN_NUMBERS, "TK501", "turn-numbering", Error, "`3.0` turn numbers do not run 1, 2, 3…", fix: Some("renumber the turns 1, 2, 3…"),
"What: the `turn` field of the n-th entry of `conversation` must be n.\n\
Why: migration derives tool call ids from turn numbers; gaps or repeats create colliding ids.\n\
Fix: threadkit renumbers the turns in order (safe: the order of the list is the order of the conversation).");
rule!(ACTION_FIELDS, "TK502", "action-fields-mismatch", Error, "a `3.0` turn's `action` does not match its fields", fix: None,
"What: a `use_tool` turn has `tool_call` and `tool_result` and no `response`; a `respond` turn has `response` and no `tool_call`.\n\
Why: migration maps turns by action; a mismatched turn would lose its content.\n\
Fix: correct the action or the fields.");

// ---- data root (--data-root) --------------------------------------------------------------------
rule!(FINAL_TURN_MISMATCH, "TK503", "final-answer-turn-mismatch", Warning, "a final-answer turn disagrees with the thread's final answer", fix: None,
"What: the last turn of a legacy thread is a final-answer turn (`\"action\": \"final_answer\"`) whose `final_answer`, `confidence` or `explanation` differs from the thread's top-level fields.\n\
Why: the original conversion (and `migrate`) builds the final message from the top-level fields and ignores the turn; a disagreement means the file holds two answers and only one is trained.\n\
Fix: decide which answer is right and make the two agree.");
rule!(DATASET_NOT_FOUND, "TK601", "dataset-not-found", Error, "the thread's dataset is not in the data root", fix: None,
"What: with `--data-root DIR`, `DIR/<dataset>/manifest.json` must exist.\n\
Why: a thread about a dataset you do not have cannot be verified or continued.\n\
Fix: point `--data-root` at the right folder, or add the dataset.");
rule!(SESSION_NOT_FOUND, "TK602", "session-not-found", Error, "the thread's session is not in its dataset", fix: None,
"What: with `--data-root DIR`, the session must be a key of `DIR/<dataset>/labels.json` or a folder in `DIR/<dataset>/sessions/`.\n\
Why: the tool results in the thread claim to come from that recording.\n\
Fix: check the session id, or the dataset version.");
rule!(GROUND_TRUTH_MISMATCH, "TK603", "ground-truth-mismatch", Error, "`ground_truth` is not the session's first label", fix: None,
"What: the ground truth recorded in the thread must equal the first label of its session in `labels.json`.\n\
Why: correctness (`is_correct`) is judged against it; a wrong ground truth makes rejection sampling keep wrong answers.\n\
Fix: correct the label (and `is_correct`), or the labels file.");
rule!(MANIFEST_MISMATCH, "TK604", "manifest-mismatch", Error, "the manifest in the first message differs from the dataset's manifest.json", fix: None,
"What: with `--data-root DIR`, the manifest embedded in the first user message must equal `DIR/<dataset>/manifest.json`.\n\
Why: the model reasoned over the channels in the message; if the dataset has changed, tool results no longer match the description.\n\
Fix: regenerate the thread, or rebuild the first message from the current manifest.");

// ---- training files (`threadkit validate --profile`, and every line `export` writes) -------------
rule!(TRAINING_NOT_AN_EXAMPLE, "TK701", "training-not-an-example", Error, "the line is not an example of the profile's format", fix: None,
"What: a training file line must be a JSON object with the profile's main key: `messages` (openai, trl, axolotl) or `conversations` (llama-factory), a non-empty list.\n\
Why: loaders skip or reject such lines; OpenAI refuses the whole file.\n\
Fix: regenerate the file with `threadkit export --profile P`.");
rule!(TRAINING_CONTENT_NOT_STRING, "TK702", "training-content-not-string", Error, "a message's text is not a string", fix: None,
"What: openai: `content` of system, user and tool messages is a string (an assistant that calls a tool may omit it); trl and axolotl: every `content` is a string in every row; llama-factory: every `value` is a string.\n\
Why: OpenAI rejects other types; Hugging Face `datasets` infers one type per column, so a row with object content changes the column's type and strings that look like JSON come back decoded.\n\
Example: `{\"role\": \"tool\", \"content\": {\"mean\": 0.1}}`.\n\
Fix: serialize the value to a JSON string (`threadkit export` does).");
rule!(TRAINING_NULL_VALUE, "TK703", "training-null-value", Error, "a key is present with the value null", fix: None,
"What: a message key written as `null`, such as `\"tool_calls\": null`.\n\
Why: OpenAI's fine-tuning schema has no nullable fields: omit the key instead; some chat templates test `is defined`, not truthiness, and render `None`.\n\
Fix: remove the key.");
rule!(TRAINING_ARGUMENTS, "TK704", "training-arguments-type", Error, "tool call arguments have the wrong type for the profile", fix: Some("write the arguments in the profile's form (decode text encoded twice, serialize an object)"),
"What: openai: `function.arguments` is a string holding a JSON object. trl: an object (chat templates apply `tojson` to it; a string would be encoded twice). axolotl: either. llama-factory: a `function_call` value is a JSON string of `{\"name\", \"arguments\": <object>}`.\n\
Why: each framework reads exactly one form; the other one fails to load or trains the model on a doubly-escaped string.\n\
Example: arguments whose JSON decodes to the *string* `{\"location\": \"current\"}` instead of the object (OpenAI cookbook `drone_training.jsonl`, line 3).\n\
Fix: `threadkit validate --profile P --fix` decodes arguments encoded twice (when the inner text is a JSON object) into the profile's form, and serializes an object where openai wants text; otherwise export again with the right `--profile`.");
rule!(TRAINING_TOOL_PAIRING, "TK705", "training-tool-pairing", Error, "a tool call and its result do not pair up", fix: Some("add the missing ids, pairing results with calls in order"),
"What: every tool call has an `id`, is answered by a later `tool` message with the same `tool_call_id`, and every `tool` message answers an earlier call.\n\
Why: OpenAI rejects tool messages without a matching call; templates that interleave results with calls render the conversation wrongly.\n\
Fix: calls without an `id` and results without a `tool_call_id` (TRL's and Axolotl's files pair them by order): `threadkit validate --profile openai --fix` adds the ids, each result answering the earliest unanswered call; otherwise export from threads that pass `threadkit validate`.");
rule!(TRAINING_UNDEFINED_TOOL, "TK706", "training-undefined-tool", Error, "a called function is not defined in the example's `tools`", fix: None,
"What: the name of every called function must appear in the example's `tools` list.\n\
Why: the model is trained to call a function it was never shown; OpenAI reports the example as invalid.\n\
Fix: include the tool's definition (`threadkit export` adds every called tool, inferring a schema for tools threadkit does not know).");
rule!(TRAINING_WEIGHT, "TK707", "training-weight", Error, "`weight` must be 0 or 1, on assistant messages only", fix: None,
"What: OpenAI's format lets an assistant message carry `weight: 0` (not trained on) or `weight: 1`.\n\
Why: other values or other roles are rejected.\n\
Fix: use 0 or 1 on assistant messages, or remove the key.");
rule!(TRAINING_NO_ASSISTANT, "TK708", "training-no-assistant", Error, "the example has no assistant turn to learn from", fix: None,
"What: an example needs at least one assistant (`gpt` / `function_call`) turn.\n\
Why: there is nothing to train on; OpenAI rejects such examples.\n\
Fix: drop the example, or export only finished threads.");
rule!(TRAINING_TOO_LONG, "TK709", "training-too-long", Error, "the example has more tokens than the limit", fix: None,
"What: the example's token count (messages and tool definitions, counted with `--tokenizer`) exceeds `--max-tokens` (default 65,536, OpenAI's limit for current models; 16,385 for gpt-3.5-turbo).\n\
Why: OpenAI rejects longer examples; other trainers truncate them silently, cutting off the final answer.\n\
Fix: export with `--max-tokens N` to leave long threads out.");
rule!(TRAINING_TOO_FEW, "TK710", "training-too-few-examples", Error, "OpenAI fine-tuning needs at least 10 examples", fix: None,
"What: an `openai` training file has fewer than 10 lines.\n\
Why: OpenAI refuses to start a job with fewer than 10 examples.\n\
Fix: export more threads (`--status all`, fewer filters), or generate more.");
rule!(TRAINING_UNKNOWN_KEY, "TK711", "training-unknown-key", Error, "a key or role the profile's format does not have", fix: None,
"What: a message with a role outside system/user/assistant/tool (llama-factory: `from` outside human/gpt/function_call/observation), or a key that the format does not define.\n\
Why: strict loaders (OpenAI) reject the example; lenient ones drop the data silently.\n\
Fix: export again with `threadkit export --profile P`.");
rule!(TRAINING_TOOLS_MALFORMED, "TK712", "training-tools-malformed", Error, "the example's `tools` is not in the profile's form", fix: None,
"What: openai, trl, axolotl: `tools` is a list of `{\"type\": \"function\", \"function\": {\"name\", \"description\", \"parameters\"}}`; llama-factory: `tools` is a JSON string holding such a list (or of the bare functions).\n\
Why: the tool definitions are rendered into the system prompt by the template; a malformed entry is dropped or crashes the loader.\n\
Fix: export again with `threadkit export --profile P`.");
rule!(TRAINING_TURN_ORDER, "TK713", "training-turn-order", Error, "the turns are not in the order the format requires", fix: None,
"What: llama-factory (sharegpt): after an optional system prompt, turns alternate — human or observation at odd positions (1st, 3rd, …), gpt or function_call at even ones — and their number is even; an observation follows a function_call. openai: a system message may only come first.\n\
Why: LLaMA-Factory skips a misordered example with only a log line, so data disappears silently.\n\
Fix: export with `--profile llama-factory`, which merges consecutive assistant messages and reports what it had to drop.");

rule!(TRAINING_TEMPLATE_ERROR, "TK714", "training-chat-template-error", Error, "the model's chat template fails on the example", fix: None,
"What: with `--chat-template FILE`, rendering the example through the model's own Jinja template raised an error (Mistral: \"Tool call IDs should be alphanumeric strings with length 9!\", \"conversation roles must alternate\"; DeepSeek: arguments concatenated as a string).\n\
Why: the trainer renders every example with that template; one error stops the run or drops the example.\n\
Fix: export with `threadkit export --chat-template FILE`, which adapts the examples (9-character ids, merged assistant turns, string arguments) and records what it changed in export.json.");
rule!(TRAINING_TEMPLATE_DROPS, "TK715", "training-chat-template-drops", Error, "the chat template does not render part of the example", fix: None,
"What: with `--chat-template FILE`, a tool call, a tool result or an assistant text of the example does not appear in the rendered text (Llama 3.x, Hermes and gpt-oss templates do not render assistant text beside `tool_calls`).\n\
Why: what is not rendered is never trained: the chain of thought these threads exist for is lost.\n\
Fix: export with `threadkit export --chat-template FILE`, which moves the reasoning to where the template renders it (an assistant message of its own, `reasoning_content` or `thinking`).");
rule!(TRAINING_NULL_CONTENT, "TK716", "training-null-content", Warning, "an assistant message that calls tools has `\"content\": null`", fix: Some("remove the null `content`"),
"What: `{\"role\": \"assistant\", \"content\": null, \"tool_calls\": […]}` — the shape the Chat Completions API returns, and what datasets built from its responses carry.\n\
Why: the services' documented training examples omit `content` beside `tool_calls` (OpenAI's fine-tuning guide, Azure OpenAI, Together), and Python readers (`message.get(\"content\")`) see the same `None` either way; but a chat template that tests `'content' in message` or `is defined` renders the text `None`. A warning, not an error: every consumer tested reads it.\n\
Fix: `threadkit validate --profile P --fix` removes the key.");
rule!(LLAMA_FACTORY_DATASET_INFO, "TK717", "llama-factory-dataset-info", Error, "an entry of a LLaMA-Factory `dataset_info.json` cannot be loaded", fix: None,
"What: `validate --profile llama-factory DIR` reads DIR/dataset_info.json as LLaMA-Factory's `data/parser.py` does: each entry an object with `file_name` (or a hub/script/cloud source), `formatting` alpaca, sharegpt or openai, `columns` and `tags` objects of strings; a `file_name` must name a file in DIR.\n\
Why: LLaMA-Factory stops at the first entry it cannot load (\"Undefined dataset\", a missing file), after the run has been configured and queued.\n\
Fix: correct the entry; `threadkit export --profile llama-factory` writes a dataset_info.json for its files.");

// ---- datasets (`threadkit dataset check`) ------------------------------------------------
rule!(SESSION_WITHOUT_DATA, "TK801", "session-without-data", Error, "a labelled session has no data file", fix: None,
"What: every key of `labels.json` needs `sessions/<id>/data.parquet`.\n\
Why: a thread about that session cannot run a single tool.\n\
Fix: add the recording, or remove the session from labels.json.");
rule!(SESSION_WITHOUT_LABELS, "TK802", "session-without-labels", Error, "a session has data but no labels", fix: None,
"What: every folder in `sessions/` needs a key in `labels.json` with at least one label.\n\
Why: without a ground truth, generated answers cannot be judged, and rejection sampling is impossible.\n\
Fix: add the session's labels, or remove its folder.");
rule!(SESSION_UNREADABLE, "TK803", "session-unreadable", Error, "a session's parquet file cannot be read", fix: None,
"What: `data.parquet` is missing its footer, corrupt, too large, or has non-numeric columns.\n\
Why: tools read every session; one broken file breaks every thread that touches it.\n\
Fix: re-export the recording (`threadkit dataset import` writes valid files atomically).");
rule!(COLUMNS_MISMATCH, "TK804", "columns-mismatch", Error, "a session's columns are not `timestamp_sec` + the manifest's channels", fix: None,
"What: the first column must be `timestamp_sec`, followed by exactly the channels the manifest lists.\n\
Why: the manifest is what the model reads; a channel it names but the file lacks turns into a failed tool call.\n\
Fix: align the manifest and the files.");
rule!(TIMESTAMPS_NOT_INCREASING, "TK805", "timestamps-not-increasing", Error, "`timestamp_sec` does not strictly increase", fix: None,
"What: time must run forward: each timestamp larger than the one before, none missing (NaN).\n\
Why: windows (`filter_by_time`) and rates are computed from timestamps.\n\
Fix: sort the samples, drop duplicates, or rebuild the time column from the sampling rate.");
rule!(SAMPLING_RATE_MISMATCH, "TK806", "sampling-rate-mismatch", Error, "the observed sampling rate differs from the manifest by more than 5%", fix: None,
"What: (samples − 1) / duration must be within ±5% of each channel's `sampling_rate_hz`.\n\
Why: frequencies (cadence, dominant frequency) computed by the tools would be wrong by the same factor.\n\
Fix: correct the manifest's rate or the time column (seconds, never sample indices).");
rule!(MISSING_VALUES, "TK807", "missing-values", Warning, "a session has missing (NaN) samples", fix: None,
"What: some channel values are NaN (or null).\n\
Why: statistics skip them, but a channel that is mostly missing misleads the model.\n\
Fix: none needed if expected; otherwise re-export the recording.");
rule!(TIME_GAPS, "TK808", "time-gaps", Warning, "a session's time column has gaps", fix: None,
"What: consecutive timestamps more than 1.5 sampling periods apart.\n\
Why: features that assume regular sampling (FFT, autocorrelation) are distorted across gaps.\n\
Fix: none needed if the recording really paused; split the session if it matters.");
rule!(UNSAFE_SESSION_NAME, "TK809", "unsafe-session-name", Error, "a session id cannot be a folder name", fix: None,
"What: session ids must be one path component: no `/`, `\\`, `..`, NUL or control characters, at most 255 bytes.\n\
Why: ids come from files and from model output; they must never reach outside the dataset folder.\n\
Fix: rename the session.");

// ---- replayed tool calls (`threadkit verify`) ------------------------------------------------
rule!(TOOL_RESULT_DIFFERS, "TK901", "tool-result-differs", Error, "a recorded tool result differs from running the call again", fix: None,
"What: `threadkit verify` re-runs every recorded tool call on the data root and compares the result with the `tool` message.\n\
Why: training data teaches the model what tools return; a result that the tool does not produce (edited, invented, or from another data version) teaches fiction.\n\
Fix: regenerate the thread from that step, or restore the data the thread was made from.");
rule!(TOOL_CALL_FAILS, "TK902", "tool-call-fails-now", Error, "a recorded tool call fails when run again", fix: None,
"What: the call returned a result when the thread was made, but running it again gives an error (unknown tool, invalid arguments, missing data, unknown artifact).\n\
Why: the thread cannot be reproduced; its results cannot be trusted.\n\
Fix: check the data root and the thread's dataset and session.");
rule!(NOT_REPLAYABLE, "TK903", "thread-not-replayable", Error, "the thread's session cannot be loaded for replay", fix: None,
"What: `metadata.dataset` / `metadata.session` do not name a session with data under the data root.\n\
Why: nothing in the thread can be verified.\n\
Fix: point --data-root at the datasets the thread was generated from.");
rule!(PLACEHOLDER_TOOL, "TK904", "placeholder-tool-not-replayable", Warning, "a legacy call to a placeholder tool cannot be replayed", fix: None,
"What: the original `3.0` generator had four tools — `human_activity_motion_tokenizer`, `human_activity_motion_classifier`, `human_activity_motion_capture_tokenizer`, `human_activity_motion_capture_classifier` — that returned random placeholder numbers. A call to one of them has no real result to compare with.\n\
Why: `verify` cannot say whether such a result was right; the model reasoned over random values there. Calls to the other tools of that set (`show_session_stats`, `show_channel_stats`, `select_channels`, `filter_by_time`) keep their names and are replayed.\n\
Fix: none needed to keep the thread; leave such threads out of training (`export --dataset`/`--label` or a curated folder) if their reasoning depends on the placeholder values.");

// ---- quality (`threadkit quality`): what a well-formed thread teaches ------------------------
rule!(NUMBER_NOT_GROUNDED, "TKQ01", "number-not-grounded", Error, "a number in the model's text that no tool result, user message or call argument gave it", fix: None,
"What: a number in an assistant message (reasoning or final explanation) that appears nowhere earlier in the thread: not in a tool result, not in the user's message or the dataset information, not in the model's own call arguments. Roundings and truncations to the precision written count as the number (0.8312 → 0.83, 0.8), and so do the conversions the writer's unit names: a share as a percentage (0.8312 → 83 %, 83.1 percent), seconds as `ms` or `min`, Hz as `per minute` or `bpm`; a percentage may also be written as a share (83.1 → 0.831). A minus sign may be dropped (an amplitude). No conversion is tried that the text does not name: 49.9 is not 0.8312 per minute unless it says `per minute`. Not claims: step numbers and list markers (`Step 3:`, `2.`), ordinals (`2nd`), numbers inside names (`acc_x1`, `UCI-HAR-2`, `3D`, `3-axis`), and bare integers up to 10 without a unit (counts: `3 channels`). Gravity (1 g, 9.81 m/s²) and 60 and 3,600 (seconds in a minute, an hour) count as known.\n\
Why: a model trained on invented numbers learns to invent them; this is the hallucination that fine-tuning amplifies. Derived numbers (a difference, a ratio) are flagged too: write the operands, or have a tool compute it.\n\
Bad: the tool said `\"std_su\": 5.762568`; the model writes `a standard deviation of 7.9`.\n\
Good: `a standard deviation of 5.76` (or 5.8, or 5.7 truncated).\n\
Fix: regenerate the step, or correct the number to what the tool returned.");
rule!(ANSWER_CONTRADICTS_TOOLS, "TKQ02", "answer-contradicts-tools", Error, "the final answer is not what the thread's own evidence concluded", fix: None,
"What: the final answer names a label other than the top prediction of the thread's last `classify_activity` call (the label with the highest score; a tie between the top two is no conclusion). The classifier is the only tool whose result is a label; the other tools return features the model interprets, so without a classifier call there is no conclusion to contradict and the rule says nothing. An answer that is no label at all is `answer-not-in-labels` instead.\n\
Why: a thread that gathers evidence and then answers against it teaches the model that tool results do not matter.\n\
Bad: classify_activity returns `{\"top_labels\": [{\"label\": \"Running\", \"score\": 0.8}, …]}`; the thread ends `Final Answer: Walking`.\n\
Good: `Final Answer: Running`, or a thread that calls more tools and classifies again before answering otherwise.\n\
Fix: leave the thread out (`export` does by default) or regenerate its last step.");
rule!(ANSWER_NOT_IN_LABELS, "TKQ03", "answer-not-in-labels", Error, "the final answer is not one of the dataset's labels", fix: None,
"What: the final answer, compared ignoring case, `_`, `-` and white space, is not a label of the dataset: from `--data-root` (every label in `labels.json`), else the labels the thread was given (a tool result with the dataset's `label_distribution`). With neither, the rule cannot decide and says nothing.\n\
Why: an answer outside the label set can never be scored correct, and it teaches the model to answer in words the task does not have.\n\
Bad: labels Walking, Running, Standing, Badminton; `Final Answer: Jogging`.\n\
Good: `Final Answer: Running`.\n\
Fix: leave the thread out, or map synonyms in the generator's answer schema (`generate` constrains answers to the labels).");
rule!(LABEL_IN_QUESTION, "TKQ04", "label-in-question", Error, "the user's question names the ground-truth label", fix: None,
"What: the question (`User Query:` of the first message) contains the ground-truth label or a clear form of it: every word of the label, matched by stem (`walking` ← walk, walks, walked; `running` ← ran; `laying` ← lying; `sitting` ← sat, seated; `standing` ← stood). The dataset description before the question names every class by design and is not searched, and a question that lists three or more of the dataset's labels as options (`walking, sitting or standing?`) does not single out the answer.\n\
Why: the model learns to read the answer off the question instead of the data; at evaluation, questions do not carry the answer.\n\
Bad: ground truth Walking; `User Query: Was the person walking during this recording?`\n\
Good: `User Query: What was the person doing during this recording?`\n\
Fix: regenerate the question (`generate` asks for one that does not name the activity).");
rule!(REPEATED_CALL, "TKQ05", "repeated-call", Error, "a tool call repeats an earlier call that got the same result", fix: None,
"What: a call with the same tool and the same arguments (compared as JSON, key order ignored) as an earlier call of the thread, which got the same result (artifact ids aside: each run names its artifacts anew).\n\
Why: nothing was learned from the second call; a model trained on loops learns to loop. A call repeated with other arguments, or whose result changed, is not reported.\n\
Bad: `show_channel_stats({\"dataset_name\": \"mhealth\"})` three times, three identical results.\n\
Good: one call, then a different tool or other arguments.\n\
Fix: leave the thread out or regenerate from the repeated step.");
rule!(TOOL_ERROR_IGNORED, "TKQ06", "tool-error-ignored", Error, "a tool failed and the next turn neither retries nor acknowledges it", fix: None,
"What: a tool result that is an error (`{\"error\": …}`, `{\"status\": \"error\"}`, `{\"success\": false}`, or text starting `Error`), after which the next assistant turn neither calls the same tool again nor says anything about it: no word of failure (error, failed, cannot, invalid, unknown, does not exist, retry, try again, instead, oops, …; words as common as `again` or `correct` do not count) and no distinctive token of the error message (the bad channel name, the artifact id).\n\
Why: the model learns to carry on as if a failed call had returned data, and then to invent that data. A thread that fails, says so and retries correctly is a good thread and is not reported.\n\
Bad: `{\"error\": \"unknown channels [\\\"acc_w\\\"]\"}`, then `The features show strong periodicity; next I classify.`\n\
Good: `That failed: acc_w does not exist. I retry with acc_x.` and the corrected call.\n\
Fix: regenerate from the failing step.");
rule!(REASONING_DEGENERATE, "TKQ07", "reasoning-degenerate", Error, "reasoning repeated across steps, a sentence repeated in a message, or a step without reasoning", fix: None,
"What: one of three shapes. (1) An assistant message of six or more words whose text equals an earlier one's once case, punctuation and digits are set aside (only step numbers differ). (2) One sentence of three or more words three or more times in one message. (3) A tool call with empty reasoning, in a thread that reasons at its other steps.\n\
Why: repeated text is a looping generator, and a model trained on it repeats itself; a silent step teaches calling tools without thinking, which is what these threads exist to teach.\n\
Bad: `Step 1: checking channel statistics again.` then `Step 2: checking channel statistics again.`\n\
Good: each step says what the last result showed and why the next call follows.\n\
Fix: leave the thread out or regenerate it.");
rule!(NEAR_DUPLICATE, "TKQ08", "near-duplicate", Error, "the thread is a near-copy of an earlier thread", fix: None,
"What: the thread's model-written text and tool results, as word 5-shingles, have an estimated Jaccard similarity of 0.9 or more with an earlier thread (path order), and the model-written text alone 0.7 or more (two threads about one recording that call the same tools get the same results: they are duplicates only if they also say the same things) — one-permutation MinHash over 128 bins with locality-sensitive hashing (16 bands of 8: a pair at 0.85 is compared with probability 0.994, a pair of templated threads at 0.3 with 0.001), so the search stays close to linear in the number of threads. The first user message (dataset description and question, shared by design) is not compared, and numbers are part of the words, so two recordings with the same question and the same prompt are not duplicates: their tool results differ. Each group is reported at every member after the first, naming the first.\n\
Why: duplicates weigh one conversation several times in training and leak between train and validation splits.\n\
Fix: keep the first of each group (`export` does by default).");
rule!(EVAL_OVERLAP, "TKQ09", "eval-overlap", Error, "the thread overlaps the evaluation set given with --against", fix: None,
"What: with `--against PATH` (a threads folder, or a training export of any profile), a thread about the same recording (dataset and session) as an eval thread, or whose model-written text shares word 13-grams with one eval item (the unit of GPT-3's contamination study): at least two, and at least a quarter of the thread's own 13-grams, so that a copied passage counts and a template sentence does not. 13-grams that recur in many eval items (three or more, and at least 2 % of them: prompt scaffolding) are boilerplate and never count. Tool results are not compared as text: the same recording gives the same results, which the recording test already catches.\n\
Why: a model trained on its evaluation recordings scores well for the wrong reason; this is the most common way a fine-tuning result lies.\n\
Fix: leave the thread out of training (`export --quality deny` does), or take the recording out of the eval set.");
rule!(ANSWER_WRONG, "TKQ10", "answer-wrong", Warning, "the final answer is not the ground truth", fix: None,
"What: `metadata.final_answer` differs from `metadata.ground_truth` (ignoring case, `_`, `-` and white space).\n\
Why: a warning, not an error: wrong-but-honest threads can be worth training on. Rejection sampling keeps only correct trajectories: `threadkit export --only-correct` leaves these out.\n\
Fix: nothing to fix in the thread; choose with `--only-correct`.");
rule!(GARBLED_TEXT, "TKQ11", "garbled-text", Error, "a message holds control characters, bidi overrides, U+FFFD or mojibake", fix: None,
"What: a string of a message (its text, a call's arguments, a tool result) holding a character no conversation means to write: a C0 control other than tab, line feed and carriage return (ESC starts a terminal escape sequence, NUL ends C strings), DEL, a C1 control (U+0080–U+009F), a bidirectional embedding, override or isolate (U+202A–U+202E, U+2066–U+2069), a zero-width space, word joiner or byte-order mark inside text (U+200B, U+2060, U+FEFF), the replacement character U+FFFD (bytes lost to a failed UTF-8 decode), or mojibake: UTF-8 read as Windows-1252 (`â€™` for `’`, `Ã©` for `é`, `Â°` for `°`). Each string is reported once, at its first such character, with how many more it holds. Not reported: tabs and line breaks, accents, symbols (°, µ, ≈, —, ’), emoji and their zero-width joiners (U+200D), the left-to-right and right-to-left marks (U+200E, U+200F) that right-to-left text needs, and a control character written as an escape in a sentence (the six characters `\\u001b`). A call's arguments are JSON, so there the escape is the character, and it is reported.\n\
Why: a model learns to write what it is trained on: escape sequences that recolour or clear a terminal, text that displays in another order than it reads (the Trojan Source trick), invisible characters that tokenise into rare tokens, and the mojibake of a broken decode. None of it is ever the right answer, and a reader of the thread does not see most of it.\n\
Bad: `The classifier says \\u001b[1mWalking\\u001b[0m.` (bold in a terminal, six stray tokens in training), `the person isnâ€™t moving`.\n\
Good: `The classifier says Walking.`, `the person isn’t moving`.\n\
Fix: regenerate the step, or repair the text where its meaning is plain (decode mojibake as UTF-8, delete the controls).");

/// Every rule, in code order.
pub static ALL: &[&Rule] = &[
    &IO_ERROR,
    &INVALID_UTF8,
    &INVALID_JSON,
    &EMPTY_FILE,
    &FILE_TOO_LARGE,
    &NOT_A_THREAD,
    &VERSION_MISMATCH,
    &LEGACY_V3,
    &LEGACY_V2,
    &DUPLICATE_ID,
    &ID_FILE_STEM,
    &CHANGED_WHILE_FIXING,
    &DUPLICATE_KEY,
    &NON_FINITE,
    &SCHEMA,
    &TOOL_CALL_UNANSWERED,
    &TOOL_ANSWER_ORPHAN,
    &TOOL_ANSWERED_TWICE,
    &TOOL_NAME_MISMATCH,
    &TOOL_ARGUMENTS,
    &TOOL_CONTENT_NOT_STRING,
    &DUPLICATE_TOOL_CALL_ID,
    &USER_CONTENT_NOT_STRING,
    &SYSTEM_NOT_FIRST,
    &EMPTY_TOOL_CALLS,
    &FIRST_MESSAGE_NOT_USER,
    &FIRST_MESSAGE_LAYOUT,
    &USER_QUERY_MISMATCH,
    &COUNTS,
    &FINISHED_WITHOUT_ANSWER_MESSAGE,
    &FINISHED_MISSING_FIELDS,
    &IS_CORRECT_MISMATCH,
    &FINAL_ANSWER_TEXT,
    &FINAL_ANSWER_MARKER,
    &TIMESTAMP_INVALID,
    &TIMESTAMP_NO_OFFSET,
    &TIMESTAMP_ORDER,
    &TURN_NUMBERS,
    &ACTION_FIELDS,
    &FINAL_TURN_MISMATCH,
    &DATASET_NOT_FOUND,
    &SESSION_NOT_FOUND,
    &GROUND_TRUTH_MISMATCH,
    &MANIFEST_MISMATCH,
    &TRAINING_NOT_AN_EXAMPLE,
    &TRAINING_CONTENT_NOT_STRING,
    &TRAINING_NULL_VALUE,
    &TRAINING_ARGUMENTS,
    &TRAINING_TOOL_PAIRING,
    &TRAINING_UNDEFINED_TOOL,
    &TRAINING_WEIGHT,
    &TRAINING_NO_ASSISTANT,
    &TRAINING_TOO_LONG,
    &TRAINING_TOO_FEW,
    &TRAINING_UNKNOWN_KEY,
    &TRAINING_TOOLS_MALFORMED,
    &TRAINING_TURN_ORDER,
    &TRAINING_TEMPLATE_ERROR,
    &TRAINING_TEMPLATE_DROPS,
    &TRAINING_NULL_CONTENT,
    &LLAMA_FACTORY_DATASET_INFO,
    &SESSION_WITHOUT_DATA,
    &SESSION_WITHOUT_LABELS,
    &SESSION_UNREADABLE,
    &COLUMNS_MISMATCH,
    &TIMESTAMPS_NOT_INCREASING,
    &SAMPLING_RATE_MISMATCH,
    &MISSING_VALUES,
    &TIME_GAPS,
    &UNSAFE_SESSION_NAME,
    &TOOL_RESULT_DIFFERS,
    &TOOL_CALL_FAILS,
    &NOT_REPLAYABLE,
    &PLACEHOLDER_TOOL,
    &NUMBER_NOT_GROUNDED,
    &ANSWER_CONTRADICTS_TOOLS,
    &ANSWER_NOT_IN_LABELS,
    &LABEL_IN_QUESTION,
    &REPEATED_CALL,
    &TOOL_ERROR_IGNORED,
    &REASONING_DEGENERATE,
    &NEAR_DUPLICATE,
    &EVAL_OVERLAP,
    &ANSWER_WRONG,
    &GARBLED_TEXT,
];

/// The rules of `threadkit quality`: what a well-formed thread teaches.
pub fn is_quality(rule: &Rule) -> bool {
    rule.code.starts_with("TKQ")
}

/// Look a rule up by code (`TK201`) or name (`tool-call-unanswered`), case-insensitively.
pub fn find(key: &str) -> Option<&'static Rule> {
    ALL.iter().copied().find(|r| r.code.eq_ignore_ascii_case(key) || r.name.eq_ignore_ascii_case(key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_declared_rule_is_in_the_registry() {
        // A `rule!` missing from `ALL` would never be listed, explained or ignorable.
        let source = include_str!("registry.rs");
        let declared: Vec<&str> = source
            .lines()
            .filter_map(|l| l.strip_prefix("rule!("))
            .filter_map(|l| l.split(',').nth(1))
            .map(|code| code.trim().trim_matches('"'))
            .collect();
        let listed: HashSet<&str> = ALL.iter().map(|r| r.code).collect();
        assert!(declared.len() > 60, "the scan found {} rules", declared.len());
        for code in &declared {
            assert!(listed.contains(code), "{code} is declared but not in ALL");
        }
        assert_eq!(declared.len(), ALL.len());
    }

    #[test]
    fn codes_and_names_are_unique_and_well_formed() {
        let mut codes = HashSet::new();
        let mut names = HashSet::new();
        for r in ALL {
            assert!(codes.insert(r.code), "duplicate code {}", r.code);
            assert!(names.insert(r.name), "duplicate name {}", r.name);
            assert!(r.code.starts_with("TK") && r.code.len() == 5, "{}", r.code);
            assert!(!r.summary.ends_with('.'), "{}: summaries are one line without a period", r.code);
            assert!(r.explanation.starts_with("What:"), "{}", r.code);
        }
    }

    #[test]
    fn registry_is_in_code_order() {
        let codes: Vec<_> = ALL.iter().map(|r| r.code).collect();
        let mut sorted = codes.clone();
        sorted.sort();
        assert_eq!(codes, sorted);
    }

    #[test]
    fn find_by_code_or_name() {
        assert_eq!(find("tk201").unwrap().name, "tool-call-unanswered");
        assert_eq!(find("tool-call-unanswered").unwrap().code, "TK201");
        assert!(find("TK999").is_none());
    }
}
