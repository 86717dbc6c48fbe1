"""Request bodies of the OpenAI API subset afinar serves, validated at the door.

Unknown fields are ignored (the SDKs send optional ones we do not implement); a field we do read
with a bad value is a 400 that names it.
"""

from __future__ import annotations

from typing import Literal

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from afinar.data.tools import check_tools, tool_names
from afinar.errors import AfinarError
from afinar.eval.derive import derived_fields

__all__ = ["ChatRequest", "CompletionRequest", "Message"]


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class TextPart(_Body):
    type: Literal["text"]
    text: str


class CalledFunction(_Body):
    name: str
    arguments: str = "{}"
    """JSON text of the arguments, as OpenAI sends them back."""


class CallIn(_Body):
    """An assistant turn's tool call, sent back with the conversation."""

    id: str
    type: Literal["function"] = "function"
    function: CalledFunction


class Message(_Body):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[TextPart] | None = None
    tool_calls: list[CallIn] | None = None
    """On an assistant turn: the calls it made."""
    tool_call_id: str | None = None
    """On a tool turn: the call whose result this is."""

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(p.text for p in self.content)
        return self.content or ""


class _FunctionName(_Body):
    name: str


class NamedChoice(_Body):
    """``tool_choice`` naming the one function to call."""

    type: Literal["function"] = "function"
    function: _FunctionName


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
        derived_fields(value)  # its x-afinar-derive rules, which afinar applies to the answer, must read
        return value


class ResponseFormat(_Body):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchema | None = None

    def schema(self) -> dict | None:
        """None for free text, ``{}`` for any JSON object, else the JSON schema."""
        if self.type == "text":
            return None
        return self.json_schema.schema_ if self.type == "json_schema" and self.json_schema else {}


MAX_CHOICES = 16
"""The most choices (``n``) one request may ask for."""
MAX_TOP_LOGPROBS = 20
"""The most alternatives per token (chat's ``top_logprobs``; OpenAI's limit)."""


class _Sampling(_Body):
    model: str
    max_tokens: int | None = Field(None, ge=1)
    temperature: float = Field(1.0, ge=0.0, le=2.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    n: int = Field(1, ge=1, le=MAX_CHOICES, description="choices per request, decoded side by side")
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
    tools: list[dict] | None = None
    """OpenAI function tools, offered in the afinar tool format (:mod:`afinar.data.tools`)."""
    tool_choice: Literal["none", "auto", "required"] | NamedChoice | None = None
    parallel_tool_calls: bool = True
    logprobs: bool = False
    top_logprobs: int | None = Field(None, ge=0, le=MAX_TOP_LOGPROBS)

    def top(self) -> int | None:
        """How many alternatives per token (None: no log-probabilities)."""
        return (self.top_logprobs or 0) if self.logprobs else None

    @field_validator("tools")
    @classmethod
    def _function_tools(cls, value: list[dict] | None) -> list[dict] | None:
        """Checked at the door, as a training row's are: names, JSON Schema parameters."""
        if value is None:
            return None
        try:
            return check_tools(value, "request")
        except AfinarError as err:
            raise ValueError(str(err).removeprefix("request: ")) from None

    @model_validator(mode="after")
    def _choice_among_tools(self) -> ChatRequest:
        if isinstance(self.tool_choice, NamedChoice) and self.tool_choice.function.name not in tool_names(
            self.tools or []
        ):
            offered = ", ".join(tool_names(self.tools or [])) or "none"
            raise ValueError(f"tool_choice names '{self.tool_choice.function.name}', which is not in tools ({offered})")
        if self.tool_choice == "required" and not self.tools:
            raise ValueError("tool_choice 'required' needs tools")
        if self.top_logprobs is not None and not self.logprobs:
            raise ValueError("top_logprobs needs logprobs: true")
        return self


class CompletionRequest(_Sampling):
    prompt: str | list[str]
    max_tokens: int | None = Field(16, ge=1)
    logprobs: int | None = Field(None, ge=0, le=5, description="each token's log-probability, and the k most likely")

    def text(self) -> str:
        return self.prompt if isinstance(self.prompt, str) else "".join(self.prompt)
