"""Who may deploy or delete which model: the one place that decides (attribute-based access control).

A model's owner is the value of one tag (AuthorizationSettings.owner_tag_key, `team` by default) on its
SageMaker Model; a caller's is the same tag on the IAM role or user that signed the request. The caller
may act when both carry the tag with the same value, or when its ARN matches an admin pattern. A model
without the tag (or with no SageMaker Model) is for admins only. Every decision is logged; a denial is
Forbidden, naming the tag key but never a value, and raised before the caller's request writes anything.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from inference_deploy.adapters.iam import IamPrincipal
from inference_deploy.errors import (
    AuthorizationUnavailable,
    ConfigurationError,
    Forbidden,
    SageMakerError,
    SageMakerThrottled,
)
from inference_deploy.models.settings import AuthorizationSettings
from inference_deploy.observability import logger

# What API Gateway puts in requestContext.identity.userArn for a SigV4-signed request.
_ASSUMED_ROLE = re.compile(r"^arn:(?P<partition>aws[a-z-]*):sts::(?P<account>\d{12}):assumed-role/(?P<role>[^/]+)/.+$")
_IAM_PRINCIPAL = re.compile(
    r"^arn:(?P<partition>aws[a-z-]*):iam::(?P<account>\d{12}):(?P<kind>role|user)/(?:.*/)?(?P<name>[^/]+)$"
)


class PrincipalTags(Protocol):
    def tags_of(self, principal: IamPrincipal) -> dict[str, str] | None: ...


class ModelTags(Protocol):
    def model_tags(self, model_name: str) -> dict[str, str] | None: ...


@dataclass(frozen=True)
class CallerIdentity:
    """The caller's ARN, the ARNs admin patterns are matched against (an assumed role's session ARN and
    its role's ARN, without the role's path, which the session ARN does not carry), and the IAM principal
    whose tags say who it is: None for principals without tags (root, federated users) and for other
    accounts' principals (this account's IAM cannot read them)."""

    arn: str
    arns: tuple[str, ...]
    principal: IamPrincipal | None

    @classmethod
    def from_arn(cls, arn: str, account_id: str) -> CallerIdentity:
        if match := _ASSUMED_ROLE.match(arn):
            role_arn = f"arn:{match['partition']}:iam::{match['account']}:role/{match['role']}"
            principal = IamPrincipal("role", match["role"]) if match["account"] == account_id else None
            return cls(arn, (arn, role_arn), principal)
        if match := _IAM_PRINCIPAL.match(arn):
            kind: Literal["role", "user"] = "role" if match["kind"] == "role" else "user"
            principal = IamPrincipal(kind, match["name"]) if match["account"] == account_id else None
            return cls(arn, (arn,), principal)
        return cls(arn, (arn,), None)


@dataclass(frozen=True)
class Grant:
    """An allowed request: who asked, their owner-tag value, and why they may (owner or admin)."""

    caller_arn: str
    tag_key: str
    team: str | None
    allowed_as: Literal["owner", "admin"]

    def metadata(self) -> dict[str, Any]:
        """What the task records as `requested_by`."""
        return {"arn": self.caller_arn, "tag_key": self.tag_key, "team": self.team, "allowed_as": self.allowed_as}


def authorize(
    caller_arn: str,
    model_id: str,
    action: str,
    *,
    account_id: str,
    settings: AuthorizationSettings,
    principals: PrincipalTags,
    models: ModelTags,
) -> Grant:
    """Allow `caller_arn` to `action` ("deploy", "delete", …) model `model_id`, or raise Forbidden.
    `account_id` is the stack's account: only its principals' tags can be read. IAM or SageMaker not
    answering is AuthorizationUnavailable (retry); either refusing is a ConfigurationError."""
    key = settings.owner_tag_key
    caller = CallerIdentity.from_arn(caller_arn, account_id)
    caller_team = _tag(principals.tags_of(caller.principal) if caller.principal else None, key)
    decision = {"action": action, "caller_arn": caller_arn, "embedding_model_id": model_id, "tag_key": key}
    if _is_admin(caller, settings.admin_principal_arn_patterns):
        logger.info("authorization allowed", extra={**decision, "decision": "allowed", "reason": "admin"})
        return Grant(caller_arn, key, caller_team, "admin")
    try:
        model_team = _tag(models.model_tags(model_id), key)
    except SageMakerThrottled as exc:
        raise AuthorizationUnavailable(f"the owner of model {model_id} could not be read: {exc.message}") from exc
    except SageMakerError as exc:
        raise ConfigurationError(f"the owner of model {model_id} could not be read: {exc.message}") from exc
    if model_team is not None and model_team == caller_team:
        logger.info("authorization allowed", extra={**decision, "decision": "allowed", "reason": "owner"})
        return Grant(caller_arn, key, caller_team, "owner")
    if model_team is None:
        reason = "model_untagged"
        message = f"model {model_id} has no '{key}' tag (or no SageMaker Model): only an admin may {action} it"
    elif caller_team is None:
        reason = "caller_untagged"
        message = f"the caller has no '{key}' tag: only the owners of model {model_id} or an admin may {action} it"
    else:
        reason = "owner_mismatch"
        message = (
            f"the caller's '{key}' tag does not match model {model_id}'s: only its owners or an admin may {action} it"
        )
    teams = {"caller_team": caller_team, "model_team": model_team}  # the log may say; the answer never does
    logger.warning("authorization denied", extra={**decision, "decision": "denied", "reason": reason, **teams})
    raise Forbidden(message, tag_key=key)


def _tag(tags: dict[str, str] | None, key: str) -> str | None:
    value = (tags or {}).get(key)
    return value or None  # an empty value owns nothing


def _is_admin(caller: CallerIdentity, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(arn, pattern) for arn in caller.arns for pattern in patterns)
