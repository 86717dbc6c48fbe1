"""Request bodies of the OpenAI API subset afinar serves, validated at the door.

Unknown fields are ignored (the SDKs send optional ones we do not implement); a field we do read
with a bad value is a 400 that names it.
"""

from __future__ import annotations

from typing import Literal

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["ChatRequest", "CompletionRequest", "Message"]


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class TextPart(_Body):
    type: Literal["text"]
    text: str


class Message(_Body):
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[TextPart] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(p.text for p in self.content)
        return self.content or ""


class StreamOptions(_Body):
    include_usage: bool = False


class JsonSchema(_Body):
    name: str = "answer"
    schema_: dict = Field(default_factory=dict, alias="schema")

    @field_validator("schema_")
    @classmethod
    def _a_json_schema(cls, value: dict) -> dict:
        """Checked before any generation: a broken schema is the client's 400, not a 500 after the
        whole answer has been generated."""
        try:
            Draft202012Validator.check_schema(value)
        except SchemaError as err:
            where = "/".join(str(x) for x in err.path) or "(top level)"
            raise ValueError(f"not a valid JSON Schema at {where}: {err.message}") from None
        return value


class ResponseFormat(_Body):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchema | None = None

    def schema(self) -> dict | None:
        """None for free text, ``{}`` for any JSON object, else the JSON schema."""
        if self.type == "text":
            return None
        return self.json_schema.schema_ if self.type == "json_schema" and self.json_schema else {}


class _Sampling(_Body):
    model: str
    max_tokens: int | None = Field(None, ge=1)
    temperature: float = Field(1.0, ge=0.0, le=2.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    n: int = Field(1, ge=1, le=1, description="only one choice per request")
    stop: str | list[str] | None = None
    seed: int | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    user: str | None = None

    def stops(self) -> list[str]:
        stops = [self.stop] if isinstance(self.stop, str) else list(self.stop or [])
        return [s for s in stops if s]


class ChatRequest(_Sampling):
    messages: list[Message] = Field(min_length=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    response_format: ResponseFormat | None = None


class CompletionRequest(_Sampling):
    prompt: str | list[str]
    max_tokens: int | None = Field(16, ge=1)

    def text(self) -> str:
        return self.prompt if isinstance(self.prompt, str) else "".join(self.prompt)
