"""SageMaker real-time endpoints on moto, answering like an embedding model.

Moto stores models, endpoint configs and endpoints but every endpoint is instantly InService and
InvokeEndpoint returns a canned body. The emulator steers each endpoint through the Environment of
the SageMaker *Model* behind it (a real API, so in-process tests and clients of a local moto server
configure it the same way), snapshotted at CreateEndpoint as SageMaker does:

- EMULATOR_EMBEDDING_DIMENSION: vector length (default 384).
- EMULATOR_ENDPOINT_STATUS: InService (default), Failed (with EMULATOR_FAILURE_REASON) or Creating
  (never leaves Creating). EMULATOR_CREATING_POLLS=N reports Creating for the first N
  DescribeEndpoint calls before that final status.
- EMULATOR_RESPONSE: embeddings (default), nan, zeros, ragged, invalid_json, error (ModelError).
- EMULATOR_RESPONSE_SHAPE: list (`[[...]]`, default), embeddings (`{"embeddings": [[...]]}`),
  embedding (`{"embedding": [...]}`, flat for a single input).

Endpoint configs are also validated against botocore's current instance type list instead of
moto's outdated one, so configs naming GPU types such as ml.g5.xlarge are accepted.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from typing import Any
from urllib.parse import unquote
from weakref import WeakKeyDictionary

import botocore.session
from botocore.model import StringShape
from moto.core.exceptions import ServiceException
from moto.sagemaker.exceptions import ValidationError as SageMakerValidationError
from moto.sagemaker.models import FakeEndpointConfig, SageMakerModelBackend, sagemaker_backends
from moto.sagemakerruntime.responses import SageMakerRuntimeResponse

from local_stack._patch import Method, MethodPatch, PatchSet
from local_stack.embeddings import InvalidInput, ResponseMode, ResponseShape, parse_inputs, response_body

ENV_DIMENSION = "EMULATOR_EMBEDDING_DIMENSION"
ENV_STATUS = "EMULATOR_ENDPOINT_STATUS"
ENV_FAILURE_REASON = "EMULATOR_FAILURE_REASON"
ENV_CREATING_POLLS = "EMULATOR_CREATING_POLLS"
ENV_RESPONSE = "EMULATOR_RESPONSE"
ENV_RESPONSE_SHAPE = "EMULATOR_RESPONSE_SHAPE"

DEFAULT_DIMENSION = 384
DEFAULT_FAILURE_REASON = "The primary container for production variant AllTraffic did not pass the ping health check."


class EndpointStatus(StrEnum):
    IN_SERVICE = "InService"
    FAILED = "Failed"
    CREATING = "Creating"


@dataclass(frozen=True)
class EndpointProfile:
    """How one endpoint behaves, read from its model's container environment."""

    dimension: int = DEFAULT_DIMENSION
    status: EndpointStatus = EndpointStatus.IN_SERVICE
    failure_reason: str = DEFAULT_FAILURE_REASON
    creating_polls: int = 0
    response: ResponseMode = ResponseMode.EMBEDDINGS
    response_shape: ResponseShape = ResponseShape.LIST

    @classmethod
    def from_environment(cls, environment: Mapping[str, str]) -> EndpointProfile:
        """Parse the EMULATOR_* variables; a bad value raises ValueError naming the variable."""
        try:
            return cls(
                dimension=_positive_int(environment.get(ENV_DIMENSION, str(DEFAULT_DIMENSION)), minimum=1),
                status=EndpointStatus(environment.get(ENV_STATUS, EndpointStatus.IN_SERVICE)),
                failure_reason=environment.get(ENV_FAILURE_REASON, DEFAULT_FAILURE_REASON),
                creating_polls=_positive_int(environment.get(ENV_CREATING_POLLS, "0"), minimum=0),
                response=ResponseMode(environment.get(ENV_RESPONSE, ResponseMode.EMBEDDINGS)),
                response_shape=ResponseShape(environment.get(ENV_RESPONSE_SHAPE, ResponseShape.LIST)),
            )
        except ValueError as exc:
            emulator_vars = {k: v for k, v in environment.items() if k.startswith("EMULATOR_")}
            raise ValueError(f"invalid emulator settings {emulator_vars}: {exc}") from None


