"""Baseline for POST /deploy: the least a handler of the same contract does, with boto3 and the stdlib only.

It validates the body as the contract asks (an object, known fields, a SageMaker-valid model id, the
stack's cost limits), authorizes the caller as the service does (GetRole for an assumed role of this
account, its answer kept a minute; the model's pinned owner from the models table, one consistent
GetItem; DescribeModel + ListTags for the model's owner tag; unless its role ARN matches an admin
pattern, 403 when the owner and the caller's tag differ), checks the named rollback alarms exist
(DescribeAlarms, 422 when one does not), writes the same task item, claims the model's slot and pins its
owner (on its first task) in one TransactWriteItems (409 when another task holds the slot), starts the
same execution with the same input and answers 202 with the task. No framework, no models, no logging,
metrics or tracing. The clients are built on the first request, from one session, as the service builds
its own.
"""

# ruff: noqa: E402 - the imports follow gc.disable()

from __future__ import annotations

import gc

# As the service's handlers do (functions/*/app.py): no collection while the imports run, the import's
# objects frozen after it.
gc.disable()

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
    "allow_capacity_drop",
    "allow_dimension_change",
    "bake_seconds",
    "rollback_alarms",
    "green_alarms",
    "allow_embedding_change",
    "min_mean_cosine",
}
ASSUMED_ROLE = re.compile(r"^arn:aws[a-z-]*:sts::(\d{12}):assumed-role/([^/]+)/.+$")
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

_clients: dict[str, Any] = {}
_sessions: list[Any] = []
_roles: dict[str, tuple[float, dict[str, Any]]] = {}
ROLE_TAGS_TTL_SECONDS = 60.0  # as the service's PrincipalDirectory: a warm container asks IAM once a minute


def _client(service: str) -> Any:
    if service not in _clients:
        if not _sessions:
            _sessions.append(boto3.session.Session())
        _clients[service] = _sessions[0].client(service)
    return _clients[service]


def _attribute(value: Any) -> dict[str, Any]:
    """A DynamoDB attribute value of a JSON value (what TypeSerializer does, without boto3's resource layer)."""
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int | float):
        return {"N": str(value)}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, list):
        return {"L": [_attribute(v) for v in value]}
    if isinstance(value, dict):
        return {"M": {k: _attribute(v) for k, v in value.items() if v is not None}}
    return {"NULL": True}


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
    if type(body.get("green_alarms", False)) is not bool:
        return "green_alarms must be a boolean"
    if instance_type is not None and instance_type not in os.environ["ALLOWED_INSTANCE_TYPES"].split(","):
        return "instance_type is not allowed"
    if count is not None and count > int(os.environ["MAX_INSTANCE_COUNT"]):
        return "initial_instance_count is above the stack's limit"
    return None


def _tags(pairs: list[dict[str, str]]) -> dict[str, str]:
    return {pair["Key"]: pair["Value"] for pair in pairs}


