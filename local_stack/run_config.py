"""Settings of the local run (`python -m local_stack run`) that other commands share, without moto.

The template parameters below shorten the workflows' waits so a deployment ends in seconds. Only the
parameters the template declares are passed, so the run works whichever of them exist.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from local_stack.template import Template

DEFAULT_HOST = "127.0.0.1"
DEFAULT_API_PORT = 3000  # sam local start-api's port
DEFAULT_AWS_PORT = 5000  # moto server's port
DEFAULT_REGION = "us-east-1"
DOCKER_HOST_ALIAS = "host.docker.internal"

# The caller of the sample events (events/*.json, which the tests and benchmarks send) is the platform's
# CI role, ml-platform-ci: an admin of every emulated stack (AdminPrincipalArnPatterns), as automation is.
SAMPLE_ADMIN_PATTERN = "arn:aws:iam::123456789012:role/ml-platform-*"  # local_stack.stack.DEFAULT_ACCOUNT_ID
SAMPLE_CALLER_ROLE = "ml-platform-ci"

RUN_PARAMETERS: Mapping[str, str] = {
    "GreenPollSeconds": "1",
    # The emulated endpoints move on only when looked at: the wait's fallback look comes after 1 s.
    "GreenEventWaitSeconds": "1",
    "DrainSeconds": "1",
    "GreenTimeoutSeconds": "60",
    "RemovalTimeoutSeconds": "60",
    "AdminPrincipalArnPatterns": SAMPLE_ADMIN_PATTERN,
    # A deploy with a blue bakes this long (long enough to trip an alarm by hand; see the README).
    "BakeSeconds": "20",
    "BakeCheckSeconds": "1",
}

DEMO_MODEL_NAME = "embed-deploy-123"
DEMO_MODEL_IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/huggingface-pytorch-inference:local-demo"
DEMO_MODEL_ROLE = "LocalStackSageMakerExecutionRole"
# The emulated endpoint reports Creating once before InService, so the green wait takes its fallback look.
DEMO_MODEL_ENVIRONMENT: Mapping[str, str] = {"EMULATOR_CREATING_POLLS": "1", "EMULATOR_EMBEDDING_DIMENSION": "384"}
# Per-model authorization, locally: the demo model and the default caller (the local-developer IAM user)
# carry the same owner tag; one demo role carries it too, another carries none (it may not touch the model).
DEMO_TEAM = "embeddings"
DEMO_OWNER_ROLE = "demo-embeddings-deployer"
DEMO_UNTAGGED_ROLE = "demo-untagged-deployer"


def run_parameters(template: Template, overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """RUN_PARAMETERS the template declares, then `overrides` (which must all be declared)."""
    parameters = {name: value for name, value in RUN_PARAMETERS.items() if name in template.parameters}
    parameters.update(overrides or {})
    return parameters


def trust_policy(account_id: str) -> str:
    """A role trust policy letting the account's principals assume the role."""
    statement = {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"}, "Action": "sts:AssumeRole"}
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def create_sample_caller(iam: Any, account_id: str) -> None:
    """The sample events' caller, the CI role, in the emulated IAM: an admin is a role IAM knows."""
    iam.create_role(RoleName=SAMPLE_CALLER_ROLE, AssumeRolePolicyDocument=trust_policy(account_id))
