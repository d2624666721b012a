"""DynamoDB answers moto never gives: transaction conflicts must be retryable, not 500s."""

import pytest
from botocore.exceptions import ClientError

from inference_deploy.adapters.dynamo import translate
from inference_deploy.errors import StoreUnavailable


def _error(code: str, reasons: list[str] | None = None) -> ClientError:
    response: dict = {"Error": {"Code": code, "Message": "m"}}
    if reasons is not None:
        response["CancellationReasons"] = [{"Code": r} for r in reasons]
    return ClientError(response, "TransactWriteItems")


@pytest.mark.parametrize(
    "error",
    [
        _error("TransactionCanceledException", ["None", "TransactionConflict"]),
        _error("TransactionCanceledException", ["ThrottlingError", "None"]),
        _error("TransactionConflictException"),
        _error("ProvisionedThroughputExceededException"),
    ],
)
def test_conflicts_and_throttling_become_retryable(error):
    assert isinstance(translate(error, "write"), StoreUnavailable)


def test_other_errors_stay_what_they_are():
    error = _error("ValidationException")
    assert translate(error, "write") is error
