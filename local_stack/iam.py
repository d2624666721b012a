"""IAM for the local stack: every AWS call a function makes is evaluated against that function's own role.

moto lets every caller do everything (its access control evaluates neither resources nor conditions),
so a call a function's role does not grant passed every local test and failed only in AWS. While an
`IamEnforcement` is started, each call a boto3 client makes inside a stack function (`current_function()`)
is authorized first, as IAM would authorize it for the function's role:

- the role's policies are the function's `Policies` as SAM turns them into the role (inline statements,
  one policy each; the managed policies SAM attaches, by their documented statements), resolved against
  the deployed stack;
- the request is the IAM action(s) and resource ARN(s) the service authorizes the call as (a
  transaction per entry, CreateEndpoint on the endpoint AND its config, tags on create as AddTags, SageMaker
  names lower-cased in ARNs), with the condition keys the service sets (resource tags read from moto,
  request tags, `sagemaker:InstanceTypes`, `dynamodb:Attributes/Select/ReturnValues/LeadingKeys`);
- evaluation: an explicit Deny wins, then any Allow; otherwise the implicit deny. Actions and ARNs match
  with `*`/`?` wildcards (ARN segments separately), NotAction/NotResource, and the condition operators
  String*, Arn*, Bool, Null, with IfExists and the ForAllValues/ForAnyValue set operators.

A call not allowed never reaches moto: it raises the service's AccessDenied error with the message AWS
writes. Every allowed call is recorded with the statement that allowed it (`RECORDER`).
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import uuid
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from botocore.client import BaseClient
from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils

from local_stack._patch import Method, MethodPatch, PatchSet
from local_stack.lambdas import current_function

if TYPE_CHECKING:
    from local_stack.stack import DeployedStack

type Context = Mapping[str, tuple[str, ...]]

# Managed policies SAM attaches to a function's generated role, by their documented statements.
_LOGS = ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"]
MANAGED_POLICIES: dict[str, list[dict[str, Any]]] = {
    "service-role/AWSLambdaBasicExecutionRole": [{"Effect": "Allow", "Action": _LOGS, "Resource": "*"}],
    "service-role/AWSLambdaDynamoDBExecutionRole": [
        {
            "Effect": "Allow",
            "Action": [
                "dynamodb:DescribeStream",
                "dynamodb:GetRecords",
                "dynamodb:GetShardIterator",
                "dynamodb:ListStreams",
                *_LOGS,
            ],
            "Resource": "*",
        }
    ],
    "AWSXrayWriteOnlyAccess": [
        {
            "Effect": "Allow",
            "Action": [
                "xray:PutTraceSegments",
                "xray:PutTelemetryRecords",
                "xray:GetSamplingRules",
                "xray:GetSamplingTargets",
                "xray:GetSamplingStatisticSummaries",
            ],
            "Resource": "*",
        }
    ],
}
# Event sources whose SAM translation attaches a managed policy to the function's role.
_EVENT_POLICIES = {"DynamoDB": "service-role/AWSLambdaDynamoDBExecutionRole"}


class PolicyError(ValueError):
    """A policy the evaluator cannot read (a SAM policy template, an unknown managed policy)."""


# ---------------------------------------------------------------------------------------------- policies


def _strings(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, list | tuple):
        return tuple(str(item) for item in value)
    return (str(value),)


@dataclass(frozen=True)
class Statement:
    policy: str
    index: int
    effect: str
    actions: tuple[str, ...] = ()
    not_actions: tuple[str, ...] | None = None
    resources: tuple[str, ...] = ()
    not_resources: tuple[str, ...] | None = None
    condition: Mapping[str, Mapping[str, tuple[str, ...]]] = field(default_factory=dict)
    sid: str | None = None

    @property
    def label(self) -> str:
        """How a report names the statement: its Sid, else policy name and index."""
        return f"{self.policy}/{self.sid}" if self.sid else f"{self.policy}#{self.index}"

    @classmethod
    def parse(cls, policy: str, index: int, raw: Mapping[str, Any]) -> Statement:
        condition = {
            operator: {key: _strings(values) for key, values in dict(keys).items()}
            for operator, keys in dict(raw.get("Condition") or {}).items()
        }
        return cls(
            policy=policy,
            index=index,
            effect=str(raw["Effect"]),
            actions=_strings(raw.get("Action")),
            not_actions=_strings(raw["NotAction"]) if "NotAction" in raw else None,
            resources=_strings(raw.get("Resource")),
            not_resources=_strings(raw["NotResource"]) if "NotResource" in raw else None,
            condition=condition,
            sid=raw.get("Sid"),
        )


def policy_statements(policy: str, document: Mapping[str, Any]) -> list[Statement]:
    raw = document.get("Statement", [])
    return [Statement.parse(policy, index, statement) for index, statement in enumerate(_as_list(raw))]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _managed(name: str) -> list[Statement]:
    key = name.rsplit(":policy/", 1)[-1]
    if key not in MANAGED_POLICIES:
        raise PolicyError(f"managed policy {name!r} is not known to the local IAM evaluator")
    return policy_statements(key, {"Statement": MANAGED_POLICIES[key]})


def role_statements(logical_id: str, properties: Mapping[str, Any]) -> list[Statement]:
    """The statements of the role SAM generates for a function, from its resolved `Policies` and events."""
    statements = _managed("service-role/AWSLambdaBasicExecutionRole")
    if properties.get("Tracing") == "Active":
        statements += _managed("AWSXrayWriteOnlyAccess")
    for event in dict(properties.get("Events") or {}).values():
        managed = _EVENT_POLICIES.get(str(dict(event).get("Type")))
        if managed is not None:
            statements += _managed(managed)
    for index, policy in enumerate(_as_list(properties.get("Policies") or [])):
        if isinstance(policy, str):
            statements += _managed(policy)
        elif isinstance(policy, dict) and "Statement" in policy:
            statements += policy_statements(f"{logical_id}RolePolicy{index}", policy)
        else:
            raise PolicyError(f"{logical_id}: policy {policy!r} (a SAM policy template?) is not supported locally")
    return statements


def stack_roles(stack: DeployedStack) -> dict[str, list[Statement]]:
    """Each function's role statements, resolved against the deployed stack (physical names and ARNs)."""
    resolver = stack.resolver()
    roles: dict[str, list[Statement]] = {}
    for logical_id in stack.functions:
        resource = stack.template.resources[logical_id]
        properties = {
            key: resolver.resolve(resource.properties[key])
            for key in ("Policies", "Events", "Tracing")
            if key in resource.properties
        }
        roles[logical_id] = role_statements(logical_id, properties)
    return roles


