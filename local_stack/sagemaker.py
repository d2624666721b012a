"""SageMaker real-time endpoints on moto, answering like an embedding model.

Moto stores models, endpoint configs and endpoints but every endpoint is instantly InService and
InvokeEndpoint returns a canned body. The emulator steers each endpoint through the Environment of
the SageMaker *Model* behind it (a real API, so in-process tests and clients of a local moto server
configure it the same way), snapshotted at CreateEndpoint as SageMaker does:

- EMULATOR_EMBEDDING_DIMENSION: vector length (default 384).
- EMULATOR_ENDPOINT_STATUS: InService (default), Failed (with EMULATOR_FAILURE_REASON), or a
  transitional status the endpoint never leaves (Creating, Updating, SystemUpdating, RollingBack,
  OutOfService). EMULATOR_CREATING_POLLS=N reports Creating for the first N DescribeEndpoint calls
  before that final status.
- EMULATOR_DELETING_POLLS: after DeleteEndpoint the endpoint is listed and described as Deleting
  for this many observations (DescribeEndpoint calls, ListEndpoints pages showing it; default 1)
  before it is gone.
- EMULATOR_DESCRIBE_MISSES: DescribeEndpoint and DescribeEndpointConfig answer "Could not find"
  for the first N calls after the create, as SageMaker's eventually consistent reads may (default 0).
- EMULATOR_STATE_CHANGE_EVENTS: "true" (default) publishes a "SageMaker Endpoint State Change" event,
  as SageMaker does to EventBridge, each time the endpoint's status changes (to the listeners added
  with `add_state_change_listener`, from a thread of its own); "false" loses them.
- EMULATOR_RESPONSE: embeddings (default), nan, zeros, ragged, invalid_json, error (ModelError).
- EMULATOR_RESPONSE_SHAPE: list (`[[...]]`, default), embeddings (`{"embeddings": [[...]]}`),
  embedding (`{"embedding": [...]}`, flat for a single input).
- EMULATOR_EMBEDDING_SPACE: the model's embedding space (default `base`): endpoints of models with the
  same space answer the same vectors; another name is another model's space (an orthogonal map of the
  base: cosine near 0, every similarity among texts kept). EMULATOR_EMBEDDING_DRIFT (default 0): a
  fine-tune's drift, a per-text perturbation of that relative size (0.3: cosine about 0.96).
- EMULATOR_MAX_BATCH_SIZE: inputs per request the container takes (default 32, Hugging Face TEI's
  max_client_batch_size); more is a ModelError 413, as the container answers.

Where moto is kinder than SageMaker it is made as strict: DeleteEndpoint is refused
(ValidationException) while the endpoint is Creating, Updating, SystemUpdating or RollingBack;
names of endpoints and endpoint configs are case-insensitive, so creating one whose name differs
from an existing one only in case is "Cannot create already existing ..." (moto overwrites it);
describing or deleting finds a resource whatever the case of the name. Endpoint configs are
validated against botocore's current instance type list instead of moto's outdated one, so
configs naming GPU types such as ml.g5.xlarge are accepted.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from functools import cache
from typing import Any
from urllib.parse import unquote
from weakref import WeakKeyDictionary

import botocore.session
from botocore.model import StringShape
from moto.core.exceptions import ServiceException
from moto.sagemaker.exceptions import ValidationError as SageMakerValidationError
from moto.sagemaker.models import FakeEndpoint, FakeEndpointConfig, SageMakerModelBackend, sagemaker_backends
from moto.sagemaker.responses import SageMakerResponse
from moto.sagemakerruntime.responses import SageMakerRuntimeResponse

from local_stack._patch import Method
from local_stack.embeddings import BASE_SPACE, InvalidInput, ResponseMode, ResponseShape, parse_inputs, response_body

ENV_DIMENSION = "EMULATOR_EMBEDDING_DIMENSION"
ENV_STATUS = "EMULATOR_ENDPOINT_STATUS"
ENV_FAILURE_REASON = "EMULATOR_FAILURE_REASON"
ENV_CREATING_POLLS = "EMULATOR_CREATING_POLLS"
ENV_DELETING_POLLS = "EMULATOR_DELETING_POLLS"
ENV_DESCRIBE_MISSES = "EMULATOR_DESCRIBE_MISSES"
ENV_RESPONSE = "EMULATOR_RESPONSE"
ENV_STATE_CHANGE_EVENTS = "EMULATOR_STATE_CHANGE_EVENTS"
ENV_RESPONSE_SHAPE = "EMULATOR_RESPONSE_SHAPE"

ENV_EMBEDDING_SPACE = "EMULATOR_EMBEDDING_SPACE"
ENV_EMBEDDING_DRIFT = "EMULATOR_EMBEDDING_DRIFT"
ENV_MAX_BATCH_SIZE = "EMULATOR_MAX_BATCH_SIZE"

DEFAULT_DIMENSION = 384
DEFAULT_MAX_BATCH_SIZE = 32
DEFAULT_FAILURE_REASON = "The primary container for production variant AllTraffic did not pass the ping health check."


class EndpointStatus(StrEnum):
    IN_SERVICE = "InService"
    FAILED = "Failed"
    CREATING = "Creating"
    UPDATING = "Updating"
    SYSTEM_UPDATING = "SystemUpdating"
    ROLLING_BACK = "RollingBack"
    OUT_OF_SERVICE = "OutOfService"
    DELETING = "Deleting"


# SageMaker refuses DeleteEndpoint while one of these runs (the EndpointStatus documentation; field
# reports of endpoints stuck in Creating for an hour until they turn Failed and can be deleted).
UNDELETABLE_STATUSES = frozenset(
    {EndpointStatus.CREATING, EndpointStatus.UPDATING, EndpointStatus.SYSTEM_UPDATING, EndpointStatus.ROLLING_BACK}
)
DEFAULT_DELETING_POLLS = 1


@dataclass(frozen=True)
class EndpointProfile:
    """How one endpoint behaves, read from its model's container environment."""

    dimension: int = DEFAULT_DIMENSION
    status: EndpointStatus = EndpointStatus.IN_SERVICE
    failure_reason: str = DEFAULT_FAILURE_REASON
    creating_polls: int = 0
    deleting_polls: int = DEFAULT_DELETING_POLLS
    describe_misses: int = 0
    response: ResponseMode = ResponseMode.EMBEDDINGS
    response_shape: ResponseShape = ResponseShape.LIST
    state_change_events: bool = True
    embedding_space: str = BASE_SPACE
    embedding_drift: float = 0.0
    max_batch_size: int = DEFAULT_MAX_BATCH_SIZE

    @classmethod
    def from_environment(cls, environment: Mapping[str, str]) -> EndpointProfile:
        """Parse the EMULATOR_* variables; a bad value raises ValueError naming the variable."""
        try:
            status = EndpointStatus(environment.get(ENV_STATUS, EndpointStatus.IN_SERVICE))
            if status is EndpointStatus.DELETING:
                raise ValueError("an endpoint cannot be created Deleting")
            return cls(
                dimension=_positive_int(environment.get(ENV_DIMENSION, str(DEFAULT_DIMENSION)), minimum=1),
                status=status,
                failure_reason=environment.get(ENV_FAILURE_REASON, DEFAULT_FAILURE_REASON),
                creating_polls=_positive_int(environment.get(ENV_CREATING_POLLS, "0"), minimum=0),
                deleting_polls=_positive_int(
                    environment.get(ENV_DELETING_POLLS, str(DEFAULT_DELETING_POLLS)), minimum=0
                ),
                describe_misses=_positive_int(environment.get(ENV_DESCRIBE_MISSES, "0"), minimum=0),
                response=ResponseMode(environment.get(ENV_RESPONSE, ResponseMode.EMBEDDINGS)),
                response_shape=ResponseShape(environment.get(ENV_RESPONSE_SHAPE, ResponseShape.LIST)),
                state_change_events=_flag(environment.get(ENV_STATE_CHANGE_EVENTS, "true")),
                embedding_space=_non_empty(environment.get(ENV_EMBEDDING_SPACE, BASE_SPACE)),
                embedding_drift=_non_negative_float(environment.get(ENV_EMBEDDING_DRIFT, "0")),
                max_batch_size=_positive_int(
                    environment.get(ENV_MAX_BATCH_SIZE, str(DEFAULT_MAX_BATCH_SIZE)), minimum=1
                ),
            )
        except ValueError as exc:
            emulator_vars = {k: v for k, v in environment.items() if k.startswith("EMULATOR_")}
            raise ValueError(f"invalid emulator settings {emulator_vars}: {exc}") from None


