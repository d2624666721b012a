"""SageMaker control plane and runtime, behind the few calls a green deployment needs.

SageMaker reports a missing model, endpoint or config as a ValidationException with no distinct
code, so "not found" is recognised by its message here and nowhere else.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, cast

from botocore.exceptions import BotoCoreError, ClientError

from inference_deploy.adapters import aws
from inference_deploy.errors import ModelNotFound, SageMakerError, SageMakerThrottled, SmokeTestFailed
from inference_deploy.models.serving import EndpointRef

if TYPE_CHECKING:
    from mypy_boto3_sagemaker import SageMakerClient
    from mypy_boto3_sagemaker.literals import ProductionVariantInstanceTypeType
    from mypy_boto3_sagemaker.type_defs import DescribeEndpointOutputTypeDef, ProductionVariantTypeDef, TagTypeDef
    from mypy_boto3_sagemaker_runtime import SageMakerRuntimeClient

_TRANSIENT = {
    "ThrottlingException",
    "Throttling",
    "ServiceUnavailable",
    "InternalFailure",
    "InternalServerError",
    "RequestLimitExceeded",
}


# A SageMaker call either answers an error (ClientError) or does not answer (BotoCoreError: timeouts,
# broken connections); no answer is transient, and a write behind it may have been applied.
_FAILED = (ClientError, BotoCoreError)


def _code(exc: ClientError | BotoCoreError) -> str:
    return exc.response.get("Error", {}).get("Code", "") if isinstance(exc, ClientError) else ""


def _is_not_found(exc: ClientError | BotoCoreError, resource: str = "") -> bool:
    """`resource` narrows it down ("model", "endpoint configuration"): SageMaker names the missing
    resource in the message, and a missing model is final while a missing config may just not be
    visible yet (SageMaker's reads are eventually consistent)."""
    if not isinstance(exc, ClientError):
        return False
    message = exc.response.get("Error", {}).get("Message", "")
    return _code(exc) in {"ValidationException", "ResourceNotFound"} and f"Could not find {resource}" in message


def _translate(exc: ClientError | BotoCoreError, what: str) -> Exception:
    if isinstance(exc, BotoCoreError):
        return SageMakerThrottled(f"{what}: no answer from SageMaker ({type(exc).__name__})")
    if _code(exc) in _TRANSIENT:
        return SageMakerThrottled(f"{what}: SageMaker is throttling or unavailable ({_code(exc)})")
    code = _code(exc)
    reason = exc.response.get("Error", {}).get("Message", "")
    # A ValidationException says what to fix; AccessDenied texts (caller and role ARNs) stay out of the task.
    detail = f"{code}: {reason}" if code == "ValidationException" and reason else code
    return SageMakerError(f"{what}: SageMaker refused the request ({detail})")


@dataclass(frozen=True)
class EndpointState:
    name: str
    status: str
    failure_reason: str | None = None


@dataclass(frozen=True)
class ManagedResource:
    """An endpoint or endpoint config, with its tags (what the reconciler decides on)."""

    kind: str  # "endpoint" or "endpoint config"
    name: str
    status: str | None
    created: datetime
    tags: dict[str, str]


@dataclass(frozen=True)
class Invocation:
    body: bytes
    latency_ms: float


class SageMaker:
    def __init__(self, client: SageMakerClient | None = None, runtime: SageMakerRuntimeClient | None = None) -> None:
        self._client = client or aws.sagemaker()
        self._runtime = runtime

    def describe_model(self, model_name: str) -> str:
        """The model's ARN, or ModelNotFound."""
        try:
            return self._client.describe_model(ModelName=model_name)["ModelArn"]
        except _FAILED as exc:
            if _is_not_found(exc, "model"):
                raise ModelNotFound(f"SageMaker model '{model_name}' does not exist") from exc
            raise _translate(exc, f"describe model {model_name}") from exc

    def model_tags(self, model_name: str) -> dict[str, str] | None:
        """The SageMaker Model's tags, or None when no such model exists."""
        try:
            arn = self.describe_model(model_name)
        except ModelNotFound:
            return None
        tags: dict[str, str] = {}
        # NextToken followed by hand, not with a paginator: the first get_paginator of a process loads
        # botocore's paginator models (~10-15 ms CPU of the create function's cold start), for one call.
        try:
            page = self._client.list_tags(ResourceArn=arn)
            tags.update({tag["Key"]: tag["Value"] for tag in page.get("Tags", [])})
            while page.get("NextToken"):
                page = self._client.list_tags(ResourceArn=arn, NextToken=page["NextToken"])
                tags.update({tag["Key"]: tag["Value"] for tag in page.get("Tags", [])})
        except _FAILED as exc:
            if _is_not_found(exc):  # deleted between the describe and now
                return None
            raise _translate(exc, f"list tags of model {model_name}") from exc
        return tags

    def create_endpoint(
        self, ref: EndpointRef, *, model_name: str, instance_type: str, instance_count: int, tags: dict[str, str]
    ) -> None:
        """Create the endpoint config and the endpoint; what already exists (a retried step) is kept.
        SageMaker's reads are eventually consistent, so a resource a describe did not find may still
        exist ("Cannot create already existing ..."): that is success when it carries `tags` (this task
        created it, its answer lost), and SageMakerError when it does not."""
        tag_list: list[TagTypeDef] = [{"Key": k, "Value": v} for k, v in sorted(tags.items())]
        try:
            if not self.endpoint_config_exists(ref.endpoint_config_name):
                variant: ProductionVariantTypeDef = {
                    "VariantName": "AllTraffic",
                    "ModelName": model_name,
                    "InstanceType": cast("ProductionVariantInstanceTypeType", instance_type),
                    "InitialInstanceCount": instance_count,
                }
                try:
                    self._client.create_endpoint_config(
                        EndpointConfigName=ref.endpoint_config_name, ProductionVariants=[variant], Tags=tag_list
                    )
                except ClientError as exc:
                    if not self._exists_with_tags("endpoint config", ref.endpoint_config_name, tags, exc):
                        raise
            if self.endpoint_state(ref.endpoint_name) is None:
                try:
                    self._client.create_endpoint(
                        EndpointName=ref.endpoint_name,
                        EndpointConfigName=ref.endpoint_config_name,
                        Tags=tag_list,
                    )
                except ClientError as exc:
                    if not self._exists_with_tags("endpoint", ref.endpoint_name, tags, exc):
                        raise
        except _FAILED as exc:
            if _is_not_found(exc, "model"):
                raise ModelNotFound(f"SageMaker model '{model_name}' does not exist") from exc
            if _is_not_found(exc):  # the config we just created is not visible yet: retry
                raise SageMakerThrottled(f"create endpoint {ref.endpoint_name}: {exc}") from exc
            raise _translate(exc, f"create endpoint {ref.endpoint_name}") from exc

    def _exists_with_tags(self, kind: str, name: str, tags: dict[str, str], refused: ClientError) -> bool:
        """After a refused create: does a resource of that name exist (names compare case-insensitively)
        carrying `tags`? One that exists without them is not ours to take over."""
        if _code(refused) != "ValidationException":
            return False
        arn = self._arn_of(kind, name)
        if arn is None:
            return False
        if not self._has_tags(arn, tags):
            raise SageMakerError(f"create {kind} {name}: one of that name exists that this task did not create")
        return True

    def _arn_of(self, kind: str, name: str) -> str | None:
        """The ARN of an endpoint or endpoint config found by listing (listings see what a describe may
        not yet)."""
        try:
            if kind == "endpoint":
                for page in self._client.get_paginator("list_endpoints").paginate(NameContains=name):
                    for endpoint in page["Endpoints"]:
                        if endpoint["EndpointName"].lower() == name.lower():
                            return endpoint["EndpointArn"]
            else:
                for configs in self._client.get_paginator("list_endpoint_configs").paginate(NameContains=name):
                    for config in configs["EndpointConfigs"]:
                        if config["EndpointConfigName"].lower() == name.lower():
                            return config["EndpointConfigArn"]
        except _FAILED as exc:
            raise _translate(exc, f"list {kind}s {name}") from exc
        return None

    def _described(self, endpoint_name: str) -> DescribeEndpointOutputTypeDef | None:
        """DescribeEndpoint, or None when the endpoint does not exist (any more)."""
        try:
            return self._client.describe_endpoint(EndpointName=endpoint_name)
        except _FAILED as exc:
            if _is_not_found(exc):
                return None
            raise _translate(exc, f"describe endpoint {endpoint_name}") from exc

    def endpoint_state(self, endpoint_name: str) -> EndpointState | None:
        described = self._described(endpoint_name)
        if described is None:
            return None
        return EndpointState(
            name=endpoint_name, status=described["EndpointStatus"], failure_reason=described.get("FailureReason")
        )

    def instance_count(self, endpoint_name: str) -> int | None:
        """Instances the endpoint runs now (CurrentInstanceCount over its variants), or None when it is
        gone or reports no count (an endpoint still Creating)."""
        described = self._described(endpoint_name)
        if described is None:
            return None
        counts = [
            v["CurrentInstanceCount"] for v in described.get("ProductionVariants", []) if "CurrentInstanceCount" in v
        ]
        return sum(counts) if counts else None

    def delete_endpoint(self, endpoint_name: str) -> bool:
        """Delete an endpoint; already gone is fine. True if it existed."""
        return self._delete(
            lambda: self._client.delete_endpoint(EndpointName=endpoint_name), f"delete endpoint {endpoint_name}"
        )

    def delete_endpoint_config(self, config_name: str) -> bool:
        return self._delete(
            lambda: self._client.delete_endpoint_config(EndpointConfigName=config_name),
            f"delete endpoint config {config_name}",
        )

    def endpoints_tagged(self, name_prefix: str, tags: dict[str, str]) -> Iterator[EndpointState]:
        """Endpoints whose name starts with `name_prefix` and that carry every tag in `tags`."""
        try:
            for page in self._client.get_paginator("list_endpoints").paginate(NameContains=name_prefix):
                for endpoint in page["Endpoints"]:
                    if endpoint["EndpointName"].startswith(name_prefix) and self._has_tags(
                        endpoint["EndpointArn"], tags
                    ):
                        yield EndpointState(name=endpoint["EndpointName"], status=endpoint["EndpointStatus"])
        except _FAILED as exc:
            raise _translate(exc, f"list endpoints {name_prefix}*") from exc

    def endpoint_configs_tagged(self, name_prefix: str, tags: dict[str, str]) -> Iterator[str]:
        try:
            for page in self._client.get_paginator("list_endpoint_configs").paginate(NameContains=name_prefix):
                for config in page["EndpointConfigs"]:
                    if config["EndpointConfigName"].startswith(name_prefix) and self._has_tags(
                        config["EndpointConfigArn"], tags
                    ):
                        yield config["EndpointConfigName"]
        except _FAILED as exc:
            raise _translate(exc, f"list endpoint configs {name_prefix}*") from exc

    def resources_tagged(self, wanted: dict[str, str]) -> Iterator[ManagedResource]:
        """Every endpoint, then every endpoint config, that carries all of `wanted`'s tags."""
        try:
            for page in self._client.get_paginator("list_endpoints").paginate():
                for endpoint in page["Endpoints"]:
                    tags = self._tags(endpoint["EndpointArn"])
                    if tags is not None and all(tags.get(k) == v for k, v in wanted.items()):
                        yield ManagedResource(
                            "endpoint",
                            endpoint["EndpointName"],
                            endpoint["EndpointStatus"],
                            endpoint["CreationTime"],
                            tags,
                        )
            for configs in self._client.get_paginator("list_endpoint_configs").paginate():
                for config in configs["EndpointConfigs"]:
                    tags = self._tags(config["EndpointConfigArn"])
                    if tags is not None and all(tags.get(k) == v for k, v in wanted.items()):
                        yield ManagedResource(
                            "endpoint config", config["EndpointConfigName"], None, config["CreationTime"], tags
                        )
        except _FAILED as exc:
            raise _translate(exc, "list endpoints and endpoint configs") from exc

    def invoke(self, endpoint_name: str, body: bytes, *, role: str = "green") -> Invocation:
        """`role` (green, blue) names the endpoint in the error of a refused probe."""
        runtime = self._runtime or aws.sagemaker_runtime()
        started = time.perf_counter()
        try:
            response = runtime.invoke_endpoint(
                EndpointName=endpoint_name, ContentType="application/json", Accept="application/json", Body=body
            )
            payload = response["Body"].read()
        except _FAILED as exc:
            if _code(exc) in {"ModelError", "ValidationError", "ModelNotReadyException"}:
                raise SmokeTestFailed(f"{role} endpoint {endpoint_name} refused the probe ({_code(exc)})") from exc
            raise _translate(exc, f"invoke {endpoint_name}") from exc
        return Invocation(body=payload, latency_ms=(time.perf_counter() - started) * 1000)

    @staticmethod
    def _delete(call: Callable[[], object], what: str) -> bool:
        try:
            call()
        except _FAILED as exc:
            if _is_not_found(exc):
                return False
            raise _translate(exc, what) from exc
        return True

    def endpoint_config_exists(self, name: str) -> bool:
        try:
            self._client.describe_endpoint_config(EndpointConfigName=name)
        except _FAILED as exc:
            if _is_not_found(exc):
                return False
            raise _translate(exc, f"describe endpoint config {name}") from exc
        return True

    def _has_tags(self, arn: str, wanted: dict[str, str]) -> bool:
        tags = self._tags(arn)
        return tags is not None and all(tags.get(k) == v for k, v in wanted.items())

    def _tags(self, arn: str) -> dict[str, str] | None:
        """The resource's tags; None if it was deleted between the listing and now."""
        try:
            listed = self._client.list_tags(ResourceArn=arn).get("Tags", [])
        except _FAILED as exc:
            if _is_not_found(exc):
                return None
            raise _translate(exc, f"list tags of {arn}") from exc
        return {t["Key"]: t["Value"] for t in listed}
