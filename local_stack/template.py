"""A typed view of the parts of a SAM template the emulator deploys.

Values are kept unresolved (they may hold intrinsics); `local_stack.stack` resolves them once the
physical names are known. Paths (CodeUri, DefinitionUri) are made absolute against the project root,
which defaults to the template's directory, so fixture templates can carry their own functions.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cfnlint.decode.cfn_yaml import load as load_cfn_yaml

from local_stack.intrinsics import PhysicalResource, PseudoParameters, Resolver, TemplateError, TemplateValue

__all__ = [
    "ApiRoute",
    "FunctionSpec",
    "Parameter",
    "PhysicalResource",
    "PseudoParameters",
    "Resolver",
    "Resource",
    "StateMachineSpec",
    "TableSpec",
    "Template",
    "TemplateError",
    "TemplateValue",
    "load_template",
]

FUNCTION_TYPES = frozenset({"AWS::Serverless::Function"})
TABLE_TYPES = frozenset({"AWS::DynamoDB::Table"})
STATE_MACHINE_TYPES = frozenset({"AWS::Serverless::StateMachine", "AWS::StepFunctions::StateMachine"})
_ROUTE_EVENT_TYPES = frozenset({"Api", "HttpApi"})
_GLOBAL_FUNCTION_DEFAULTS = ("CodeUri", "Handler", "Runtime", "Timeout", "MemorySize")
_SAM_DEFAULT_TIMEOUT = 3
_SAM_DEFAULT_MEMORY_MB = 128


@dataclass(frozen=True)
class Parameter:
    name: str
    type: str
    default: str | None
    allowed_values: tuple[str, ...] = ()
    allowed_pattern: str | None = None

    def value(self, override: str | None) -> TemplateValue:
        """The parameter's value as `Ref` returns it (a list for CommaDelimitedList types)."""
        raw = override if override is not None else self.default
        if raw is None:
            raise TemplateError(f"parameter {self.name!r} has no Default and no value was given")
        if self.allowed_values and raw not in self.allowed_values:
            raise TemplateError(f"parameter {self.name!r}={raw!r} is not one of {list(self.allowed_values)}")
        listed = self.type == "CommaDelimitedList" or self.type.startswith("List<")
        values = [item.strip() for item in raw.split(",")] if listed else [raw]
        # As CloudFormation: a list's pattern must match each of its values.
        for value in values:
            if self.allowed_pattern and not re.fullmatch(self.allowed_pattern, value):
                raise TemplateError(f"parameter {self.name!r}={value!r} does not match {self.allowed_pattern}")
        return values if listed else raw


@dataclass(frozen=True)
class Resource:
    logical_id: str
    type: str
    properties: Mapping[str, TemplateValue]
    condition: str | None = None


@dataclass(frozen=True)
class ApiRoute:
    """One API event of a function, for an HTTP front that dispatches to handlers by route."""

    method: str
    path: str
    function: str
    event: str
    api: str | None
    event_type: str = "Api"


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    code_dir: Path
    handler: str
    runtime: TemplateValue | None
    environment: Mapping[str, TemplateValue]
    timeout: TemplateValue
    memory_size: TemplateValue
    function_name: TemplateValue | None
    log_group: TemplateValue | None
    routes: tuple[ApiRoute, ...]
    condition: str | None = None
    # Patterns of the function's EventBridgeRule events (values as written; intrinsics unresolved)
    event_patterns: tuple[Mapping[str, Any], ...] = ()

    @property
    def module_name(self) -> str:
        """Handler module importable when the code dir's parent is on sys.path (`create_task.app`)."""
        module, _, _ = self.handler.rpartition(".")
        return f"{self.code_dir.name}.{module}"

    @property
    def handler_attribute(self) -> str:
        return self.handler.rpartition(".")[2]


@dataclass(frozen=True)
class TableSpec:
    logical_id: str
    properties: Mapping[str, TemplateValue]
    condition: str | None = None


@dataclass(frozen=True)
class StateMachineSpec:
    logical_id: str
    definition_path: Path | None
    definition: TemplateValue | None
    substitutions: Mapping[str, TemplateValue]
    type: str
    name: TemplateValue | None
    condition: str | None = None


@dataclass(frozen=True)
class Template:
    path: Path
    root: Path
    parameters: Mapping[str, Parameter]
    conditions: Mapping[str, TemplateValue]
    mappings: Mapping[str, TemplateValue]
    resources: Mapping[str, Resource]
    functions: Mapping[str, FunctionSpec]
    tables: Mapping[str, TableSpec]
    state_machines: Mapping[str, StateMachineSpec]
    outputs: Mapping[str, TemplateValue] = field(default_factory=dict)

    @property
    def routes(self) -> tuple[ApiRoute, ...]:
        return tuple(route for function in self.functions.values() for route in function.routes)

    def parameter_values(self, overrides: Mapping[str, str] | None = None) -> dict[str, TemplateValue]:
        overrides = dict(overrides or {})
        unknown = set(overrides) - set(self.parameters)
        if unknown:
            raise TemplateError(f"unknown template parameters: {sorted(unknown)}")
        return {name: param.value(overrides.get(name)) for name, param in self.parameters.items()}

    def import_paths(self) -> list[Path]:
        """Directories to put on sys.path so handlers import as `<dir>.app` and layers resolve."""
        paths = [function.code_dir.parent for function in self.functions.values()]
        for resource in self.resources.values():
            if resource.type == "AWS::Serverless::LayerVersion":
                content = resource.properties.get("ContentUri")
                if isinstance(content, str):
                    paths.append(self.root / content)
        return list(dict.fromkeys(path.resolve() for path in paths))