def _flag(raw: str) -> bool:
    if raw.lower() not in ("true", "false"):
        raise ValueError(f"{raw!r} is not true or false")
    return raw.lower() == "true"


def _non_empty(raw: str) -> str:
    if not raw.strip():
        raise ValueError("an embedding space needs a name")
    return raw


def _non_negative_float(raw: str) -> float:
    value = float(raw)
    if not value >= 0 or value == float("inf"):
        raise ValueError(f"{raw!r} is not a finite number of at least 0")
    return value


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
    misses_left: int
    deleting_left: int | None = None  # set by DeleteEndpoint: observations left before it is gone

    def advance(self, endpoint: Any) -> None:
        """Move the endpoint's reported status one DescribeEndpoint call forward."""
        if self.deleting_left is not None:
            return
        before = endpoint.endpoint_status
        if self.polls_left > 0 or self.profile.status is EndpointStatus.CREATING:
            self.polls_left = max(0, self.polls_left - 1)
            endpoint.endpoint_status = EndpointStatus.CREATING.value
            endpoint.failure_reason = None
        else:
            endpoint.endpoint_status = self.profile.status.value
            failed = self.profile.status is EndpointStatus.FAILED
            endpoint.failure_reason = self.profile.failure_reason if failed else None
        if endpoint.endpoint_status != before and self.profile.state_change_events:
            _publish_state_change(endpoint)


