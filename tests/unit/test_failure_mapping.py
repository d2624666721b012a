import json

import pytest

from inference_deploy.logic.failures import failure_to_error
from inference_deploy.logic.lifecycle import _why_failed
from inference_deploy.models.workflow import FinishTaskEvent, StepFailure


def _lambda_failure(error_type: str, message: str) -> StepFailure:
    return StepFailure(Error=error_type, Cause=json.dumps({"errorType": error_type, "errorMessage": message}))


def test_a_domain_error_keeps_its_code_and_lambda_message():
    error = failure_to_error(_lambda_failure("StoreUnavailable", "DynamoDB is unavailable (ThrottlingException)"))
    assert error.code == "store_unavailable"
    assert error.message == "DynamoDB is unavailable (ThrottlingException)"


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("States.Timeout", "step_timeout"),
        ("Sandbox.Timedout", "step_timeout"),
        ("Lambda.ServiceException", "step_failed"),
        ("KeyError", "internal_error"),
    ],
)
def test_platform_and_unexpected_errors_get_generic_codes(name, code):
    assert failure_to_error(StepFailure(Error=name, Cause="not json")).code == code


def test_a_cause_that_is_not_json_is_kept_as_the_message():
    assert failure_to_error(StepFailure(Error="States.Timeout", Cause="took too long")).message == "took too long"


@pytest.mark.parametrize("undoing", ["cleanup_failure", "restore_failure"])
def test_a_cancel_that_could_not_be_undone_fails_with_the_undoings_error(undoing):
    busy = {"Error": "EndpointBusy", "Cause": json.dumps({"errorMessage": "endpoint idt-x is Creating"})}
    event = FinishTaskEvent(
        task_id="deploy-01HYG7Q8W3K5M2N4P6R8S0T1V3",
        embedding_model_id="m",
        status="failed",
        failure={"Error": "TaskCancelled", "Cause": "cancelled"},
        state={undoing: busy},
    )
    assert failure_to_error(_why_failed(event)).code == "endpoint_busy"
    plain = event.model_copy(update={"failure": StepFailure(Error="GreenFailed", Cause="x")})
    assert _why_failed(plain).Error == "GreenFailed", "a failure that is not a cancel keeps its own error"
