"""One Logger, Tracer and Metrics for the whole service, configured by POWERTOOLS_* variables."""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import cache
from typing import Any, cast

# The package's __init__ imports all three classes anyway; only building a Tracer imports the X-Ray SDK.
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics.functions import is_metrics_disabled
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider
from aws_lambda_powertools.shared.functions import resolve_truthy_env_var_choice

from inference_deploy.environment import getenv


class _Provider(AmazonCloudWatchEMFProvider):
    """Powertools keeps a disabled provider's metrics (POWERTOOLS_METRICS_DISABLED: `make run`, tests)
    across invocations, until a metric's 100th value forces a flush that fails with no namespace: a
    long-lived local process answered 500 on its 100th deploy. Disabled, each invocation drops them.

    An invocation that recorded no metric (every read) flushes nothing and says nothing: Powertools
    would warn "No application metrics to publish" in every new container's log, and formatting that
    warning (the source line, through linecache and tokenize) cost each read's cold start ~2 ms."""

    def flush_metrics(self, raise_on_empty_metrics: bool = False) -> None:
        if not self.metric_set and not raise_on_empty_metrics:
            return
        super().flush_metrics(raise_on_empty_metrics=raise_on_empty_metrics)
        if is_metrics_disabled():
            self.clear_metrics()


def tracer_disabled() -> bool:
    """POWERTOOLS_TRACE_DISABLED (read as Powertools reads it), or the function's TRACER_SUBSEGMENTS "false"."""
    if getenv("TRACER_SUBSEGMENTS", "true").strip().lower() == "false":
        return True
    return resolve_truthy_env_var_choice(env=os.getenv("POWERTOOLS_TRACE_DISABLED", "false"))


@cache
def powertools_tracer() -> Tracer:
    """The X-Ray SDK's Tracer, built on first use: building it imports the SDK even when it is disabled."""
    # Only the SDK is patched: patch_all would also patch modules this service never uses (sqlite3, …).
    return Tracer(patch_modules=["botocore"])


class HandlerTracing:
    """Powertools' Tracer where a function wants X-Ray SDK subsegments, nothing where it does not.

    Lambda's active tracing records every invocation (init, invocation, overhead) without any SDK in the
    function; the Tracer adds a subsegment per AWS call and a ColdStart annotation, at the price of
    importing and patching the X-Ray SDK on every cold start. A function whose TRACER_SUBSEGMENTS is
    "false" (the API functions by default: template parameter ApiTracerSubsegments) or whose
    POWERTOOLS_TRACE_DISABLED is true never imports it.
    The choice is made when the handler is decorated, at import, as Powertools makes it."""

    def capture_lambda_handler[F: Callable[..., Any]](self, handler: F) -> F:
        if tracer_disabled():
            return handler
        return cast(F, powertools_tracer().capture_lambda_handler(handler))


logger = Logger()
tracer = HandlerTracing()
metrics = Metrics(provider=_Provider())