def state_machine_roles(stack: DeployedStack) -> dict[str, list[Statement]]:
    """Each state machine's role statements (its inline `Policies`), by state machine ARN."""
    resolver = stack.resolver()
    roles: dict[str, list[Statement]] = {}
    for logical_id, machine in stack.state_machines.items():
        policies = resolver.resolve(stack.template.resources[logical_id].properties.get("Policies") or [])
        statements: list[Statement] = []
        for index, policy in enumerate(_as_list(policies)):
            if not (isinstance(policy, dict) and "Statement" in policy):
                raise PolicyError(f"{logical_id}: policy {policy!r} is not supported locally")
            statements += policy_statements(f"{logical_id}RolePolicy{index}", policy)
        roles[machine.arn] = statements
    return roles


# -------------------------------------------------------------------------------------------- evaluation


@dataclass(frozen=True)
class Request:
    """One authorization: an action on a resource with the request's condition keys."""

    action: str
    resource: str
    context: Context = field(default_factory=dict)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    statement: Statement | None = None  # the Allow that allowed it, or the Deny that denied it

    @property
    def explicit_deny(self) -> bool:
        return self.statement is not None and not self.allowed


def _wildcard(pattern: str, *, ignore_case: bool = False) -> re.Pattern[str]:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(regex, re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def action_matches(pattern: str, action: str) -> bool:
    return _wildcard(pattern, ignore_case=True).fullmatch(action) is not None


def arn_matches(pattern: str, arn: str) -> bool:
    """ARN matching: `*` alone matches all; else each of the six segments separately (the resource
    segment may hold `:` and `/`), so a wildcard in the account never spills into the resource."""
    if pattern == "*":
        return True
    pattern_parts, arn_parts = pattern.split(":", 5), arn.split(":", 5)
    if len(pattern_parts) != 6 or len(arn_parts) != 6:
        return _wildcard(pattern).fullmatch(arn) is not None
    return all(_wildcard(p).fullmatch(a) is not None for p, a in zip(pattern_parts, arn_parts, strict=True))


def _compare(base: str, expected: str, actual: str) -> bool:
    match base:
        case "StringEquals":
            return actual == expected
        case "StringEqualsIgnoreCase":
            return actual.lower() == expected.lower()
        case "StringLike":
            return _wildcard(expected).fullmatch(actual) is not None
        case "ArnEquals" | "ArnLike":
            return arn_matches(expected, actual)
        case "Bool":
            return actual.lower() == expected.lower()
    raise PolicyError(f"condition operator {base!r} is not supported by the local IAM evaluator")


_NEGATED = {
    "StringNotEquals": "StringEquals",
    "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
    "StringNotLike": "StringLike",
    "ArnNotEquals": "ArnEquals",
    "ArnNotLike": "ArnLike",
}


def _condition_holds(operator: str, expected: tuple[str, ...], actual: tuple[str, ...] | None) -> bool:
    qualifier, _, base = operator.rpartition(":")
    if_exists = base.endswith("IfExists")
    base = base.removesuffix("IfExists")
    present = actual is not None and len(actual) > 0
    if base == "Null":
        return all((expected_value.lower() == "true") != present for expected_value in expected)
    if not present:
        # Set operators: ForAllValues over nothing holds, ForAnyValue over nothing does not; a negated
        # operator holds on a missing key; IfExists holds on a missing key.
        return qualifier == "ForAllValues" or if_exists or (not qualifier and base in _NEGATED)
    assert actual is not None
    negated = base in _NEGATED
    positive = _NEGATED.get(base, base)

    def matches(value: str) -> bool:
        hit = any(_compare(positive, candidate, value) for candidate in expected)
        return not hit if negated else hit

    if qualifier == "ForAllValues":
        return all(matches(value) for value in actual)
    if qualifier == "ForAnyValue":
        return any(matches(value) for value in actual)
    if negated:
        return all(matches(value) for value in actual)
    return any(matches(value) for value in actual)


def conditions_hold(statement: Statement, context: Context) -> bool:
    return all(
        _condition_holds(operator, expected, _context_value(context, key))
        for operator, keys in statement.condition.items()
        for key, expected in keys.items()
    )


def _context_value(context: Context, key: str) -> tuple[str, ...] | None:
    """Condition key names are case-insensitive (tag keys after the `/` keep their case)."""
    if key in context:
        return context[key]
    prefix, slash, rest = key.partition("/")
    folded = prefix.lower()
    for candidate, value in context.items():
        c_prefix, c_slash, c_rest = candidate.partition("/")
        if c_prefix.lower() == folded and c_slash == slash and c_rest == rest:
            return value
    return None


def _applies(statement: Statement, request: Request) -> bool:
    if statement.not_actions is not None:
        if any(action_matches(p, request.action) for p in statement.not_actions):
            return False
    elif not any(action_matches(p, request.action) for p in statement.actions):
        return False
    if statement.not_resources is not None:
        if any(arn_matches(p, request.resource) for p in statement.not_resources):
            return False
    elif not any(arn_matches(p, request.resource) for p in statement.resources):
        return False
    return conditions_hold(statement, request.context)


def evaluate(statements: Iterable[Statement], request: Request) -> Decision:
    """Identity-based policy evaluation in one account: explicit deny, then allow, else implicit deny."""
    allowed_by: Statement | None = None
    for statement in statements:
        if not _applies(statement, request):
            continue
        if statement.effect == "Deny":
            return Decision(allowed=False, statement=statement)
        allowed_by = allowed_by or statement
    return Decision(allowed=allowed_by is not None, statement=allowed_by)


# ------------------------------------------------------------------------------- calls -> authorizations


@dataclass(frozen=True)
class Account:
    partition: str
    region: str
    account_id: str

    def arn(self, service: str, resource: str, *, region: str | None = None) -> str:
        where = self.region if region is None else region
        return f"arn:{self.partition}:{service}:{where}:{self.account_id}:{resource}"


class ResourceLookup:
    """What IAM knows about existing resources: tags, table keys, the execution a task token belongs to."""

    def __init__(self, account: Account, table_keys: Mapping[str, str]) -> None:
        self.account = account
        self.table_keys = dict(table_keys)
        # Scalable targets' tags by resource id, as RegisterScalableTarget gave them (moto keeps none).
        self.autoscaling_tags: dict[str, dict[str, str]] = {}

    def sagemaker_tags(self, kind: str, name: str) -> dict[str, str] | None:
        from moto.sagemaker.models import sagemaker_backends  # noqa: PLC0415 - moto's backends load lazily

        backend = sagemaker_backends[self.account.account_id][self.account.region]
        stores: dict[str, Mapping[str, Any]] = {
            "endpoint": backend.endpoints,
            "endpoint-config": backend.endpoint_configs,
            "model": backend._models,
        }
        store = stores.get(kind, {})
        folded = name.lower()
        resource = next((value for key, value in store.items() if key.lower() == folded), None)
        if resource is None:
            return None
        return {tag["Key"]: tag["Value"] for tag in getattr(resource, "tags", None) or []}

    def state_machine_of_token(self, token: str) -> str | None:
        from moto.stepfunctions.responses import get_backend  # noqa: PLC0415 - the interpreter's backend

        backend: Any = get_backend(self.account.account_id, self.account.region)
        for machine in list(backend.state_machines):
            for execution in list(machine.executions):
                worker = getattr(execution, "exec_worker", None)
                pool = getattr(getattr(worker, "env", None), "callback_pool_manager", None)
                if pool is not None and pool.get(token) is not None:
                    return str(machine.arn)
        return None


def _tag_context(tags: Mapping[str, str], prefixes: Sequence[str]) -> dict[str, tuple[str, ...]]:
    return {f"{prefix}:ResourceTag/{key}": (value,) for key, value in tags.items() for prefix in prefixes}


def _request_tags(tags: Any) -> dict[str, tuple[str, ...]]:
    pairs = [(str(tag["Key"]), str(tag.get("Value", ""))) for tag in tags or []]
    if not pairs:
        return {}
    context: dict[str, tuple[str, ...]] = {f"aws:RequestTag/{key}": (value,) for key, value in pairs}
    context["aws:TagKeys"] = tuple(key for key, _ in pairs)
    return context


# DynamoDB ------------------------------------------------------------------------------------------------

_EXPRESSION_TOKEN = re.compile(
    r"(?P<function>[A-Za-z_][A-Za-z0-9_]*)\s*\("
    r"|\.\s*#?[A-Za-z_][A-Za-z0-9_]*"
    r"|(?P<value>:[A-Za-z0-9_]+)"
    r"|(?P<name>#?[A-Za-z_][A-Za-z0-9_]*)"
)
_EXPRESSION_KEYWORDS = frozenset({"SET", "REMOVE", "ADD", "DELETE", "AND", "OR", "NOT", "BETWEEN", "IN"})


def expression_attributes(expression: str | None, names: Mapping[str, str] | None) -> set[str]:
    """The top-level attribute names an expression reads or writes (nested path components excluded)."""
    found: set[str] = set()
    for match in _EXPRESSION_TOKEN.finditer(expression or ""):
        name = match.group("name")
        if name is None:
            continue
        if name.startswith("#"):
            found.add((names or {}).get(name, name))
        elif name.upper() not in _EXPRESSION_KEYWORDS:
            found.add(name)
    return found


def _dynamodb_entry(lookup: ResourceLookup, action: str, params: Mapping[str, Any], *, read: bool) -> Request:
    table = str(params.get("TableName", ""))
    names = params.get("ExpressionAttributeNames")
    attributes: set[str] = set(params.get("Key") or {}) | set(params.get("Item") or {})
    for expression in ("UpdateExpression", "ConditionExpression", "KeyConditionExpression", "FilterExpression"):
        attributes |= expression_attributes(params.get(expression), names)
    projection = expression_attributes(params.get("ProjectionExpression"), names) | set(
        params.get("AttributesToGet") or []
    )
    attributes |= projection | set(params.get("AttributeUpdates") or {}) | set(params.get("Expected") or {})
    context: dict[str, tuple[str, ...]] = {"dynamodb:Attributes": tuple(sorted(attributes))}
    if params.get("ReturnValues"):
        context["dynamodb:ReturnValues"] = (str(params["ReturnValues"]),)
    if read:
        select = params.get("Select") or ("SPECIFIC_ATTRIBUTES" if projection else "ALL_ATTRIBUTES")
        context["dynamodb:Select"] = (str(select),)
    hash_key = lookup.table_keys.get(table)
    item = params.get("Key") or params.get("Item") or {}
    if hash_key and hash_key in item:
        context["dynamodb:LeadingKeys"] = (_key_value(item[hash_key]),)
    resource = f"table/{table}" + (f"/index/{params['IndexName']}" if params.get("IndexName") else "")
    return Request(action, lookup.account.arn("dynamodb", resource), context)


def _key_value(value: Any) -> str:
    """A key attribute as the low-level client has it ({"S": "x"}) or as the resource layer passes it ("x")."""
    if isinstance(value, Mapping) and len(value) == 1 and next(iter(value)) in ("S", "N", "B"):
        return str(next(iter(value.values())))
    return str(value)


_TRANSACTION_ACTIONS = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
    "Get": "dynamodb:GetItem",
}
_DYNAMODB_READS = frozenset({"GetItem", "Query", "Scan", "BatchGetItem"})


