"""Run a command under a pseudo-terminal, as a person at a real terminal would, and
script the conversation: the terminal tests in tests/terminal.rs drive threadkit with it.

    python3 tests/pty_driver.py TIMEOUT_SECS -- COMMAND [ARGS...]   (steps as JSON on stdin)

Steps, in order:
  {"expect": "REGEX"}   wait until the screen (ANSI codes removed) shows it after the last match
  {"send": "TEXT"}      type TEXT (use "\\n" for Enter)
  {"eof": true}         Ctrl-D at the start of a line (end of input)
  {"interrupt": true}   Ctrl-C
After the steps, the command must exit. Everything is bounded by TIMEOUT_SECS: a hang is a
result (`"timed_out": true`), never a stuck test. Prints one JSON object:
  {"code": EXIT_CODE or null, "signal": N or null, "timed_out": bool, "failed_step": N or null, "screen": TEXT,
   "raw": every byte the terminal received, as UTF-8 (what a hostile-data test inspects)}
"""

import json
import os
import pty
import re
import select
import signal
import struct
import sys
import time

ANSI = re.compile(rb"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07|\x1b[()][0-9A-Za-z]|\r")


def main():
    timeout = float(sys.argv[1])
    argv = sys.argv[sys.argv.index("--") + 1:]
    steps = json.load(sys.stdin)
    deadline = time.monotonic() + timeout
    pid, fd = pty.fork()
    if pid == 0:
        os.environ["TERM"] = "xterm-256color"
        os.environ.pop("NO_COLOR", None)
        try:
            os.execvp(argv[0], argv)
        finally:
            os._exit(127)
    import fcntl
    import termios
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    raw = bytearray()
    matched_to = 0
    result = {"code": None, "signal": None, "timed_out": False, "failed_step": None}

    def screen():
        return ANSI.sub(b"", bytes(raw)).decode("utf-8", "replace")

    def pump(wait):
        r, _, _ = select.select([fd], [], [], wait)
        if r:
            try:
                data = os.read(fd, 65536)
            except OSError:
                return False
            if not data:
                return False
            raw.extend(data)
        return True

    alive = True
    for i, step in enumerate(steps):
        if "expect" in step:
            pattern = re.compile(step["expect"])
            while True:
                m = pattern.search(screen(), matched_to)
                if m:
                    matched_to = m.end()
                    break
                if time.monotonic() > deadline or not alive:
                    result["failed_step"] = i
                    break
                alive = pump(0.05) and alive
            if result["failed_step"] is not None:
                break
        elif "send" in step:
            os.write(fd, step["send"].encode())
        elif step.get("eof"):
            os.write(fd, b"\x04")
        elif step.get("interrupt"):
            os.write(fd, b"\x03")
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            while pump(0.05):
                pass
            if os.WIFEXITED(status):
                result["code"] = os.WEXITSTATUS(status)
            else:
                result["signal"] = os.WTERMSIG(status)
            break
        if time.monotonic() > deadline:
            result["timed_out"] = True
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            break
        pump(0.05)
    result["screen"] = screen()
    result["raw"] = bytes(raw).decode("utf-8", "replace")
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
