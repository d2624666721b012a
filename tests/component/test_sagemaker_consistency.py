"""SageMaker's reads are eventually consistent: what the workflow just created may not be visible yet."""

from __future__ import annotations

import pytest

from inference_deploy.adapters.sagemaker import SageMaker
from inference_deploy.errors import SageMakerError
from inference_deploy.models.serving import EndpointRef
from inference_deploy.naming import resource_tags
from tests.component.workflow_helpers import endpoints_of, run_task
from tests.conftest import register_model

MODEL = "embed-consistency-1"
TASK = "deploy-01HYG7Q8W3K5M2N4P6R8S0T1V3"


def test_a_deploy_goes_on_while_its_new_endpoint_is_not_visible_yet(aws):
    register_model(aws, MODEL, describe_misses=2)

    task = run_task(aws, "deploy", MODEL)

    assert task["status"] == "succeeded", task["error"]
    assert endpoints_of(aws, MODEL) == {task["metadata"]["endpoint_name"]: "InService"}


def test_a_create_repeated_before_the_first_is_visible_is_success_only_for_the_same_task(aws):
    register_model(aws, MODEL, describe_misses=3)
    sagemaker = SageMaker(aws.client("sagemaker"))
    ref = EndpointRef(endpoint_name=f"{MODEL}-green", endpoint_config_name=f"{MODEL}-green")

    def create(task_id: str) -> None:
        sagemaker.create_endpoint(
            ref,
            model_name=MODEL,
            instance_type="ml.m5.xlarge",
            instance_count=1,
            tags=resource_tags(MODEL, task_id, "inference-cluster-prod"),
        )

    create(TASK)
    create(TASK)  # the describes miss both: each create answers "already exists", and the tags are ours

    with pytest.raises(SageMakerError, match="did not create"):
        create("deploy-01HYG7Q8W3K5M2N4P6R8S0T1V4")
    assert endpoints_of(aws, MODEL) == {ref.endpoint_name: "InService"}
