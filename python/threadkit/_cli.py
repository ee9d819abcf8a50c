"""The `threadkit` command the wheel installs: the same command line as the native binary."""
import signal
import sys

from . import _native


def main():
    # As a native program: Ctrl-C stops the run at once (Python would wait for the call to return).
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    sys.stdout.flush()
    sys.exit(_native.main(["threadkit", *sys.argv[1:]]))


if __name__ == "__main__":
    main()
