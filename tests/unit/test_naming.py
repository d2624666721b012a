import re

import pytest

from inference_deploy.ids import new_task_id
from inference_deploy.models.common import MODEL_ID_PATTERN
from inference_deploy.models.task import TaskKind
from inference_deploy.naming import ENDPOINT_NAME_PREFIX, green_endpoint, name_prefix


@pytest.mark.parametrize(
    "model_id", ["a", "embed-deploy-123", "m" * 36, "m" * 37, "m" * 63, "a" + "-b" * 31, "x" * 35 + "--y"]
)
def test_every_valid_model_id_gives_valid_unique_endpoint_names(model_id):
    assert re.fullmatch(MODEL_ID_PATTERN, model_id)
    names = {green_endpoint(model_id, new_task_id(TaskKind.DEPLOY)).endpoint_name for _ in range(50)}

    assert len(names) == 50
    for name in names:
        assert len(name) <= 63
        assert re.fullmatch(MODEL_ID_PATTERN, name), name
        assert name.startswith(name_prefix(model_id))
        assert name.startswith(ENDPOINT_NAME_PREFIX)
