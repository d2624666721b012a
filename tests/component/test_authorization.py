"""Who may deploy or delete which model (the owner tag), and what a deploy may cost, through the create handler.

The models carry their owner in a `team` tag on the SageMaker Model, the callers in the same tag on their
IAM role or user (moto stores both). The tests' admin pattern is the sample events' CI role, ml-platform-*.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from cancel_task.app import lambda_handler as cancel_handler
from create_task.app import lambda_handler as create_handler

from inference_deploy.adapters.iam import TAG_TTL_SECONDS, IamPrincipal, PrincipalDirectory
from inference_deploy.models.events import EVENT_SOURCE, OWNER_CHANGE
from inference_deploy.observability import logger
from tests.conftest import ApiResponse, call_api, load_event, register_model, serve_directly, wait_for

ACCOUNT = "123456789012"
MODEL = "embed-authz"
TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}
        ],
    }
)
DEFAULT_INSTANCE_TYPES = [
    "ml.m5.large",
    "ml.m5.xlarge",
    "ml.m5.2xlarge",
    "ml.m6i.xlarge",
    "ml.c5.xlarge",
    "ml.c5.2xlarge",
    "ml.c6i.xlarge",
    "ml.c6i.2xlarge",
    "ml.g4dn.xlarge",
    "ml.g4dn.2xlarge",
    "ml.g5.xlarge",
    "ml.g5.2xlarge",
    "ml.inf2.xlarge",
]


def role(aws: Any, name: str, team: str | None) -> str:
    """An IAM role (tagged `team` when given); returns the ARN API Gateway reports for a session of it."""
    tags = [{"Key": "team", "Value": team}] if team else []
    aws.client("iam").create_role(RoleName=name, AssumeRolePolicyDocument=TRUST, Tags=tags)
    return f"arn:aws:sts::{ACCOUNT}:assumed-role/{name}/session-1"


def user(aws: Any, name: str, team: str | None, path: str = "/") -> str:
    tags = [{"Key": "team", "Value": team}] if team else []
    return aws.client("iam").create_user(UserName=name, Path=path, Tags=tags)["User"]["Arn"]


def create(route: str, caller: str | None, body: dict[str, Any], idempotency_key: str | None = None) -> ApiResponse:
    event = load_event(route, body=json.dumps(body))
    event["requestContext"]["identity"]["userArn"] = caller
    if idempotency_key is not None:
        event["headers"] = {**event["headers"], "Idempotency-Key": idempotency_key}
    return call_api(create_handler, event)


def written(aws: Any) -> dict[str, int]:
    """How many items each table holds and how many executions exist: a refused request changes none."""
    dynamodb, sfn = aws.client("dynamodb"), aws.client("stepfunctions")
    counts = {
        logical_id: dynamodb.scan(TableName=table.name, Select="COUNT")["Count"]
        for logical_id, table in aws.stack.tables.items()
    }
    counts["executions"] = sum(
        len(sfn.list_executions(stateMachineArn=machine.arn)["executions"])
        for machine in aws.stack.state_machines.values()
    )
    return counts


def test_a_caller_of_the_models_team_may_deploy_it_and_the_task_records_the_team(aws):
    register_model(aws, MODEL, tags={"team": "search"}, endpoint_status="Creating")
    caller = role(aws, "search-deployer", "search")

    response = create("deploy", caller, {"embedding_model_id": MODEL})

    assert response.status == 202, response.body
    assert response.body["metadata"]["requested_by"] == {
        "arn": caller,
        "tag_key": "team",
        "team": "search",
        "allowed_as": "owner",
    }
    aws.client("stepfunctions").stop_execution(executionArn=response.body["execution_arn"])


@pytest.mark.parametrize("route", ["deploy", "delete"])
def test_a_caller_of_another_team_is_forbidden_and_nothing_is_written(aws, route):
    register_model(aws, MODEL, tags={"team": "search-secret-team"})
    serve_directly(aws, MODEL)
    caller = role(aws, "ads-deployer", "ads")
    before = written(aws)

    response = create(route, caller, {"embedding_model_id": MODEL}, idempotency_key="k-1")

    assert response.status == 403
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.body["code"] == "forbidden"
    assert response.body["tag_key"] == "team"
    assert "'team' tag" in response.body["detail"]
    assert "search-secret-team" not in json.dumps(response.body), "another team's value must not be disclosed"
    assert written(aws) == before, "no task, slot, idempotency record or execution"


def test_the_same_idempotency_key_is_free_after_a_refusal(aws):
    register_model(aws, MODEL, tags={"team": "search"}, endpoint_status="Creating")
    caller = role(aws, "ads-deployer", "ads")
    refused = create("deploy", caller, {"embedding_model_id": MODEL}, idempotency_key="k-1")
    aws.client("iam").tag_role(RoleName="ads-deployer", Tags=[{"Key": "team", "Value": "search"}])
    allowed = create(
        "deploy",
        "arn:aws:sts::123456789012:assumed-role/ml-platform-ci/session",
        {"embedding_model_id": MODEL},
        idempotency_key="k-1",
    )

    assert refused.status == 403
    assert allowed.status == 202
    aws.client("stepfunctions").stop_execution(executionArn=allowed.body["execution_arn"])


@pytest.mark.parametrize("route", ["deploy", "delete"])
def test_a_model_without_an_owner_tag_is_for_admins_only(aws, route):
    register_model(aws, MODEL, endpoint_status="Creating")
    serve_directly(aws, MODEL)
    member = role(aws, "search-deployer", "search")

    refused = create(route, member, {"embedding_model_id": MODEL})
    admin = create(
        route, "arn:aws:sts::123456789012:assumed-role/ml-platform-ci/session", {"embedding_model_id": MODEL}
    )

    assert refused.status == 403
    assert refused.body["code"] == "forbidden"
    assert "has no owner (no 'team' tag" in refused.body["detail"]
    assert admin.status == 202, admin.body
    assert admin.body["metadata"]["requested_by"]["allowed_as"] == "admin"
    aws.client("stepfunctions").stop_execution(executionArn=admin.body["execution_arn"])


@pytest.mark.parametrize("route", ["deploy", "delete"])
@pytest.mark.parametrize("team", ["search", None])
def test_a_model_that_does_not_exist_is_a_404_for_every_caller_and_nothing_is_written(aws, route, team):
    caller = role(aws, "search-deployer", team) if team else "arn:aws:sts::123456789012:assumed-role/ml-platform-ci/s"
    before = written(aws)

    response = create(route, caller, {"embedding_model_id": "no-such-model"}, idempotency_key="k-1")

    assert response.status == 404, response.body
    assert response.body["code"] == "model_not_found"
    assert "no-such-model" in response.body["detail"]
    assert written(aws) == before


def test_an_admin_pattern_admits_a_role_of_any_team_by_its_role_arn(aws):
    """The pattern names the role (arn:aws:iam::123456789012:role/ml-platform-*); the caller is a session of it."""
    register_model(aws, MODEL, tags={"team": "search"}, endpoint_status="Creating")
    caller = role(aws, "ml-platform-ops", "platform")

    response = create("deploy", caller, {"embedding_model_id": MODEL})

    assert response.status == 202, response.body
    assert response.body["metadata"]["requested_by"] == {
        "arn": caller,
        "tag_key": "team",
        "team": "platform",
        "allowed_as": "admin",
    }
    aws.client("stepfunctions").stop_execution(executionArn=response.body["execution_arn"])


def test_an_iam_user_is_known_by_its_user_tags(aws):
    register_model(aws, MODEL, tags={"team": "search"}, endpoint_status="Creating")
    member = user(aws, "alice", "search", path="/people/")
    outsider = user(aws, "bob", "ads")

    allowed = create("deploy", member, {"embedding_model_id": MODEL})
    refused = create("deploy", outsider, {"embedding_model_id": MODEL})

    assert member == f"arn:aws:iam::{ACCOUNT}:user/people/alice"
    assert allowed.status == 202, allowed.body
    assert allowed.body["metadata"]["requested_by"]["team"] == "search"
    assert refused.status == 403
    aws.client("stepfunctions").stop_execution(executionArn=allowed.body["execution_arn"])


@pytest.mark.parametrize(
    "caller",
    [
        None,  # not IAM-signed
        "arn:aws:sts::123456789012:assumed-role/untagged-deployer/s",  # a role without the tag
        "arn:aws:sts::210987654321:assumed-role/search-deployer/s",  # same role name, another account
        "arn:aws:iam::123456789012:root",
    ],
)
def test_callers_without_an_owner_tag_of_this_account_are_forbidden(aws, caller):
    register_model(aws, MODEL, tags={"team": "search"})
    role(aws, "search-deployer", "search")
    role(aws, "untagged-deployer", None)
    before = written(aws)

    response = create("deploy", caller, {"embedding_model_id": MODEL})

    assert response.status == 403
    assert response.body["code"] == "forbidden"
    assert written(aws) == before


@pytest.mark.parametrize(
    ("service", "operation", "code"),
    [
        ("iam", "GetRole", "Throttling"),
        ("iam", "GetRole", "ServiceFailure"),
        ("sagemaker", "ListTags", "ThrottlingException"),
        ("sagemaker", "DescribeModel", "ThrottlingException"),
    ],
)
def test_tags_that_cannot_be_read_are_a_503_to_retry_and_nothing_is_written(aws, faults, service, operation, code):
    register_model(aws, MODEL, tags={"team": "search"})
    caller = role(aws, "search-deployer", "search")
    before = written(aws)
    faults.fail(service, operation, code, status=500 if code == "ServiceFailure" else 400)

    response = create("deploy", caller, {"embedding_model_id": MODEL}, idempotency_key="k-1")

    assert response.status == 503, response.body
    assert response.body["code"] == "authorization_unavailable"
    assert response.headers["Retry-After"] == "2"
    assert operation not in json.dumps(response.body), "AWS's words stay in the log"
    assert written(aws) == before


def test_iam_refusing_the_function_is_a_configuration_error_not_a_retry(aws, faults):
    register_model(aws, MODEL, tags={"team": "search"})
    caller = role(aws, "search-deployer", "search")
    faults.fail("iam", "GetRole", "AccessDenied", status=403)

    response = create("deploy", caller, {"embedding_model_id": MODEL})

    assert response.status == 500
    assert response.body["code"] == "configuration_error"
    assert "Retry-After" not in response.headers


def test_the_decision_is_logged_with_the_caller_and_the_model(aws):
    register_model(aws, MODEL, tags={"team": "search"}, endpoint_status="Creating")
    member = role(aws, "search-deployer", "search")
    outsider = role(aws, "ads-deployer", "ads")
    log = io.StringIO()
    stream = logger.registered_handler.setStream(log)
    level = logger.log_level
    logger.setLevel("INFO")
    try:
        allowed = create("deploy", member, {"embedding_model_id": MODEL})
        refused = create("deploy", outsider, {"embedding_model_id": MODEL})
    finally:
        logger.setLevel(level)
        logger.registered_handler.setStream(stream)

    assert (allowed.status, refused.status) == (202, 403)
    decisions = [
        line
        for line in (json.loads(text) for text in log.getvalue().splitlines() if text.startswith("{"))
        if line.get("message", "").startswith("authorization ")
    ]
    assert [(d["decision"], d["reason"], d["caller_arn"]) for d in decisions] == [
        ("allowed", "owner", member),
        ("denied", "owner_mismatch", outsider),
    ]
    assert all(d["embedding_model_id"] == MODEL and d["action"] == "deploy" for d in decisions)
    assert decisions[1]["level"] == "WARNING"
    aws.client("stepfunctions").stop_execution(executionArn=allowed.body["execution_arn"])


def test_a_callers_tags_are_read_once_a_minute_per_container(aws):
    role(aws, "search-deployer", "search")
    now = [1000.0]
    directory = PrincipalDirectory(aws.client("iam"), clock=lambda: now[0])
    principal = IamPrincipal("role", "search-deployer")

    first = directory.tags_of(principal)
    aws.client("iam").tag_role(RoleName="search-deployer", Tags=[{"Key": "team", "Value": "ads"}])
    now[0] += TAG_TTL_SECONDS - 1
    cached = directory.tags_of(principal)
    now[0] += 1
    fresh = directory.tags_of(principal)

    assert (first, cached, fresh) == ({"team": "search"}, {"team": "search"}, {"team": "ads"})
    assert directory.tags_of(IamPrincipal("user", "nobody")) is None


# ---------------------------------------------------------------- cost guards


@pytest.mark.parametrize(
    ("fields", "locations"),
    [
        ({"instance_type": "ml.p5.48xlarge"}, ["body.instance_type"]),
        ({"initial_instance_count": 5}, ["body.initial_instance_count"]),
        (
            {"instance_type": "ml.p4d.24xlarge", "initial_instance_count": 100},
            ["body.instance_type", "body.initial_instance_count"],
        ),
    ],
)
def test_a_deploy_past_the_cost_limits_is_a_422_listing_what_is_allowed(aws, fields, locations):
    register_model(aws, MODEL)
    before = written(aws)

    response = create(
        "deploy",
        "arn:aws:sts::123456789012:assumed-role/ml-platform-ci/session",
        {"embedding_model_id": MODEL, **fields},
        idempotency_key="k-1",
    )

    assert response.status == 422
    assert response.body["code"] == "cost_limit_exceeded"
    assert [error["location"] for error in response.body["errors"]] == locations
    assert response.body["allowed_instance_types"] == DEFAULT_INSTANCE_TYPES
    assert response.body["max_instance_count"] == 4
    assert written(aws) == before


def test_the_limits_are_checked_before_the_caller_is_authorized(aws, faults):
    """A request no caller may send costs no IAM call."""
    faults.fail("iam", "GetRole", "Throttling")

    response = create(
        "deploy",
        "arn:aws:sts::123456789012:assumed-role/search-deployer/s",
        {"embedding_model_id": MODEL, "instance_type": "ml.p5.48xlarge"},
    )

    assert response.status == 422
    assert faults.calls.get("ListRoleTags", 0) == 0


def test_a_deploy_at_the_limits_is_accepted(aws):
    register_model(aws, MODEL, endpoint_status="Creating")

    response = create(
        "deploy",
        "arn:aws:sts::123456789012:assumed-role/ml-platform-ci/session",
        {"embedding_model_id": MODEL, "instance_type": "ml.inf2.xlarge", "initial_instance_count": 4},
    )

    assert response.status == 202, response.body
    assert response.body["metadata"]["instance_type"] == "ml.inf2.xlarge"
    assert response.body["metadata"]["initial_instance_count"] == 4
    aws.client("stepfunctions").stop_execution(executionArn=response.body["execution_arn"])


def test_cancelling_is_authorized_like_creating_and_a_refusal_changes_nothing(aws):
    register_model(aws, MODEL, tags={"team": "search"}, endpoint_status="Creating")
    deployed = create("deploy", role(aws, "search-deployer", "search"), {"embedding_model_id": MODEL}).body
    event = load_event("cancel_deploy", path=f"/internal/inference-deployment/deploy/{deployed['id']}/cancel")
    event["pathParameters"] = {"task_id": deployed["id"]}
    event["requestContext"]["identity"]["userArn"] = role(aws, "ads-deployer", "ads")

    response = call_api(cancel_handler, event)

    assert response.status == 403, response.body
    assert response.body["code"] == "forbidden"
    status = aws.client("stepfunctions").describe_execution(executionArn=deployed["execution_arn"])["status"]
    assert status == "RUNNING", "a refused cancel stops nothing"
    aws.client("stepfunctions").stop_execution(executionArn=deployed["execution_arn"])


# ---------------------------------------------------------------- admin patterns are exact (issue 19)


@pytest.mark.parametrize(
    "caller",
    [
        # another account's session of a role named like an admin
        "arn:aws:sts::210987654321:assumed-role/ml-platform-ci/s",
        # a session of a role IAM does not know (deleted, or never there)
        "arn:aws:sts::123456789012:assumed-role/ml-platform-ghost/s",
        # an admin-looking role name under another path: its ARN is role/sandbox/ml-platform-ops
        "arn:aws:sts::123456789012:assumed-role/ml-platform-ops/s",
        # a role under a path that starts like an admin name: `*` does not cross the `/`
        "arn:aws:iam::123456789012:role/ml-platform-x/pathed-role",
    ],
)
def test_admin_patterns_admit_no_other_account_unknown_role_or_other_path(aws, caller):
    """The stack's pattern is arn:aws:iam::123456789012:role/ml-platform-*; none of these callers is that."""
    register_model(aws, MODEL, tags={"team": "search"}, endpoint_status="Creating")
    iam = aws.client("iam")
    iam.create_role(RoleName="ml-platform-ops", Path="/sandbox/", AssumeRolePolicyDocument=TRUST)
    iam.create_role(RoleName="pathed-role", Path="/ml-platform-x/", AssumeRolePolicyDocument=TRUST)
    before = written(aws)

    response = create("deploy", caller, {"embedding_model_id": MODEL})

    assert response.status == 403, response.body
    assert response.body["code"] == "forbidden"
    assert written(aws) == before


