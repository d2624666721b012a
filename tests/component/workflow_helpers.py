"""Driving the workflows the way callers do: through the API handlers, then reading what they left."""

from __future__ import annotations

import json
from typing import Any

from create_task.app import lambda_handler as create_handler
from read_task.app import lambda_handler as read_handler

from inference_deploy.adapters.executions import execution_arn, repair_execution_name
from local_stack.emulator import EmulatedAws
from tests.conftest import ApiResponse, call_api, load_event, put_alarm, wait_for

BASE = "/internal/inference-deployment"


def request(route: str, model_id: str, **fields: Any) -> ApiResponse:
    return call_api(create_handler, load_event(route, body=json.dumps({"embedding_model_id": model_id, **fields})))


def read(route: str, value: str) -> ApiResponse:
    event_name, param = {
        "deploy": ("get_deploy_task", "task_id"),
        "delete": ("get_delete_task", "task_id"),
        "deploy-status": ("get_model_deploy_status", "embedding_model_id"),
        "delete-status": ("get_model_delete_status", "embedding_model_id"),
        "models": ("get_model_deploy_status", "embedding_model_id"),  # same event shape, other route
    }[route]
    event = load_event(event_name, path=f"{BASE}/{route}/{value}", pathParameters={param: value})
    event["resource"] = event["requestContext"]["resourcePath"] = f"{BASE}/{route}/{{{param}}}"
    return call_api(read_handler, event)


def run_task(aws: EmulatedAws, route: str, model_id: str, **fields: Any) -> dict[str, Any]:
    """POST the task, wait for its execution to end, return the task as GET answers it."""
    created = request(route, model_id, **fields)
    assert created.status == 202, created.body
    wait_for(aws, created.body["execution_arn"])
    finished = read(route, created.body["id"])
    assert finished.status == 200
    return finished.body


def endpoints_of(aws: EmulatedAws, model_id: str) -> dict[str, str]:
    """Every endpoint SageMaker lists whose tags name the model: {name: status}, once none of them is
    Deleting any more (each listing is one observation of a Deleting endpoint, so this ends)."""
    sagemaker = aws.client("sagemaker")
    for _ in range(10):
        found = {}
        for endpoint in sagemaker.list_endpoints(MaxResults=100)["Endpoints"]:
            try:
                listed = sagemaker.list_tags(ResourceArn=endpoint["EndpointArn"])["Tags"]
            except sagemaker.exceptions.ClientError as exc:
                if "Could not find" not in exc.response["Error"]["Message"]:
                    raise
                found[endpoint["EndpointName"]] = "Deleting"  # gone since the listing (another look observed it)
                continue
            tags = {t["Key"]: t["Value"] for t in listed}
            if tags.get("embedding_model_id") == model_id:
                found[endpoint["EndpointName"]] = endpoint["EndpointStatus"]
        if "Deleting" not in found.values():
            return found
    return found


def endpoint_configs(aws: EmulatedAws) -> set[str]:
    return {
        c["EndpointConfigName"]
        for c in aws.client("sagemaker").list_endpoint_configs(MaxResults=100)["EndpointConfigs"]
    }


def step_input(aws: EmulatedAws, execution_arn: str, function: str) -> dict[str, Any]:
    """What the execution first passed the step Lambda `function` (logical id), from its history."""
    sfn = aws.client("stepfunctions")
    events = sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
    return next(
        json.loads(e["lambdaFunctionScheduledEventDetails"]["input"])
        for e in events
        if e["type"] == "LambdaFunctionScheduled"
        and e["lambdaFunctionScheduledEventDetails"]["resource"].endswith(f":{function}")
    )


def executed_states(aws: EmulatedAws, execution_arn: str) -> list[str]:
    """The states an operator sees entered, in order, in the execution's history."""
    sfn = aws.client("stepfunctions")
    events = sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
    return [e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e]


def green_waits(aws: EmulatedAws, execution_arn: str) -> int:
    """How often AwaitGreen stored a token and looked at green (its first try plus each timed-out retry)."""
    sfn = aws.client("stepfunctions")
    events = sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
    return sum(
        1
        for e in events
        if e["type"] == "TaskScheduled" and e["taskScheduledEventDetails"]["resource"].endswith("waitForTaskToken")
    )


def repair_of(aws: EmulatedAws, task_id: str) -> str:
    """The ARN of the task's repair execution (named after the task: at most one per task)."""
    return execution_arn(aws.stack.state_machines["RepairStateMachine"].arn, repair_execution_name(task_id))


def repairs_started(aws: EmulatedAws) -> list[str]:
    """The names of every repair execution the stack has run or runs."""
    sfn = aws.client("stepfunctions")
    machine = aws.stack.state_machines["RepairStateMachine"].arn
    return [e["name"] for e in sfn.list_executions(stateMachineArn=machine)["executions"]]


def caller_alarm_name(aws: EmulatedAws, name: str) -> str:
    """`name` under the stack's CallerAlarmPrefix: an alarm a deploy's `rollback_alarms` may name."""
    return f"{aws.stack.parameters['CallerAlarmPrefix']}{name}"


def caller_alarm(aws: EmulatedAws, name: str, *, in_alarm: bool = False) -> str:
    """A CloudWatch alarm of the caller's own, as a deploy's `rollback_alarms` names it (in ALARM if asked),
    named under the stack's CallerAlarmPrefix."""
    name = caller_alarm_name(aws, name)
    cloudwatch = aws.client("cloudwatch")
    put_alarm(cloudwatch, name, "Search")
    if in_alarm:
        cloudwatch.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="Threshold Crossed")
    return name
