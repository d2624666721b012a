"""CloudWatch alarms as strict as AWS where the service depends on them: composite alarms and events.

Moto stores a composite alarm (PutCompositeAlarm) as an alarm with a rule, but never evaluates the rule
and publishes no events. Here, while started:
- PutCompositeAlarm checks that the rule parses and that every alarm it names exists (AWS refuses
  "Could not save the composite alarm as alarms [...] in the alarm rule do not exist"), and evaluates
  it at once: a composite starts INSUFFICIENT_DATA and takes the rule's state (ALARM when it holds, OK
  when not);
- every change of an alarm's state value (SetAlarmState, a composite re-evaluated) publishes
  CloudWatch's "CloudWatch Alarm State Change" event to the listeners (EventBridge, local_stack.eventbridge),
  from a thread of its own as EventBridge delivers asynchronously, and re-evaluates the composites
  whose rule names the alarm. A SetAlarmState that leaves the value as it was publishes nothing.

Rule forms understood: ALARM / OK / INSUFFICIENT_DATA of a quoted or bare alarm name or ARN, TRUE,
FALSE, NOT, AND, OR and parentheses (AND binds tighter than OR), which covers what the service writes.
"""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from moto.cloudwatch.exceptions import ValidationError
from moto.cloudwatch.models import CloudWatchBackend
from moto.cloudwatch.responses import CloudWatchResponse

from local_stack._patch import Method

type AlarmStateListener = Callable[[dict[str, Any]], None]
_listeners: list[AlarmStateListener] = []
_lock = threading.RLock()
_INITIAL_COMPOSITE_STATE = "INSUFFICIENT_DATA"
_TOKEN = re.compile(r'\s*(?:(\()|(\))|"([^"]*)"|([A-Za-z_]+)|([^\s()"]+))')


def add_alarm_state_listener(listener: AlarmStateListener) -> Callable[[], None]:
    """Receive every alarm state change event (EventBridge's envelope); returns the remover."""
    _listeners.append(listener)
    return lambda: _listeners.remove(listener)


class RuleError(ValueError):
    pass


def _tokens(rule: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    position = 0
    while position < len(rule):
        if rule[position:].strip() == "":
            break
        match = _TOKEN.match(rule, position)
        if match is None:
            raise RuleError(f"cannot read the rule at {rule[position:]!r}")
        opening, closing, quoted, word, bare = match.groups()
        if opening:
            out.append(("(", "("))
        elif closing:
            out.append((")", ")"))
        elif quoted is not None:
            out.append(("name", quoted))
        elif word is not None:
            out.append(("word", word.upper()) if word.upper() in _WORDS else ("name", word))
        else:
            out.append(("name", bare))
        position = match.end()
    return out


_STATES = {"ALARM", "OK", "INSUFFICIENT_DATA"}
_WORDS = {*_STATES, "AND", "OR", "NOT", "TRUE", "FALSE"}


def alarm_names_of(rule: str) -> list[str]:
    """The alarm names (ARNs reduced to names) a rule refers to; RuleError when it does not parse."""
    names: list[str] = []

    def note(name: str, _state: str) -> bool:
        names.append(name)
        return False

    _Parser(_tokens(rule), note).parse()
    return names


def evaluate(rule: str, state_of: Callable[[str], str | None]) -> bool:
    """Whether the rule holds, given each named alarm's state value."""
    return _Parser(_tokens(rule), lambda name, state: state_of(name) == state).parse()


def _name(reference: str) -> str:
    """An alarm ARN (arn:aws:cloudwatch:region:account:alarm:NAME) or a name, as the name."""
    return reference.split(":alarm:", 1)[1] if reference.startswith("arn:") and ":alarm:" in reference else reference


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]], test: Callable[[str, str], bool]) -> None:
        self._tokens = tokens
        self._at = 0
        self._test = test

    def parse(self) -> bool:
        value = self._or()
        if self._at != len(self._tokens):
            raise RuleError(f"unexpected {self._tokens[self._at][1]!r}")
        return value

    def _peek(self) -> tuple[str, str] | None:
        return self._tokens[self._at] if self._at < len(self._tokens) else None

    def _take(self, kind: str, value: str | None = None) -> str:
        token = self._peek()
        if token is None or token[0] != kind or (value is not None and token[1] != value):
            raise RuleError(f"expected {value or kind}, found {token[1] if token else 'the end'}")
        self._at += 1
        return token[1]

    def _or(self) -> bool:
        values = [self._and()]
        while self._peek() == ("word", "OR"):
            self._at += 1
            values.append(self._and())
        return any(values)

    def _and(self) -> bool:
        values = [self._not()]
        while self._peek() == ("word", "AND"):
            self._at += 1
            values.append(self._not())
        return all(values)

    def _not(self) -> bool:
        if self._peek() == ("word", "NOT"):
            self._at += 1
            return not self._not()
        return self._atom()

    def _atom(self) -> bool:
        token = self._peek()
        if token == ("(", "("):
            self._at += 1
            value = self._or()
            self._take(")")
            return value
        if token in (("word", "TRUE"), ("word", "FALSE")):
            self._at += 1
            return token == ("word", "TRUE")
        state = self._take("word")
        if state not in _STATES:
            raise RuleError(f"expected ALARM, OK or INSUFFICIENT_DATA, found {state}")
        self._take("(")
        name = _name(self._take("name"))
        self._take(")")
        return self._test(name, state)


