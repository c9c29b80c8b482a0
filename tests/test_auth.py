"""Bearer tokens: the header read as RFC 9110/6750 write it; labels and tokens checked at start."""

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from typer.testing import CliRunner

from conftest import settings_on_copy
from stations.api import create_app
from stations.cli import app as cli
from stations.settings import Settings, parse_admin_tokens

TOKEN = "s3cret-Token_1.5~x+y/z=="


@pytest.fixture
def api(tmp_path):
    settings = settings_on_copy(
        tmp_path,
        admin_token=f"desk:{TOKEN},办公室:other-token",
    )
    with TestClient(create_app(settings)) as c:
        yield c


@pytest.mark.parametrize(
    "header",
    [
        f"Bearer {TOKEN}",
        f"bearer {TOKEN}",
        f"BEARER {TOKEN}",
        f"Bearer  {TOKEN}",
        f"Bearer {TOKEN} ",
    ],
)
def test_accepted_authorization_forms(api, header):
    """The scheme in any case, one or more spaces (RFC 9110 11.4: 1*SP), the token alone."""
    assert api.get("/api/reports", headers={"Authorization": header}).status_code == 200


@pytest.mark.parametrize(
    "header",
    [
        TOKEN,
        f"Bearer{TOKEN}",
        f"Bearer\t{TOKEN}",
        f"Basic {TOKEN}",
        f"Bearer {TOKEN} extra",
        f"Bearer {TOKEN},{TOKEN}",
        "Bearer ",
    ],
)
def test_refused_authorization_forms(api, header):
    """Anything else is a 401 showing the form to send."""
    r = api.get("/api/reports", headers={"Authorization": header})
    assert r.status_code == 401 and "Authorization: Bearer <token>" in r.json()["detail"]


def test_second_token_and_its_unicode_label(api):
    r = api.get("/api/reports", headers={"Authorization": "Bearer other-token"})
    assert r.status_code == 200
    assert api.get("/api/reports", headers={"Authorization": "Bearer nope"}).status_code == 403


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        ("my desk:abc", "label 'my desk'"),
        (":abc", "label ''"),
        ("desk:", "token must be"),
        ("desk:ab c", "token must be"),
        ("a:x,b c:y", "entry 2"),
        ("desk:tok;en", "token must be"),
    ],
)
def test_bad_token_settings_are_refused_at_start(value, needle):
    """A label with a space, an empty label or a token no header can carry: refused, named."""
    with pytest.raises(ValidationError) as info:
        Settings(_env_file=None, admin_token=value)
    assert needle in str(info.value)


def test_token_settings_parsed():
    assert parse_admin_tokens("tok") == [("admin", "tok")]
    assert parse_admin_tokens(" a:x , b.c@d-e:y== ,") == [("a", "x"), ("b.c@d-e", "y==")]
    assert Settings(_env_file=None, admin_token="  ").admin_token is None  # blank: writes off


def test_bad_setting_is_one_line_on_the_command_line(monkeypatch):
    monkeypatch.setenv("STATIONS_ADMIN_TOKEN", "my desk:abc")
    r = CliRunner().invoke(cli, ["info"])
    assert r.exit_code == 1
    assert "Traceback" not in r.output and r.output.count("\n") == 1
    assert r.output.startswith("error: STATIONS_ADMIN_TOKEN: admin_token entry 1: label 'my desk'")
