"""Translate template.yaml to plain CloudFormation with SAM's own translator (samtranslator), offline.

    .tools/sam/bin/python scripts/translate_template.py [template.yaml] [build/template.cfn.json]

checkov reads the output (`make security`): only there does it see what SAM generates (inline policies
of the function roles, the API's stage, the rules' dead-letter queues). Like `sam validate`, local code
paths become placeholder S3 URIs; each SAM resource's Metadata (its checkov skips with their reasons) is
passed through to every resource generated from it, so a skip on `Api` also covers the stage.
Runs with the SAM CLI venv's python (samtranslator is pinned there, with the SAM CLI).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import boto3
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator
from samtranslator.yaml_helper import yaml_parse

# The pseudo parameters `sam validate` assumes (samcli IntrinsicsSymbolTable.DEFAULT_PSEUDO_PARAM_VALUES).
PSEUDO_PARAMETERS = {
    "AWS::AccountId": "123456789012",
    "AWS::Partition": "aws",
    "AWS::Region": "us-east-1",
    "AWS::StackName": "local",
    "AWS::StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/local/51af3dc0-da77-11e4-872e-1234567db123",
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::NoValue": None,
}
_LOCAL_URIS = {
    "AWS::Serverless::Function": "CodeUri",
    "AWS::Serverless::LayerVersion": "ContentUri",
    "AWS::Serverless::StateMachine": "DefinitionUri",
    "AWS::Serverless::Api": "DefinitionUri",
}


def with_placeholder_uris(template: dict[str, Any]) -> dict[str, Any]:
    for resource in template.get("Resources", {}).values():
        key = _LOCAL_URIS.get(resource.get("Type", ""))
        properties = resource.get("Properties", {})
        if key and isinstance(properties.get(key), str) and not properties[key].startswith("s3://"):
            properties[key] = f"s3://placeholder-bucket/{properties[key].strip('/')}"
    return template


def translate(path: Path) -> dict[str, Any]:
    template = with_placeholder_uris(yaml_parse(path.read_text()))
    # The template names managed policies by ARN only: no policy map to load from IAM (no account to ask).
    session = boto3.session.Session(region_name=PSEUDO_PARAMETERS["AWS::Region"])
    translator = Translator(None, Parser(), boto_session=session)
    return translator.translate(
        template, parameter_values=dict(PSEUDO_PARAMETERS), passthrough_metadata=True, get_managed_policy_map=dict
    )


def main(argv: list[str]) -> int:
    source = Path(argv[1]) if len(argv) > 1 else Path("template.yaml")
    target = Path(argv[2]) if len(argv) > 2 else Path("build/template.cfn.json")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(translate(source), indent=2, sort_keys=True) + "\n")
    print(f"{source} -> {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
