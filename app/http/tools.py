"""What the OpenAI-shaped front doors (chat completions, Responses) share about a request's
arguments and function tools: the refusal of arguments the server does not implement, the pieces
of the tool, tool-choice and response-format models, and their translation into the core's.

Each API keeps its own field paths (``tools[0].function.name`` or ``tools[0].name``) and its own
wording where OpenAI words them differently.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Annotated, Any, Literal, Protocol, TypeVar

from pydantic import AfterValidator, BaseModel, Discriminator, Tag
from pydantic_core import PydanticCustomError

from app.contract import errors
from app.providers import NamedToolChoice, Tool, ToolChoice

from .wire import InvalidFieldError, by_type, shortened

ToolMode = Literal["none", "auto", "required"]


def _object_schema(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is not None and value.get("type") != "object":
        raise PydanticCustomError("invalid_schema", 'must be a JSON Schema of "type": "object"')
    return value


# A function's parameters: a JSON Schema of "type": "object", or none.
Parameters = Annotated[dict[str, Any] | None, AfterValidator(_object_schema)]

NamedFunction = TypeVar("NamedFunction", bound=BaseModel)
# The tool_choice union: a mode, or a named function in the API's own model (ToolChoiceOf[model]).
ToolChoiceOf = Annotated[
    Annotated[ToolMode, Tag("<mode>")] | Annotated[NamedFunction, Tag("<function>")],
    Discriminator(
        lambda value: "<mode>" if isinstance(value, str) else "<function>",
        custom_error_type="invalid_tool_choice",
        custom_error_message='must be "none", "auto", "required" or a named function',
    ),
]


TextT = TypeVar("TextT", bound=BaseModel)
JSONObjectT = TypeVar("JSONObjectT", bound=BaseModel)
JSONSchemaT = TypeVar("JSONSchemaT", bound=BaseModel)
# A format union's members, in the API's own models (FormatMembers[text, json_object, json_schema]),
# tagged as format_discriminator tells them apart.
FormatMembers = (
    Annotated[TextT, Tag("<text>")]
    | Annotated[JSONObjectT, Tag("<json_object>")]
    | Annotated[JSONSchemaT, Tag("<json_schema>")]
)


def format_discriminator(error_type: str) -> Discriminator:
    """The discriminator of a text, json_object or json_schema format union."""
    return by_type(
        ("text", "json_object", "json_schema"),
        error_type,
        "must be an object with type text, json_object or json_schema",
    )


class UnsupportedParameterError(InvalidFieldError):
    """An argument OpenAI knows but this server does not implement (yet)."""

    error = errors.UNSUPPORTED_PARAMETER


class UnknownParameterError(InvalidFieldError):
    """An argument that is not part of the API at all, in the API's own wording."""

    error = errors.UNKNOWN_PARAMETER

    def __init__(self, param: str, message: str) -> None:
        super().__init__(param, "")
        self.message = message


def refuse_unsupported(
    body: Mapping[str, Any],
    implemented: Collection[str],
    openai_only: Collection[str],
    no_op_values: Mapping[str, tuple[Any, ...]],
    unknown_message: Callable[[str], str],
) -> None:
    """Refuse the first argument (by name) the server does not implement, unless it is null or
    asks for what the server does anyway; an argument OpenAI does not know is refused with
    ``unknown_message(name)``."""
    for name in sorted(set(body) - set(implemented)):
        value = body[name]
        if name in openai_only:
            if value is None or any(
                value == no_op and type(value) is type(no_op)
                for no_op in no_op_values.get(name, ())
            ):
                continue
            raise UnsupportedParameterError(
                name, "is not supported by this server; remove it from the request"
            )
        raise UnknownParameterError(shortened(name), unknown_message(shortened(name)))


class Function(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def description(self) -> str | None: ...
    @property
    def parameters(self) -> dict[str, Any] | None: ...
    @property
    def strict(self) -> bool | None: ...


class Named(Protocol):
    @property
    def name(self) -> str: ...


def core_tools(functions: Iterable[Function], name_param: str) -> tuple[Tool, ...]:
    """The request's functions as core tools; ``name_param`` is where the i-th function's name
    is (``tools[{}].name``)."""
    tools: list[Tool] = []
    for index, function in enumerate(functions):
        if any(tool.name == function.name for tool in tools):
            raise InvalidFieldError(name_param.format(index), "duplicate tool name")
        parameters = function.parameters or {"type": "object", "properties": {}}
        tools.append(Tool(function.name, function.description, parameters, function.strict))
    return tuple(tools)


def core_tool_choice(
    choice: ToolMode | Named | None, tools: tuple[Tool, ...], name_param: str
) -> ToolChoice | None:
    """The request's tool_choice for the core; ``name_param`` is where a named function's name
    is (``tool_choice.name``)."""
    if choice is None or (not tools and choice in ("auto", "none")):
        # Without tools the model calls none anyway: these change nothing.
        return None
    if not tools:
        raise InvalidFieldError("tool_choice", "requires tools")
    if isinstance(choice, str):
        return choice
    if all(tool.name != choice.name for tool in tools):
        raise InvalidFieldError(name_param, "names no tool in tools")
    return NamedToolChoice(choice.name)
