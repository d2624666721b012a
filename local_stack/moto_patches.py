"""Every change the emulator makes to moto's classes, in one place, for one moto version.

Each patch swaps one method of a moto class (moto keeps a backend per account and region, created
lazily and shared by every thread, so the class is the only point that reaches them all). What the
replacement does lives beside the emulation it serves (sagemaker.py, executions.py, dynamodb.py,
lambdas.py); which moto internals are touched is listed here, and nowhere else.

They rely on moto internals (method names and signatures, private attributes), so importing this
module fails at once on any other moto than `MOTO_VERSION`. To upgrade moto: run
tests/unit/test_moto_patches.py on the new version (each patch has a test that fails without it),
fix what broke, then move `MOTO_VERSION` and the pin in requirements-dev.txt together.

`LOCAL_STACK_WITHOUT_PATCHES=name,...` leaves the named patches out (that test uses it to prove each one is needed).
"""

from __future__ import annotations

import os
from importlib.metadata import version
from typing import cast

from moto.applicationautoscaling.models import ApplicationAutoscalingBackend
from moto.awslambda_simple.models import LambdaSimpleBackend
from moto.cloudwatch.models import CloudWatchBackend
from moto.cloudwatch.responses import CloudWatchResponse
from moto.dynamodb.models.table import StreamShard
from moto.dynamodb.responses import DynamoHandler
from moto.sagemaker.models import FakeEndpoint, FakeEndpointConfig, SageMakerModelBackend
from moto.sagemaker.responses import SageMakerResponse
from moto.sagemakerruntime.responses import SageMakerRuntimeResponse
from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
from moto.stepfunctions.parser.asl.eval.environment import Environment
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker
from moto.stepfunctions.parser.models import StepFunctionsParserBackend
from moto.stepfunctions.responses import StepFunctionResponse

from local_stack import autoscaling, cloudwatch, dynamodb, executions, lambdas, sagemaker
from local_stack._patch import MethodPatch, PatchSet

MOTO_VERSION = "5.2.5"
WITHOUT_PATCHES = "LOCAL_STACK_WITHOUT_PATCHES"


class MotoVersionError(ImportError):
    """The installed moto is not the one the patches were written against."""


def check_moto_version(installed: str) -> None:
    if installed != MOTO_VERSION:
        raise MotoVersionError(
            f"local_stack patches moto {MOTO_VERSION}'s internals, but moto {installed} is installed: install "
            f"moto=={MOTO_VERSION} (requirements-dev.txt), or upgrade the patches in local_stack/moto_patches.py "
            "(tests/unit/test_moto_patches.py tells which still hold)"
        )


check_moto_version(version("moto"))


