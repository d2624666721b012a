"""schemathesis hooks (SCHEMATHESIS_HOOKS=scripts.schemathesis_hooks): sign every request like an SDK does.

The local gateway checks SigV4 like API Gateway with AWS_IAM, so each generated request is signed
(requests-aws4auth, service execute-api) with the key `make run` prints, exported by scripts/schemathesis.
As a custom auth, schemathesis knows the Authorization header is the declared `sigv4` scheme: its
`ignored_auth` check then sends each operation without it and with a made-up one, and expects a 403.
"""

from __future__ import annotations

import os
from typing import Any

import requests
import schemathesis
from requests_aws4auth import AWS4Auth

SIGNED_HEADERS = ("Authorization", "X-Amz-Date", "x-amz-content-sha256", "X-Amz-Security-Token")
# What the signature covers: what API Gateway requires and what AWS4Auth adds. Not the generated headers:
# requests-aws4auth normalises header values with shlex, which raises on a fuzzed value with a lone quote.
INCLUDED_HEADERS = ["host", "x-amz-date", "x-amz-content-sha256", "x-amz-security-token"]


@schemathesis.auth()
class SigV4:
    def get(self, case: Any, context: Any) -> AWS4Auth:
        return AWS4Auth(
            os.environ["AWS_ACCESS_KEY_ID"],
            os.environ["AWS_SECRET_ACCESS_KEY"],
            os.environ.get("AWS_REGION", "us-east-1"),
            "execute-api",
            session_token=os.environ.get("AWS_SESSION_TOKEN"),
            include_hdrs=INCLUDED_HEADERS,
        )

    def set(self, case: Any, data: AWS4Auth, context: Any) -> None:
        """Sign the request the case will send (same serialization) and put the signature in its headers."""
        for name in SIGNED_HEADERS:
            (case.headers or {}).pop(name, None)
        kwargs = case.as_transport_kwargs(base_url=os.environ["SCHEMATHESIS_BASE_URL"])
        request = requests.Request(
            kwargs["method"],
            kwargs["url"],
            headers=kwargs.get("headers"),
            params=kwargs.get("params"),
            data=kwargs.get("data"),
            json=kwargs.get("json"),
            cookies=kwargs.get("cookies"),
        ).prepare()
        signed = data(request)
        case.headers = {**(case.headers or {}), **{n: signed.headers[n] for n in SIGNED_HEADERS if n in signed.headers}}
