"""Request bodies of the write routes. Unknown fields are refused so typos do not pass silently."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from inference_deploy.models.common import ModelId


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=False)


class DeployRequest(_Request):
    embedding_model_id: ModelId


class DeleteRequest(_Request):
    embedding_model_id: ModelId
    deletion_type: Literal["manual", "automated"] = Field(
        default="manual", description="Who asked: a person (manual) or a system (automated)."
    )
    reason: str | None = Field(default=None, min_length=1, max_length=512, examples=["model deprecated"])