def _owner(caller: str, account: str, model: str) -> tuple[str | None, str | None, dict[str, str] | None]:
    """The service's rule: (allowed as "admin" or "owner", or None: forbidden; the caller's owner tag; the
    owner to pin on the model's first task). Admins by role ARN pattern; otherwise the
    caller's owner tag must match the model's pinned owner, or its SageMaker Model's tag when none is."""
    key = os.environ["OWNER_TAG_KEY"]
    match = ASSUMED_ROLE.match(caller)
    arns = [caller]
    team = None
    if match and match[1] == account:
        cached = _roles.get(match[2])
        if cached is None or time.monotonic() - cached[0] >= ROLE_TAGS_TTL_SECONDS:
            cached = (time.monotonic(), _client("iam").get_role(RoleName=match[2])["Role"])
            _roles[match[2]] = cached
        arns.append(cached[1]["Arn"])
        team = _tags(cached[1].get("Tags", [])).get(key) or None
    item = _client("dynamodb").get_item(
        TableName=os.environ["MODELS_TABLE_NAME"],
        Key={"embedding_model_id": {"S": model}},
        ProjectionExpression="embedding_model_id, pinned_owner",
        ConsistentRead=True,
    )
    pinned = item.get("Item", {}).get("pinned_owner", {}).get("M", {}).get("team", {}).get("S")
    try:
        arn = _client("sagemaker").describe_model(ModelName=model)["ModelArn"]
    except ClientError:
        return None, team, None
    owner = pinned or _tags(_client("sagemaker").list_tags(ResourceArn=arn)["Tags"]).get(key) or None
    pin = None if pinned or owner is None else {"team": owner, "pinned_by": caller}
    patterns = [p for p in os.environ.get("ADMIN_PRINCIPAL_ARN_PATTERNS", "").split(",") if p]
    if any(fnmatch.fnmatchcase(arn, pattern) for arn in arns for pattern in patterns):
        return "admin", team, pin
    if owner is None or owner != team:
        return None, team, None
    return "owner", team, pin


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
    allowed_as, team, pin = _owner(caller, str(event.get("requestContext", {}).get("accountId") or ""), model)
    if allowed_as is None:
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
    green = f"idt-{model[: 63 - 31]}-{task_id[7:].lower()}"
    requested_count = body.get("initial_instance_count")
    bake = body.get("bake_seconds")
    alarms = body.get("rollback_alarms", [])
    cosine = body.get("min_mean_cosine")
    metadata: dict[str, Any] = {
        "deployment_target": os.environ["DEPLOYMENT_TARGET"],
        "initiated_by": caller,
        "requested_by": {"arn": caller, "tag_key": os.environ["OWNER_TAG_KEY"], "team": team, "allowed_as": allowed_as},
        "instance_type": body.get("instance_type") or os.environ["DEFAULT_INSTANCE_TYPE"],
        "initial_instance_count": requested_count or int(os.environ["DEFAULT_INSTANCE_COUNT"]),
        "allow_dimension_change": body.get("allow_dimension_change", False),
        "instance_count_requested": requested_count is not None,
        "endpoint_name": green,
        "endpoint_config_name": green,
        "bake_seconds": int(os.environ["BAKE_SECONDS"]) if bake is None else bake,
        "rollback_alarms": alarms,
        "green_alarms": body.get("green_alarms", False),
        "allow_embedding_change": body.get("allow_embedding_change", False),
        "min_mean_cosine": float(os.environ["EMBEDDING_MIN_MEAN_COSINE"]) if cosine is None else cosine,
        "probe_set": "default",
    }
    task = {
        "id": task_id,
        "embedding_model_id": model,
        "status": "pending",
        "created_at": now,
        "updated_at": now,
        "metadata": {**metadata, "autoscaling_requested": None},
        "execution_arn": f"{prefix}:execution:{name}:{task_id}",
        "error": None,
    }
    item = {
        "id": {"S": task_id},
        "embedding_model_id": {"S": model},
        "status": {"S": "pending"},
        "created_at": {"S": now},
        "updated_at": {"S": now},
        "metadata": _attribute(metadata),
        "execution_arn": {"S": task["execution_arn"]},
        "model_kind": {"S": f"{model}#deploy"},
    }
    slot = {
        "M": {
            "task_id": {"S": task_id},
            "kind": {"S": "deploy"},
            "since": {"S": now},
            "execution_arn": {"S": task["execution_arn"]},
        }
    }
    update, values = "SET active_task = :slot", {":slot": slot}
    if pin is not None:
        update += ", pinned_owner = if_not_exists(pinned_owner, :owner)"
        values[":owner"] = _attribute({**pin, "pinned_at": now})
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
                        "UpdateExpression": update,
                        "ConditionExpression": "attribute_not_exists(active_task)",
                        "ExpressionAttributeValues": values,
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
            "green_event_wait_seconds": int(os.environ["GREEN_EVENT_WAIT_SECONDS"]),
        },
        "deployment": {
            "instance_type": metadata["instance_type"],
            "initial_instance_count": metadata["initial_instance_count"],
            "instance_count_requested": metadata["instance_count_requested"],
            "max_instance_count": int(os.environ["MAX_INSTANCE_COUNT"]),
            "autoscaling": None,
            "allow_dimension_change": metadata["allow_dimension_change"],
            "deployment_target": metadata["deployment_target"],
            "green": {"endpoint_name": green, "endpoint_config_name": green},
            "bake": {
                "seconds": max(metadata["bake_seconds"], int(os.environ["DRAIN_SECONDS"]))
                if metadata["bake_seconds"] > 0
                else 0,
                "requested": bake is not None,
                "alarms": alarms,
                "green_alarms": metadata["green_alarms"],
                "error_threshold": int(os.environ["BAKE_ERROR_THRESHOLD"]),
                "latency_threshold_ms": int(os.environ["BAKE_LATENCY_THRESHOLD_MS"]),
            },
            "compatibility": {
                "min_mean_cosine": metadata["min_mean_cosine"],
                "allow_change": metadata["allow_embedding_change"],
                "probe_texts": None,
            },
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


gc.freeze()
gc.enable()
