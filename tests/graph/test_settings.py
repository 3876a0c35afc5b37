"""Where the graph lives: the variables that name it are checked before any driver sees them."""

from __future__ import annotations

import pytest

from guanxi.errors import InputError, ServerError
from guanxi.graph.settings import Settings, default_data_dir, external_uri, resolve, retry_seconds

FIX = "use bolt://HOST:7687 or neo4j://HOST:7687 (neo4j+s:// for Aura)"


@pytest.mark.parametrize("uri", ["bolt://db.example:7687", "neo4j+s://abc.databases.neo4j.io",
                                 "bolt+ssc://10.0.0.5", "NEO4J://host:7687"])
def test_bolt_uris_are_accepted(monkeypatch: pytest.MonkeyPatch, uri: str) -> None:
    monkeypatch.setenv("NEO4J_URI", uri)
    assert external_uri() == uri


@pytest.mark.parametrize(("uri", "message"), [
    ("http://localhost:7474", "NEO4J_URI 'http://localhost:7474' is not a Bolt URI"),
    ("garbage", "NEO4J_URI 'garbage' is not a Bolt URI"),
    ("bolt:host", "NEO4J_URI 'bolt:host' is not a Bolt URI"),
    ("bolt://:notaport", "NEO4J_URI 'bolt://:notaport' is not a valid URI (Port could not be "
                         "cast to integer value as 'notaport')"),
    ("bolt://h:99999", "NEO4J_URI 'bolt://h:99999' is not a valid URI (Port out of range "
                       "0-65535)"),
])
def test_other_uris_are_one_line_with_the_fix(monkeypatch: pytest.MonkeyPatch, uri: str,
                                              message: str) -> None:
    monkeypatch.setenv("NEO4J_URI", uri)
    with pytest.raises(ServerError) as info:
        external_uri()
    assert info.value.one_line() == f"{message}. {FIX}"


@pytest.mark.parametrize("uri", ["bolt://neo4j:s3cret@db.example:7687",
                                 "http://neo4j:s3cret@db.example:7474", "bolt://s3cret@h:99999"])
def test_a_user_or_password_in_the_uri_is_refused_without_showing_them(
        monkeypatch: pytest.MonkeyPatch, uri: str) -> None:
    monkeypatch.setenv("NEO4J_URI", uri)
    with pytest.raises(ServerError) as info:
        external_uri()
    line = info.value.one_line()
    assert "s3cret" not in line
    assert "holds a user name or password" in line or "is not a valid URI" in line
    assert "neo4j:s3cret" not in line and "@" not in line


def test_no_uri_means_the_local_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEO4J_URI", "")
    assert external_uri() is None


@pytest.mark.parametrize(("raw", "seconds"), [("30", 30.0), ("2.5", 2.5), ("0", 0.0)])
def test_retry_seconds(monkeypatch: pytest.MonkeyPatch, raw: str, seconds: float) -> None:
    monkeypatch.setenv("GUANXI_RETRY_SECONDS", raw)
    assert retry_seconds() == seconds


@pytest.mark.parametrize("raw", ["abc", "-1", "inf", "nan"])
def test_retry_seconds_that_are_not_seconds(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv("GUANXI_RETRY_SECONDS", raw)
    with pytest.raises(InputError, match=f"GUANXI_RETRY_SECONDS '{raw}' is not a number"):
        retry_seconds()


def test_the_password_never_shows_in_a_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEO4J_URI", "bolt://db.example:7687")
    monkeypatch.setenv("NEO4J_PASSWORD", "s3cret-Pa55")
    settings = resolve()
    assert settings.password == "s3cret-Pa55"
    assert "s3cret-Pa55" not in repr(settings) and "s3cret-Pa55" not in settings.describe()


def test_the_start_command_brings_back_the_port_and_folder_it_had(
        monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.delenv("GUANXI_DATA_DIR", raising=False)
    def local(port: int, data_dir) -> Settings:
        return Settings(f"bolt://127.0.0.1:{port}", "neo4j", "pw", "neo4j", False, data_dir)
    assert local(7687, default_data_dir()).start_command() == "guanxi db start"
    assert local(7720, default_data_dir()).start_command() == "guanxi db start --port 7720"
    assert local(7687, tmp_path).start_command() == f"guanxi db start --data-dir {tmp_path}"
    monkeypatch.setenv("GUANXI_DATA_DIR", str(tmp_path))  # the folder the next start uses
    assert local(7721, tmp_path).start_command() == "guanxi db start --port 7721"
