"""Hostile text for property-based tests: what a careless integrator or an attacker
puts in a name, a reference or a note."""

from __future__ import annotations

from hypothesis import strategies as st

# NUL and other C0/C1 controls, DEL, the bidirectional overrides and isolates
# (U+202A-U+202E, U+2066-U+2069), line and paragraph separators, spreadsheet formula
# prefixes, and JSON/SQL/HTML metacharacters.
SPECIALS = [
    "\x00", "\x01", "\x07", "\x08", "\t", "\n", "\x0b", "\x0c", "\r", "\x1b", "\x1f",
    "\x7f", "\x85", "\x9f",
    "\u202a", "\u202b", "\u202c", "\u202d", "\u202e",
    "\u2066", "\u2067", "\u2068", "\u2069",
    "\u2028", "\u2029", "\u200b", "\ufeff",
    "=", "+", "-", "@", "'", '"', "\\", "<", ">", "&", ";", "%", "{", "}",
]  # fmt: skip

# Anything a JSON string can carry (surrogates cannot be encoded as UTF-8 text).
_CHARACTERS = st.one_of(st.sampled_from(SPECIALS), st.characters(exclude_categories=["Cs"]))


def hostile_text(*, min_size: int = 1, max_size: int = 60) -> st.SearchStrategy[str]:
    """Strings mixing ordinary text with control, bidi and formula characters."""
    return st.text(alphabet=_CHARACTERS, min_size=min_size, max_size=max_size)
