"""YAML loading for CloudFormation/SAM templates.

Templates use short-form intrinsics (`!Ref X`, `!GetAtt A.B`, `!Sub ...`) that PyYAML's SafeLoader
rejects. They are turned into the long JSON forms (`{"Ref": "X"}`, `{"Fn::GetAtt": ["A", "B"]}`)
so the resolver only has to understand one representation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

_FUNCTION_TAGS = (
    "And",
    "Base64",
    "Cidr",
    "Contains",  # Contains, EachMember*, RefAll, ValueOf*: rule functions (Rules: Assertions)
    "EachMemberEquals",
    "EachMemberIn",
    "Equals",
    "FindInMap",
    "GetAZs",
    "If",
    "ImportValue",
    "Join",
    "Not",
    "Or",
    "Select",
    "Split",
    "Sub",
    "Transform",
    "RefAll",
    "ValueOf",
    "ValueOfAll",
)


class CloudFormationLoader(yaml.SafeLoader):
    """SafeLoader that understands CloudFormation's short-form intrinsic function tags."""


def _construct_any(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    raise yaml.constructor.ConstructorError(None, None, f"unexpected node {node.tag}", node.start_mark)


def _function_constructor(key: str) -> Any:
    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
        return {key: _construct_any(loader, node)}

    return construct


def _construct_ref(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
    return {"Ref": _construct_any(loader, node)}


def _construct_condition(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
    return {"Condition": _construct_any(loader, node)}


def _construct_get_att(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
    value = _construct_any(loader, node)
    if isinstance(value, str):
        resource, _, attribute = value.partition(".")
        value = [resource, attribute]
    return {"Fn::GetAtt": value}


for _tag in _FUNCTION_TAGS:
    CloudFormationLoader.add_constructor(f"!{_tag}", _function_constructor(f"Fn::{_tag}"))
CloudFormationLoader.add_constructor("!Ref", _construct_ref)
CloudFormationLoader.add_constructor("!Condition", _construct_condition)
CloudFormationLoader.add_constructor("!GetAtt", _construct_get_att)


def load_yaml(path: Path) -> dict[str, Any]:
    """Parse a template file into plain dicts/lists/scalars with long-form intrinsics."""
    with path.open(encoding="utf-8") as stream:
        document = yaml.load(stream, Loader=CloudFormationLoader)  # noqa: S506 - SafeLoader subclass
    if not isinstance(document, dict):
        raise ValueError(f"{path}: a template must be a YAML mapping")
    return document
