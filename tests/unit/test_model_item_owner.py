"""The models table's item (serving record and active-task slot) has one owner: ModelStore.

TaskStore runs the transactions that take and free the slot, but every entry touching the model's item
comes from ModelStore; a second place spelling the item's attributes would let the two drift apart."""

import re
from pathlib import Path

ADAPTERS = Path(__file__).resolve().parents[2] / "layers" / "common" / "inference_deploy" / "adapters"
# The attributes of a model's item, and the key only that table uses as its partition key.
MODEL_ITEM = re.compile(r"\b(active_task|serving|unrouted)\b|\"embedding_model_id\":\s*\{\"S\"")


def _spelled(path: Path) -> list[str]:
    return [
        f"{path.name}:{number}: {line.strip()}"
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if MODEL_ITEM.search(line)
    ]


def test_the_task_store_never_spells_the_model_item():
    assert _spelled(ADAPTERS / "task_store.py") == []


def test_the_model_store_spells_it_so_the_check_above_can_fail():
    spelled = "\n".join(_spelled(ADAPTERS / "model_store.py"))
    for attribute in ("active_task", "serving", "unrouted", '"embedding_model_id": {"S"'):
        assert attribute in spelled
