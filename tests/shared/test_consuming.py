"""Which failures are an outage of the database (the record waits) and which are the
record's own (it spends its attempts and is parked)."""

from __future__ import annotations

import socket

import pytest
from asyncpg.exceptions import (
    CannotConnectNowError,
    ConnectionDoesNotExistError,
    UniqueViolationError,
)
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError, ProgrammingError

from shared.db import is_transient


class DriverError(Exception):
    """What a driver attaches to SQLAlchemy's error: PostgreSQL's SQLSTATE."""

    def __init__(self, sqlstate: str | None) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


@pytest.mark.parametrize(
    ("state", "outage"),
    [
        ("57P03", True),  # the database system is starting up
        ("57P01", True),  # terminating connection due to administrator command
        ("08006", True),  # connection failure
        ("53300", True),  # too many connections
        ("25006", True),  # read-only transaction: a standby after a failover
        ("40P01", True),  # deadlock detected
        ("23505", False),  # unique violation: the record's own
        ("42P01", False),  # undefined table: a bug, park it
        ("22001", False),  # value too long
    ],
)
def test_postgresql_errors_are_classified_by_their_sqlstate(state: str, outage: bool) -> None:
    assert is_transient(DBAPIError("SELECT", {}, DriverError(state))) is outage


def test_without_a_sqlstate_operational_and_interface_errors_are_outages() -> None:
    assert is_transient(OperationalError("INSERT", {}, DriverError(None)))  # SQLite: locked
    assert not is_transient(ProgrammingError("INSERT", {}, DriverError(None)))
    assert not is_transient(IntegrityError("INSERT", {}, DriverError(None)))


@pytest.mark.parametrize(
    ("message", "outage"),
    [
        ("database is locked", True),
        ("unable to open database file", True),
        ("disk I/O error", True),
        ("no such table: report", False),  # a bug (or a migration not run): park it
        ("no such column: level", False),
    ],
)
def test_sqlite_errors_are_outages_only_when_they_are_the_files(message: str, outage: bool) -> None:
    import sqlite3

    assert is_transient(OperationalError("SELECT", {}, sqlite3.OperationalError(message))) is outage


def test_a_lost_connection_is_an_outage_whatever_its_class() -> None:
    error = DBAPIError("SELECT", {}, DriverError("XX000"), connection_invalidated=True)
    assert is_transient(error)


@pytest.mark.parametrize(
    "error",
    [ConnectionRefusedError("refused"), socket.gaierror("name"), TimeoutError()],
)
def test_network_failures_are_outages(error: Exception) -> None:
    assert is_transient(error)


def test_an_ordinary_error_is_the_records() -> None:
    assert not is_transient(ValueError("bad data"))


@pytest.mark.parametrize(
    ("error", "outage"),
    [
        (CannotConnectNowError("the database system is starting up"), True),
        (ConnectionDoesNotExistError("connection was closed in the middle of operation"), True),
        (UniqueViolationError("duplicate key"), False),
    ],
)
def test_a_driver_error_that_reached_us_unwrapped_is_classified_by_its_sqlstate(
    error: Exception, outage: bool
) -> None:
    assert is_transient(error) is outage


@pytest.mark.parametrize(
    "error", [FileNotFoundError("policy.json"), PermissionError("data"), IsADirectoryError("x")]
)
def test_a_local_file_error_is_no_outage(error: Exception) -> None:
    assert not is_transient(error)
