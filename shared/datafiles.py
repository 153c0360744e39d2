"""Data files a local partnership owns (policies, calendars): JSON validated by a model,
refused with every reason at once, each naming the file and the field at fault."""

from __future__ import annotations

import json
from typing import TypeVar

from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


class DataFileError(ValueError):
    """The file is not valid; `problems` lists each reason."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def parse_data_file(
    model: type[M], text: str, *, source: str, error: type[DataFileError] = DataFileError
) -> M:
    """A validated `model` from JSON text; raises `error` with every reason."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise error([f"{source}: not JSON: {exc.msg} at line {exc.lineno}"]) from exc
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise error(
            [
                f"{source}: {'.'.join(str(p) for p in err['loc']) or '(root)'}: {err['msg']}"
                for err in exc.errors()
            ]
        ) from exc