type StateChangeListener = Callable[[dict[str, Any]], None]
_listeners: list[StateChangeListener] = []


def add_state_change_listener(listener: StateChangeListener) -> Callable[[], None]:
    """Receive every endpoint state change event (EventBridge's envelope); returns the remover."""
    _listeners.append(listener)
    return lambda: _listeners.remove(listener)


def _event_status(status: str) -> str:
    """The event spells statuses IN_SERVICE, FAILED, CREATING... where DescribeEndpoint says InService."""
    return "".join(f"_{c}" if c.isupper() and i else c for i, c in enumerate(status)).upper()


def _publish_state_change(endpoint: Any) -> None:
    """Deliver the event SageMaker would send, after the call that changed the status (asynchronously)."""
    _, _, _, region, account, _ = endpoint.arn.split(":", 5)
    event = {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "SageMaker Endpoint State Change",
        "source": "aws.sagemaker",
        "account": account,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [endpoint.arn],
        "detail": {
            "EndpointName": endpoint.endpoint_name,
            "EndpointArn": endpoint.arn,
            "EndpointConfigName": endpoint.endpoint_config_name,
            "EndpointStatus": _event_status(endpoint.endpoint_status),
            "Tags": {},
        },
    }
    for listener in list(_listeners):
        threading.Thread(target=listener, args=(event,), name="sagemaker-state-change", daemon=True).start()


def settle_endpoint(backend: SageMakerModelBackend, endpoint_name: str, status: str = "InService") -> None:
    """End the creation of an endpoint that is kept Creating (tests): it turns `status`, with its event."""
    with _lock:
        endpoint = backend.endpoints[_stored_name(backend.endpoints, endpoint_name) or endpoint_name]
        state = _states[endpoint]
        state.profile = dataclasses.replace(state.profile, status=EndpointStatus(status))
        state.polls_left = 0
        state.advance(endpoint)


_lock = threading.Lock()
_states: WeakKeyDictionary[Any, _EndpointState] = WeakKeyDictionary()
_config_misses: WeakKeyDictionary[Any, int] = WeakKeyDictionary()


def _stored_name(resources: Mapping[str, Any], name: str) -> str | None:
    """The key `name` is stored under, compared case-insensitively as SageMaker compares names."""
    if name in resources:
        return name
    folded = name.lower()
    return next((key for key in resources if key.lower() == folded), None)


def _not_found(kind: str, arn: str) -> SageMakerValidationError:
    return SageMakerValidationError(message=f'Could not find {kind} "{arn}".')


