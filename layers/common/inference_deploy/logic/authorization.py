"""Who may deploy, delete or cancel on which model: the one place that decides.

A model's owner team is pinned in the models table at its first deploy, from the owner tag
(AuthorizationSettings.owner_tag_key, `team` by default) of its SageMaker Model; from then on the pin
decides, and a tag edit on the Model changes nothing (only an admin's transfer does). A caller's team is
the same tag on the IAM role or user that signed the request. The caller may act when its team is the
model's, or when it is an admin: a role of this account whose ARN (with its path; a session is its role)
matches an admin pattern, where `*` and `?` never cross a `/` or `:`. A model without an owner is for
admins only; a model that does not exist is ModelNotFound for every caller. Every decision is logged; a
denial is Forbidden, naming the tag key but never a value, raised before the request writes anything.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal, Protocol

from inference_deploy.adapters.iam import IamPrincipal, KnownPrincipal
from inference_deploy.errors import (
    AuthorizationUnavailable,
    ConfigurationError,
    Forbidden,
    ModelNotFound,
    SageMakerError,
    SageMakerThrottled,
)
from inference_deploy.models.serving import ModelOwner
from inference_deploy.models.settings import AuthorizationSettings
from inference_deploy.observability import logger

# What API Gateway puts in requestContext.identity.userArn for a SigV4-signed request.
_ASSUMED_ROLE = re.compile(r"^arn:(?P<partition>aws[a-z-]*):sts::(?P<account>\d{12}):assumed-role/(?P<role>[^/]+)/.+$")
_IAM_PRINCIPAL = re.compile(
    r"^arn:(?P<partition>aws[a-z-]*):iam::(?P<account>\d{12}):(?P<kind>role|user)/(?:.*/)?(?P<name>[^/]+)$"
)


# What the template's AllowedPattern admits as an admin pattern: a role ARN (a path allowed), wildcards only
# inside a name or path segment, never in the partition or the account.
ADMIN_PATTERN = re.compile(
    r"^arn:aws[a-z-]*:iam::(?P<account>[0-9]{12}):role/(?:[A-Za-z0-9_+=,.@*?-]+/)*[A-Za-z0-9_+=,.@*?-]+$"
)
# What `sam local` is given: it reports no caller, so an unsigned request is an admin there. The template
# refuses it (ADMIN_PATTERN), and API Gateway with AWS_IAM never hands a function an unsigned request.
UNSIGNED_CALLERS_ARE_ADMINS = "*"


class Principals(Protocol):
    def lookup(self, principal: IamPrincipal) -> KnownPrincipal | None: ...


class ModelTags(Protocol):
    def model_tags(self, model_name: str) -> dict[str, str] | None: ...


class ModelOwners(Protocol):
    def owner(self, embedding_model_id: str) -> tuple[ModelOwner | None, bool]: ...


@dataclass(frozen=True)
class CallerIdentity:
    """The caller's ARN and the IAM principal of this account it names (an assumed role's session names
    its role): None for root, federated users and other accounts' principals (this account's IAM cannot
    read them), which therefore have no team and are no admins."""

    arn: str
    principal: IamPrincipal | None

    @classmethod
    def from_arn(cls, arn: str, account_id: str) -> CallerIdentity:
        if match := _ASSUMED_ROLE.match(arn):
            principal = IamPrincipal("role", match["role"]) if match["account"] == account_id else None
            return cls(arn, principal)
        if match := _IAM_PRINCIPAL.match(arn):
            kind: Literal["role", "user"] = "role" if match["kind"] == "role" else "user"
            principal = IamPrincipal(kind, match["name"]) if match["account"] == account_id else None
            return cls(arn, principal)
        return cls(arn, None)


@dataclass(frozen=True)
class Grant:
    """An allowed request: who asked, their owner-tag value, why they may (owner or admin), and the model's
    owner team (the one to pin when the model has none pinned yet; None for a model without an owner)."""

    caller_arn: str
    tag_key: str
    team: str | None
    allowed_as: Literal["owner", "admin"]
    owner_team: str | None = None
    owner_pinned: bool = False

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
    principals: Principals,
    models: ModelTags,
    owners: ModelOwners,
) -> Grant:
    """Allow `caller_arn` to `action` ("deploy", "delete", …) model `model_id`, or raise Forbidden.
    `account_id` is the stack's account: only its principals can be read. A deploy needs the SageMaker
    Model; the other actions need it or the model's item (a served model whose Model was deleted can still
    be removed). IAM or SageMaker not answering is AuthorizationUnavailable (retry); either refusing is a
    ConfigurationError."""
    key = settings.owner_tag_key
    caller = CallerIdentity.from_arn(caller_arn, account_id)
    known = principals.lookup(caller.principal) if caller.principal else None
    caller_team = _tag(known.tags if known else None, key)
    decision = {"action": action, "caller_arn": caller_arn, "embedding_model_id": model_id, "tag_key": key}
    pinned, recorded = owners.owner(model_id)
    try:
        model_tags = models.model_tags(model_id)
    except SageMakerThrottled as exc:
        raise AuthorizationUnavailable(f"the owner of model {model_id} could not be read: {exc.message}") from exc
    except SageMakerError as exc:
        raise ConfigurationError(f"the owner of model {model_id} could not be read: {exc.message}") from exc
    if model_tags is None and (action == "deploy" or not recorded):
        logger.info("model not found", extra={**decision, "decision": "not_found"})
        raise ModelNotFound(f"SageMaker model '{model_id}' does not exist")
    model_team = pinned.team if pinned is not None else _tag(model_tags, key)
    pinned_already = pinned is not None
    if is_admin(caller, known, account_id, settings.admin_principal_arn_patterns):
        logger.info("authorization allowed", extra={**decision, "decision": "allowed", "reason": "admin"})
        return Grant(caller_arn, key, caller_team, "admin", model_team, pinned_already)
    if model_team is not None and model_team == caller_team:
        logger.info("authorization allowed", extra={**decision, "decision": "allowed", "reason": "owner"})
        return Grant(caller_arn, key, caller_team, "owner", model_team, pinned_already)
    if model_team is None:
        reason = "model_untagged"
        message = (
            f"model {model_id} has no owner (no '{key}' tag on its SageMaker Model): only an admin may {action} it"
        )
    elif caller_team is None:
        reason = "caller_untagged"
        message = f"the caller has no '{key}' tag: only the owners of model {model_id} or an admin may {action} it"
    else:
        reason = "owner_mismatch"
        message = (
            f"the caller's '{key}' tag does not name model {model_id}'s owner: "
            f"only its owners or an admin may {action} it"
        )
    teams = {"caller_team": caller_team, "model_team": model_team}  # the log may say; the answer never does
    logger.warning("authorization denied", extra={**decision, "decision": "denied", "reason": reason, **teams})
    raise Forbidden(message, tag_key=key)


def require_admin(
    caller_arn: str, action: str, *, account_id: str, settings: AuthorizationSettings, principals: Principals
) -> Grant:
    """Allow an admin-only `action`, or raise Forbidden."""
    caller = CallerIdentity.from_arn(caller_arn, account_id)
    known = principals.lookup(caller.principal) if caller.principal else None
    caller_team = _tag(known.tags if known else None, settings.owner_tag_key)
    decision = {"action": action, "caller_arn": caller_arn}
    if is_admin(caller, known, account_id, settings.admin_principal_arn_patterns):
        logger.info("authorization allowed", extra={**decision, "decision": "allowed", "reason": "admin"})
        return Grant(caller_arn, settings.owner_tag_key, caller_team, "admin")
    logger.warning("authorization denied", extra={**decision, "decision": "denied", "reason": "not_admin"})
    raise Forbidden(f"only an admin may {action}", tag_key=settings.owner_tag_key)


def _tag(tags: dict[str, str] | None, key: str) -> str | None:
    value = (tags or {}).get(key)
    return value or None  # an empty value owns nothing


def is_admin(caller: CallerIdentity, known: KnownPrincipal | None, account_id: str, patterns: tuple[str, ...]) -> bool:
    """Whether the caller is a role of this account that exists and whose ARN (with its path, as IAM
    gives it) matches one of `patterns` exactly, a wildcard standing for characters of one segment."""
    if not caller.arn:
        return UNSIGNED_CALLERS_ARE_ADMINS in patterns
    if caller.principal is None or caller.principal.kind != "role" or known is None or known.arn is None:
        return False
    return any(_admin_pattern(pattern, account_id).fullmatch(known.arn) for pattern in patterns)


_NEVER = re.compile(r"(?!)")


@cache
def _admin_pattern(pattern: str, account_id: str) -> re.Pattern[str]:
    """The pattern as a regex, or one that matches nothing when it is not a role ARN pattern of the account."""
    shape = ADMIN_PATTERN.fullmatch(pattern)
    if shape is None or shape["account"] != account_id:
        return _NEVER
    parts = ("[^/:]*" if char == "*" else "[^/:]" if char == "?" else re.escape(char) for char in pattern)
    return re.compile("".join(parts))