def load_template(path: Path | str, *, project_root: Path | str | None = None) -> Template:
    """Read a SAM template; relative code and definition paths are taken from `project_root`."""
    path = Path(path).resolve()
    root = Path(project_root).resolve() if project_root is not None else path.parent
    document = load_cfn_yaml(str(path))  # cfn-lint's loader: short-form intrinsics become their long forms
    if not isinstance(document, dict):
        raise TemplateError(f"{path}: a template must be a YAML mapping")
    globals_function = _mapping(_mapping(document.get("Globals")).get("Function"))
    resources = {
        logical_id: Resource(
            logical_id=logical_id,
            type=str(body.get("Type", "")),
            properties=_mapping(body.get("Properties")),
            condition=body.get("Condition"),
        )
        for logical_id, body in _mapping(document.get("Resources")).items()
    }
    return Template(
        path=path,
        root=root,
        parameters={
            name: _parameter(name, _mapping(body)) for name, body in _mapping(document.get("Parameters")).items()
        },
        conditions=_mapping(document.get("Conditions")),
        mappings=_mapping(document.get("Mappings")),
        resources=resources,
        functions={
            r.logical_id: _function(r, globals_function, root) for r in resources.values() if r.type in FUNCTION_TYPES
        },
        tables={
            r.logical_id: TableSpec(r.logical_id, r.properties, r.condition)
            for r in resources.values()
            if r.type in TABLE_TYPES
        },
        state_machines={
            r.logical_id: _state_machine(r, root) for r in resources.values() if r.type in STATE_MACHINE_TYPES
        },
        outputs=_mapping(document.get("Outputs")),
    )


def _mapping(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise TemplateError(f"expected a mapping, got {value!r}")
    return value


def _parameter(name: str, body: Mapping[str, Any]) -> Parameter:
    default = body.get("Default")
    if isinstance(default, list):
        default = ",".join(str(item) for item in default)
    return Parameter(
        name=name,
        type=str(body.get("Type", "String")),
        default=None if default is None else str(default),
        allowed_values=tuple(str(value) for value in body.get("AllowedValues", ())),
        allowed_pattern=body.get("AllowedPattern"),
    )


def _function(resource: Resource, globals_function: Mapping[str, Any], root: Path) -> FunctionSpec:
    properties = {
        **{key: globals_function[key] for key in _GLOBAL_FUNCTION_DEFAULTS if key in globals_function},
        **resource.properties,
    }
    code_uri = properties.get("CodeUri")
    if not isinstance(code_uri, str):
        raise TemplateError(f"{resource.logical_id}: only a local CodeUri directory is supported, got {code_uri!r}")
    handler = properties.get("Handler")
    if not isinstance(handler, str) or "." not in handler:
        raise TemplateError(f"{resource.logical_id}: Handler must look like 'module.function', got {handler!r}")
    environment = {
        **_mapping(_mapping(globals_function.get("Environment")).get("Variables")),
        **_mapping(_mapping(resource.properties.get("Environment")).get("Variables")),
    }
    return FunctionSpec(
        logical_id=resource.logical_id,
        code_dir=(root / code_uri).resolve(),
        handler=handler,
        runtime=properties.get("Runtime"),
        environment=environment,
        timeout=properties.get("Timeout", _SAM_DEFAULT_TIMEOUT),
        memory_size=properties.get("MemorySize", _SAM_DEFAULT_MEMORY_MB),
        function_name=properties.get("FunctionName"),
        log_group=_mapping(properties.get("LoggingConfig")).get("LogGroup"),
        routes=_routes(resource),
        condition=resource.condition,
        event_patterns=tuple(
            _mapping(_mapping(event.get("Properties")).get("Pattern"))
            for event in _mapping(resource.properties.get("Events")).values()
            if _mapping(event).get("Type") in ("EventBridgeRule", "CloudWatchEvent")
        ),
    )


def _routes(resource: Resource) -> tuple[ApiRoute, ...]:
    routes = []
    for event_name, event in _mapping(resource.properties.get("Events")).items():
        event_type = _mapping(event).get("Type")
        if event_type not in _ROUTE_EVENT_TYPES:
            continue
        properties = _mapping(event.get("Properties"))
        api = properties.get("RestApiId", properties.get("ApiId"))
        routes.append(
            ApiRoute(
                method=str(properties.get("Method", "ANY")).upper(),
                path=str(properties.get("Path", "/")),
                function=resource.logical_id,
                event=event_name,
                api=api["Ref"] if isinstance(api, dict) and isinstance(api.get("Ref"), str) else None,
                event_type=str(event_type),
            )
        )
    return tuple(routes)


def _state_machine(resource: Resource, root: Path) -> StateMachineSpec:
    properties = resource.properties
    definition_uri = properties.get("DefinitionUri")
    if definition_uri is not None and not isinstance(definition_uri, str):
        raise TemplateError(f"{resource.logical_id}: only a local DefinitionUri file is supported")
    definition = properties.get("Definition", properties.get("DefinitionString"))
    if definition_uri is None and definition is None:
        raise TemplateError(f"{resource.logical_id}: needs DefinitionUri or Definition")
    return StateMachineSpec(
        logical_id=resource.logical_id,
        definition_path=(root / definition_uri).resolve() if definition_uri else None,
        definition=definition,
        substitutions=_mapping(properties.get("DefinitionSubstitutions")),
        type=str(properties.get("Type", properties.get("StateMachineType", "STANDARD"))),
        name=properties.get("Name", properties.get("StateMachineName")),
        condition=resource.condition,
    )
