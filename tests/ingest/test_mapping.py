"""Mapping files: parsing, defaults, digests and every error case."""

from __future__ import annotations

from pathlib import Path

import pytest

from guanxi.errors import InputError
from guanxi.ingest.mapping import KindMapping, Mapping, load_mapping

EXAMPLE = """\
[payments]
file = "txn_2025.csv"
encoding = "GBK"
ts_format = "%Y/%m/%d %H:%M"
timezone = "Asia/Shanghai"
[payments.columns]
from_account = "payer_id"
to_account = "payee_id"

[labels]
ts_unit = "ms"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mapping.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_no_mapping_means_all_defaults():
    mapping = load_mapping(None)
    assert mapping == Mapping({})
    assert mapping.for_kind("merchants") == KindMapping("merchants")
    km = mapping.for_kind("payments")
    assert (km.file, km.columns, km.encoding, km.ts_format, km.ts_unit, km.timezone) == (
        None, {}, None, None, None, "UTC")


def test_example_mapping_is_read(tmp_path):
    mapping = load_mapping(write(tmp_path, EXAMPLE))
    assert set(mapping.kinds) == {"payments", "labels"}
    assert mapping.for_kind("payments") == KindMapping(
        kind="payments", file="txn_2025.csv",
        columns={"from_account": "payer_id", "to_account": "payee_id"},
        encoding="gbk", ts_format="%Y/%m/%d %H:%M", timezone="Asia/Shanghai")
    assert mapping.for_kind("labels").ts_unit == "ms"
    assert mapping.for_kind("merchants") == KindMapping("merchants")


def test_for_kind_rejects_unknown_kind():
    with pytest.raises(ValueError, match="unknown file kind 'refunds'"):
        load_mapping(None).for_kind("refunds")


def test_digest_is_stable_and_tracks_content():
    a = KindMapping("payments", columns={"x": "payer_id", "y": "payee_id"})
    b = KindMapping("payments", columns={"y": "payee_id", "x": "payer_id"})
    assert a.digest() == b.digest()
    assert len(a.digest()) == 64 and int(a.digest(), 16) >= 0
    shanghai = KindMapping("payments", columns=a.columns, timezone="Asia/Shanghai")
    assert a.digest() != shanghai.digest()
    assert a.digest() != KindMapping("supply", columns=a.columns).digest()
    # Pinned: a change here re-reads every file the ledger has seen.
    assert KindMapping("payments").digest() == (
        "7a5ab9711f389b22d15290a22150031fea25cbac406ef31c55976263c803e998")


@pytest.mark.parametrize("ts_format", ["%Y/%m/%d %H:%M", "%d.%m.%y", "%Y%m%d%H%M%S",
                                       "%Y-%m-%dT%H:%M:%S%z", "%b %d %Y %I:%M %p", "%Y-%j"])
def test_usable_ts_formats_load(tmp_path, ts_format):
    path = write(tmp_path, f"[payments]\nts_format = '{ts_format}'\n")
    assert load_mapping(path).for_kind("payments").ts_format == ts_format


@pytest.mark.parametrize(("given", "name"), [("UTF-16", "utf-16"), ("latin1", "iso8859-1")])
def test_text_encodings_load_under_their_codec_name(tmp_path, given, name):
    path = write(tmp_path, f"[payments]\nencoding = '{given}'\n")
    assert load_mapping(path).for_kind("payments").encoding == name


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match=r"mapping file .*nope\.toml does not exist"):
        load_mapping(tmp_path / "nope.toml")


def test_unreadable_file(tmp_path):
    with pytest.raises(InputError, match="cannot read mapping file"):
        load_mapping(tmp_path)  # a folder, not a file


def test_invalid_toml_names_the_line(tmp_path):
    path = write(tmp_path, '[payments]\nfile = "a.csv"\nencoding = gbk\n')
    with pytest.raises(InputError, match=r"is not valid TOML: .*line 3") as err:
        load_mapping(path)
    assert err.value.fix


@pytest.mark.parametrize(("text", "message", "fix"), [
    ("[refunds]\nfile = 'r.csv'\n", "names unknown kind [refunds]",
     "use one of: merchants, payments, supply, shipments, labels, defaults"),
    ("payments = 3\n", "payments must be a table", "write [payments] on its own line"),
    ("[payments]\nfil = 'x.csv'\n", "[payments] has unknown key 'fil'",
     "use one of: file, columns, encoding, ts_format, ts_unit, timezone"),
    ("[payments.columns]\nfrom_account = 'payer'\n",
     "[payments] renames 'from_account' to 'payer', which is not a payments column",
     "use one of: payer_id, payee_id, amount, ts, channel, payment_id"),
    ("[payments.columns]\na = 'payer_id'\nb = 'payer_id'\n",
     "[payments] renames both 'a' and 'b' to 'payer_id'", "rename only one source column"),
    ("[payments]\nencoding = 'klingon'\n", "[payments] has unknown encoding 'klingon'",
     "use e.g. utf-8, utf-8-sig, gbk or gb18030"),
    ("[payments]\nts_unit = 'minutes'\n", "[payments] has unknown ts_unit 'minutes'",
     "use one of: s, ms, us, ns"),
    ("[payments]\ntimezone = 'Mars/Olympus'\n", "[payments] has unknown timezone 'Mars/Olympus'",
     "use an IANA name such as Asia/Shanghai"),
    ("[payments]\nts_format = '%Y'\nts_unit = 's'\n", "[payments] sets both ts_format and ts_unit",
     "keep ts_format for text timestamps or ts_unit for epoch numbers"),
    ("[merchants]\nts_unit = 's'\n", "[merchants] sets ts_unit, but merchants has no ts column",
     "remove it"),
    ("[payments]\nfile = 3\n", "[payments] file must be a non-empty string", 'write file = "..."'),
    ("[payments]\nfile = '../other/payments.csv'\n",
     "[payments] file '../other/payments.csv' points outside the input folder",
     "name a file inside the folder"),
    ("[payments]\nfile = '/etc/passwd'\n", "[payments] file '/etc/passwd' points outside",
     "name a file inside the folder"),
    ("[payments]\ncolumns = 'x'\n", "[payments] columns must be a table",
     "write [payments.columns]"),
    ("[payments]\nencoding = 'rot13'\n", "[payments] encoding 'rot13' is not a text encoding",
     "use e.g. utf-8"),
    ("[payments]\nencoding = 'base64'\n", "[payments] encoding 'base64' is not a text encoding",
     "use e.g. utf-8"),
    ("[payments]\nencoding = 'hex'\n", "[payments] encoding 'hex' is not a text encoding",
     "use e.g. utf-8"),
    ("[payments]\nencoding = 'undefined'\n", "[payments] encoding 'undefined' cannot read text",
     "use e.g. utf-8"),
    ("[payments]\nts_format = '%Q %Y'\n",
     "[payments] ts_format '%Q %Y' is not a valid time format ('Q' is a bad directive",
     "use strptime codes"),
    ("[payments]\nts_format = '%Y %Y'\n", "[payments] ts_format '%Y %Y' is not a valid time format",
     "use strptime codes"),
    ("[payments]\nts_format = '%m-%d %H:%M'\n",
     "[payments] ts_format '%m-%d %H:%M' does not read back a full date (it writes '08-31 13:45')",
     "include the year, month and day"),
])
def test_mapping_errors(tmp_path, text, message, fix):
    path = write(tmp_path, text)
    with pytest.raises(InputError) as err:
        load_mapping(path)
    assert message in err.value.message
    assert str(path) in err.value.message
    assert err.value.fix.startswith(fix)