def _dynamodb(lookup: ResourceLookup, operation: str, params: Mapping[str, Any]) -> list[Request]:
    if operation in ("TransactWriteItems", "TransactGetItems"):
        return [
            _dynamodb_entry(lookup, _TRANSACTION_ACTIONS[kind], entry, read=kind == "Get")
            for item in params.get("TransactItems", [])
            for kind, entry in item.items()
        ]
    if operation in ("BatchGetItem", "BatchWriteItem"):
        requests: list[Request] = []
        for table, entries in dict(params.get("RequestItems") or {}).items():
            if operation == "BatchGetItem":
                for key in entries.get("Keys", []):
                    requests.append(
                        _dynamodb_entry(
                            lookup, "dynamodb:BatchGetItem", {**entries, "TableName": table, "Key": key}, read=True
                        )
                    )
            for entry in entries if operation == "BatchWriteItem" else []:
                for body in entry.values():
                    requests.append(
                        _dynamodb_entry(lookup, "dynamodb:BatchWriteItem", {**body, "TableName": table}, read=False)
                    )
        return requests
    return [_dynamodb_entry(lookup, f"dynamodb:{operation}", params, read=operation in _DYNAMODB_READS)]


# SageMaker -----------------------------------------------------------------------------------------------

_SAGEMAKER_TARGETS: dict[str, tuple[tuple[str, str], ...]] = {
    "DescribeEndpoint": (("endpoint", "EndpointName"),),
    "DeleteEndpoint": (("endpoint", "EndpointName"),),
    "UpdateEndpoint": (("endpoint", "EndpointName"), ("endpoint-config", "EndpointConfigName")),
    "CreateEndpoint": (("endpoint", "EndpointName"), ("endpoint-config", "EndpointConfigName")),
    "DescribeEndpointConfig": (("endpoint-config", "EndpointConfigName"),),
    "DeleteEndpointConfig": (("endpoint-config", "EndpointConfigName"),),
    "CreateEndpointConfig": (("endpoint-config", "EndpointConfigName"),),
    "DescribeModel": (("model", "ModelName"),),
    "DeleteModel": (("model", "ModelName"),),
    "CreateModel": (("model", "ModelName"),),
    "InvokeEndpoint": (("endpoint", "EndpointName"),),
}
_SAGEMAKER_CREATES = frozenset({"CreateEndpoint", "CreateEndpointConfig", "CreateModel"})
_SAGEMAKER_BY_ARN = frozenset({"ListTags", "AddTags", "DeleteTags"})
_SAGEMAKER_UNSCOPED = frozenset({"ListEndpoints", "ListEndpointConfigs", "ListModels"})
_SAGEMAKER_TAG_PREFIXES = ("aws", "sagemaker")


