"""RFC 9457 problem details: the one error body every route answers with."""

from pydantic import BaseModel, ConfigDict, Field

PROBLEM_CONTENT_TYPE = "application/problem+json"


class FieldError(BaseModel):
    model_config = ConfigDict(defer_build=True)  # built with the first error that lists fields

    location: str = Field(description="Where the bad value is: body.<field>, path.<name>, header.<name>.")
    message: str


class Problem(BaseModel):
    # defer_build: each model is built when first used, so a cold start builds only those its function uses.
    model_config = ConfigDict(extra="allow", defer_build=True)

    type: str = Field(description="URI naming the kind of problem.")
    title: str
    status: int
    detail: str
    code: str = Field(description="Machine-readable reason, stable across releases.")
    instance: str | None = Field(default=None, description="The request path.")
    request_id: str | None = None
    errors: list[FieldError] | None = None

    @classmethod
    def type_for(cls, code: str) -> str:
        return f"urn:inference-deployment:problem:{code}"