def _model_environment(backend: SageMakerModelBackend, endpoint_config_name: str) -> dict[str, str] | None:
    config = backend.endpoint_configs.get(endpoint_config_name)
    if config is None:
        return None
    return _variant_environment(backend, config.production_variants)


def _variant_environment(backend: SageMakerModelBackend, variants: Any) -> dict[str, str]:
    for variant in variants or ():
        model = backend._models.get(str(variant.get("ModelName")))
        if model is None:
            continue
        for container in [model.primary_container, *model.containers]:
            if container:
                return dict(container.get("Environment") or {})
    return {}


def _profile(environment: Mapping[str, str] | None) -> EndpointProfile:
    if environment is None:
        return EndpointProfile()
    try:
        return EndpointProfile.from_environment(environment)
    except ValueError as exc:
        raise SageMakerValidationError(message=str(exc)) from None


def _creating_endpoint(original: Method) -> Method:
    def create_endpoint(
        backend: SageMakerModelBackend, endpoint_name: str, endpoint_config_name: str, tags: Any
    ) -> Any:
        existing = _stored_name(backend.endpoints, endpoint_name)
        if existing is not None:
            arn = backend.endpoints[existing].arn
            raise SageMakerValidationError(message=f'Cannot create already existing endpoint "{arn}".')
        endpoint_config_name = _stored_name(backend.endpoint_configs, endpoint_config_name) or endpoint_config_name
        profile = _profile(_model_environment(backend, endpoint_config_name))
        endpoint = original(backend, endpoint_name, endpoint_config_name, tags)
        state = _EndpointState(profile, polls_left=profile.creating_polls, misses_left=profile.describe_misses)
        with _lock:
            _states[endpoint] = state
            endpoint.endpoint_status = None  # nothing reported yet: the first status is a change
            if profile.creating_polls > 0:
                endpoint.endpoint_status = EndpointStatus.CREATING.value
                if profile.state_change_events:
                    _publish_state_change(endpoint)
            else:
                state.advance(endpoint)
        return endpoint

    return create_endpoint


def _creating_endpoint_config(original: Method) -> Method:
    def create_endpoint_config(backend: SageMakerModelBackend, endpoint_config_name: str, **kwargs: Any) -> Any:
        existing = _stored_name(backend.endpoint_configs, endpoint_config_name)
        if existing is not None:
            arn = FakeEndpointConfig.arn_formatter(existing, backend.account_id, backend.region_name)
            raise SageMakerValidationError(message=f'Cannot create already existing endpoint configuration "{arn}".')
        profile = _profile(_variant_environment(backend, kwargs.get("production_variants")))
        config = original(backend, endpoint_config_name=endpoint_config_name, **kwargs)
        with _lock:
            _config_misses[config] = profile.describe_misses
        return config

    return create_endpoint_config


def _observe_deleting(backend: SageMakerModelBackend, name: str) -> None:
    """One look at a Deleting endpoint: it shows Deleting while observations are left, then it is gone."""
    endpoint = backend.endpoints.get(name)
    state = _states.get(endpoint) if endpoint is not None else None
    if state is None or state.deleting_left is None:
        return
    if state.deleting_left > 0:
        state.deleting_left -= 1
        return
    backend.endpoints.pop(name, None)


def _describing_endpoint(original: Method) -> Method:
    def describe_endpoint(backend: SageMakerModelBackend, endpoint_name: str) -> Any:
        endpoint_name = _stored_name(backend.endpoints, endpoint_name) or endpoint_name
        with _lock:
            _observe_deleting(backend, endpoint_name)
            endpoint = backend.endpoints.get(endpoint_name)
            state = _states.get(endpoint) if endpoint is not None else None
            if state is not None and endpoint is not None:
                state.advance(endpoint)
        if endpoint is None:
            raise _not_found(
                "endpoint", FakeEndpoint.arn_formatter(endpoint_name, backend.account_id, backend.region_name)
            )
        return original(backend, endpoint_name)

    return describe_endpoint


def _listing_endpoints(original: Method) -> Method:
    def list_endpoints(backend: SageMakerModelBackend, *args: Any, **kwargs: Any) -> Any:
        with _lock:
            for name in list(backend.endpoints):
                _observe_deleting(backend, name)
        return original(backend, *args, **kwargs)

    return list_endpoints


