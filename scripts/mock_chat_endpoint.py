"""A scripted OpenAI-compatible Chat Completions endpoint: a test double for threadkit's
generator tests and benchmarks (the real-model test uses llama.cpp's server instead).

It answers from the request alone, so any number of threads can run against it at once:
- a question request (schema with `query`) gets a fixed question;
- a step request gets, by the number of steps already in the prompt's history:
  show_channel_stats, then compute_features, then finish (the first compute_features
  proposal is invalid JSON once per thread, to exercise the retry path, unless --no-errors);
- a final-answer request gets the last label of the schema's `answer` enum.
Every request body is appended to --log (JSON lines) when given.

    python3 scripts/mock_chat_endpoint.py [--port 0] [--latency-ms 0] [--log FILE] [--no-errors]
                                          [--echo-auth none|content|no-choices] [--fail-status N]
                                          [--rps N] [--tpm N] [--minute-s S] [--no-limit-headers]

--bad-share F makes that share of recordings (decided by a hash of the artifact id, so a
thread and its resumption agree) claim, in their second step, a number no tool gave.

--rps and --tpm play a hosted API's rate limits, as OpenAI describes them: a bucket of N
requests (of N prompt tokens, a token being 4 bytes of the request body) that refills
continuously over a second (over --minute-s seconds for tokens, 60 unless a test shortens
the minute). A request that finds the bucket empty is answered 429 with `Retry-After: 1`.
Every answer carries `x-ratelimit-{limit,remaining,reset}-{requests,tokens}` unless
--no-limit-headers (servers that send only Retry-After).

Prompt caching is played too: `usage.prompt_tokens_details.cached_tokens` is the longest
prefix of the request body, in 512-byte (128-token) blocks and from 1024 tokens up, that an
earlier request began with: what a provider's prefix cache would have held.

`GET /stats` answers the counts: accepted, rejected (429), the first and last accepted
request's time, prompt/cached/completion tokens.

--hostile plays a model whose words carry terminal control sequences (OSC 52 writing the
clipboard, clearing the screen, a one-character CSI, a bidi override, BEL): appended to the
question, every step's reasoning, the final explanation and the unusable reply.

--echo-auth plays a hostile or broken server that repeats the request's Authorization
header: inside the model's question (`content`), or in a 200 reply without `choices`.

Prints `port N` on stdout once listening.
"""

import argparse
import hashlib
import json
import math
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def is_bad(user, share):
    """Whether this recording's thread is one of the --bad-share that claims a number no tool gave."""
    m = re.search(r"ts_[0-9a-f]+", user)
    if not share or not m:
        return False
    return int(hashlib.sha256(m.group(0).encode()).hexdigest()[:8], 16) % 1000 < share * 1000


def decide(body, errors, bad_share=0.0):
    messages = body.get("messages", [])
    fmt = body.get("response_format", {})
    schema = fmt.get("schema") or fmt.get("json_schema", {}).get("schema") or {}
    props = schema.get("properties", {})
    if "query" in props:
        return {"query": "What was the person wearing the watch doing during this recording?"}
    if "answer" in props:
        labels = props["answer"].get("enum") or ["unknown"]
        return {"explanation": "The features point to this activity.", "answer": labels[-1], "confidence": "medium"}
    user = messages[1]["content"] if len(messages) > 1 else ""
    done = len(re.findall(r"^Step \d+\.", user, flags=re.M))
    retrying = len(messages) > 2
    if done == 0:
        return {"step": {"reasoning": "First I check which channels the recording has.", "action": "use_tool",
                         "tool": "show_channel_stats", "arguments": {}}}
    if done == 1:
        if errors and not retrying:
            return "this is not JSON"
        reasoning = "Now the signal features of the whole recording."
        if is_bad(user, bad_share):
            # A claim with a number that appears in no tool result: what the quality gate rejects.
            reasoning = "The mean acceleration is 7.31 g, so walking is likely; now the signal features."
        return {"step": {"reasoning": reasoning, "action": "use_tool", "tool": "compute_features", "arguments": {}}}
    return {"step": {"reasoning": "The features are enough to answer.", "action": "finish"}}


# What a model's words may carry that must never reach a terminal raw.
HOSTILE = "\u001b]52;c;cHduZWQ=\u0007\u001b[2J\u009b31m\u202e"


def hostile(reply):
    if isinstance(reply, str):
        return reply + HOSTILE
    for k in ("query", "explanation"):
        if k in reply:
            reply[k] += HOSTILE
    if "step" in reply:
        reply["step"]["reasoning"] += HOSTILE
    return reply


class Bucket:
    """A quota that refills continuously: `capacity` units over `period` seconds."""

    def __init__(self, capacity, period):
        self.capacity = float(capacity)
        self.rate = capacity / period
        self.level = float(capacity)
        self.at = time.monotonic()

    def refill(self, now):
        self.level = min(self.capacity, self.level + (now - self.at) * self.rate)
        self.at = now

    def reset_s(self):
        return (self.capacity - self.level) / self.rate


def fmt_duration(seconds):
    # OpenAI's form: "1s", "6m0s", "250ms".
    if seconds < 1:
        return f"{max(0, int(seconds * 1000))}ms"
    if seconds < 60:
        return f"{seconds:.3f}".rstrip("0").rstrip(".") + "s"
    return f"{int(seconds // 60)}m{int(seconds % 60)}s"


BLOCK = 512


