"""One Logger, Tracer and Metrics for the whole service, configured by POWERTOOLS_* variables."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
# Only the SDK is patched: patch_all would also patch modules this service never uses (sqlite3, …).
tracer = Tracer(patch_modules=["botocore"])
metrics = Metrics()
