"""The shared layer ships exactly its pinned wheels, no AWS SDK, and bytecode (layers/common/Makefile)."""

import re
from pathlib import Path

from cfnlint.decode.cfn_yaml import load as load_yaml

ROOT = Path(__file__).resolve().parents[2]
LAYER = ROOT / "layers" / "common"


def _requirements() -> list[str]:
    lines = (LAYER / "requirements.txt").read_text().splitlines()
    return [line.split("#", 1)[0].strip() for line in lines if line.split("#", 1)[0].strip()]


def test_every_layer_dependency_is_pinned_exactly():
    for requirement in _requirements():
        assert re.fullmatch(r"[A-Za-z0-9_.-]+==[0-9][A-Za-z0-9.]*", requirement), requirement


def test_the_layer_leaves_the_aws_sdk_to_the_lambda_runtime():
    names = {requirement.split("==")[0].lower() for requirement in _requirements()}
    assert not names & {"boto3", "botocore", "s3transfer", "urllib3", "python-dateutil"}


def test_the_layer_is_built_by_its_makefile_with_bytecode():
    layer = load_yaml(ROOT / "template.yaml")["Resources"]["CommonLayer"]
    assert layer["Metadata"]["BuildMethod"] == "makefile"
    recipe = (LAYER / "Makefile").read_text()
    assert "build-CommonLayer:" in recipe
    assert "--no-deps" in recipe
    assert "compileall" in recipe
