"""The emulator's patches of moto (local_stack/moto_patches.py): one moto version, each patch needed.

An upgrade of moto can rename or rework what a patch replaces. Importing the patches on another moto
version fails at once, and each patch has a test that fails without it: run with the patch left out
(LOCAL_STACK_WITHOUT_PATCHES), its test must fail, or the patch no longer does anything.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.dynamodb.models import table as moto_table

from local_stack import moto_patches
from local_stack.moto_patches import PATCHES, AtomicDynamoDB, MotoVersionError, check_moto_version

ROOT = Path(__file__).resolve().parents[2]
SAGEMAKER = "tests/unit/test_local_stack_sagemaker.py"
CLOUDWATCH = "tests/unit/test_local_stack_cloudwatch.py"
CAPACITY = "tests/component/test_capacity.py"
SPEEDUPS = "tests/unit/test_local_stack_speedups.py"

# For each patch, a test that fails when the patch is left out.
PROOFS = {
    "sagemaker.validate_instance_type": f"{SAGEMAKER}::test_instance_types_are_checked_against_the_current_api",
    "sagemaker.create_endpoint": f"{SAGEMAKER}::test_failed_endpoint_reports_its_reason_and_refuses_invocations",
    "sagemaker.create_endpoint_config": f"{SAGEMAKER}::test_names_are_case_insensitive",
    "sagemaker.describe_endpoint": f"{SAGEMAKER}::test_creating_polls_delay_the_final_status",
    "sagemaker.list_endpoints": f"{SAGEMAKER}::test_a_deleted_endpoint_shows_deleting_then_is_not_found",
    "sagemaker.list_tags": f"{SAGEMAKER}::test_the_tags_of_an_endpoint_gone_since_it_was_listed_are_not_found",
    "sagemaker.delete_endpoint": f"{SAGEMAKER}::test_an_endpoint_cannot_be_deleted_while_an_operation_runs_on_it",
    "sagemaker.describe_endpoint_config": f"{SAGEMAKER}::test_names_are_case_insensitive",
    "sagemaker.delete_endpoint_config": f"{SAGEMAKER}::test_names_are_case_insensitive",
    "sagemaker.describe_endpoint_response": f"{SAGEMAKER}::test_describe_right_after_create_may_not_find_the_resources",
    "sagemaker.describe_endpoint_config_response": (
        f"{SAGEMAKER}::test_describe_right_after_create_may_not_find_the_resources"
    ),
    "sagemaker_runtime.invoke_endpoint": f"{SAGEMAKER}::test_endpoint_answers_one_unit_vector_per_input",
    "stepfunctions.stop_execution": (
        "tests/unit/test_local_stack_executions.py::test_an_execution_stopped_before_its_worker_runs_is_aborted_as_in_aws"
    ),
    "stepfunctions.send_task_failure": (
        "tests/component/test_green_wait.py::test_green_failing_sends_the_event_that_discards_it"
    ),
    "stepfunctions.set_error": (
        "tests/unit/test_local_stack_executions.py::"
        "test_an_execution_stopped_during_a_task_token_wait_stays_aborted_whatever_its_catch"
    ),
    "cloudwatch.set_alarm_state": f"{CLOUDWATCH}::test_a_composite_follows_its_children_and_every_change_is_an_event",
    "cloudwatch.put_metric_alarm": f"{CLOUDWATCH}::test_a_composite_naming_a_missing_alarm_is_refused",
    "cloudwatch.put_composite_alarm": f"{CLOUDWATCH}::test_a_composite_created_over_an_alarm_in_alarm_starts_in_alarm",
    "autoscaling.deregister_scalable_target": (
        f"{CAPACITY}::test_deregistering_what_is_not_registered_is_object_not_found"
    ),
    "autoscaling.register_scalable_target": (
        f"{CAPACITY}::test_registering_a_variant_that_does_not_exist_or_inverted_bounds_is_refused"
    ),
    "autoscaling.put_scaling_policy": (
        f"{CAPACITY}::test_a_policy_on_a_target_that_is_not_registered_is_object_not_found"
    ),
    "autoscaling.delete_endpoint": (
        f"{CAPACITY}::test_delete_endpoint_deregisters_a_target_only_for_a_caller_allowed_to"
    ),
    "autoscaling.update_endpoint_weights_and_capacities": (
        f"{CAPACITY}::test_update_endpoint_weights_and_capacities_is_refused_unless_in_service"
    ),
    "sfn_speed.execution_ended": f"{SPEEDUPS}::test_a_wait_for_an_execution_of_this_process_wakes_as_it_ends",
    "sfn_speed.parse": f"{SPEEDUPS}::test_a_definition_is_parsed_once_however_often_it_runs",
    "sfn_speed.lambda_client": f"{SPEEDUPS}::test_lambda_tasks_share_one_client_in_this_process",
    "sfn_speed.validate_definition": f"{SPEEDUPS}::test_a_definition_that_passed_validation_is_not_built_again",
    "dynamodb.stream_backup": (
        f"{SPEEDUPS}::test_a_failed_transaction_leaves_table_and_stream_as_they_were_without_copying_the_records"
    ),
    "dynamodb.call_action": (
        "tests/unit/test_moto_patches.py::test_two_conditional_writes_racing_for_one_key_let_exactly_one_through"
    ),
    "lambda.invoke": "tests/unit/test_local_stack_lambdas.py::test_direct_invoke_by_arn_returns_the_handler_result",
}


def test_the_patches_refuse_another_moto_version_and_say_what_to_do() -> None:
    with pytest.raises(
        MotoVersionError, match=r"moto 5\.3\.0 is installed.*moto==5\.2\.5.*local_stack/moto_patches\.py"
    ):
        check_moto_version("5.3.0")


def test_the_pinned_moto_is_the_version_the_patches_were_written_for() -> None:
    pins = re.findall(r"^moto(?:\[[a-z,]+\])?==(\S+)", (ROOT / "requirements-dev.txt").read_text(), re.MULTILINE)

    assert pins == [moto_patches.MOTO_VERSION]


def test_every_patch_has_a_test_that_needs_it() -> None:
    assert sorted(PROOFS) == sorted(PATCHES)


@pytest.mark.slow
def test_each_patch_is_needed_by_its_test() -> None:
    """Each patch's test, run in a process of its own with only that patch left out, fails. One runner
    runs them all (tests/unit/patch_proofs.py): each run is forked from a process that imported moto once."""
    environment = {key: value for key, value in os.environ.items() if key != "PYTEST_XDIST_WORKER"}
    completed = subprocess.run(
        [sys.executable, "-m", "tests.unit.patch_proofs", *(f"{name}={test}" for name, test in sorted(PROOFS.items()))],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    runs: dict[str, dict[str, Any]] = json.loads(completed.stdout.splitlines()[-1])

    assert sorted(runs) == sorted(PROOFS)
    passing = {name: run["output"] for name, run in runs.items() if run["exit"] != 1}
    assert not passing, "\n\n".join(f"{PROOFS[name]} passes without {name}:\n{out}" for name, out in passing.items())


def test_two_conditional_writes_racing_for_one_key_let_exactly_one_through(monkeypatch: pytest.MonkeyPatch) -> None:
    """DynamoDB evaluates a condition and writes atomically; moto reads, checks, then writes in steps."""
    check = moto_table.get_filter_expression

    def slow_check(*args: Any, **kwargs: Any) -> Any:
        time.sleep(0.3)  # widens moto's gap between reading the item and writing it
        return check(*args, **kwargs)

    monkeypatch.setattr(moto_table, "get_filter_expression", slow_check)
    with mock_aws(), AtomicDynamoDB():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName="claims",
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        together = threading.Barrier(2, timeout=30)

        def claim(claimant: str) -> str:
            together.wait()
            try:
                client.put_item(
                    TableName="claims",
                    Item={"id": {"S": "the-model"}, "claimant": {"S": claimant}},
                    ConditionExpression="attribute_not_exists(id)",
                )
            except client.exceptions.ConditionalCheckFailedException:
                return "refused"
            return "written"

        with ThreadPoolExecutor(2) as pool:
            outcomes = sorted(pool.map(claim, ("first", "second")))

    assert outcomes == ["refused", "written"]