def _sagemaker(lookup: ResourceLookup, operation: str, params: Mapping[str, Any]) -> list[Request]:
    action = f"sagemaker:{operation}"
    if operation in _SAGEMAKER_UNSCOPED:
        return [Request(action, "*")]
    if operation in _SAGEMAKER_BY_ARN:
        arn = str(params.get("ResourceArn", ""))
        head, _, resource = arn.rpartition(":")
        kind, _, name = resource.partition("/")
        targets = [(kind, name, f"{head}:{kind}/{name.lower()}")]
    elif operation in _SAGEMAKER_TARGETS:
        targets = [
            (
                kind,
                str(params.get(param, "")),
                lookup.account.arn("sagemaker", f"{kind}/{str(params.get(param, '')).lower()}"),
            )
            for kind, param in _SAGEMAKER_TARGETS[operation]
        ]
    else:
        raise PolicyError(f"the local IAM evaluator does not know how SageMaker authorizes {operation}")
    request_context = _request_tags(params.get("Tags"))
    variants = [*(params.get("ProductionVariants") or []), *(params.get("ShadowProductionVariants") or [])]
    instance_types = tuple(str(v["InstanceType"]) for v in variants if v.get("InstanceType"))
    if instance_types:
        request_context["sagemaker:InstanceTypes"] = instance_types
    requests: list[Request] = []
    for position, (kind, name, arn) in enumerate(targets):
        context = dict(request_context)
        created = operation in _SAGEMAKER_CREATES and position == 0
        if not created:
            context.update(_tag_context(lookup.sagemaker_tags(kind, name) or {}, _SAGEMAKER_TAG_PREFIXES))
        requests.append(Request(action, arn, context))
        if created and params.get("Tags"):
            # Tags on create are authorized as AddTags on the new resource, with the creating action.
            tagging = {**request_context, "sagemaker:TaggingAction": (operation,)}
            requests.append(Request("sagemaker:AddTags", arn, tagging))
    return requests


