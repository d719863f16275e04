"""Tests of adapter/site_catalogue.py on real SQLite files."""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
from pathlib import Path

import pytest

from adapter.site_catalogue import SiteCatalogue
from domain.errors import ModelNotLoadedError, UnknownSiteError
from domain.site import Site

ALDER = Site(
    "01234567", "Alder Creek, near Somewhere", 45.123456, -70.654321, 86.4, dt.date(1981, 1, 1), dt.date(2014, 12, 31)
)
BIRCH = Site("00000042", "Birch River", -33.5, 151.25, 1234.5)  # no observed period
CEDAR = Site("123456789012345", "Cedar Brook", 0.0, 180.0, 0.5, dt.date(2000, 2, 29), dt.date(2000, 3, 1))


@pytest.fixture
def catalogue(tmp_path: Path) -> SiteCatalogue:
    catalogue = SiteCatalogue(tmp_path / "resources" / "sites.sqlite")
    catalogue.write([ALDER, BIRCH, CEDAR], model_version="v1", synthetic_data=False)
    return catalogue


def test_write_then_read_round_trip(catalogue: SiteCatalogue) -> None:
    assert catalogue.list_sites() == [BIRCH, ALDER, CEDAR]  # ordered by id, as text
    assert catalogue.site("01234567") == ALDER
    assert catalogue.site("00000042") == BIRCH
    site = catalogue.site("123456789012345")
    assert site == CEDAR
    assert type(site.flow_start) is dt.date and type(site.latitude) is float


def test_leading_zeros_matter(catalogue: SiteCatalogue) -> None:
    with pytest.raises(UnknownSiteError, match="1234567"):
        catalogue.site("1234567")
    with pytest.raises(UnknownSiteError):
        catalogue.site("42")


def test_unknown_site(catalogue: SiteCatalogue) -> None:
    with pytest.raises(UnknownSiteError, match="09999999"):
        catalogue.site("09999999")


@pytest.mark.parametrize("synthetic", [True, False])
def test_synthetic_data_flag(tmp_path: Path, synthetic: bool) -> None:
    catalogue = SiteCatalogue(tmp_path / "sites.sqlite")
    catalogue.write([ALDER], model_version="v1", synthetic_data=synthetic)

    assert catalogue.synthetic_data() is synthetic


def test_empty_catalogue(tmp_path: Path) -> None:
    catalogue = SiteCatalogue(tmp_path / "sites.sqlite")
    catalogue.write([], model_version="v0", synthetic_data=True)

    assert catalogue.list_sites() == []
    with pytest.raises(UnknownSiteError):
        catalogue.site("01234567")


def test_missing_database_is_model_not_loaded(tmp_path: Path) -> None:
    catalogue = SiteCatalogue(tmp_path / "nothing-here.sqlite")

    for call in (catalogue.list_sites, catalogue.synthetic_data, lambda: catalogue.site("01234567")):
        with pytest.raises(ModelNotLoadedError, match="nothing-here.sqlite"):
            call()
    assert not (tmp_path / "nothing-here.sqlite").exists()  # reading must not create the file


def test_rewrite_replaces_the_whole_catalogue(catalogue: SiteCatalogue) -> None:
    catalogue.write([BIRCH], model_version="v2", synthetic_data=True)

    assert catalogue.list_sites() == [BIRCH]
    assert catalogue.synthetic_data() is True
    with pytest.raises(UnknownSiteError):
        catalogue.site("01234567")


@pytest.mark.parametrize(
    "bad",
    [
        Site("07654321", "Too far north", 200.0, 0.0, 10.0),
        Site("07654321", "Off the map", 0.0, -181.0, 10.0),
        Site("07654321", "No area", 0.0, 0.0, 0.0),
        Site("01234567", "Duplicate id", 0.0, 0.0, 1.0),
    ],
    ids=["latitude", "longitude", "area", "duplicate"],
)
def test_failed_rewrite_keeps_the_old_catalogue(catalogue: SiteCatalogue, tmp_path: Path, bad: Site) -> None:
    directory = tmp_path / "resources"
    before = sorted(os.listdir(directory))

    with pytest.raises(sqlite3.IntegrityError):
        catalogue.write([ALDER, bad], model_version="v2", synthetic_data=True)

    assert sorted(os.listdir(directory)) == before == ["sites.sqlite"]  # no temporary file left
    assert catalogue.list_sites() == [BIRCH, ALDER, CEDAR]
    assert catalogue.synthetic_data() is False


def test_open_connection_keeps_reading_the_old_file_during_a_rewrite(catalogue: SiteCatalogue) -> None:
    # The rename swaps the inode: a reader already connected sees one consistent catalogue.
    with catalogue._connect() as connection:
        catalogue.write([BIRCH], model_version="v2", synthetic_data=True)
        count = connection.execute("SELECT COUNT(*) FROM site").fetchone()[0]

    assert count == 3
    assert catalogue.list_sites() == [BIRCH]


def test_service_connection_is_read_only(catalogue: SiteCatalogue) -> None:
    # _connect is the connection every read method uses.
    with catalogue._connect() as connection:
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            connection.execute("DELETE FROM site")
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            connection.execute("INSERT INTO catalogue (key, value) VALUES ('x', 'y')")

    assert len(catalogue.list_sites()) == 3


def test_read_connections_are_closed(catalogue: SiteCatalogue) -> None:
    with catalogue._connect() as connection:
        pass

    with pytest.raises(sqlite3.ProgrammingError):
        connection.execute("SELECT 1")


def test_catalogue_is_readable_by_other_users(catalogue: SiteCatalogue, tmp_path: Path) -> None:
    # Training and the service may run as different users (e.g. the container's service user).
    mode = (tmp_path / "resources" / "sites.sqlite").stat().st_mode & 0o777
    assert mode == 0o644
