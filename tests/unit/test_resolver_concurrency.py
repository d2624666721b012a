"""Two resolvers serving requests at once in one process (the local gateway runs requests in threads):
each handler reads its own request's event, though Powertools keeps the current event on a class."""

from __future__ import annotations

import threading
from typing import Any

from inference_deploy.api.resolver import build_resolver
from tests.conftest import LambdaContext, load_event

WAIT = 30.0  # bounds a hang; nothing is timed


def test_a_request_keeps_its_event_while_another_resolver_serves_another_request() -> None:
    first, second = build_resolver(), build_resolver()
    inside, release = threading.Event(), threading.Event()
    seen: dict[str, Any] = {}

    @first.get("/internal/inference-deployment/deploy/<task_id>")
    def slow(task_id: str) -> dict[str, str]:
        inside.set()
        assert release.wait(WAIT)
        seen["slow"] = (task_id, first.current_event.path, first.lambda_context.aws_request_id)
        return {}

    @second.get("/internal/inference-deployment/delete/<task_id>")
    def quick(task_id: str) -> dict[str, str]:
        seen["quick"] = (task_id, second.current_event.path)
        return {}

    slow_event = load_event("get_deploy_task")
    quick_event = load_event("get_delete_task")
    worker = threading.Thread(target=first.resolve, args=(slow_event, LambdaContext(aws_request_id="slow")))
    worker.start()
    assert inside.wait(WAIT)
    second.resolve(quick_event, LambdaContext(aws_request_id="quick"))
    release.set()
    worker.join(WAIT)

    assert seen["quick"][1] == quick_event["path"]
    assert seen["slow"] == (slow_event["pathParameters"]["task_id"], slow_event["path"], "slow")