# Step Functions, CloudWatch, IAM, EventBridge -------------------------------------------------------------


def _stepfunctions(lookup: ResourceLookup, operation: str, params: Mapping[str, Any]) -> list[Request]:
    action = f"states:{operation}"
    if "executionArn" in params:
        return [Request(action, str(params["executionArn"]))]
    if "stateMachineArn" in params:
        return [Request(action, str(params["stateMachineArn"]))]
    if "taskToken" in params:
        # Task-token calls are authorized on the state machine whose execution issued the token (AWS reads it
        # from the token). A token no execution issued is left to Step Functions (InvalidToken).
        machine = lookup.state_machine_of_token(str(params["taskToken"]))
        return [Request(action, machine)] if machine else []
    if operation in ("ListStateMachines", "ListActivities"):
        return [Request(action, "*")]
    raise PolicyError(f"the local IAM evaluator does not know how Step Functions authorizes {operation}")


def _cloudwatch(lookup: ResourceLookup, operation: str, params: Mapping[str, Any]) -> list[Request]:
    action = f"cloudwatch:{operation}"

    def alarm(name: str) -> str:
        return lookup.account.arn("cloudwatch", f"alarm:{name}")

    if operation in ("PutMetricAlarm", "PutCompositeAlarm"):
        context = _request_tags(params.get("Tags"))
        requests = [Request(action, alarm(str(params["AlarmName"])), context)]
        if params.get("Tags"):
            requests.append(Request("cloudwatch:TagResource", alarm(str(params["AlarmName"])), context))
        return requests
    if operation in ("DeleteAlarms", "DescribeAlarms") and params.get("AlarmNames"):
        return [Request(action, alarm(str(name))) for name in params["AlarmNames"]]
    if operation == "DescribeAlarms":
        return [Request(action, alarm(f"{params.get('AlarmNamePrefix', '')}*"))]
    if operation in ("SetAlarmState", "DescribeAlarmHistory"):
        return [Request(action, alarm(str(params.get("AlarmName", "*"))))]
    if operation == "PutMetricData":
        return [Request(action, "*", {"cloudwatch:namespace": (str(params.get("Namespace", "")),)})]
    if operation in ("GetMetricData", "GetMetricStatistics", "ListMetrics"):
        return [Request(action, "*")]  # no resource types nor condition keys of their own (the service's page)
    raise PolicyError(f"the local IAM evaluator does not know how CloudWatch authorizes {operation}")