def _listing_tags(original: Method) -> Method:
    """ListTags of a resource that is gone (deleted since it was listed) answers "Could not find", as
    SageMaker does, where moto fails on the missing resource."""

    def list_tags(backend: SageMakerModelBackend, arn: str, *args: Any, **kwargs: Any) -> Any:
        if backend._get_resource_from_arn(arn) is None:
            raise SageMakerValidationError(message=f'Could not find resource "{arn}".')
        return original(backend, arn, *args, **kwargs)

    return list_tags


def _deleting_endpoint(original: Method) -> Method:
    def delete_endpoint(backend: SageMakerModelBackend, endpoint_name: str) -> None:
        stored = _stored_name(backend.endpoints, endpoint_name)
        if stored is None:
            raise _not_found(
                "endpoint", FakeEndpoint.arn_formatter(endpoint_name, backend.account_id, backend.region_name)
            )
        endpoint = backend.endpoints[stored]
        with _lock:
            status = endpoint.endpoint_status
            if status in UNDELETABLE_STATUSES or status == EndpointStatus.DELETING:
                raise SageMakerValidationError(
                    message=f'Cannot delete endpoint "{endpoint.arn}" while its status is {status}.'
                )
            state = _states.get(endpoint)
            if state is None:  # created before the emulator started: default behaviour
                state = _states[endpoint] = _EndpointState(EndpointProfile(), polls_left=0, misses_left=0)
            polls = state.profile.deleting_polls
            if polls == 0:
                original(backend, stored)
                return
            state.deleting_left = polls
            endpoint.endpoint_status = EndpointStatus.DELETING.value
            endpoint.failure_reason = None

    return delete_endpoint


def _resolving_config_name(original: Method) -> Method:
    """describe_endpoint_config / delete_endpoint_config with SageMaker's case-insensitive names."""

    def call(backend: SageMakerModelBackend, endpoint_config_name: str) -> Any:
        name = _stored_name(backend.endpoint_configs, endpoint_config_name) or endpoint_config_name
        return original(backend, name)

    return call


def _missing_after_create(
    kind: str, parameter: str, resources: str, arn_of: Callable[[str, str, str], str], misses: Callable[[Any], bool]
) -> Method:
    """Patch for a SageMakerResponse describe call: answer "Could not find" while the resource's
    eventual-consistency misses last (the API only; moto's own lookups always see it)."""

    def patch(original: Method) -> Method:
        def describe(response: SageMakerResponse) -> Any:
            backend = response.sagemaker_backend
            name = str(response._get_param(parameter))
            stored = getattr(backend, resources)
            resource = stored.get(_stored_name(stored, name) or name)
            if resource is not None:
                with _lock:
                    missing = misses(resource)
                if missing:
                    arn = arn_of(_stored_name(stored, name) or name, backend.account_id, backend.region_name)
                    raise _not_found(kind, arn)
            return original(response)

        return describe

    return patch


def _endpoint_missing(endpoint: Any) -> bool:
    state = _states.get(endpoint)
    if state is None or state.misses_left == 0:
        return False
    state.misses_left -= 1
    return True


def _config_missing(config: Any) -> bool:
    left = _config_misses.get(config, 0)
    if left == 0:
        return False
    _config_misses[config] = left - 1
    return True


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
    if len(texts) > profile.max_batch_size:
        raise ModelError(
            endpoint, 413, f"batch size {len(texts)} > maximum allowed batch size {profile.max_batch_size}"
        )
    answer = response_body(
        texts,
        dimension=profile.dimension,
        mode=profile.response,
        shape=profile.response_shape,
        space=profile.embedding_space,
        drift=profile.embedding_drift,
    )
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
    tags: Mapping[str, str] | None = None,
    **emulator: str | int,
) -> str:
    """Create (or replace, as a new model version would) a SageMaker Model whose endpoints this emulator
    steers by `EMULATOR_<KEY>` variables (`endpoint_status="Failed"`, `embedding_dimension=768`, …), with
    `tags` (its owner tag, for per-model authorization). `client` builds boto3 clients for the emulated
    account; returns the execution role's ARN."""
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
        Tags=[{"Key": key, "Value": value} for key, value in (tags or {}).items()],
    )
    return role_arn
