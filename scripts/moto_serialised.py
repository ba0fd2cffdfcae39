"""moto_server as installed, with the work of one request done at a time.

DynamoDB applies each conditional write to an item atomically: of two writes to one item that
each require the item's old version, exactly one succeeds. moto_server handles every request on
a thread of its own and holds no lock while it reads the condition and writes the item, so two
such writes arriving together can both succeed (seen here as two alert claims granted for one
period). The state store's tests race containers against each other on purpose, to check that
our writes are conditional; against moto as shipped they would test moto's thread timing. So the
test suite starts moto_server through this file: the same command-line arguments and backends,
connections still served on threads (keep-alive as before), only the backend call serialised.

Usage: python scripts/moto_serialised.py -H 127.0.0.1 -p PORT
"""

from __future__ import annotations

import sys
import threading
from typing import Any

import werkzeug.serving
from moto import server


def _serialised(application: Any) -> Any:
    lock = threading.Lock()

    def app(environ: Any, start_response: Any) -> Any:
        # moto's Flask app does all its work, backend included, before it returns the response.
        with lock:
            return application(environ, start_response)

    return app


def _run_simple(hostname: str, port: int, application: Any, **options: Any) -> None:
    werkzeug.serving.run_simple(hostname, port, _serialised(application), **options)


if __name__ == "__main__":
    server.run_simple = _run_simple  # the name moto's main() starts its server with
    sys.exit(server.main())
