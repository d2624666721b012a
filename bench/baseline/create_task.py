"""Baseline for POST /deploy: the least a handler of the same contract does, with boto3 and the stdlib only.

It validates the body as the contract asks (an object, known fields, a SageMaker-valid model id),
authorizes the caller as the service does (ListRoleTags for an assumed role of this account, its
answer kept a minute; unless its ARN matches an admin pattern, DescribeModel + ListTags for the
model's owner tag, 403 when the two differ), checks the named rollback alarms exist (DescribeAlarms,
422 when one does not), writes the same task item and claims the model's slot in one
TransactWriteItems (409 when another task holds it), starts the same execution and answers 202 with
the task. No framework, no models, no logging, metrics or tracing. The clients are built on the first
request, from one session, as the service builds its own.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import secrets
import time
from typing import Any

import boto3
from botocore.exceptions import ClientError

MODEL_ID = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
INSTANCE_TYPE = re.compile(r"^ml\.[a-z0-9]+\.[a-z0-9]+$")
FIELDS = {
    "embedding_model_id",
    "instance_type",
    "initial_instance_count",
    "allow_dimension_change",
    "bake_seconds",
    "rollback_alarms",
}
ASSUMED_ROLE = re.compile(r"^arn:aws[a-z-]*:sts::(\d{12}):assumed-role/([^/]+)/.+$")
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

_clients: dict[str, Any] = {}
_sessions: list[Any] = []
_role_tags: dict[str, tuple[float, dict[str, str]]] = {}
ROLE_TAGS_TTL_SECONDS = 60.0  # as the service's PrincipalDirectory: a warm container asks IAM once a minute


def _client(service: str) -> Any:
    if service not in _clients:
        if not _sessions:
            _sessions.append(boto3.session.Session())
        _clients[service] = _sessions[0].client(service)
    return _clients[service]


def _ulid() -> str:
    value = (time.time_ns() // 1_000_000) << 80 | secrets.randbits(80)
    return "".join(ALPHABET[(value >> shift) & 31] for shift in range(125, -1, -5))


def _answer(status: int, body: Any, headers: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json", **(headers or {})},
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }


def _invalid(body: Any) -> str | None:
    if not isinstance(body, dict) or set(body) - FIELDS:
        return "body must be an object with known fields"
    model = body.get("embedding_model_id")
    if not isinstance(model, str) or not MODEL_ID.match(model):
        return "embedding_model_id is not a SageMaker model name"
    instance_type = body.get("instance_type")
    if instance_type is not None and (not isinstance(instance_type, str) or not INSTANCE_TYPE.match(instance_type)):
        return "instance_type is not an ml.* instance type"
    count = body.get("initial_instance_count")
    if count is not None and (type(count) is not int or not 1 <= count <= 100):
        return "initial_instance_count must be 1-100"
    if type(body.get("allow_dimension_change", False)) is not bool:
        return "allow_dimension_change must be a boolean"
    bake = body.get("bake_seconds")
    if bake is not None and (type(bake) is not int or not 0 <= bake <= 10_800):
        return "bake_seconds must be 0-10800"
    alarms = body.get("rollback_alarms", [])
    if (
        not isinstance(alarms, list)
        or len(alarms) > 10
        or len(set(map(str, alarms))) != len(alarms)
        or not all(isinstance(a, str) and 1 <= len(a) <= 255 for a in alarms)
    ):
        return "rollback_alarms must be up to 10 distinct alarm names"
    return None


def _tags(pairs: list[dict[str, str]]) -> dict[str, str]:
    return {pair["Key"]: pair["Value"] for pair in pairs}


def _forbidden(caller: str, account: str, model: str) -> bool:
    """The service's rule: admins by ARN pattern; otherwise the caller's and the model's owner tags match."""
    key = os.environ["OWNER_TAG_KEY"]
    match = ASSUMED_ROLE.match(caller)
    arns = [caller]
    team = None
    if match:
        arns.append(f"arn:aws:iam::{match[1]}:role/{match[2]}")
        if match[1] == account:
            cached = _role_tags.get(match[2])
            if cached is None or time.monotonic() - cached[0] >= ROLE_TAGS_TTL_SECONDS:
                cached = (time.monotonic(), _tags(_client("iam").list_role_tags(RoleName=match[2])["Tags"]))
                _role_tags[match[2]] = cached
            team = cached[1].get(key) or None
    patterns = [p for p in os.environ.get("ADMIN_PRINCIPAL_ARN_PATTERNS", "").split(",") if p]
    if any(fnmatch.fnmatchcase(arn, pattern) for arn in arns for pattern in patterns):
        return False
    try:
        arn = _client("sagemaker").describe_model(ModelName=model)["ModelArn"]
    except ClientError:
        return True
    owner = _tags(_client("sagemaker").list_tags(ResourceArn=arn)["Tags"]).get(key) or None
    return owner is None or owner != team


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    try:
        body = json.loads(event.get("body") or "")
    except ValueError:
        return _answer(400, {"code": "malformed_json"})
    problem = _invalid(body)
    if problem:
        return _answer(422, {"code": "validation_error", "detail": problem})
    model = body["embedding_model_id"]
    identity = event.get("requestContext", {}).get("identity", {})
    caller = identity.get("userArn") or identity.get("caller") or "unknown"
    if _forbidden(caller, str(event.get("requestContext", {}).get("accountId") or ""), model):
        return _answer(403, {"code": "forbidden"})
    if body.get("rollback_alarms"):
        found = _client("cloudwatch").describe_alarms(
            AlarmNames=body["rollback_alarms"], AlarmTypes=["MetricAlarm", "CompositeAlarm"], MaxRecords=100
        )
        names = {a["AlarmName"] for a in [*found.get("MetricAlarms", []), *found.get("CompositeAlarms", [])]}
        if set(body["rollback_alarms"]) - names:
            return _answer(422, {"code": "unknown_alarms"})
    task_id = f"deploy-{_ulid()}"
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    machine = os.environ["DEPLOY_STATE_MACHINE_ARN"]
    prefix, _, name = machine.partition(":stateMachine:")
    green = f"{model[: 63 - 27]}-{task_id[7:].lower()}"
    metadata = {
        "deployment_target": os.environ["DEPLOYMENT_TARGET"],
        "initiated_by": identity.get("userArn") or identity.get("caller") or "unknown",
        "instance_type": body.get("instance_type") or os.environ["DEFAULT_INSTANCE_TYPE"],
        "initial_instance_count": body.get("initial_instance_count") or int(os.environ["DEFAULT_INSTANCE_COUNT"]),
        "allow_dimension_change": body.get("allow_dimension_change", False),
        "endpoint_name": green,
        "endpoint_config_name": green,
    }
    task = {
        "id": task_id,
        "embedding_model_id": model,
        "status": "pending",
        "created_at": now,
        "updated_at": now,
        "metadata": metadata,
        "execution_arn": f"{prefix}:execution:{name}:{task_id}",
        "error": None,
    }
    item = {
        "id": {"S": task_id},
        "embedding_model_id": {"S": model},
        "status": {"S": "pending"},
        "created_at": {"S": now},
        "updated_at": {"S": now},
        "execution_arn": {"S": task["execution_arn"]},
        "model_kind": {"S": f"{model}#deploy"},
        "metadata": {
            "M": {
                key: {"BOOL": value}
                if isinstance(value, bool)
                else {"N": str(value)}
                if isinstance(value, int)
                else {"S": value}
                for key, value in metadata.items()
            }
        },
    }
    slot = {
        "M": {
            "task_id": {"S": task_id},
            "kind": {"S": "deploy"},
            "since": {"S": now},
            "execution_arn": {"S": task["execution_arn"]},
        }
    }
    models_table = os.environ["MODELS_TABLE_NAME"]
    try:
        _client("dynamodb").transact_write_items(
            TransactItems=[
                {
                    "Put": {
                        "TableName": os.environ["TASKS_TABLE_NAME"],
                        "Item": item,
                        "ConditionExpression": "attribute_not_exists(id)",
                    }
                },
                {
                    "Update": {
                        "TableName": models_table,
                        "Key": {"embedding_model_id": {"S": model}},
                        "UpdateExpression": "SET active_task = :slot",
                        "ConditionExpression": "attribute_not_exists(active_task)",
                        "ExpressionAttributeValues": {":slot": slot},
                    }
                },
            ]
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "TransactionCanceledException":
            return _answer(409, {"code": "model_busy"})
        raise
    execution_input = {
        "task_id": task_id,
        "embedding_model_id": model,
        "kind": "deploy",
        "timing": {
            "poll_seconds": int(os.environ["GREEN_POLL_SECONDS"]),
            "green_timeout_seconds": int(os.environ["GREEN_TIMEOUT_SECONDS"]),
            "drain_seconds": int(os.environ["DRAIN_SECONDS"]),
            "removal_timeout_seconds": int(os.environ["REMOVAL_TIMEOUT_SECONDS"]),
        },
        "deployment": {
            "instance_type": metadata["instance_type"],
            "initial_instance_count": metadata["initial_instance_count"],
            "allow_dimension_change": metadata["allow_dimension_change"],
            "deployment_target": metadata["deployment_target"],
            "green": {"endpoint_name": green, "endpoint_config_name": green},
        },
    }
    try:
        _client("stepfunctions").start_execution(
            stateMachineArn=machine, name=task_id, input=json.dumps(execution_input)
        )
    except ClientError:
        _client("dynamodb").transact_write_items(
            TransactItems=[
                {"Delete": {"TableName": os.environ["TASKS_TABLE_NAME"], "Key": {"id": {"S": task_id}}}},
                {
                    "Update": {
                        "TableName": models_table,
                        "Key": {"embedding_model_id": {"S": model}},
                        "UpdateExpression": "REMOVE active_task",
                    }
                },
            ]
        )
        return _answer(503, {"code": "execution_start_failed"}, {"Retry-After": "2"})
    path = event.get("requestContext", {}).get("path") or event.get("path")
    return _answer(202, task, {"Location": f"{path}/{task_id}"})
