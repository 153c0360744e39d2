"""The data folder is its owner's alone (0700) and so is every file in it (0600),
whatever the umask; what an older release or a careless shell left looser is
tightened, with a warning; the general rate limit has generous defaults."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.settings import Settings, embedded_settings, private_file, private_folder


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.mark.usefixtures("permissive_umask")
def test_a_new_data_folder_and_its_pseudonym_secret_are_their_owners_alone(
    tmp_path: Path,
) -> None:
    settings = embedded_settings(tmp_path / "var")
    assert mode(tmp_path / "var") == 0o700
    assert mode(tmp_path / "var" / "pseudonym.secret") == 0o600
    assert settings.pseudonym_secret  # type: ignore[attr-defined]


def test_a_looser_data_folder_and_its_files_are_tightened_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "var"
    folder.mkdir()
    folder.chmod(0o755)
    for name in ("intake.db", "intake.db-wal", "demo.json"):
        (folder / name).write_bytes(b"")
        (folder / name).chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="shared.settings"):
        embedded_settings(folder)
    assert mode(folder) == 0o700
    assert {p.name: mode(p) for p in folder.iterdir()} == {
        "intake.db": 0o600,
        "intake.db-wal": 0o600,
        "demo.json": 0o600,
        "pseudonym.secret": 0o600,
    }
    warned = [r for r in caplog.records if r.getMessage() == "tightening permissions"]
    assert len(warned) == 4  # the folder and its three files


def test_a_private_folder_already_private_is_left_alone_without_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "var"
    folder.mkdir(mode=0o700)
    folder.chmod(0o700)
    with caplog.at_level(logging.WARNING, logger="shared.settings"):
        private_folder(folder)
    assert mode(folder) == 0o700
    assert caplog.records == []


@pytest.mark.usefixtures("permissive_umask")
def test_a_private_file_is_created_empty_and_0600_before_anything_opens_it(
    tmp_path: Path,
) -> None:
    path = private_file(tmp_path / "new" / "keys.db")
    assert path.read_bytes() == b""
    assert mode(path) == 0o600
    assert mode(tmp_path / "new") == 0o700  # a folder made for it is private too


def test_a_private_file_keeps_its_content_and_tightens_its_sqlite_companions(
    tmp_path: Path,
) -> None:
    path = tmp_path / "notify.db"
    path.write_bytes(b"kept")
    companions = [tmp_path / f"notify.db{s}" for s in ("-wal", "-shm", "-journal")]
    for f in [path, *companions]:
        f.touch()
        f.chmod(0o664)
    private_file(path)
    assert path.read_bytes() == b"kept"
    assert [mode(f) for f in [path, *companions]] == [0o600] * 4


def test_tightening_never_grants_what_was_not_there(tmp_path: Path) -> None:
    path = tmp_path / "read-only.db"
    path.touch()
    path.chmod(0o444)
    private_file(path)
    assert mode(path) == 0o400


def test_the_general_rate_limit_is_generous_by_default_and_configurable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    defaults = Settings()
    assert (defaults.rate_limit_per_minute, defaults.rate_limit_burst) == (1200, 300)
    monkeypatch.setenv("RATE_LIMIT_PER_MINUTE", "0")
    monkeypatch.setenv("RATE_LIMIT_BURST", "5")
    configured = Settings()
    assert (configured.rate_limit_per_minute, configured.rate_limit_burst) == (0, 5)