class PrefixCache:
    def __init__(self):
        self.seen = set()

    def cached_tokens(self, raw):
        h = hashlib.blake2b(digest_size=16)
        hashes = []
        for k in range(0, len(raw) - BLOCK + 1, BLOCK):
            h.update(raw[k:k + BLOCK])
            hashes.append(h.copy().digest())
        hit = 0
        for i, d in enumerate(hashes):
            if d not in self.seen:
                break
            hit = (i + 1) * BLOCK
        self.seen.update(hashes)
        tokens = hit // 4
        return tokens if tokens >= 1024 else 0


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # A client killed mid-request (the resume test does that) is not an error here.
        pass


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send_json(self, status, doc, headers=()):
        out = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(out)

    def reply_status(self, status, headers=()):
        self.send_json(status, {"error": {"message": f"scripted HTTP {status}"}}, headers)

    def do_GET(self):
        if self.path.rstrip("/").endswith("/stats"):
            with self.server.lock:
                stats = dict(self.server.stats)
            self.send_json(200, stats)
            return
        # `GET /models` (threadkit's preflight): the scripted failure, else "not here", as
        # many servers answer.
        self.reply_status(self.server.fail_status or 404)

    def admit(self, prompt_tokens):
        """Take one request and its tokens from the buckets, or say how long to wait."""
        srv = self.server
        headers = []
        with srv.lock:
            now = time.monotonic()
            ok = True
            for bucket, need in ((srv.requests, 1), (srv.tokens, prompt_tokens)):
                if bucket is not None:
                    bucket.refill(now)
                    ok = ok and bucket.level >= min(need, bucket.capacity)
            if ok:
                for bucket, need in ((srv.requests, 1), (srv.tokens, prompt_tokens)):
                    if bucket is not None:
                        bucket.level -= need
            for name, bucket in (("requests", srv.requests), ("tokens", srv.tokens)):
                if bucket is not None and srv.limit_headers:
                    headers += [
                        (f"x-ratelimit-limit-{name}", str(int(bucket.capacity))),
                        (f"x-ratelimit-remaining-{name}", str(max(0, math.floor(bucket.level)))),
                        (f"x-ratelimit-reset-{name}", fmt_duration(bucket.reset_s())),
                    ]
            if ok:
                srv.stats["accepted"] += 1
                srv.stats["first"] = srv.stats["first"] or now
                srv.stats["last"] = now
            else:
                srv.stats["rejected"] += 1
        return ok, headers

    def do_POST(self):
        length = int(self.headers.get("Content-Length", 0))
        raw = self.rfile.read(length)
        if self.server.fail_status:
            with self.server.lock:
                self.server.posts += 1
            self.reply_status(self.server.fail_status)
            return
        body = json.loads(raw)
        ok, limit_headers = self.admit(len(raw) // 4)
        if not ok:
            self.reply_status(429, [("Retry-After", "1")] + limit_headers)
            return
        if self.server.log:
            with self.server.lock, open(self.server.log, "a", encoding="utf-8") as f:
                f.write(json.dumps(body) + "\n")
        if self.server.latency:
            time.sleep(self.server.latency)
        reply = decide(body, self.server.errors, self.server.bad_share)
        if self.server.hostile:
            reply = hostile(reply)
        auth = self.headers.get("Authorization", "")
        if self.server.echo_auth == "content" and isinstance(reply, dict) and "query" in reply:
            reply = {"query": reply["query"] + " (header: " + auth + ")"}
        content = reply if isinstance(reply, str) else json.dumps(reply)
        if self.server.echo_auth == "no-choices":
            self.send_json(200, {"error": {"message": "upstream refused " + auth}})
            return
        with self.server.lock:
            cached = self.server.cache.cached_tokens(raw)
            st = self.server.stats
            st["prompt_tokens"] += len(raw) // 4
            st["cached_tokens"] += cached
            st["completion_tokens"] += len(content) // 4
        self.send_json(200, {
            "id": "mock", "object": "chat.completion", "model": body.get("model"),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": len(raw) // 4, "completion_tokens": len(content) // 4,
                      "prompt_tokens_details": {"cached_tokens": cached}},
        }, limit_headers)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--latency-ms", type=float, default=0)
    p.add_argument("--log")
    p.add_argument("--no-errors", action="store_true")
    p.add_argument("--hostile", action="store_true", help="the model's words carry terminal control sequences")
    p.add_argument("--echo-auth", choices=["none", "content", "no-choices"], default="none")
    p.add_argument("--fail-status", type=int, default=0, help="answer every request with this HTTP status")
    p.add_argument("--rps", type=float, default=0, help="requests per second allowed (0: no limit)")
    p.add_argument("--tpm", type=float, default=0, help="prompt tokens per minute allowed (0: no limit)")
    p.add_argument("--minute-s", type=float, default=60, help="how long the --tpm minute lasts, in seconds")
    p.add_argument("--no-limit-headers", action="store_true")
    p.add_argument("--bad-share", type=float, default=0,
                   help="this share of recordings get threads that claim a number no tool gave (quality rule TKQ01)")
    a = p.parse_args()
    server = Server(("127.0.0.1", a.port), Handler)
    server.latency = a.latency_ms / 1000
    server.log = a.log
    server.errors = not a.no_errors
    server.hostile = a.hostile
    server.echo_auth = a.echo_auth
    server.fail_status = a.fail_status
    server.posts = 0
    server.requests = Bucket(a.rps, 1.0) if a.rps else None
    server.tokens = Bucket(a.tpm, a.minute_s) if a.tpm else None
    server.limit_headers = not a.no_limit_headers
    server.bad_share = a.bad_share
    server.cache = PrefixCache()
    server.stats = {"accepted": 0, "rejected": 0, "first": None, "last": None,
                    "prompt_tokens": 0, "cached_tokens": 0, "completion_tokens": 0}
    server.lock = threading.Lock()
    print(f"port {server.server_address[1]}", flush=True)
    sys.stdout.close()
    server.serve_forever()


if __name__ == "__main__":
    main()
