"""Deploying a SAM template onto an emulated account through the ordinary AWS APIs.

Everything goes through boto3 clients, so the same code deploys under `moto.mock_aws` (calls are
intercepted in-process) and against a moto server (`endpoint_url` or AWS_ENDPOINT_URL).
`plan_stack` does all the resolving without touching AWS, so a template can be checked on its own.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from local_stack.handlers import Handler, import_handler, import_handler_copy
from local_stack.intrinsics import PhysicalResource, PseudoParameters, Resolver, TemplateError, TemplateValue
from local_stack.naming import NAME_PROPERTIES, physical_resource
from local_stack.template import ApiRoute, FunctionSpec, StateMachineSpec, TableSpec, Template, load_template

DEFAULT_ACCOUNT_ID = "123456789012"
DEFAULT_RUNTIME = "python3.13"
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_.:]+)\}")
_ASSUME_ROLE_POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": ["lambda.amazonaws.com", "states.amazonaws.com"]},
                "Action": "sts:AssumeRole",
            }
        ],
    }
)


class EnvironmentConflictError(TemplateError):
    """Two functions set one variable to different values, so one process cannot host both."""


@dataclass(frozen=True)
class DeployedFunction:
    logical_id: str
    name: str
    arn: str
    code_dir: Path
    module_name: str
    handler_attribute: str
    handler: str
    runtime: str
    environment: Mapping[str, str]
    timeout: int
    memory_size: int
    log_group_name: str
    routes: tuple[ApiRoute, ...]

    def load_handler(self) -> Handler:
        return import_handler(self.code_dir, self.module_name, self.handler_attribute)

    def load_handler_in(self, environment: int) -> Handler:
        """The handler as execution environment `environment` has it (0: the module tests import too)."""
        if environment == 0:
            return self.load_handler()
        return import_handler_copy(self.code_dir, self.module_name, self.handler_attribute, environment)


@dataclass(frozen=True)
class DeployedTable:
    logical_id: str
    name: str
    arn: str
    create_request: Mapping[str, Any]
    time_to_live: Mapping[str, Any] | None


@dataclass(frozen=True)
class DeployedStateMachine:
    logical_id: str
    name: str
    arn: str
    definition: str
    type: str


@dataclass(frozen=True)
class DeployedStack:
    """Physical names, ARNs and resolved settings of a deployed template, by logical id."""

    template: Template
    region: str
    account_id: str
    name_prefix: str
    parameters: Mapping[str, TemplateValue]
    resources: Mapping[str, PhysicalResource]
    role_arn: str
    functions: Mapping[str, DeployedFunction]
    tables: Mapping[str, DeployedTable]
    state_machines: Mapping[str, DeployedStateMachine]
    outputs: Mapping[str, str]
    environment: Mapping[str, str]

    @property
    def routes(self) -> tuple[ApiRoute, ...]:
        return tuple(route for function in self.functions.values() for route in function.routes)

    def ref(self, logical_id: str) -> str:
        return self._resource(logical_id).ref

    def arn(self, logical_id: str) -> str:
        return self.get_att(logical_id, "Arn")

    def get_att(self, logical_id: str, attribute: str) -> str:
        resource = self._resource(logical_id)
        if attribute not in resource.attributes:
            raise KeyError(f"{logical_id} has no attribute {attribute!r}")
        return resource.attributes[attribute]

    def function(self, key: str) -> DeployedFunction:
        """A function by logical id, physical name or (optionally qualified) ARN."""
        if key in self.functions:
            return self.functions[key]
        for function in self.functions.values():
            if key in (function.name, function.arn) or key.startswith(f"{function.arn}:"):
                return function
        raise KeyError(f"no function {key!r} in the stack")

    def handler(self, key: str) -> Handler:
        return self.function(key).load_handler()

    def resolver(self) -> Resolver:
        """Resolves any other template value (an API's StageName, say) as this stack's resources answer."""
        return Resolver(
            pseudo=_pseudo_parameters(self.region, self.account_id, self.name_prefix),
            parameters=self.parameters,
            resources=self.resources,
            conditions=self.template.conditions,
            mappings=self.template.mappings,
        )

    def _resource(self, logical_id: str) -> PhysicalResource:
        if logical_id not in self.resources:
            raise KeyError(f"no resource {logical_id!r} in the stack")
        return self.resources[logical_id]


def plan_stack(
    template: Template,
    *,
    parameters: Mapping[str, str] | None = None,
    region: str = "us-east-1",
    account_id: str = DEFAULT_ACCOUNT_ID,
    name_prefix: str = "",
) -> DeployedStack:
    """Resolve every name, ARN and property of `template` without calling AWS."""
    pseudo = _pseudo_parameters(region, account_id, name_prefix)
    parameter_values = template.parameter_values(parameters)

    def resolver(resources: Mapping[str, PhysicalResource]) -> Resolver:
        return Resolver(
            pseudo=pseudo,
            parameters=parameter_values,
            resources=resources,
            conditions=template.conditions,
            mappings=template.mappings,
        )

    naming = resolver({})
    included = {
        logical_id: resource
        for logical_id, resource in template.resources.items()
        if resource.condition is None or naming.condition(resource.condition)
    }
    resources = {
        logical_id: physical_resource(
            resource.type, _physical_name(naming, resource.type, logical_id, resource.properties, name_prefix), pseudo
        )
        for logical_id, resource in included.items()
    }
    full = resolver(resources)
    functions = {
        logical_id: _function(full, spec, resources[logical_id])
        for logical_id, spec in template.functions.items()
        if logical_id in included
    }
    return DeployedStack(
        template=template,
        region=region,
        account_id=account_id,
        name_prefix=name_prefix,
        parameters=parameter_values,
        resources=resources,
        role_arn=f"arn:{pseudo.partition}:iam::{account_id}:role/{name_prefix}LocalStackExecutionRole",
        functions=functions,
        tables={
            logical_id: _table(full, spec, resources[logical_id])
            for logical_id, spec in template.tables.items()
            if logical_id in included
        },
        state_machines={
            logical_id: _state_machine(full, spec, resources[logical_id])
            for logical_id, spec in template.state_machines.items()
            if logical_id in included
        },
        outputs={
            name: full.resolve_string(_as_dict(output).get("Value"), f"output {name}")
            for name, output in template.outputs.items()
            if "Condition" not in _as_dict(output) or full.condition(_as_dict(output)["Condition"])
        },
        environment=merged_environment(functions.values()),
    )


def merged_environment(functions: Iterable[DeployedFunction]) -> dict[str, str]:
    """The union of the functions' variables; a variable with two different values is an error."""
    merged: dict[str, str] = {}
    owners: dict[str, str] = {}
    for function in functions:
        for key, value in function.environment.items():
            if key in merged and merged[key] != value:
                raise EnvironmentConflictError(
                    f"{key} is {merged[key]!r} in {owners[key]} but {value!r} in {function.logical_id}"
                )
            merged[key] = value
            owners.setdefault(key, function.logical_id)
    return merged


def deploy(
    template: Template | Path | str,
    *,
    parameters: Mapping[str, str] | None = None,
    region: str = "us-east-1",
    name_prefix: str = "",
    project_root: Path | str | None = None,
    session: boto3.session.Session | None = None,
    endpoint_url: str | None = None,
    clients: Callable[[str], Any] | None = None,
) -> DeployedStack:
    """Create the template's tables, event buses, functions (placeholder code) and state machines; return
    the stack. `clients` hands out a client per service (an emulator's own, built once); without it the
    clients come from `session` (or a new one) for `region` and `endpoint_url`."""
    if not isinstance(template, Template):
        template = load_template(template, project_root=project_root)
    session = session or boto3.session.Session(region_name=region)

    def client(service: str) -> Any:
        if clients is not None:
            return clients(service)
        return session.client(service, region_name=region, endpoint_url=endpoint_url)  # type: ignore[call-overload]

    account_id = client("sts").get_caller_identity()["Account"]
    stack = plan_stack(template, parameters=parameters, region=region, account_id=account_id, name_prefix=name_prefix)
    role_name = stack.role_arn.rsplit("/", 1)[1]
    client("iam").create_role(RoleName=role_name, AssumeRolePolicyDocument=_ASSUME_ROLE_POLICY)

    dynamodb = client("dynamodb")
    for table in stack.tables.values():
        dynamodb.create_table(**table.create_request)
        if table.time_to_live is not None:
            dynamodb.update_time_to_live(TableName=table.name, TimeToLiveSpecification=table.time_to_live)

    for logical_id, resource in template.resources.items():
        if resource.type == "AWS::Events::EventBus" and logical_id in stack.resources:
            client("events").create_event_bus(Name=stack.resources[logical_id].ref)

    lambda_client = client("lambda")
    for function in stack.functions.values():
        created = lambda_client.create_function(
            FunctionName=function.name,
            Runtime=function.runtime,
            Role=stack.role_arn,
            Handler=function.handler,
            Code={"ZipFile": _placeholder_zip(function)},
            Timeout=function.timeout,
            MemorySize=function.memory_size,
            Environment={"Variables": dict(function.environment)},
        )
        _check_arn(function.logical_id, function.arn, created["FunctionArn"])

    sfn = client("stepfunctions")
    for machine in stack.state_machines.values():
        created = sfn.create_state_machine(
            name=machine.name, definition=machine.definition, roleArn=stack.role_arn, type=machine.type
        )
        _check_arn(machine.logical_id, machine.arn, created["stateMachineArn"])
    return stack


def _pseudo_parameters(region: str, account_id: str, name_prefix: str) -> PseudoParameters:
    return PseudoParameters(region=region, account_id=account_id, stack_name=name_prefix.strip("-_") or "local")


def _physical_name(
    resolver: Resolver, resource_type: str, logical_id: str, properties: Mapping[str, Any], prefix: str
) -> str:
    explicit = properties.get(NAME_PROPERTIES.get(resource_type, ""))
    if explicit is not None:
        return resolver.resolve_string(explicit, f"{logical_id} name")
    return f"{prefix}{logical_id}"


def _function(resolver: Resolver, spec: FunctionSpec, physical: PhysicalResource) -> DeployedFunction:
    name = physical.ref
    environment = {
        key: resolver.resolve_string(value, f"{spec.logical_id} environment variable {key}")
        for key, value in spec.environment.items()
    }
    log_group = spec.log_group
    return DeployedFunction(
        logical_id=spec.logical_id,
        name=name,
        arn=physical.attributes["Arn"],
        code_dir=spec.code_dir,
        module_name=spec.module_name,
        handler_attribute=spec.handler_attribute,
        handler=spec.handler,
        runtime=resolver.resolve_string(spec.runtime or DEFAULT_RUNTIME, f"{spec.logical_id} Runtime"),
        environment=environment,
        timeout=int(resolver.resolve_string(spec.timeout, f"{spec.logical_id} Timeout")),
        memory_size=int(resolver.resolve_string(spec.memory_size, f"{spec.logical_id} MemorySize")),
        log_group_name=(
            resolver.resolve_string(log_group, f"{spec.logical_id} LogGroup")
            if log_group is not None
            else f"/aws/lambda/{name}"
        ),
        routes=spec.routes,
    )


def _table(resolver: Resolver, spec: TableSpec, physical: PhysicalResource) -> DeployedTable:
    properties = _as_dict(resolver.resolve(dict(spec.properties)))
    provisioned = "ProvisionedThroughput" in properties
    billing_mode = properties.get("BillingMode", "PROVISIONED" if provisioned else "PAY_PER_REQUEST")
    request: dict[str, Any] = {
        "TableName": physical.ref,
        "KeySchema": properties["KeySchema"],
        "AttributeDefinitions": properties["AttributeDefinitions"],
        "BillingMode": billing_mode,
    }
    for key in ("ProvisionedThroughput", "LocalSecondaryIndexes", "TableClass", "DeletionProtectionEnabled"):
        if key in properties:
            request[key] = properties[key]
    if "GlobalSecondaryIndexes" in properties:
        request["GlobalSecondaryIndexes"] = [
            {
                key: index[key]
                for key in ("IndexName", "KeySchema", "Projection", "ProvisionedThroughput")
                if key in index
            }
            for index in properties["GlobalSecondaryIndexes"]
        ]
    stream = _as_dict(properties.get("StreamSpecification"))
    if "StreamViewType" in stream:
        request["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": stream["StreamViewType"]}
    ttl = _as_dict(properties.get("TimeToLiveSpecification"))
    time_to_live = (
        {"Enabled": bool(ttl.get("Enabled", True)), "AttributeName": ttl["AttributeName"]}
        if "AttributeName" in ttl
        else None
    )
    return DeployedTable(spec.logical_id, physical.ref, physical.attributes["Arn"], request, time_to_live)


def _state_machine(resolver: Resolver, spec: StateMachineSpec, physical: PhysicalResource) -> DeployedStateMachine:
    if spec.definition_path is not None:
        if not spec.definition_path.is_file():
            raise TemplateError(f"{spec.logical_id}: definition file {spec.definition_path} does not exist")
        text = spec.definition_path.read_text(encoding="utf-8")
    else:
        definition = resolver.resolve(spec.definition)
        text = definition if isinstance(definition, str) else json.dumps(definition)
    substitutions = {
        key: resolver.resolve_string(value, f"{spec.logical_id} substitution {key}")
        for key, value in spec.substitutions.items()
    }

    def substitute(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in substitutions:
            raise TemplateError(f"{spec.logical_id}: definition uses ${{{key}}} but DefinitionSubstitutions lacks it")
        return substitutions[key]

    return DeployedStateMachine(
        logical_id=spec.logical_id,
        name=physical.attributes["Name"],
        arn=physical.ref,
        definition=_PLACEHOLDER.sub(substitute, text),
        type=resolver.resolve_string(spec.type, f"{spec.logical_id} Type"),
    )


def _placeholder_zip(function: DeployedFunction) -> bytes:
    """Code for the Lambda API to store; invocations are routed to the real handler instead."""
    module_path = function.handler.rpartition(".")[0].replace(".", "/") + ".py"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(module_path, f"def {function.handler_attribute}(event, context):\n    return event\n")
    return buffer.getvalue()


def _check_arn(logical_id: str, planned: str, actual: str) -> None:
    if planned != actual:
        raise RuntimeError(f"{logical_id}: emulator planned ARN {planned} but the API returned {actual}")


def _as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
