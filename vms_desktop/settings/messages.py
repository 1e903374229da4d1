"""How bad settings are reported: one ``VARIABLE: what is wrong; allowed: ...`` line each."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pydantic import ValidationError
from pydantic.fields import FieldInfo

Problem = tuple[str, str]
"""One bad setting: the variable's name and ``what is wrong; allowed: ...``."""


class SettingsError(Exception):
    """The configuration is unusable; the message has one line per bad variable.

    ``problems`` holds the same lines as (variable, explanation) pairs, for a settings dialog.
    """

    def __init__(self, problems: Sequence[Problem], sources: Sequence[str] = ()) -> None:
        unique = list(dict.fromkeys(problems))
        self.problems: tuple[Problem, ...] = tuple(unique)
        self.sources: tuple[str, ...] = tuple(sources)
        count = len(unique)
        lines = [f"Invalid configuration ({count} problem{'s' if count != 1 else ''}):"]
        lines += [f"  {variable}: {explanation}" for variable, explanation in unique]
        if sources:
            lines.append(f"Values were read from: {', '.join(sources)}")
        super().__init__("\n".join(lines))


class ValueProblems(ValueError):
    """Problems found by a validator, each already tied to a variable (cameras name their own)."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(f"{variable}: {text}" for variable, text in problems))


# Pydantic's own messages are replaced: several of them quote the rejected input.
_WHAT_IS_WRONG = {
    "missing": "is required",
    "int_parsing": "is not a whole number",
    "int_from_float": "is not a whole number",
    "int_type": "is not a whole number",
    "float_parsing": "is not a number",
    "float_type": "is not a number",
    "finite_number": "is not a finite number",
    "greater_than": "is too small",
    "greater_than_equal": "is too small",
    "less_than": "is too large",
    "less_than_equal": "is too large",
    "literal_error": "is not one of the allowed values",
    "string_type": "is not text",
    "extra_forbidden": "is not a setting",
}


def format_number(value: float) -> str:
    """A number as an error line shows it: ``30``, ``2.5``."""
    return f"{value:g}"


def shown_variable(name: str) -> str:
    """A variable name fit for an error line, escaped and shortened when it is hostile."""
    if len(name) <= 80 and name.isascii() and name.isprintable() and " " not in name:
        return name
    return ascii(name[:60]) + ("..." if len(name) > 60 else "")


def field_name(fields: Mapping[str, FieldInfo], key: str) -> str:
    """Field name for a key given by field name or by variable name."""
    for name, info in fields.items():
        if key in (name, info.alias):
            return name
    return key


def variable(fields: Mapping[str, FieldInfo], name: str) -> str:
    """The variable that sets field ``name`` (an unknown key is shown escaped)."""
    info = fields.get(name)
    return info.alias if info is not None and info.alias else shown_variable(name)


def allowed(fields: Mapping[str, FieldInfo], name: str) -> str:
    """What field ``name`` accepts, as the end of its error line."""
    info = fields.get(name)
    extra = info.json_schema_extra if info is not None else None
    text = extra.get("allowed") if isinstance(extra, dict) else None
    return str(text) if text else "a documented setting (see .env.example)"


def field_problems(
    fields: Mapping[str, FieldInfo], exc: ValidationError
) -> tuple[list[Problem], frozenset[str]]:
    """The problems of a failed field validation, and the names of the fields that failed."""
    problems: list[Problem] = []
    bad: set[str] = set()
    for error in exc.errors(include_url=False, include_input=False):
        field = field_name(fields, str(error["loc"][0])) if error["loc"] else ""
        bad.add(field)
        cause = (error.get("ctx") or {}).get("error")
        if isinstance(cause, ValueProblems):
            problems += cause.problems
            continue
        if error["type"] == "value_error" and cause is not None:
            what = str(cause)
        else:
            what = _WHAT_IS_WRONG.get(error["type"], "is invalid")
        problems.append((variable(fields, field), f"{what}; allowed: {allowed(fields, field)}"))
    return problems, frozenset(bad)