def test_an_admin_role_under_a_path_is_matched_with_its_path(aws):
    register_model(aws, MODEL, tags={"team": "search"}, endpoint_status="Creating")
    aws.client("iam").create_role(RoleName="ml-platform-deployer", Path="/", AssumeRolePolicyDocument=TRUST)

    response = create(
        "deploy", f"arn:aws:sts::{ACCOUNT}:assumed-role/ml-platform-deployer/s", {"embedding_model_id": MODEL}
    )

    assert response.status == 202, response.body
    assert response.body["metadata"]["requested_by"]["allowed_as"] == "admin"
    aws.client("stepfunctions").stop_execution(executionArn=response.body["execution_arn"])


# ---------------------------------------------------------------- ownership lives in the service (issue 19)


def pinned_owner(aws: Any, model_id: str) -> dict[str, Any] | None:
    item = (
        aws.client("dynamodb")
        .get_item(TableName=aws.stack.tables["ModelsTable"].name, Key={"embedding_model_id": {"S": model_id}})
        .get("Item", {})
    )
    owner = item.get("pinned_owner")
    return None if owner is None else {key: next(iter(value.values())) for key, value in owner["M"].items()}


def test_the_first_deploy_pins_the_models_owner_from_its_tag(aws):
    register_model(aws, MODEL, tags={"team": "search"}, endpoint_status="Creating")
    member = role(aws, "search-deployer", "search")

    response = create("deploy", member, {"embedding_model_id": MODEL})

    assert response.status == 202, response.body
    owner = pinned_owner(aws, MODEL)
    assert owner is not None
    assert owner["team"] == "search"
    assert owner["pinned_by"] == member
    aws.client("stepfunctions").stop_execution(executionArn=response.body["execution_arn"])


