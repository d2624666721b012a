"""IAM principals: who a caller is, for per-model authorization (logic/authorization.py).

A role is read with GetRole (its ARN with its path, which a session ARN does not carry, and its tags), a
user with ListUserTags (the signer's ARN already names its path). Answers are kept per warm container for
TAG_TTL_SECONDS, so a burst of requests from one caller costs one IAM call, and a change takes effect
within a minute.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from botocore.exceptions import BotoCoreError, ClientError

from inference_deploy.adapters import aws
from inference_deploy.errors import AuthorizationUnavailable, ConfigurationError

if TYPE_CHECKING:
    from mypy_boto3_iam import IAMClient

TAG_TTL_SECONDS = 60.0
# IAM answers these when it is throttling or failing; anything else (AccessDenied) is a deployment mistake.
_TRANSIENT = {"Throttling", "ThrottlingException", "ServiceFailure", "ServiceFailureException", "RequestLimitExceeded"}


@dataclass(frozen=True)
class IamPrincipal:
    """A role or user of the stack's own account, by name (IAM's tag calls take names, not ARNs)."""

    kind: Literal["role", "user"]
    name: str


@dataclass(frozen=True)
class KnownPrincipal:
    """A principal IAM knows: its ARN (a role's with its path; None for a user, whose ARN the caller's
    is) and its tags."""

    arn: str | None
    tags: dict[str, str]


class PrincipalDirectory:
    def __init__(
        self,
        client: IAMClient | None = None,
        *,
        ttl_seconds: float = TAG_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client or aws.iam()
        self._ttl = ttl_seconds
        self._clock = clock
        self._cache: dict[IamPrincipal, tuple[float, KnownPrincipal | None]] = {}
        self._lock = threading.Lock()

    def tags_of(self, principal: IamPrincipal) -> dict[str, str] | None:
        """The principal's tags, or None when IAM has no such role or user (deleted since it signed)."""
        known = self.lookup(principal)
        return None if known is None else known.tags

    def lookup(self, principal: IamPrincipal) -> KnownPrincipal | None:
        """The principal as IAM knows it, or None when IAM has no such role or user (deleted since it signed)."""
        now = self._clock()
        with self._lock:
            cached = self._cache.get(principal)
        if cached is not None and now - cached[0] < self._ttl:
            return cached[1]
        known = self._fetch(principal)
        with self._lock:
            self._cache[principal] = (now, known)
        return known

    def _fetch(self, principal: IamPrincipal) -> KnownPrincipal | None:
        tags: dict[str, str] = {}
        try:
            if principal.kind == "role":
                role = self._client.get_role(RoleName=principal.name)["Role"]
                # GetRole returns every tag of the role (a role has at most 50).
                tags.update({tag["Key"]: tag["Value"] for tag in role.get("Tags", [])})
                return KnownPrincipal(role["Arn"], tags)
            else:
                for page in self._client.get_paginator("list_user_tags").paginate(UserName=principal.name):
                    tags.update({tag["Key"]: tag["Value"] for tag in page["Tags"]})
        except BotoCoreError as exc:
            raise AuthorizationUnavailable(f"no answer from IAM ({type(exc).__name__})") from exc
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code == "NoSuchEntity":
                return None
            if code in _TRANSIENT:
                raise AuthorizationUnavailable(f"IAM is throttling or unavailable ({code})") from exc
            what = f"{principal.kind} {principal.name}"
            raise ConfigurationError(f"IAM refused to describe {what} ({code})") from exc
        return KnownPrincipal(None, tags)
