"""Server mode: the same emulation behind moto's HTTP server, driven over HTTP like `make run` clients."""

import json
import os
from pathlib import Path

from moto.awslambda_simple.models import LambdaSimpleBackend

from local_stack import EmulatedAwsServer, wait_for_execution

FIXTURE_TEMPLATE = Path(__file__).resolve().parents[1] / "fixtures" / "local_stack" / "template.yaml"


def test_server_mode_deploys_and_runs_an_execution_over_http() -> None:
    environment_before = {key: os.environ.get(key) for key in ("MOTO_PORT", "AWS_ENDPOINT_URL", "ITEMS_TABLE_NAME")}
    invoke_before = LambdaSimpleBackend.invoke

    with EmulatedAwsServer(FIXTURE_TEMPLATE, port=0, name_prefix="srv-") as server:
        assert server.endpoint_url == f"http://127.0.0.1:{server.port}"
        assert os.environ["AWS_ENDPOINT_URL"] == server.endpoint_url
        assert os.environ["MOTO_PORT"] == str(server.port)
        sfn = server.client("stepfunctions")

        started = sfn.start_execution(
            stateMachineArn=server.stack.arn("PipelineStateMachine"),
            name="over-http",
            input=json.dumps({"key": "http-1", "action": "reject"}),
        )
        execution = wait_for_execution(sfn, started["executionArn"], timeout=20)

        assert execution["status"] == "SUCCEEDED"
        output = json.loads(execution["output"])
        assert output["echo"]["result"]["stored"] == {"id": "http-1", "kind": "echo"}
        assert output["error"]["Error"] == "ModelRejectedError"
        item = server.client("dynamodb").get_item(TableName="srv-ItemsTable", Key={"id": {"S": "http-1"}})
        assert item["Item"]["kind"] == {"S": "echo"}

    assert {key: os.environ.get(key) for key in environment_before} == environment_before
    assert LambdaSimpleBackend.invoke is invoke_before
