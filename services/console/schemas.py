"""The console's request bodies: HTML forms, checked like every request model (no
control or bidirectional characters, unknown fields refused)."""

from __future__ import annotations

from pydantic import ConfigDict, Field

from shared.text import CheckedText


class SignInForm(CheckedText):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(min_length=1, max_length=254)
    password: str = Field(min_length=1, max_length=1000)
    csrf: str = Field(default="", max_length=100)
