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

--echo-auth plays a hostile or broken server that repeats the request's Authorization
header: inside the model's question (`content`), or in a 200 reply without `choices`.

Prints `port N` on stdout once listening.
"""

import argparse
import json
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def decide(body, errors):
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
        return {"step": {"reasoning": "Now the signal features of the whole recording.", "action": "use_tool",
                         "tool": "compute_features", "arguments": {}}}
    return {"step": {"reasoning": "The features are enough to answer.", "action": "finish"}}


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # A client killed mid-request (the resume test does that) is not an error here.
        pass


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply_status(self, status):
        out = json.dumps({"error": {"message": f"scripted HTTP {status}"}}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def do_GET(self):
        # `GET /models` (threadkit's preflight): the scripted failure, else "not here", as
        # many servers answer.
        self.reply_status(self.server.fail_status or 404)

    def do_POST(self):
        length = int(self.headers.get("Content-Length", 0))
        raw = self.rfile.read(length)
        if self.server.fail_status:
            with self.server.lock:
                self.server.posts += 1
            self.reply_status(self.server.fail_status)
            return
        body = json.loads(raw)
        if self.server.log:
            with self.server.lock, open(self.server.log, "a", encoding="utf-8") as f:
                f.write(json.dumps(body) + "\n")
        if self.server.latency:
            time.sleep(self.server.latency)
        reply = decide(body, self.server.errors)
        auth = self.headers.get("Authorization", "")
        if self.server.echo_auth == "content" and isinstance(reply, dict) and "query" in reply:
            reply = {"query": reply["query"] + " (header: " + auth + ")"}
        content = reply if isinstance(reply, str) else json.dumps(reply)
        if self.server.echo_auth == "no-choices":
            out = json.dumps({"error": {"message": "upstream refused " + auth}}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)
            return
        out = json.dumps({
            "id": "mock", "object": "chat.completion", "model": body.get("model"),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": len(raw) // 4, "completion_tokens": len(content) // 4},
        }).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--latency-ms", type=float, default=0)
    p.add_argument("--log")
    p.add_argument("--no-errors", action="store_true")
    p.add_argument("--echo-auth", choices=["none", "content", "no-choices"], default="none")
    p.add_argument("--fail-status", type=int, default=0, help="answer every request with this HTTP status")
    a = p.parse_args()
    server = Server(("127.0.0.1", a.port), Handler)
    server.latency = a.latency_ms / 1000
    server.log = a.log
    server.errors = not a.no_errors
    server.echo_auth = a.echo_auth
    server.fail_status = a.fail_status
    server.posts = 0
    server.lock = threading.Lock()
    print(f"port {server.server_address[1]}", flush=True)
    sys.stdout.close()
    server.serve_forever()


if __name__ == "__main__":
    main()
