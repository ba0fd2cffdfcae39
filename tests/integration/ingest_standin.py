"""A local stand-in of the template's ingestion endpoint (`IngestApi`, `POST /v1/clicks`), for
the browser test: it answers as API Gateway would with the template's settings, and forwards to
a real Firehose API (moto_server) as the template's integration does.

What it takes from `template.yaml` itself, so that the two cannot drift apart: the stage and
resource path, the request model (`IngestClicksModel`, checked with jsonschema's draft 4
validator, the draft API Gateway's models use), the content type the request mapping is for,
and the preflight's static headers. What it implements by hand, each the same as the template:

- the mapping (the request template's VTL): each element of ``records``, as compact JSON, is the
  ``Data`` of one record of one ``PutRecordBatch`` to the delivery stream;
- the CORS block (the integration responses' VTL): ``*`` allows every origin; a list gives the
  request's ``Origin`` back when it is in the list, with ``Vary: Origin``;
- the order of API Gateway's checks: payload over 10 MB 413, body not JSON or failing the model
  400, a content type with no mapping template 415 (``PassthroughBehavior: NEVER``), Firehose
  refusing 502, else 200 ``{"failedPutCount": N}``.

What it cannot prove (docs/template.md#what-the-local-stand-in-cannot-prove): that API Gateway's
VTL engine produces exactly this mapping, the throttling, access logs, TLS, IAM, and how API
Gateway matches ``text/plain;charset=UTF-8`` against the template's ``text/plain``.

Run alone: ``python tests/integration/ingest_standin.py --moto http://127.0.0.1:PORT --stream
NAME --origins http://127.0.0.1:8000`` (listens on 127.0.0.1 only).
"""

from __future__ import annotations

import argparse
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import jsonschema
from cfnlint.decode import cfn_yaml

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
# API Gateway's quota on a REST API's payload.
MAX_PAYLOAD_BYTES = 10 * 1024 * 1024


@dataclass
class Contract:
    """The endpoint's contract as the template declares it."""

    path: str
    schema: dict[str, Any]
    content_type: str
    preflight_headers: dict[str, str]

    @classmethod
    def from_template(cls, template_path: Path = TEMPLATE) -> "Contract":
        resources = cfn_yaml.load(str(template_path))["Resources"]
        stage = resources["IngestStage"]["Properties"]["StageName"]
        resource = resources["IngestClicksResource"]["Properties"]["PathPart"]
        schema = resources["IngestClicksModel"]["Properties"]["Schema"]
        post = resources["IngestClicksPost"]["Properties"]
        (content_type,) = post["Integration"]["RequestTemplates"]
        (preflight,) = resources["IngestClicksOptions"]["Properties"]["Integration"][
            "IntegrationResponses"
        ]
        headers = {
            name.removeprefix("method.response.header."): value.strip("'")
            for name, value in preflight["ResponseParameters"].items()
        }
        return cls(f"/{stage}/{resource}", schema, content_type, headers)


def cors_headers(allowed_origins: str, origin: str | None) -> dict[str, str]:
    """The template's CORS block: ``*``, or the request's origin when it is in the list."""
    allowed = f",{allowed_origins},"
    if allowed == ",*,":
        return {"Access-Control-Allow-Origin": "*"}
    headers = {"Vary": "Origin"}
    if origin and f",{origin}," in allowed:
        headers["Access-Control-Allow-Origin"] = origin
    return headers


def records_of(body: dict[str, Any]) -> list[bytes]:
    """The request template's mapping: one record per element of ``records``, its JSON.

    ASCII with escapes, so that any string the body held (a lone surrogate escape too) is
    written back as JSON, and the function, not the stand-in, decides what it makes of it."""
    return [
        json.dumps(click, separators=(",", ":"), ensure_ascii=True).encode()
        for click in body["records"]
    ]