@pytest.mark.parametrize("route", ["deploy", "delete"])
def test_a_tag_edit_on_the_model_does_not_hand_it_to_another_team(aws, route):
    """The bypass: AddTags team=search on the ads team's Model, then search's delete was a 202."""
    arn = aws.client("sagemaker").describe_model(ModelName=register_model(aws, MODEL, tags={"team": "ads"}))
    owner = role(aws, "ads-deployer", "ads")
    intruder = role(aws, "search-deployer", "search")
    first = create("deploy", owner, {"embedding_model_id": MODEL})
    assert first.status == 202, first.body
    wait_for(aws, first.body["execution_arn"])
    aws.client("sagemaker").add_tags(ResourceArn=arn["ModelArn"], Tags=[{"Key": "team", "Value": "search"}])
    before = written(aws)

    stolen = create(route, intruder, {"embedding_model_id": MODEL})
    kept = create(route, owner, {"embedding_model_id": MODEL})

    assert stolen.status == 403, stolen.body
    assert stolen.body["code"] == "forbidden"
    assert kept.status == 202, kept.body
    assert written(aws)["TasksTable"] == before["TasksTable"] + 1, "only the owner's request wrote a task"
    assert pinned_owner(aws, MODEL)["team"] == "ads"
    wait_for(aws, kept.body["execution_arn"])