def _iam(lookup: ResourceLookup, operation: str, params: Mapping[str, Any]) -> list[Request]:
    action = f"iam:{operation}"
    account = Account(lookup.account.partition, "", lookup.account.account_id)
    if "RoleName" in params:
        return [Request(action, account.arn("iam", f"role/{params['RoleName']}", region=""))]
    if "UserName" in params:
        return [Request(action, account.arn("iam", f"user/{params['UserName']}", region=""))]
    raise PolicyError(f"the local IAM evaluator does not know how IAM authorizes {operation}")


def _lambda(lookup: ResourceLookup, operation: str, params: Mapping[str, Any]) -> list[Request]:
    if operation != "Invoke":
        raise PolicyError(f"the local IAM evaluator does not know how Lambda authorizes {operation}")
    name = str(params.get("FunctionName", ""))
    arn = name if name.startswith("arn:") else lookup.account.arn("lambda", f"function:{name}")
    if arn.endswith(":$LATEST"):  # $LATEST is the unqualified function
        arn = arn.removesuffix(":$LATEST")
    return [Request("lambda:InvokeFunction", arn)]


def _events(lookup: ResourceLookup, operation: str, params: Mapping[str, Any]) -> list[Request]:
    if operation != "PutEvents":
        raise PolicyError(f"the local IAM evaluator does not know how EventBridge authorizes {operation}")
    buses = {str(entry.get("EventBusName") or "default") for entry in params.get("Entries", [])}
    return [
        Request(
            "events:PutEvents",
            bus if bus.startswith("arn:") else lookup.account.arn("events", f"event-bus/{bus}"),
            {"events:source": tuple(sorted({str(e.get("Source", "")) for e in params.get("Entries", [])}))},
        )
        for bus in sorted(buses)
    ]


# Application Auto Scaling: Describe* take no resource; a target's ARN is random (scalable-target/<id>), so
# policies scope it by the service namespace and dimension condition keys (Service Authorization Reference).
_AUTOSCALING_UNSCOPED = frozenset({"DescribeScalableTargets", "DescribeScalingPolicies", "DescribeScalingActivities"})
AUTOSCALING_DIMENSION_KEY = "application-autoscaling:scalable-dimension"
AUTOSCALING_NAMESPACE_KEY = "application-autoscaling:service-namespace"


def scalable_target_arn(account: Account, resource_id: str) -> str:
    """A stable stand-in for the target's random ARN (the policies match `scalable-target/*`)."""
    return account.arn(
        "application-autoscaling", f"scalable-target/{hashlib.sha256(resource_id.encode()).hexdigest()[:32]}"
    )


def _autoscaling(lookup: ResourceLookup, operation: str, params: Mapping[str, Any]) -> list[Request]:
    action = f"application-autoscaling:{operation}"
    if operation in _AUTOSCALING_UNSCOPED:
        return [Request(action, "*")]
    if "ResourceId" not in params:
        raise PolicyError(f"the local IAM evaluator does not know how Application Auto Scaling authorizes {operation}")
    context: dict[str, tuple[str, ...]] = {
        AUTOSCALING_NAMESPACE_KEY: (str(params.get("ServiceNamespace", "")),),
        AUTOSCALING_DIMENSION_KEY: (str(params.get("ScalableDimension", "")),),
    }
    resource_id = str(params["ResourceId"])
    if operation == "RegisterScalableTarget" and params.get("Tags"):
        tags = {str(k): str(v) for k, v in dict(params["Tags"]).items()}
        context["aws:TagKeys"] = tuple(sorted(tags))
        context.update({f"aws:RequestTag/{k}": (v,) for k, v in tags.items()})
        lookup.autoscaling_tags[resource_id] = tags
    elif operation != "RegisterScalableTarget":
        context.update(_tag_context(lookup.autoscaling_tags.get(resource_id, {}), ("aws",)))
    return [Request(action, scalable_target_arn(lookup.account, resource_id), context)]