@dataclass
class Received:
    """One request as the stand-in saw it, and its answer's status."""

    method: str
    headers: dict[str, str]
    body: bytes
    status: int = 0


@dataclass
class IngestStandIn:
    """The endpoint on 127.0.0.1, forwarding to ``firehose`` (a boto3 client)."""

    firehose: Any
    stream: str
    allowed_origins: str
    contract: Contract = field(default_factory=Contract.from_template)
    received: list[Received] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        assert self._server is not None, "not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}{self.contract.path}"

    def start(self) -> "IngestStandIn":
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet: the test reads `received`
                pass

            def do_OPTIONS(self) -> None:  # noqa: N802 - http.server's naming
                seen = standin._receive(self, b"")
                if self.path != standin.contract.path:
                    return standin._answer(self, seen, 403, {"message": "Missing Authentication Token"})
                headers = dict(standin.contract.preflight_headers)
                headers.update(cors_headers(standin.allowed_origins, self.headers.get("Origin")))
                standin._answer(self, seen, 204, None, headers)

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_PAYLOAD_BYTES:
                    seen = standin._receive(self, b"")
                    return standin._answer(self, seen, 413, {"message": "Request Too Long"})
                seen = standin._receive(self, self.rfile.read(length))
                if self.path != standin.contract.path:
                    return standin._answer(self, seen, 403, {"message": "Missing Authentication Token"})
                standin._post(self, seen)

            def do_GET(self) -> None:  # noqa: N802 - no GET method: API Gateway's answer
                seen = standin._receive(self, b"")
                standin._answer(self, seen, 403, {"message": "Missing Authentication Token"})

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def posts(self) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.method == "POST"]

    def _receive(self, request: BaseHTTPRequestHandler, body: bytes) -> Received:
        seen = Received(request.command, dict(request.headers.items()), body)
        with self._lock:
            self.received.append(seen)
        return seen

    def _post(self, request: BaseHTTPRequestHandler, seen: Received) -> None:
        try:
            body = json.loads(seen.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return self._answer(request, seen, 400, {"message": "Invalid request body"})
        errors = sorted(
            jsonschema.Draft4Validator(self.contract.schema).iter_errors(body), key=str
        )
        if errors:
            return self._answer(request, seen, 400, {"message": "Invalid request body"})
        media_type = (request.headers.get("Content-Type") or "application/json").split(";")[0]
        if media_type.strip().lower() != self.contract.content_type:
            return self._answer(request, seen, 415, {"message": "Unsupported Media Type"})
        try:
            answer = self.firehose.put_record_batch(
                DeliveryStreamName=self.stream,
                Records=[{"Data": data} for data in records_of(body)],
            )
        except Exception:  # noqa: BLE001 - any refusal of the integration is a 502
            return self._answer(
                request, seen, 502, {"message": "the delivery stream refused the request"}
            )
        self._answer(
            request,
            seen,
            200,
            {"failedPutCount": answer["FailedPutCount"]},
            cors_headers(self.allowed_origins, request.headers.get("Origin")),
        )

    @staticmethod
    def _answer(
        request: BaseHTTPRequestHandler,
        seen: Received,
        status: int,
        body: Any,
        headers: dict[str, str] | None = None,
    ) -> None:
        seen.status = status
        payload = b"" if body is None else json.dumps(body).encode()
        request.send_response(status)
        for name, value in (headers or {}).items():
            request.send_header(name, value)
        if body is not None:
            request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(payload)))
        request.end_headers()
        request.wfile.write(payload)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moto", required=True, help="moto_server's endpoint, http://127.0.0.1:PORT")
    parser.add_argument("--stream", required=True, help="the delivery stream on moto")
    parser.add_argument("--origins", default="*", help="as IngestAllowedOrigins")
    args = parser.parse_args()
    firehose = boto3.client(
        "firehose",
        endpoint_url=args.moto,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    standin = IngestStandIn(firehose, args.stream, args.origins).start()
    print(standin.url, flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