# ---------------------------------------------------------------- an admin transfers ownership (issue 19)

ADMIN = f"arn:aws:sts::{ACCOUNT}:assumed-role/ml-platform-ci/s"


def transfer(caller: str | None, model_id: str, body: Any) -> ApiResponse:
    path = f"/internal/inference-deployment/models/{model_id}/owner"
    event = load_event("transfer_model_owner", body=json.dumps(body) if not isinstance(body, str) else body)
    event["path"] = path
    event["pathParameters"] = {"embedding_model_id": model_id}
    event["requestContext"]["path"] = f"/v1{path}"
    event["requestContext"]["identity"]["userArn"] = caller
    return call_api(create_handler, event)


def owner_change_events(aws: Any) -> Any:
    """A queue that receives the stack's owner change events (as a subscriber's rule would)."""
    queue_url = aws.client("sqs").create_queue(QueueName="owner-changes")["QueueUrl"]
    queue_arn = aws.client("sqs").get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    bus = aws.stack.resources["TaskEventsBus"].ref
    events = aws.client("events")
    pattern = {"source": [EVENT_SOURCE], "detail-type": [OWNER_CHANGE]}
    events.put_rule(Name="owner-changes", EventBusName=bus, EventPattern=json.dumps(pattern))
    events.put_targets(
        Rule="owner-changes",
        EventBusName=bus,
        Targets=[{"Id": "queue", "Arn": queue_arn["Attributes"]["QueueArn"]}],
    )

    def received() -> list[dict[str, Any]]:
        messages = aws.client("sqs").receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)
        return [json.loads(message["Body"]) for message in messages.get("Messages", [])]

    return received