_SERVICES: dict[str, Callable[[ResourceLookup, str, Mapping[str, Any]], list[Request]]] = {
    "application-autoscaling": _autoscaling,
    "dynamodb": _dynamodb,
    "sagemaker": _sagemaker,
    "sagemaker-runtime": _sagemaker,
    "stepfunctions": _stepfunctions,
    "cloudwatch": _cloudwatch,
    "iam": _iam,
    "events": _events,
    "lambda": _lambda,
}


def authorizations(lookup: ResourceLookup, service: str, operation: str, params: Mapping[str, Any]) -> list[Request]:
    """The authorizations IAM makes for one API call (each must be allowed)."""
    if service not in _SERVICES:
        raise PolicyError(f"the local IAM evaluator does not know how {service} authorizes {operation}")
    return _SERVICES[service](lookup, operation, params)


# ------------------------------------------------------------------------------------------- enforcement

# The error each service answers a denied call with (code, HTTP status): JSON protocols say
# AccessDeniedException (400; Lambda 403), the query protocols (CloudWatch, IAM) AccessDenied (403).
_DENIED_ERRORS = {
    "cloudwatch": ("AccessDenied", 403),
    "iam": ("AccessDenied", 403),
    "lambda": ("AccessDeniedException", 403),
}


def denial_message(principal: str, request: Request, decision: Decision) -> str:
    reason = (
        "with an explicit deny in an identity-based policy"
        if decision.explicit_deny
        else f"because no identity-based policy allows the {request.action} action"
    )
    return f"User: {principal} is not authorized to perform: {request.action} on resource: {request.resource} {reason}"


@dataclass(frozen=True)
class RecordedCall:
    function: str
    operation: str
    action: str
    resource: str
    statement: str


class CallRecorder:
    """Every authorized call of the session, with the statement that allowed it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: dict[RecordedCall, int] = {}

    def add(self, call: RecordedCall) -> None:
        with self._lock:
            self._calls[call] = self._calls.get(call, 0) + 1

    def calls(self) -> dict[RecordedCall, int]:
        with self._lock:
            return dict(self._calls)

    def clear(self) -> None:
        with self._lock:
            self._calls.clear()

    def as_json(self) -> dict[str, Any]:
        """Per function: each (action, resource) with the statement that allowed it and how often."""
        report: dict[str, list[dict[str, Any]]] = {}
        for call, count in sorted(self.calls().items(), key=lambda item: dataclass_key(item[0])):
            report.setdefault(call.function, []).append(
                {
                    "operation": call.operation,
                    "action": call.action,
                    "resource": call.resource,
                    "allowed_by": call.statement,
                    "calls": count,
                }
            )
        return report

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.as_json(), indent=2) + "\n")


def dataclass_key(call: RecordedCall) -> tuple[str, ...]:
    return (call.function, call.action, call.resource, call.operation, call.statement)


def format_calls(report: Mapping[str, Sequence[Mapping[str, Any]]]) -> str:
    """The recorder's JSON as text: one line per function, action and resource."""
    lines: list[str] = []
    for function, calls in sorted(report.items()):
        lines.append(function)
        lines += [f"  {c['action']:<34} {c['resource']}  <- {c['allowed_by']} (x{c['calls']})" for c in calls]
    return "\n".join(lines)


RECORDER = CallRecorder()


class AccessDenied:
    """Raises the error AWS answers a denied call with, as the client's own exception class."""

    @staticmethod
    def error(client: Any, operation: str, message: str) -> Exception:
        service = str(client.meta.service_model.service_name)
        code, status = _DENIED_ERRORS.get(service, ("AccessDeniedException", 400))
        response = {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": status, "RequestId": str(uuid.uuid4())},
        }
        error_class = client.exceptions.from_code(code)
        return error_class(response, operation)  # type: ignore[no-any-return]


_SERVICE_NAMES = {"states": "stepfunctions", "runtime.sagemaker": "sagemaker-runtime"}