def _publish(backend: CloudWatchBackend, alarm: Any, previous: str, previous_reason: str) -> None:
    now = datetime.now(UTC)
    event = {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "CloudWatch Alarm State Change",
        "source": "aws.cloudwatch",
        "account": backend.account_id,
        "time": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": backend.region_name,
        "resources": [alarm.alarm_arn],
        "detail": {
            "alarmName": alarm.name,
            "state": {"value": alarm.state_value, "reason": alarm.state_reason, "timestamp": now.isoformat()},
            "previousState": {"value": previous, "reason": previous_reason},
            "configuration": {"alarmRule": alarm.rule} if alarm.rule is not None else {},
        },
    }
    for listener in list(_listeners):
        threading.Thread(target=listener, args=(event,), name="cloudwatch-alarm-state", daemon=True).start()


def _set_state(backend: CloudWatchBackend, alarm: Any, value: str, reason: str) -> None:
    previous, previous_reason = alarm.state_value, alarm.state_reason
    alarm.update_state(reason, "{}", value)
    if value != previous:
        _publish(backend, alarm, previous, previous_reason)
        _reevaluate_composites(backend, alarm.name)


def _evaluate_composite(backend: CloudWatchBackend, composite: Any) -> None:
    def state_of(name: str) -> str | None:
        child = backend.alarms.get(name)
        return child.state_value if child is not None else None

    holds = evaluate(composite.rule, state_of)
    value = "ALARM" if holds else "OK"
    if value != composite.state_value:
        names = [n for n in alarm_names_of(composite.rule) if state_of(n) == "ALARM"]
        reason = f"{composite.name} rule {'holds' if holds else 'does not hold'}" + (
            f" (in ALARM: {', '.join(names)})" if names else ""
        )
        _set_state(backend, composite, value, reason)


def _reevaluate_composites(backend: CloudWatchBackend, changed: str) -> None:
    for alarm in list(backend.alarms.values()):
        if alarm.rule is not None and changed in alarm_names_of(alarm.rule):
            _evaluate_composite(backend, alarm)


def _setting_alarm_state(original: Method) -> Method:
    def set_alarm_state(
        self: CloudWatchBackend, alarm_name: str, reason: str, reason_data: str, state_value: str
    ) -> None:
        with _lock:
            alarm = self.alarms.get(alarm_name)
            previous = (alarm.state_value, alarm.state_reason) if alarm is not None else None
            original(self, alarm_name, reason, reason_data, state_value)
            alarm = self.alarms[alarm_name]
            if previous is not None and alarm.state_value != previous[0]:
                _publish(self, alarm, *previous)
                _reevaluate_composites(self, alarm_name)

    return set_alarm_state


def _putting_alarm(original: Method) -> Method:
    def put_metric_alarm(self: CloudWatchBackend, *args: Any, **kwargs: Any) -> Any:
        rule = kwargs.get("rule")
        if rule is None:
            return original(self, *args, **kwargs)
        with _lock:
            try:
                named = alarm_names_of(rule)
            except RuleError as exc:
                raise ValidationError(f"AlarmRule is not valid: {exc}") from exc
            missing = sorted({name for name in named if name not in self.alarms})
            if missing:
                raise ValidationError(
                    f"Could not save the composite alarm as alarms {missing} in the alarm rule do not exist"
                )
            existing = self.alarms.get(kwargs["name"])
            alarm = original(self, *args, **kwargs)
            if existing is None or existing.rule is None:
                alarm.state_value = _INITIAL_COMPOSITE_STATE
                alarm.state_reason = "Unchecked: Initial alarm creation"
            else:  # an update keeps the state it had, then is evaluated against its new rule
                alarm.state_value, alarm.state_reason = existing.state_value, existing.state_reason
            _evaluate_composite(self, alarm)
            return alarm

    return put_metric_alarm


def _composite_response(_: Method) -> Method:  # moto has none: the original is None
    def put_composite_alarm(self: CloudWatchResponse) -> Any:
        """Moto has no PutCompositeAlarm; its PutMetricAlarm reads AlarmRule and stores a composite."""
        if not self._get_param("AlarmRule"):
            raise ValidationError("AlarmRule is required")
        return self.put_metric_alarm()

    return put_composite_alarm