def _positive_int(raw: str, *, minimum: int) -> int:
    value = int(raw)
    if value < minimum:
        raise ValueError(f"{raw!r} is below {minimum}")
    return value


class ModelError(ServiceException):
    """InvokeEndpoint's 424: the container answered with an error status."""

    code = "ModelError"

    def __init__(self, endpoint: Any, status_code: int, message: str) -> None:
        kind = "client" if status_code < 500 else "server"
        log_group = f"/aws/sagemaker/Endpoints/{endpoint.endpoint_name}"
        super().__init__(
            f'Received {kind} error ({status_code}) from primary with message "{message}". '
            f"See the log group {log_group} for more information."
        )
        _, partition, _, region, account, _ = endpoint.arn.split(":", 5)
        self.original_status_code = status_code
        self.original_message = message
        self.log_stream_arn = f"arn:{partition}:logs:{region}:{account}:log-group:{log_group}"


class RuntimeValidationError(ServiceException):
    code = "ValidationError"


@dataclass
class _EndpointState:
    profile: EndpointProfile
    polls_left: int

    def advance(self, endpoint: Any) -> None:
        """Move the endpoint's reported status one DescribeEndpoint call forward."""
        if self.polls_left > 0 or self.profile.status is EndpointStatus.CREATING:
            self.polls_left = max(0, self.polls_left - 1)
            endpoint.endpoint_status = EndpointStatus.CREATING.value
            endpoint.failure_reason = None
            return
        endpoint.endpoint_status = self.profile.status.value
        endpoint.failure_reason = self.profile.failure_reason if self.profile.status is EndpointStatus.FAILED else None


_lock = threading.Lock()
_states: WeakKeyDictionary[Any, _EndpointState] = WeakKeyDictionary()


def _model_environment(backend: SageMakerModelBackend, endpoint_config_name: str) -> dict[str, str] | None:
    config = backend.endpoint_configs.get(endpoint_config_name)
    if config is None:
        return None
    for variant in config.production_variants:
        model = backend._models.get(str(variant.get("ModelName")))
        if model is None:
            continue
        for container in [model.primary_container, *model.containers]:
            if container:
                return dict(container.get("Environment") or {})
    return {}


def _creating_endpoint(original: Method) -> Method:
    def create_endpoint(
        backend: SageMakerModelBackend, endpoint_name: str, endpoint_config_name: str, tags: Any
    ) -> Any:
        environment = _model_environment(backend, endpoint_config_name)
        profile = EndpointProfile()
        if environment is not None:
            try:
                profile = EndpointProfile.from_environment(environment)
            except ValueError as exc:
                raise SageMakerValidationError(message=str(exc)) from None
        endpoint = original(backend, endpoint_name, endpoint_config_name, tags)
        state = _EndpointState(profile, polls_left=profile.creating_polls)
        with _lock:
            _states[endpoint] = state
            if profile.creating_polls > 0:
                endpoint.endpoint_status = EndpointStatus.CREATING.value
            else:
                state.advance(endpoint)
        return endpoint

    return create_endpoint


def _describing_endpoint(original: Method) -> Method:
    def describe_endpoint(backend: SageMakerModelBackend, endpoint_name: str) -> Any:
        endpoint = backend.endpoints.get(endpoint_name)
        if endpoint is not None:
            with _lock:
                state = _states.get(endpoint)
                if state is not None:
                    state.advance(endpoint)
        return original(backend, endpoint_name)

    return describe_endpoint


def _invoking_endpoint(_original: Method) -> Method:
    """Replaces SageMakerRuntimeResponse.invoke_endpoint.

    The response layer is patched rather than SageMakerRuntimeBackend.invoke_endpoint because moto
    5.2 passes that backend `EndpointName=None` (the name is a URI parameter its `_get_params`
    does not extract); the body only reaches it inside `unique_repr`, a base64 JSON cache key of the
    body, Accept and X-Amzn-SageMaker-* headers used to replay queued canned results.
    """

    def invoke_endpoint(response: SageMakerRuntimeResponse) -> tuple[int, dict[str, str], str]:
        runtime = response.sagemakerruntime_backend
        endpoint_name = unquote(response.path.split("/")[2])
        body, variant = answer_invocation(runtime.account_id, runtime.region_name, endpoint_name, response.body)
        headers = {"Content-Type": "application/json"}
        if variant:
            headers["x-Amzn-Invoked-Production-Variant"] = variant
        return 200, headers, body

    return invoke_endpoint


