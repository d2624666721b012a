"""Evaluation of CloudFormation intrinsic functions against known physical resources.

The emulator decides every physical name and ARN up front (they are deterministic), so values in
the template can be resolved before anything is created; this is what lets functions reference
state machines whose definitions reference those same functions.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

type TemplateValue = Any
"""A value read from a template: scalars, lists and dicts, possibly holding intrinsic functions."""

_NO_VALUE = object()
_SUB_PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")


class TemplateError(ValueError):
    """The template uses something the emulator cannot resolve, or resolves to an invalid value."""


@dataclass(frozen=True)
class PhysicalResource:
    """What `Ref` and `Fn::GetAtt` return for one logical resource."""

    ref: str
    attributes: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PseudoParameters:
    region: str
    account_id: str
    stack_name: str

    @property
    def partition(self) -> str:
        if self.region.startswith("cn-"):
            return "aws-cn"
        if self.region.startswith("us-gov-"):
            return "aws-us-gov"
        return "aws"

    @property
    def url_suffix(self) -> str:
        return "amazonaws.com.cn" if self.partition == "aws-cn" else "amazonaws.com"

    @property
    def stack_id(self) -> str:
        return (
            f"arn:{self.partition}:cloudformation:{self.region}:{self.account_id}:"
            f"stack/{self.stack_name}/00000000-0000-0000-0000-000000000000"
        )

    def as_refs(self) -> dict[str, TemplateValue]:
        return {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account_id,
            "AWS::Partition": self.partition,
            "AWS::URLSuffix": self.url_suffix,
            "AWS::StackName": self.stack_name,
            "AWS::StackId": self.stack_id,
            "AWS::NotificationARNs": [],
        }


class Resolver:
    """Resolves intrinsic functions given parameter values, pseudo parameters and physical resources."""

    def __init__(
        self,
        *,
        pseudo: PseudoParameters,
        parameters: Mapping[str, TemplateValue],
        resources: Mapping[str, PhysicalResource],
        conditions: Mapping[str, TemplateValue] | None = None,
        mappings: Mapping[str, TemplateValue] | None = None,
    ) -> None:
        self._pseudo = pseudo
        self._refs: dict[str, TemplateValue] = {**pseudo.as_refs(), **parameters}
        self._resources = resources
        self._conditions = conditions or {}
        self._mappings = mappings or {}
        self._condition_values: dict[str, bool] = {}
        self._functions: dict[str, Callable[[TemplateValue], TemplateValue]] = {
            "Fn::GetAtt": self._get_att,
            "Fn::Sub": self._sub,
            "Fn::Join": self._join,
            "Fn::If": self._if,
            "Fn::Select": self._select,
            "Fn::Split": self._split,
            "Fn::FindInMap": self._find_in_map,
            "Fn::Base64": self._base64,
            "Fn::Equals": self._equals,
            "Fn::Not": lambda args: not self._boolean(args[0]),
            "Fn::And": lambda args: all(self._boolean(arg) for arg in args),
            "Fn::Or": lambda args: any(self._boolean(arg) for arg in args),
        }

    @property
    def pseudo(self) -> PseudoParameters:
        return self._pseudo

    def resolve(self, value: TemplateValue) -> TemplateValue:
        """Return `value` with every intrinsic function evaluated (`AWS::NoValue` entries dropped)."""
        resolved = self._resolve(value)
        return None if resolved is _NO_VALUE else resolved

    def resolve_string(self, value: TemplateValue, what: str) -> str:
        """Resolve a value that must end up as a string, as Lambda environment variables must."""
        resolved = self.resolve(value)
        if isinstance(resolved, bool):
            return "true" if resolved else "false"
        if isinstance(resolved, str | int | float):
            return str(resolved)
        raise TemplateError(f"{what} must resolve to a string, got {resolved!r}")

    def condition(self, name: str) -> bool:
        if name not in self._condition_values:
            if name not in self._conditions:
                raise TemplateError(f"unknown condition {name!r}")
            self._condition_values[name] = self._boolean(self._conditions[name])
        return self._condition_values[name]

    def _resolve(self, value: TemplateValue) -> TemplateValue:
        if isinstance(value, list):
            items = (self._resolve(item) for item in value)
            return [item for item in items if item is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, argument),) = value.items()
            if key == "Ref":
                return self._ref(argument)
            if key == "Condition" and isinstance(argument, str):
                return self.condition(argument)
            if key in self._functions:
                return self._functions[key](argument)
            if key.startswith("Fn::"):
                raise TemplateError(f"intrinsic function {key} is not supported by the emulator")
        entries = ((key, self._resolve(item)) for key, item in value.items())
        return {key: item for key, item in entries if item is not _NO_VALUE}

    def _boolean(self, value: TemplateValue) -> bool:
        resolved = self._resolve(value)
        if isinstance(resolved, bool):
            return resolved
        if isinstance(resolved, str) and resolved.lower() in {"true", "false"}:
            return resolved.lower() == "true"
        raise TemplateError(f"condition must be a boolean, got {resolved!r}")

    def _ref(self, name: TemplateValue) -> TemplateValue:
        name = self._resolve(name)
        if name == "AWS::NoValue":
            return _NO_VALUE
        if name in self._refs:
            return self._refs[name]
        if name in self._resources:
            return self._resources[name].ref
        raise TemplateError(f"Ref to unknown parameter or resource {name!r}")

    def _get_att(self, argument: TemplateValue) -> str:
        resolved = self._resolve(argument)
        if isinstance(resolved, str):
            resolved = resolved.split(".", 1)
        if not (isinstance(resolved, list) and len(resolved) == 2):
            raise TemplateError(f"Fn::GetAtt needs [resource, attribute], got {argument!r}")
        return self.attribute(str(resolved[0]), str(resolved[1]))

    def attribute(self, logical_id: str, attribute: str) -> str:
        resource = self._resources.get(logical_id)
        if resource is None:
            raise TemplateError(f"Fn::GetAtt on unknown resource {logical_id!r}")
        if attribute not in resource.attributes:
            raise TemplateError(f"resource {logical_id!r} has no attribute {attribute!r} in the emulator")
        return resource.attributes[attribute]

    def _sub(self, argument: TemplateValue) -> str:
        if isinstance(argument, str):
            text, variables = argument, {}
        elif isinstance(argument, list) and len(argument) == 2 and isinstance(argument[1], dict):
            text, variables = argument[0], self._resolve(argument[1])
        else:
            raise TemplateError(f"Fn::Sub needs a string or [string, variables], got {argument!r}")
        if not isinstance(text, str):
            raise TemplateError(f"Fn::Sub template must be a string, got {text!r}")

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return str(variables[name])
            if name in self._refs or name in self._resources:
                return str(self._ref(name))
            if "." in name:
                logical_id, attribute = name.split(".", 1)
                return self.attribute(logical_id, attribute)
            raise TemplateError(f"Fn::Sub references unknown name {name!r}")

        return _SUB_PLACEHOLDER.sub(replace, text)

    def _join(self, argument: TemplateValue) -> str:
        delimiter, items = self._resolve(argument)
        return str(delimiter).join(str(item) for item in items)

    def _if(self, argument: TemplateValue) -> TemplateValue:
        name, when_true, when_false = argument
        return self._resolve(when_true if self.condition(name) else when_false)

    def _select(self, argument: TemplateValue) -> TemplateValue:
        index, items = self._resolve(argument)
        return items[int(index)]

    def _split(self, argument: TemplateValue) -> list[str]:
        delimiter, text = self._resolve(argument)
        return str(text).split(str(delimiter))

    def _find_in_map(self, argument: TemplateValue) -> TemplateValue:
        map_name, top_key, second_key = self._resolve(argument)
        try:
            return self._mappings[map_name][top_key][second_key]
        except KeyError:
            raise TemplateError(f"Fn::FindInMap: no {map_name}/{top_key}/{second_key}") from None

    def _base64(self, argument: TemplateValue) -> str:
        return base64.b64encode(str(self._resolve(argument)).encode()).decode()

    def _equals(self, argument: TemplateValue) -> bool:
        left, right = self._resolve(argument)
        return str(left) == str(right)
