"""EventBridge rules of the template, fed by the emulated SageMaker's endpoint state change events and
the emulated CloudWatch's alarm state change events.

Moto stores rules but does not route AWS service events to Lambda targets. While started, each event
the SageMaker emulator publishes is matched against the patterns of the template's EventBridgeRule
events and delivered to the matching function through Lambda (in the publishing thread, which is
already apart from the call that changed the endpoint, as EventBridge delivers asynchronously).
Patterns support what the template uses: nested keys, lists of exact values and `{"prefix": ...}`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from local_stack import cloudwatch, sagemaker
from local_stack._patch import Lifecycle

LOG = logging.getLogger(__name__)


def matches(pattern: Mapping[str, Any], event: Mapping[str, Any]) -> bool:
    """EventBridge matching for exact values: every key of the pattern must match the event."""
    for key, expected in pattern.items():
        if key not in event:
            return False
        value = event[key]
        if isinstance(expected, Mapping):
            if not isinstance(value, Mapping) or not matches(expected, value):
                return False
        elif isinstance(expected, list):
            values = value if isinstance(value, list) else [value]
            if not any(_matches_value(e, v) for v in values for e in expected):
                return False
        else:
            return False
    return True


def _matches_value(expected: Any, value: Any) -> bool:
    if isinstance(expected, Mapping):
        if set(expected) != {"prefix"}:
            raise ValueError(f"pattern matcher {dict(expected)} is not emulated")
        return isinstance(value, str) and value.startswith(expected["prefix"])
    return bool(value == expected)


class EventRules(Lifecycle):
    """Routes published events to `(pattern, function ARN)` rules through `invoke(arn, payload)`."""

    def __init__(self, rules: Sequence[tuple[Mapping[str, Any], str]], invoke: Callable[[str, bytes], object]) -> None:
        self._rules = list(rules)
        self._invoke = invoke
        self._removers: list[Callable[[], None]] = []

    def start(self) -> None:
        if not self._removers:
            self._removers = [
                sagemaker.add_state_change_listener(self.put),
                cloudwatch.add_alarm_state_listener(self.put),
            ]

    def stop(self) -> None:
        for remove in self._removers:
            remove()
        self._removers = []

    def put(self, event: Mapping[str, Any]) -> None:
        for pattern, arn in self._rules:
            if matches(pattern, event):
                try:
                    self._invoke(arn, json.dumps(event).encode())
                except Exception:  # EventBridge retries and dead-letters; here a lost event is logged
                    LOG.exception("delivering %s to %s failed", event.get("detail-type"), arn)
