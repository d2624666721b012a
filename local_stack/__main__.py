"""`python -m local_stack`: serve the template on a local moto server until interrupted.

Run as a program, the handlers' and layers' directories are put on sys.path (from the template's
CodeUri and ContentUri), which is how Lambda itself lays them out; importing the package never does.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import threading
from pathlib import Path

from local_stack.emulator import EmulatedAwsServer
from local_stack.template import load_template


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local_stack", description=__doc__)
    parser.add_argument("--template", type=Path, default=Path("template.yaml"))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--name-prefix", default="")
    parser.add_argument("--parameter", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--log-requests", action="store_true")
    args = parser.parse_args(argv)

    template = load_template(args.template)
    for path in reversed(template.import_paths()):
        if str(path) not in sys.path:
            sys.path.insert(0, str(path))
    parameters = dict(item.split("=", 1) for item in args.parameter)
    server = EmulatedAwsServer(
        template,
        host=args.host,
        port=args.port,
        parameters=parameters,
        region=args.region,
        name_prefix=args.name_prefix,
        log_requests=args.log_requests,
    )
    with server:
        summary = {
            "endpoint_url": server.endpoint_url,
            "region": args.region,
            "outputs": dict(server.stack.outputs),
            "environment": dict(server.stack.environment),
            "routes": [f"{route.method} {route.path} -> {route.function}" for route in server.stack.routes],
        }
        print(json.dumps(summary, indent=2), flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
