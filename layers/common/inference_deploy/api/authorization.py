"""Authorizing an API request on a model: the caller as API Gateway's IAM authorizer saw it.

Any route that writes on a model's behalf calls `authorize_request` before it writes anything.
"""

from __future__ import annotations

from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent

from inference_deploy import dependencies
from inference_deploy.logic.authorization import Grant, authorize, require_admin
from inference_deploy.models.common import utc_now
from inference_deploy.models.serving import ModelOwner
from inference_deploy.models.settings import AuthorizationSettings, load_settings


def caller_arn(event: APIGatewayProxyEvent) -> str:
    """The signer's ARN (requestContext.identity.userArn, set by API Gateway's IAM authorization, never
    by a header); "" when the request was not IAM-signed, which no owner tag or admin pattern matches."""
    return event.request_context.identity.user_arn or ""


def authorize_request(event: APIGatewayProxyEvent, model_id: str, action: str) -> Grant:
    """Allow the request's caller to `action` the model, or raise Forbidden (see logic/authorization.py)."""
    return authorize(
        caller_arn(event),
        model_id,
        action,
        # requestContext.accountId is the API owner's account (identity.accountId is the caller's).
        account_id=str(event.request_context.get("accountId") or ""),
        settings=load_settings(AuthorizationSettings),
        principals=dependencies.principal_directory(),
        models=dependencies.sagemaker(),
        owners=dependencies.model_store(),
    )


def authorize_admin(event: APIGatewayProxyEvent, action: str) -> Grant:
    """Allow an admin-only request, or raise Forbidden."""
    return require_admin(
        caller_arn(event),
        action,
        account_id=str(event.request_context.get("accountId") or ""),
        settings=load_settings(AuthorizationSettings),
        principals=dependencies.principal_directory(),
    )


def owner_to_pin(grant: Grant, model_id: str) -> ModelOwner | None:
    """The owner a task created under `grant` pins: the model's tag team, when none is pinned yet."""
    if grant.owner_team is None or grant.owner_pinned:
        return None
    return ModelOwner(
        embedding_model_id=model_id, team=grant.owner_team, pinned_by=grant.caller_arn, pinned_at=utc_now()
    )