def answer_invocation(account_id: str, region: str, endpoint_name: str, body: str | bytes) -> tuple[str, str | None]:
    """The response body and production variant of an InvokeEndpoint call, or a SageMaker error."""
    endpoint = sagemaker_backends[account_id][region].endpoints.get(endpoint_name)
    if endpoint is None:
        raise RuntimeValidationError(f"Endpoint {endpoint_name} of account {account_id} not found.")
    with _lock:
        state = _states.get(endpoint)
        status = endpoint.endpoint_status
    if status != EndpointStatus.IN_SERVICE:
        raise RuntimeValidationError(f"Endpoint {endpoint_name} is not in service (status: {status}).")
    profile = state.profile if state is not None else EndpointProfile()
    if profile.response is ResponseMode.ERROR:
        raise ModelError(endpoint, 500, "emulated model failure (EMULATOR_RESPONSE=error)")
    try:
        texts = parse_inputs(body)
    except InvalidInput as exc:
        raise ModelError(endpoint, 400, str(exc)) from None
    answer = response_body(texts, dimension=profile.dimension, mode=profile.response, shape=profile.response_shape)
    variants = endpoint.production_variants
    return answer, (str(variants[0]["VariantName"]) if variants else None)


@cache
def _production_variant_instance_types() -> frozenset[str]:
    shape = botocore.session.get_session().get_service_model("sagemaker").shape_for("ProductionVariantInstanceType")
    return frozenset(shape.enum) if isinstance(shape, StringShape) else frozenset()


def _validating_instance_type(_original: Method) -> Method:
    """Validate against botocore's current instance type enum: moto's hard-coded list lacks ml.g5 and newer."""

    def validate_instance_type(_config: Any, instance_type: str) -> None:
        if instance_type not in _production_variant_instance_types():
            raise SageMakerValidationError(
                message=f"Value '{instance_type}' at 'instanceType' failed to satisfy constraint: "
                "Member must satisfy enum value set of ProductionVariantInstanceType"
            )

    return validate_instance_type


_PATCHES = (
    MethodPatch(FakeEndpointConfig, "validate_instance_type", _validating_instance_type),
    MethodPatch(SageMakerModelBackend, "create_endpoint", _creating_endpoint),
    MethodPatch(SageMakerModelBackend, "describe_endpoint", _describing_endpoint),
    MethodPatch(SageMakerRuntimeResponse, "invoke_endpoint", _invoking_endpoint),
)


class SageMakerEmulator(PatchSet):
    """Installs the endpoint emulation on moto's SageMaker backends while started."""

    patches = _PATCHES


SAGEMAKER_TRUST_POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
)
DEFAULT_MODEL_IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/huggingface-pytorch-inference:local-demo"


def register_model(
    client: Callable[[str], Any],
    name: str,
    *,
    role_name: str = "LocalStackSageMakerExecutionRole",
    image: str = DEFAULT_MODEL_IMAGE,
    **emulator: str | int,
) -> str:
    """Create (or replace, as a new model version would) a SageMaker Model whose endpoints this emulator
    steers by `EMULATOR_<KEY>` variables (`endpoint_status="Failed"`, `embedding_dimension=768`, …).
    `client` builds boto3 clients for the emulated account; returns the execution role's ARN."""
    iam, sagemaker = client("iam"), client("sagemaker")
    try:
        role_arn: str = iam.get_role(RoleName=role_name)["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        role_arn = iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=SAGEMAKER_TRUST_POLICY)["Role"]["Arn"]
    with contextlib.suppress(sagemaker.exceptions.ClientError):
        sagemaker.delete_model(ModelName=name)
    sagemaker.create_model(
        ModelName=name,
        ExecutionRoleArn=role_arn,
        PrimaryContainer={
            "Image": image,
            "Environment": {f"EMULATOR_{key.upper()}": str(value) for key, value in emulator.items()},
        },
    )
    return role_arn
