"""``python -m gitkube.testing.fake_compute --port PORT [--project P]``.

Serves the fake on 127.0.0.1 until SIGINT/SIGTERM. The first line on stdout
is the endpoint URL, so scripts can read it.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType

from .server import DEFAULT_PROJECT, FakeCompute


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gitkube.testing.fake_compute",
        description="Serve a local Compute Engine v1 REST API on 127.0.0.1.",
    )
    parser.add_argument("--port", type=int, default=0, help="port to listen on (0: any free port)")
    parser.add_argument("--project", default=DEFAULT_PROJECT, help="project id shown in the banner")
    args = parser.parse_args(argv)
    try:
        server = FakeCompute(project=args.project, port=args.port)
    except OSError as exc:
        print(f"cannot listen on 127.0.0.1:{args.port}: {exc.strerror}", file=sys.stderr)
        return 1

    def stop(signum: int, frame: FrameType | None) -> None:
        # shutdown() blocks until serve_forever returns, so it cannot run on
        # the serving thread that the signal interrupted.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    print(server.endpoint, flush=True)
    print(f"fake Compute Engine for project {args.project}; Ctrl-C to stop", file=sys.stderr)
    server.serve_forever()
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
