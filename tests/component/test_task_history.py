"""A model's history: GET /models/{id}/tasks pages through both kinds newest first, one Query per kind
per page, and refuses parameters and page tokens it did not issue."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from read_task.app import lambda_handler as read_handler

from inference_deploy.adapters import aws as clients
from inference_deploy.adapters.task_store import task_to_item
from inference_deploy.ids import new_task_id
from inference_deploy.models.task import Task, TaskKind
from local_stack.emulator import EmulatedAws
from tests.conftest import ApiResponse, call_api, load_event

BASE = "/internal/inference-deployment"
BASE_MS = 1_700_000_000_000
EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:m:x"


def history(model: str, **query: str | int) -> ApiResponse:
    params = {key: str(value) for key, value in query.items()}
    event = load_event(
        "get_model_tasks",
        path=f"{BASE}/models/{model}/tasks",
        pathParameters={"embedding_model_id": model},
        queryStringParameters=params or None,
        multiValueQueryStringParameters={key: [value] for key, value in params.items()} or None,
    )
    return call_api(read_handler, event)


def seed(aws: EmulatedAws, model: str, count: int, *, start: int = 0) -> list[str]:
    """`count` tasks of the model, kinds interleaved irregularly, one millisecond apart; their ids, oldest first."""
    table = aws.stack.tables["TasksTable"].name
    ddb = aws.client("dynamodb")
    ids = [
        new_task_id(TaskKind.DELETE if (start + i) % 3 == 0 else TaskKind.DEPLOY, now_ms=BASE_MS + start + i)
        for i in range(count)
    ]
    items = [task_to_item(Task.new(task_id, model, {"n": n}, EXECUTION)) for n, task_id in enumerate(ids, start)]
    for first in range(0, len(items), 25):
        ddb.batch_write_item(RequestItems={table: [{"PutRequest": {"Item": i}} for i in items[first : first + 25]]})
    return ids


def all_pages(model: str, **query: str | int) -> list[dict[str, Any]]:
    pages: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        response = history(model, **query, **({"next_token": token} if token else {}))
        assert response.status == 200, response.body
        pages.append(response.body)
        token = response.body.get("next_token")
        if token is None:
            return pages


class QueryMeter:
    """The Query calls the read function makes, and the items DynamoDB reports reading for each."""

    def __init__(self) -> None:
        self.answers: list[dict[str, Any]] = []
        clients.dynamodb().meta.events.register("after-call.dynamodb.Query", self._record)
        clients.dynamodb().meta.events.register("before-call.dynamodb.Scan", self._no_scan)

    def _record(self, parsed: dict[str, Any], **_: Any) -> None:
        self.answers.append(parsed)

    def _no_scan(self, **_: Any) -> None:
        raise AssertionError("the history must never Scan")

    def take(self) -> tuple[int, int]:
        calls, items = len(self.answers), sum(a["ScannedCount"] for a in self.answers)
        self.answers.clear()
        return calls, items


def test_both_kinds_page_newest_first_and_every_task_appears_once(aws):
    ids = seed(aws, "busy-model", 250)
    seed(aws, "neighbour", 40)

    pages = all_pages("busy-model", limit=20)

    listed = [task["id"] for page in pages for task in page["tasks"]]
    assert listed == list(reversed(ids))
    assert [len(page["tasks"]) for page in pages] == [20] * 12 + [10]
    assert all(task["embedding_model_id"] == "busy-model" for page in pages for task in page["tasks"])


@pytest.mark.parametrize("kind", ["deploy", "delete"])
def test_one_kind_pages_only_that_kind(aws, kind):
    ids = seed(aws, "busy-model", 250)

    pages = all_pages("busy-model", kind=kind, limit=30)

    listed = [task["id"] for page in pages for task in page["tasks"]]
    assert listed == [task_id for task_id in reversed(ids) if task_id.startswith(f"{kind}-")]
    assert all(len(page["tasks"]) == 30 for page in pages[:-1])


def test_the_default_page_holds_twenty_and_the_largest_a_hundred(aws):
    seed(aws, "busy-model", 250)

    assert len(history("busy-model").body["tasks"]) == 20
    assert len(history("busy-model", limit=100).body["tasks"]) == 100
    assert all_pages("busy-model", limit=100)[-1]["tasks"]  # no empty last page


def test_a_model_without_tasks_has_an_empty_history(aws):
    seed(aws, "busy-model", 5)

    response = history("quiet-model")

    assert response.status == 200
    assert response.body == {"tasks": [], "next_token": None}


@pytest.mark.parametrize("model_id", ["Upper-Case", "x" * 64, "under_score", "-dash-first"])
def test_a_model_id_that_cannot_exist_is_404_like_on_every_route(aws, model_id):
    response = history(model_id)

    assert response.status == 404, response.body
    assert response.body["code"] == "no_task_for_model"


def test_each_page_costs_one_query_per_kind_whatever_the_history(aws):
    meter = QueryMeter()
    seed(aws, "busy-model", 100)
    history("busy-model", limit=20)
    small = meter.take()
    seed(aws, "busy-model", 1_000, start=100)

    costs = []
    token = None
    for _ in range(5):  # the first pages and some deep into the history
        response = history("busy-model", limit=20, **({"next_token": token} if token else {}))
        costs.append(meter.take())
        token = response.body["next_token"]
    one_kind = history("busy-model", kind="deploy", limit=20)
    one_kind_cost = meter.take()

    assert small == (2, 42)  # a Query per kind, each reading one task past the page to know if more remain
    assert costs == [small] * 5
    assert one_kind.status == 200
    assert one_kind_cost == (1, 21)


@pytest.mark.parametrize(
    ("query", "where"),
    [
        ({"kind": "rollout"}, "query.kind"),
        ({"limit": 0}, "query.limit"),
        ({"limit": 101}, "query.limit"),
        ({"limit": "many"}, "query.limit"),
        ({"next_token": "x" * 1025}, "query.next_token"),
    ],
)
def test_bad_query_parameters_are_422_problems(aws, query, where):
    response = history("busy-model", **query)

    assert response.status == 422
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.body["code"] == "validation_error"
    assert [e["location"] for e in response.body["errors"]] == [where]


def _token(cursor: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(cursor).encode()).rstrip(b"=").decode()


def test_a_page_token_this_api_did_not_issue_is_a_400_problem(aws):
    seed(aws, "busy-model", 60)
    seed(aws, "other-model", 60)
    issued = history("busy-model", limit=10).body["next_token"]
    issued_for_deploys = history("busy-model", kind="deploy", limit=10).body["next_token"]
    cursor = json.loads(base64.urlsafe_b64decode(issued + "=" * (-len(issued) % 4)))
    deploy_id = cursor["after"]["deploy"]

    refused = {
        "garbage": "not a token!",
        "not base64 JSON": base64.urlsafe_b64encode(b"\xff\xfe").decode(),
        "JSON, not a cursor": _token({"hello": "world"}),
        "another version": _token({**cursor, "v": 2}),
        "another model": history("other-model", limit=10).body["next_token"],
        "another kind filter": issued_for_deploys,
        "an unknown kind": _token({**cursor, "after": {"rollout": None}}),
        "an id of the other kind": _token({**cursor, "after": {"delete": deploy_id}}),
        "an id that cannot exist": _token({**cursor, "after": {"deploy": "deploy-0"}}),
        "nothing left to read": _token({**cursor, "after": {}}),
        "a truncated token": issued[:-7],
        "a nested bomb": _token({**cursor, "model": [[[[["x"]]]]]}),
    }
    for why, token in refused.items():
        response = history("busy-model", limit=10, next_token=token)
        assert response.status == 400, why
        assert response.headers["Content-Type"] == "application/problem+json", why
        assert response.body["code"] == "invalid_next_token", why

    assert history("busy-model", limit=10, next_token=issued).status == 200
