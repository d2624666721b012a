"""Work the emulator does once, or skips, so the tests run faster: each shortcut changes no outcome.

The moto patches among them are in local_stack/moto_patches.py; test_moto_patches.py runs each test
below named in its PROOFS with that patch left out, and the test must fail.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.dynamodb.models import dynamodb_backends
from moto.dynamodb.models.table import StreamRecord
from moto.stepfunctions.parser.asl.antlr.runtime.ASLParser import ASLParser
from moto.stepfunctions.parser.asl.parse.preprocessor import Preprocessor

from local_stack.emulator import MOTO_CONFIG, EmulatedAws
from local_stack.executions import wait_for_execution
from local_stack.moto_patches import AtomicDynamoDB, FastExecutions, StoppableExecutions
from local_stack.service_models import SharedServiceModels

FIXTURE_TEMPLATE = Path(__file__).resolve().parents[1] / "fixtures" / "local_stack" / "template.yaml"
ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/speedups"


@pytest.fixture
def sfn() -> Iterator[Any]:
    with mock_aws(config=MOTO_CONFIG), FastExecutions(), StoppableExecutions():
        yield boto3.client("stepfunctions", region_name="us-east-1")


def counting(monkeypatch: pytest.MonkeyPatch, owner: type, name: str) -> list[int]:
    """Calls of `owner.name` from now on, each one appended to the list returned."""
    calls: list[int] = []
    real = getattr(owner, name)

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, counted)
    return calls


def a_definition(result: dict[str, Any]) -> str:
    """A definition no other test has run (the parse trees are kept per process)."""
    return json.dumps(
        {
            "Comment": f"speedups {uuid.uuid4()}",
            "StartAt": "Answer",
            "States": {"Answer": {"Type": "Pass", "Result": result, "End": True}},
        }
    )


def test_a_definition_is_parsed_once_however_often_it_runs(sfn: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    parses = counting(monkeypatch, ASLParser, "state_machine")
    machine = sfn.create_state_machine(name="answers", definition=a_definition({"n": 1}), roleArn=ROLE)

    outputs = []
    for n in range(3):
        arn = sfn.start_execution(stateMachineArn=machine["stateMachineArn"], name=f"run-{n}")["executionArn"]
        outputs.append(json.loads(wait_for_execution(sfn, arn, timeout=60)["output"]))

    assert outputs == [{"n": 1}] * 3  # each execution ran the whole program
    assert len(parses) == 1


def test_a_definition_that_passed_validation_is_not_built_again(sfn: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    parsed = counting(monkeypatch, ASLParser, "state_machine")
    built = counting(monkeypatch, Preprocessor, "visitState_machine")
    definition = a_definition({"n": 2})

    for name in ("first", "second"):
        sfn.create_state_machine(name=name, definition=definition, roleArn=ROLE)
    broken = definition.replace('"Pass"', '"Nonsense"')
    for name in ("broken", "broken-again"):  # a failure is not kept: refused each time
        with pytest.raises(ClientError, match="ASLParserException"):
            sfn.create_state_machine(name=name, definition=broken, roleArn=ROLE)

    assert len(built) == 1  # the valid definition's program, once
    assert len(parsed) == 1 + 2  # and the broken one is parsed at each attempt


def test_a_wait_for_an_execution_of_this_process_wakes_as_it_ends(sfn: Any) -> None:
    """The waiter would poll only every 600 s: only the execution's end can wake it within the test."""
    definition = {"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 600, "End": True}}}
    machine = sfn.create_state_machine(name="waits", definition=json.dumps(definition), roleArn=ROLE)
    arn = sfn.start_execution(stateMachineArn=machine["stateMachineArn"], name="waiting")["executionArn"]
    looked = threading.Event()
    ended: dict[str, Any] = {}

    class Watched:
        def describe_execution(self, **kwargs: Any) -> Any:
            described = sfn.describe_execution(**kwargs)
            looked.set()
            return described

    def wait() -> None:
        ended.update(wait_for_execution(Watched(), arn, timeout=600, interval=600, max_interval=600))

    waiter = threading.Thread(target=wait, daemon=True)
    waiter.start()
    assert looked.wait(30), "the waiter never looked at the execution"
    sfn.stop_execution(executionArn=arn, error="Enough")
    waiter.join(timeout=15)  # the end wakes it at once; without that it sleeps on for 600 s

    assert not waiter.is_alive(), "the wait slept on after the execution ended"
    assert ended["status"] == "ABORTED"


def test_lambda_tasks_share_one_client_in_this_process(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[str] = []
    create_client = botocore.session.Session.create_client

    def counted(session: botocore.session.Session, service_name: str, *args: Any, **kwargs: Any) -> Any:
        if service_name == "lambda":
            built.append(service_name)
        return create_client(session, service_name, *args, **kwargs)

    with EmulatedAws(FIXTURE_TEMPLATE) as aws:
        sfn = aws.client("stepfunctions")
        echo = aws.stack.functions["EchoFunction"].arn
        states = {
            name: {"Type": "Task", "Resource": echo, "Parameters": {"key.$": "$.key"}, "ResultPath": None, **ending}
            for name, ending in (("First", {"Next": "Second"}), ("Second", {"End": True}))
        }
        definition = json.dumps({"StartAt": "First", "States": states})
        machine = sfn.create_state_machine(name="echoes", definition=definition, roleArn=aws.stack.role_arn)
        monkeypatch.setattr(botocore.session.Session, "create_client", counted)
        for n in range(2):
            arn = sfn.start_execution(
                stateMachineArn=machine["stateMachineArn"], name=f"echo-{n}", input=json.dumps({"key": f"k{n}"})
            )["executionArn"]
            assert wait_for_execution(sfn, arn, timeout=60)["status"] == "SUCCEEDED"

    assert len(built) <= 1  # four invocations; none if an earlier test in this process built it


def test_a_failed_transaction_leaves_table_and_stream_as_they_were_without_copying_the_records(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def copied(record: StreamRecord, memo: dict[int, Any]) -> StreamRecord:
        raise AssertionError("a stream record was copied")

    with mock_aws(), AtomicDynamoDB():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        dynamodb.create_table(
            TableName="tasks",
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )
        for n in range(3):
            dynamodb.put_item(TableName="tasks", Item={"id": {"S": f"task-{n}"}})
        monkeypatch.setattr(StreamRecord, "__deepcopy__", copied, raising=False)

        dynamodb.transact_write_items(TransactItems=[{"Put": {"TableName": "tasks", "Item": {"id": {"S": "kept"}}}}])
        with pytest.raises(dynamodb.exceptions.TransactionCanceledException):
            dynamodb.transact_write_items(
                TransactItems=[
                    {"Put": {"TableName": "tasks", "Item": {"id": {"S": "undone"}}}},
                    {
                        "ConditionCheck": {
                            "TableName": "tasks",
                            "Key": {"id": {"S": "task-0"}},
                            "ConditionExpression": "attribute_not_exists(id)",
                        }
                    },
                ]
            )

        shard = dynamodb_backends[ACCOUNT]["us-east-1"].get_table("tasks").stream_shard  # as task_events.py reads it
        records = [record.to_json() for record in shard.items]
        items = dynamodb.scan(TableName="tasks")["Items"]

    assert [r["dynamodb"]["Keys"]["id"]["S"] for r in records] == ["task-0", "task-1", "task-2", "kept"]
    assert sorted(item["id"]["S"] for item in items) == ["kept", "task-0", "task-1", "task-2"]


def test_sessions_share_service_models_while_the_emulator_runs() -> None:
    def loader() -> Any:
        session = botocore.session.get_session()
        boto3.session.Session(botocore_session=session)  # boto3 adds its own data directory to the loader
        return session.get_component("data_loader")

    with SharedServiceModels():
        first, second = loader(), loader()
        assert first is second
        assert len(first.search_paths) == len(set(first.search_paths))
        assert first.load_service_model("sts", "service-2") is second.load_service_model("sts", "service-2")

    assert loader() is not loader()  # botocore's own again: a loader per session
