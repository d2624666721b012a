"""The event-driven bake: a task token on the task item, completed by whoever sees the bake end early.

The deploy workflow's AwaitBake state stores its task token (with the alarms the bake watches, if any) on
the task item, then looks at those alarms once: one may have gone to ALARM before the token was stored.
The bake's own alarms on green (when the request asks) or its composite alarm over the request's alarms
send CloudWatch's "Alarm State Change" event, which looks again and completes the token with the alarm
that tripped; a cancel fails it (TaskCancelled). Nothing woken, the state's timeout (the bake's length)
ends the wait and RetireBlue ends the bake. Both sides decide by DescribeAlarms, never by the event's own
state, so a late or repeated event is harmless.
"""

from __future__ import annotations

from inference_deploy.adapters.alarms import Alarms, task_of_alarm, watched_alarm_names
from inference_deploy.adapters.executions import TaskTokens
from inference_deploy.adapters.task_store import TaskStore
from inference_deploy.models.common import utc_now
from inference_deploy.models.workflow import AlarmStateChange, BakeCheck, CheckBakeEvent
from inference_deploy.observability import logger


def await_bake(event: CheckBakeEvent, token: str, store: TaskStore, alarms: Alarms, tokens: TaskTokens) -> BakeCheck:
    """Store the bake's token for the alarm event, then look (an alarm may already be in ALARM)."""
    watched = watched_alarm_names(event.task_id, event.bake.alarms, event.bake.green_alarms)
    store.await_bake(event.task_id, token, watched)
    if not watched:
        return BakeCheck(at=utc_now())  # nothing to look at: the token waits for a cancel or the bake's end
    return _settle(watched, token, alarms, tokens)


def resume_bake(event: AlarmStateChange, store: TaskStore, alarms: Alarms, tokens: TaskTokens) -> BakeCheck | None:
    """One of a bake's own alarms changed state: if it went to ALARM and its task bakes, end the bake."""
    task_id = task_of_alarm(event.detail.alarmName)
    if task_id is None or event.detail.state.value != "ALARM":
        return None
    wait = store.bake_wait(task_id)
    if wait is None:
        return None  # not baking yet: its AwaitBake looks after storing the token
    result = _settle(wait.alarms, wait.token, alarms, tokens)
    logger.info("bake alarm state change", extra={"task_id": task_id, "tripped": result.tripped})
    return result


def _settle(watched: list[str], token: str, alarms: Alarms, tokens: TaskTokens) -> BakeCheck:
    tripped = alarms.first_in_alarm(watched)
    if tripped is None:
        return BakeCheck(at=utc_now())
    logger.warning("alarm during the bake", extra={"alarm": tripped.name, "reason": tripped.reason})
    result = BakeCheck(tripped=tripped, at=utc_now())
    tokens.succeed(token, result)  # False: the wait already ended (woken before, or timed out)
    return result