def test_an_admin_moves_a_model_to_another_team_recorded_and_published(aws):
    register_model(aws, MODEL, tags={"team": "ads"}, endpoint_status="Creating")
    ads, search = role(aws, "ads-deployer", "ads"), role(aws, "search-deployer", "search")
    first = create("deploy", ads, {"embedding_model_id": MODEL})
    assert first.status == 202, first.body
    aws.client("stepfunctions").stop_execution(executionArn=first.body["execution_arn"])
    received = owner_change_events(aws)

    moved = transfer(ADMIN, MODEL, {"team": "search"})

    assert moved.status == 200, moved.body
    assert moved.body["team"] == "search"
    assert moved.body["previous_team"] == "ads"
    assert moved.body["pinned_by"] == ADMIN
    assert pinned_owner(aws, MODEL)["team"] == "search"
    (event,) = received()
    assert event["detail-type"] == OWNER_CHANGE
    assert event["detail"] == moved.body
    decided = {caller: create("delete", caller, {"embedding_model_id": MODEL}).body["code"] for caller in (ads, search)}
    assert decided[ads] == "forbidden"
    assert decided[search] != "forbidden", "the new owners pass authorization (the model is just not served)"


@pytest.mark.parametrize("caller", [None, "arn:aws:sts::123456789012:assumed-role/ads-deployer/s"])
def test_only_an_admin_may_transfer_and_a_refusal_changes_nothing(aws, caller):
    register_model(aws, MODEL, tags={"team": "ads"}, endpoint_status="Creating")
    owner = role(aws, "ads-deployer", "ads")
    first = create("deploy", owner, {"embedding_model_id": MODEL})
    aws.client("stepfunctions").stop_execution(executionArn=first.body["execution_arn"])
    before = pinned_owner(aws, MODEL)

    response = transfer(caller, MODEL, {"team": "ads-too"})

    assert response.status == 403, response.body
    assert response.body["code"] == "forbidden"
    assert pinned_owner(aws, MODEL) == before


@pytest.mark.parametrize(
    ("model_id", "body", "status", "code"),
    [
        ("never-deployed", {"team": "search"}, 404, "model_not_found"),
        (MODEL, {"team": ""}, 422, "validation_error"),
        (MODEL, {"team": "search", "previous_team": "x"}, 422, "validation_error"),
        (MODEL, {"team": 7}, 422, "validation_error"),
        (MODEL, {}, 422, "validation_error"),
        (MODEL, "not json", 400, None),
        ("-bad-name", {"team": "search"}, 422, "validation_error"),
    ],
)
def test_a_transfer_that_is_not_valid_is_a_4xx_and_writes_nothing(aws, model_id, body, status, code):
    register_model(aws, "never-deployed")
    before = written(aws)

    response = transfer(ADMIN, model_id, body)

    assert response.status == status, response.body
    assert response.headers["Content-Type"] == "application/problem+json"
    if code is not None:
        assert response.body["code"] == code
    assert written(aws) == before
    assert pinned_owner(aws, model_id) is None