PATCHES: dict[str, MethodPatch] = {
    # SageMaker: endpoints that take time, fail, refuse, answer like an embedding model (sagemaker.py)
    "sagemaker.validate_instance_type": MethodPatch(
        FakeEndpointConfig, "validate_instance_type", sagemaker._validating_instance_type
    ),
    "sagemaker.create_endpoint": MethodPatch(SageMakerModelBackend, "create_endpoint", sagemaker._creating_endpoint),
    "sagemaker.create_endpoint_config": MethodPatch(
        SageMakerModelBackend, "create_endpoint_config", sagemaker._creating_endpoint_config
    ),
    "sagemaker.describe_endpoint": MethodPatch(
        SageMakerModelBackend, "describe_endpoint", sagemaker._describing_endpoint
    ),
    "sagemaker.list_endpoints": MethodPatch(SageMakerModelBackend, "list_endpoints", sagemaker._listing_endpoints),
    "sagemaker.list_tags": MethodPatch(SageMakerModelBackend, "list_tags", sagemaker._listing_tags),
    "sagemaker.delete_endpoint": MethodPatch(SageMakerModelBackend, "delete_endpoint", sagemaker._deleting_endpoint),
    "sagemaker.describe_endpoint_config": MethodPatch(
        SageMakerModelBackend, "describe_endpoint_config", sagemaker._resolving_config_name
    ),
    "sagemaker.delete_endpoint_config": MethodPatch(
        SageMakerModelBackend, "delete_endpoint_config", sagemaker._resolving_config_name
    ),
    "sagemaker.describe_endpoint_response": MethodPatch(
        SageMakerResponse,
        "describe_endpoint",
        sagemaker._missing_after_create(
            "endpoint", "EndpointName", "endpoints", FakeEndpoint.arn_formatter, sagemaker._endpoint_missing
        ),
    ),
    "sagemaker.describe_endpoint_config_response": MethodPatch(
        SageMakerResponse,
        "describe_endpoint_config",
        sagemaker._missing_after_create(
            "endpoint configuration",
            "EndpointConfigName",
            "endpoint_configs",
            FakeEndpointConfig.arn_formatter,
            sagemaker._config_missing,
        ),
    ),
    "sagemaker_runtime.invoke_endpoint": MethodPatch(
        SageMakerRuntimeResponse, "invoke_endpoint", sagemaker._invoking_endpoint
    ),
    # Step Functions: a stop at any moment, SendTaskFailure's cause (executions.py)
    "stepfunctions.stop_execution": MethodPatch(ExecutionWorker, "stop", executions._stop_once_running),
    # ... and what still runs in a stopped execution cannot turn ABORTED into FAILED
    "stepfunctions.set_error": MethodPatch(Environment, "set_error", executions._unless_stopped),
    "stepfunctions.send_task_failure": MethodPatch(
        StepFunctionResponse, "send_task_failure", executions._failing_task_with_cause
    ),
    # Step Functions at less cost, the same outcomes (executions.py): an execution's end wakes this process's
    # waiters, each definition is parsed and validated once per process, Lambda tasks share a client
    "sfn_speed.execution_ended": MethodPatch(
        BaseExecutionWorkerCommunication, "terminated", executions._announcing_the_end
    ),
    "sfn_speed.parse": MethodPatch(AmazonStateLanguageParser, "parse", executions._parsing_each_definition_once),
    "sfn_speed.lambda_client": MethodPatch(
        cast("type", lambda_eval_utils), "boto_client_for", executions._one_client_per_service
    ),
    "sfn_speed.validate_definition": MethodPatch(
        StepFunctionsParserBackend, "_validate_definition", executions._validating_each_definition_once
    ),
    # DynamoDB: each request atomic (dynamodb.py)
    "dynamodb.call_action": MethodPatch(DynamoHandler, "call_action", dynamodb._serialised),
    # ... and a transaction's backup of the table does not copy its whole stream (dynamodb.py; speed only)
    "dynamodb.stream_backup": MethodPatch(StreamShard, "__deepcopy__", dynamodb._backing_up_records_by_reference),
    # CloudWatch: composite alarms evaluated from their children, alarm state change events (cloudwatch.py)
    "cloudwatch.set_alarm_state": MethodPatch(CloudWatchBackend, "set_alarm_state", cloudwatch._setting_alarm_state),
    "cloudwatch.put_metric_alarm": MethodPatch(CloudWatchBackend, "put_metric_alarm", cloudwatch._putting_alarm),
    "cloudwatch.put_composite_alarm": MethodPatch(
        CloudWatchResponse, "put_composite_alarm", cloudwatch._composite_response
    ),
    # Application Auto Scaling on SageMaker variants, and its side of SageMaker (autoscaling.py); these wrap
    # the SageMaker patches above, so AutoscalingEmulator starts after SageMakerEmulator
    "autoscaling.deregister_scalable_target": MethodPatch(
        ApplicationAutoscalingBackend, "deregister_scalable_target", autoscaling._deregistering
    ),
    "autoscaling.register_scalable_target": MethodPatch(
        ApplicationAutoscalingBackend, "register_scalable_target", autoscaling._registering
    ),
    "autoscaling.put_scaling_policy": MethodPatch(
        ApplicationAutoscalingBackend, "put_scaling_policy", autoscaling._putting_policy
    ),
    "autoscaling.delete_endpoint": MethodPatch(
        SageMakerModelBackend, "delete_endpoint", autoscaling._deleting_endpoint
    ),
    "autoscaling.update_endpoint_weights_and_capacities": MethodPatch(
        SageMakerModelBackend, "update_endpoint_weights_and_capacities", autoscaling._updating_only_in_service
    ),
    # Lambda: Invoke runs the project's handler (lambdas.py)
    "lambda.invoke": MethodPatch(LambdaSimpleBackend, "invoke", lambdas._routed_invoke),
}


class _Patches(PatchSet):
    """The patches whose names start with `prefixes`, less those named in LOCAL_STACK_WITHOUT_PATCHES."""

    prefixes: tuple[str, ...] = ()

    def start(self) -> None:
        if self._started:
            return
        left_out = {name.strip() for name in os.environ.get(WITHOUT_PATCHES, "").split(",")}
        self.patches = tuple(
            patch for name, patch in PATCHES.items() if name.startswith(self.prefixes) and name not in left_out
        )
        super().start()


class SageMakerEmulator(_Patches):
    """Installs the endpoint emulation on moto's SageMaker backends while started."""

    prefixes = ("sagemaker.", "sagemaker_runtime.")


class StoppableExecutions(_Patches):
    """StopExecution works on an execution whose worker has not yet started running it, and on one
    waiting for a task token, as in AWS; SendTaskFailure keeps its cause."""

    prefixes = ("stepfunctions.",)


class FastExecutions(_Patches):
    """While started, a definition is parsed once per process (not at every execution), Lambda tasks share
    one client, and a wait for an execution of this process wakes as it ends (not at its next poll).
    Nothing a caller sees changes."""

    prefixes = ("sfn_speed.",)


class CloudWatchEmulator(_Patches):
    """Composite alarm evaluation and alarm state change events on moto's CloudWatch while started."""

    prefixes = ("cloudwatch.",)


class AutoscalingEmulator(_Patches):
    """Application Auto Scaling as strict as AWS on SageMaker variants, and DeleteEndpoint deregistering."""

    prefixes = ("autoscaling.",)


class AtomicDynamoDB(_Patches):
    """Serialises moto's DynamoDB requests while started (and backs up a table for a transaction without
    copying its stream records)."""

    prefixes = ("dynamodb.",)


class LambdaInvokeRouting(_Patches):
    """Invoke of a function a LambdaRouter knows runs its handler (lambdas.py)."""

    prefixes = ("lambda.",)
