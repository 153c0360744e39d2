"""Every request body any service accepts is guarded the same way, so a new endpoint
cannot forget: its models check text (no control or bidi characters, see
shared/text.py), refuse unknown fields (a body cannot slip in who is acting), and
take only JSON booleans as booleans."""

from __future__ import annotations

import tempfile
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute
from pydantic import BaseModel
from pydantic.types import Strict

from services.apps import embedded_app
from shared.settings import embedded_settings
from shared.text import CheckedText


def body_models(tmp: Path) -> dict[str, type[BaseModel]]:
    """The model of each route's JSON body, by `METHOD path` (the app is not started)."""
    app = embedded_app(embedded_settings(tmp))
    found: dict[str, type[BaseModel]] = {}
    for route in api_routes(app.routes):
        if route.body_field is None:
            continue
        for model in models_in(route.body_field.field_info.annotation):
            found[f"{sorted(route.methods or ['POST'])[0]} {route.path} {model.__name__}"] = model
    return found


def api_routes(routes: list[Any]) -> Iterator[APIRoute]:
    """Every API route, including those of the routers the app includes."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif hasattr(route, "original_router"):
            yield from api_routes(route.original_router.routes)


def models_in(annotation: Any) -> Iterator[type[BaseModel]]:
    """The pydantic models an annotation names, at any depth."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
        for field in annotation.model_fields.values():
            yield from models_in(field.annotation)
        return
    for arg in typing.get_args(annotation):
        yield from models_in(arg)


def strict_bool(annotation: Any, metadata: list[Any]) -> bool:
    """Whether every `bool` in the annotation accepts only JSON true and false."""
    if annotation is bool:
        return any(isinstance(m, Strict) and m.strict for m in metadata)
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        base, *extra = typing.get_args(annotation)
        return strict_bool(base, [*metadata, *extra])
    if origin in (typing.Union, types.UnionType, list):
        return all(strict_bool(a, []) for a in typing.get_args(annotation))
    return True


MODELS = body_models(Path(tempfile.gettempdir()) / "signpost-input-models")


def test_the_app_has_request_bodies_to_check() -> None:
    names = {key.split()[-1] for key in MODELS}
    assert {"ConcernReport", "SubscriptionCreate", "DeclineRequest", "Agency"} <= names


@pytest.mark.parametrize("route_model", sorted(MODELS))
def test_a_request_model_checks_its_text(route_model: str) -> None:
    assert issubclass(MODELS[route_model], CheckedText)


@pytest.mark.parametrize("route_model", sorted(MODELS))
def test_a_request_model_refuses_unknown_fields(route_model: str) -> None:
    assert MODELS[route_model].model_config.get("extra") == "forbid"


@pytest.mark.parametrize("route_model", sorted(MODELS))
def test_a_request_models_booleans_are_json_booleans_only(route_model: str) -> None:
    model = MODELS[route_model]
    loose = [
        name
        for name, field in model.model_fields.items()
        if not strict_bool(field.annotation, list(field.metadata))
    ]
    assert loose == []
