"""SigV4 verification as API Gateway does it for a method with AWS_IAM authorization, stdlib only.

The gateway recomputes the signature of the request (canonical request, string to sign, signing key:
https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html) with the secret of the access
key the request names, and answers itself when it cannot: unsigned (Missing Authentication Token), an
incomplete Authorization header, an unknown key or a missing or wrong session token, a signature that
does not match, a date more than 5 minutes away from the gateway's clock, an expired session. A request
that verifies is its signer's: an IAM user's access key (iam CreateAccessKey) or a role session's
credentials (sts AssumeRole), looked up in moto's IAM and STS, which hold their secrets.

Presigned URLs (X-Amz-Signature in the query string) are not supported: such a request is unsigned here.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol
from urllib.parse import parse_qsl, quote, unquote, urlsplit

ALGORITHM = "AWS4-HMAC-SHA256"
SERVICE = "execute-api"
# How far X-Amz-Date may be from the gateway's clock, either way ("Signature expired: ... - 5 min.").
MAX_SKEW = timedelta(minutes=5)
_AMZ_DATE = "%Y%m%dT%H%M%SZ"
_PARAMETER = re.compile(r"\s*([A-Za-z]+)=([^,\s]*)\s*(?:,|$)")


@dataclass(frozen=True)
class Signer:
    """Whose credentials signed a request, as API Gateway reports it in requestContext.identity."""

    access_key: str
    secret_key: str
    user_arn: str
    caller: str  # the principal's unique id (AIDA… for a user, AROA…:session for a role session)
    account_id: str
    session_token: str | None = None
    expires_at: datetime | None = None


class Credentials(Protocol):
    def signer(self, access_key: str) -> Signer | None: ...


@dataclass(frozen=True)
class Refusal:
    """API Gateway's own answer to a request it could not authenticate: its gateway response type, the
    message it says and the error type it names (x-amzn-ErrorType)."""

    response_type: str
    message: str
    error_type: str


def _incomplete(message: str) -> Refusal:
    return Refusal("INVALID_SIGNATURE", message, "IncompleteSignatureException")


def _invalid(message: str) -> Refusal:
    return Refusal("INVALID_SIGNATURE", message, "InvalidSignatureException")


MISSING = Refusal("MISSING_AUTHENTICATION_TOKEN", "Missing Authentication Token", "MissingAuthenticationTokenException")
UNKNOWN_TOKEN = Refusal(
    "INVALID_SIGNATURE", "The security token included in the request is invalid.", "UnrecognizedClientException"
)
EXPIRED_TOKEN = Refusal(
    "EXPIRED_TOKEN", "The security token included in the request is expired", "ExpiredTokenException"
)
MISMATCH = _invalid(
    "The request signature we calculated does not match the signature you provided. Check your AWS Secret "
    "Access Key and signing method. Consult the service documentation for details."
)


def verify(
    method: str,
    target: str,
    headers: Sequence[tuple[str, str]],
    body: bytes,
    *,
    region: str,
    now: datetime,
    credentials: Credentials,
) -> Signer | Refusal:
    """The signer of the request, or API Gateway's refusal."""
    authorization = _header(headers, "authorization")
    if authorization is None or not authorization.strip():
        return MISSING
    algorithm, _, rest = authorization.strip().partition(" ")
    if algorithm != ALGORITHM:
        return _incomplete(f"Authorization header requires the '{ALGORITHM}' algorithm. Authorization={authorization}")
    fields = dict(_PARAMETER.findall(rest))
    missing = [name for name in ("Credential", "SignedHeaders", "Signature") if not fields.get(name)]
    if missing:
        return _incomplete(
            " ".join(f"Authorization header requires '{name}' parameter." for name in missing)
            + f" Authorization={authorization}"
        )
    scope = fields["Credential"].split("/")
    if len(scope) != 5 or scope[4] != "aws4_request":
        return _incomplete(f"Credential should be scoped to a valid region. Credential={fields['Credential']}")
    access_key, date, scope_region, service, _ = scope
    signed = fields["SignedHeaders"].split(";")
    if "host" not in signed:
        return _incomplete("'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
    amz_date = _header(headers, "x-amz-date")
    if amz_date is None:
        return _incomplete("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
    try:
        signed_at = datetime.strptime(amz_date, _AMZ_DATE).replace(tzinfo=UTC)
    except ValueError:
        return _incomplete(f"Date must be in ISO-8601 'basic format'. Got '{amz_date}'.")
    if service != SERVICE:
        return _invalid(f"Credential should be scoped to correct service: '{SERVICE}'.")
    if scope_region != region:
        return _invalid(f"Credential should be scoped to a valid region, not '{scope_region}'.")
    if date != amz_date[:8]:
        return _invalid(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
            f"'{date}' != '{amz_date[:8]}', from '{amz_date}'."
        )
    stamp = now.astimezone(UTC).strftime(_AMZ_DATE)
    if signed_at < now - MAX_SKEW:
        earliest = (now - MAX_SKEW).strftime(_AMZ_DATE)
        return _invalid(f"Signature expired: {amz_date} is now earlier than {earliest} ({stamp} - 5 min.)")
    if signed_at > now + MAX_SKEW:
        latest = (now + MAX_SKEW).strftime(_AMZ_DATE)
        return _invalid(f"Signature not yet current: {amz_date} is still later than {latest} ({stamp} + 5 min.)")
    signer = credentials.signer(access_key)
    if signer is None or signer.session_token != _header(headers, "x-amz-security-token"):
        return UNKNOWN_TOKEN
    if signer.expires_at is not None and signer.expires_at <= now:
        return EXPIRED_TOKEN
    scope_text = "/".join(scope[1:])
    key = _signing_key(signer.secret_key, date, region, service)
    for canonical in canonical_requests(method, target, headers, body, signed):
        string_to_sign = "\n".join([ALGORITHM, amz_date, scope_text, _sha256(canonical.encode())])
        expected = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
        if hmac.compare_digest(expected, fields["Signature"]):
            return signer
    return MISMATCH


def canonical_requests(
    method: str, target: str, headers: Sequence[tuple[str, str]], body: bytes, signed: Iterable[str]
) -> list[str]:
    """The canonical request of each form of the path a client may have signed: encoded once more (what
    AWS asks of every service but S3, and what botocore does) or as sent (what some clients do)."""
    split = urlsplit(target)
    path = split.path or "/"
    signed = list(signed)
    canonical_headers = "".join(f"{name}:{_header_values(headers, name)}\n" for name in signed)
    payload = _header(headers, "x-amz-content-sha256")
    if payload is None or payload != "UNSIGNED-PAYLOAD":
        payload = _sha256(body)
    query = "&".join(
        f"{_encode(name)}={_encode(value)}" for name, value in sorted(parse_qsl(split.query, keep_blank_values=True))
    )
    paths = dict.fromkeys([quote(path, safe="/~"), quote(unquote(path), safe="/~"), path])
    return [
        "\n".join([method.upper(), candidate, query, canonical_headers, ";".join(signed), payload])
        for candidate in paths
    ]


def sign_headers(
    method: str,
    url: str,
    *,
    access_key: str,
    secret_key: str,
    region: str,
    body: bytes = b"",
    session_token: str | None = None,
    now: datetime | None = None,
    headers: Sequence[tuple[str, str]] = (),
) -> list[tuple[str, str]]:
    """`headers` plus Host, X-Amz-Date, (X-Amz-Security-Token) and the Authorization of a SigV4 signature,
    for clients that have no signer of their own (scripts/api_flow.py) and for tests."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    amz_date = moment.strftime(_AMZ_DATE)
    split = urlsplit(url)
    signed_headers = [*headers, ("Host", split.netloc), ("X-Amz-Date", amz_date)]
    if session_token is not None:
        signed_headers.append(("X-Amz-Security-Token", session_token))
    names = sorted({name.lower() for name, _ in signed_headers})
    target = split.path + (f"?{split.query}" if split.query else "")
    canonical = canonical_requests(method, target, signed_headers, body, names)[0]
    scope = f"{amz_date[:8]}/{region}/{SERVICE}/aws4_request"
    string_to_sign = "\n".join([ALGORITHM, amz_date, scope, _sha256(canonical.encode())])
    signature = hmac.new(
        _signing_key(secret_key, amz_date[:8], region, SERVICE), string_to_sign.encode(), hashlib.sha256
    ).hexdigest()
    authorization = (
        f"{ALGORITHM} Credential={access_key}/{scope}, SignedHeaders={';'.join(names)}, Signature={signature}"
    )
    return [*signed_headers, ("Authorization", authorization)]


def _signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = f"AWS4{secret}".encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def _header(headers: Sequence[tuple[str, str]], name: str) -> str | None:
    values = [value for key, value in headers if key.lower() == name]
    return values[-1] if values else None


def _header_values(headers: Sequence[tuple[str, str]], name: str) -> str:
    return ",".join(" ".join(value.split()) for key, value in headers if key.lower() == name)


def _encode(value: str) -> str:
    return quote(value, safe="-_.~")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class StaticCredentials:
    """A fixed set of signers, by access key (for a gateway in front of anything but moto)."""

    def __init__(self, *signers: Signer) -> None:
        self._signers = {signer.access_key: signer for signer in signers}

    def signer(self, access_key: str) -> Signer | None:
        return self._signers.get(access_key)


class MotoCredentials:
    """The access keys moto's IAM issued to users (active ones) and the sessions its STS handed out."""

    def __init__(self, partition: str = "aws") -> None:
        self._partition = partition

    def signer(self, access_key: str) -> Signer | None:
        # Imported here: the gateway's module stays importable without moto (sam local, the unit tests).
        from moto.iam.models import iam_backends  # noqa: PLC0415
        from moto.sts.models import sts_backends  # noqa: PLC0415

        for account_id in list(iam_backends.keys()):
            iam = iam_backends[account_id][self._partition]
            for user in list(iam.users.values()):
                for key in list(user.access_keys):
                    if key.access_key_id == access_key and key.status == "Active":
                        return Signer(access_key, key.secret_access_key, user.arn, user.id, account_id)
        for account_id in list(sts_backends.keys()):
            for role in list(sts_backends[account_id]["global"].assumed_roles):
                if role.access_key_id == access_key:
                    return Signer(
                        access_key,
                        role.secret_access_key,
                        role.arn,
                        role.user_id,
                        account_id,
                        session_token=role.session_token,
                        expires_at=role.expiration.replace(tzinfo=UTC),
                    )
        return None