class _Authorizer:
    """The roles and lookup of one emulated stack."""

    def __init__(self, stack: DeployedStack, recorder: CallRecorder) -> None:
        self.roles = stack_roles(stack)
        self.recorder = recorder
        self.principals = {
            logical_id: (
                f"arn:{stack.resolver().pseudo.partition}:sts::{stack.account_id}:assumed-role/"
                f"{stack.name_prefix}{logical_id}Role/{function.name}"
            )
            for logical_id, function in stack.functions.items()
        }
        keys = {
            table.name: next(k["AttributeName"] for k in table.create_request["KeySchema"] if k["KeyType"] == "HASH")
            for table in stack.tables.values()
        }
        self.lookup = ResourceLookup(Account(stack.resolver().pseudo.partition, stack.region, stack.account_id), keys)
        # State machines: what their definitions call (Lambda invokes) under their own roles.
        self.machine_roles = state_machine_roles(stack)
        self.machine_names = {machine.arn: logical_id for logical_id, machine in stack.state_machines.items()}
        for arn, logical_id in self.machine_names.items():
            self.principals[arn] = (
                f"arn:{stack.resolver().pseudo.partition}:sts::{stack.account_id}:assumed-role/"
                f"{stack.name_prefix}{logical_id}Role/{arn.rsplit(':', 1)[1]}"
            )

    def check_machine(self, machine: str, client: Any, operation: str, params: Mapping[str, Any]) -> None:
        if str(client.meta.service_model.service_name) != "lambda":
            return  # the interpreter's own bookkeeping (logs), not a call the definition makes
        for request in _lambda(self.lookup, operation, params):
            decision = evaluate(self.machine_roles[machine], request)
            if not decision.allowed:
                message = denial_message(self.principals[machine], request, decision)
                raise AccessDenied.error(client, operation, message)
            assert decision.statement is not None
            call = RecordedCall(
                self.machine_names[machine], operation, request.action, request.resource, decision.statement.label
            )
            self.recorder.add(call)

    def check(self, function: str, client: Any, operation: str, params: Mapping[str, Any]) -> None:
        service_name = str(client.meta.service_model.service_name)
        service = _SERVICE_NAMES.get(service_name, service_name)
        for request in authorizations(self.lookup, service, operation, params):
            decision = evaluate(self.roles[function], request)
            if not decision.allowed:
                raise AccessDenied.error(
                    client, operation, denial_message(self.principals[function], request, decision)
                )
            assert decision.statement is not None
            self.recorder.add(
                RecordedCall(function, operation, request.action, request.resource, decision.statement.label)
            )


_active: list[_Authorizer] = []
_active_lock = threading.Lock()
# The emulator's own clients (deploying, delivering events, the tests' view of the account) are not a
# function's: a call they make inside a function's thread is the platform's, not the function's.
_platform_clients: weakref.WeakSet[Any] = weakref.WeakSet()


def platform_client[T](client: T) -> T:
    """Mark `client` as the emulator's own: its calls are never authorized against a function's role."""
    _platform_clients.add(client)
    return client


def _authorizing(original: Method) -> Method:
    def make_api_call(client: Any, operation_name: str, api_params: Mapping[str, Any]) -> Any:
        function, machine = current_function(), _current_machine.get()
        if client not in _platform_clients and (function is not None or machine is not None):
            with _active_lock:
                authorizers = list(reversed(_active))
            if function is not None:
                authorizer = next((a for a in authorizers if function in a.roles), None)
                if authorizer is not None:
                    authorizer.check(function, client, operation_name, api_params)
            elif machine is not None:
                authorizer = next((a for a in authorizers if machine in a.machine_roles), None)
                if authorizer is not None:
                    authorizer.check_machine(machine, client, operation_name, api_params)
        return original(client, operation_name, api_params)

    return make_api_call


# The state machine whose Lambda task is invoking (the interpreter runs a task in a thread of its own).
_current_machine: ContextVar[str | None] = ContextVar("local_stack_state_machine", default=None)


def _in_machine(original: Method) -> Method:
    def execute_lambda_function_integration(env: Any, *args: Any, **kwargs: Any) -> Any:
        machine = env.states.context_object.context_object_data["StateMachine"]["Id"]
        token = _current_machine.set(str(machine))
        try:
            return original(env, *args, **kwargs)
        finally:
            _current_machine.reset(token)

    return execute_lambda_function_integration


class _Patches(PatchSet):
    patches = (
        MethodPatch(BaseClient, "_make_api_call", _authorizing),
        MethodPatch(cast("type", lambda_eval_utils), "execute_lambda_function_integration", _in_machine),
    )


class IamEnforcement(_Patches):
    """While started, calls made inside the stack's functions are authorized against their roles.

    Authorization runs before the SDK builds the request, hence before planned faults (local_stack.faults
    hooks the request's events): a denied call fails as in AWS, without reaching a fault or moto."""

    def __init__(self, stack: DeployedStack, recorder: CallRecorder = RECORDER) -> None:
        super().__init__()
        self._authorizer = _Authorizer(stack, recorder)

    @property
    def roles(self) -> Mapping[str, list[Statement]]:
        return self._authorizer.roles

    def allows(self, function: str, request: Request) -> bool:
        """Whether `function`'s role allows `request` (what AWS checks of a caller on its behalf)."""
        return function not in self.roles or evaluate(self.roles[function], request).allowed

    def start(self) -> None:
        with _active_lock:
            _active.append(self._authorizer)
        super().start()

    def stop(self) -> None:
        super().stop()
        with _active_lock:
            if self._authorizer in _active:
                _active.remove(self._authorizer)
