"""Minimal boto3-only handlers of the same API contract: the baseline every ratio is taken against."""
