"""Random damage to valid folders, loaded by the real ``guanxi ingest``.

A seeded generator writes a valid folder, then damages known lines in ways users'
files are damaged (bad numbers and dates, missing or extra fields, unknown or self
references, a line in another encoding, a giant field, blank lines). Whatever the
damage: no traceback, every damaged line in the rejects file with its line number and
no other, and graph totals equal to the undamaged rows.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pandas as pd
import pytest
from helpers import run_cli

from guanxi.graph.connection import Graph

MERCHANTS = 40
PAYMENTS = 400

# Each damage turns a valid payments row (payer, payee, amount, ts) into one that must be
# rejected. Merchant ids are M00..M39; the payer is a consumer unless it names a merchant.
_DAMAGES = {
    "amount_text": lambda r, g: [r[0], r[1], g.choice(["abc", "1,5", "¥12", "0x10"]), r[3]],
    "amount_bad": lambda r, g: [r[0], r[1], g.choice(["-5", "0", "nan", "inf", "1e999"]), r[3]],
    "amount_empty": lambda r, g: [r[0], r[1], "", r[3]],
    "ts_not_iso": lambda r, g: [r[0], r[1], r[2], g.choice(
        ["2024/08/01 10:00", "01.08.2024", "yesterday", "2024-13-01", "2024-02-30T10:00"])],
    "ts_out_of_window": lambda r, g: [r[0], r[1], r[2], g.choice(
        ["-2024-08-01", "0000-01-01", "1600-01-01", "1969-12-31", "2999-01-01"])],
    "payee_unknown": lambda r, g: [r[0], f"X{g.randrange(10**6)}", r[2], r[3]],
    "payee_empty": lambda r, g: [r[0], "", r[2], r[3]],
    "self_payment": lambda r, g: [r[1], r[1], r[2], r[3]],
    "too_few_fields": lambda r, g: r[:3],
    "too_many_fields": lambda r, g: [*r, "extra"],
    "long_id": lambda r, g: ["C" * 250, r[1], r[2], r[3]],
}


def _valid_rows(rng: random.Random) -> list[list[str]]:
    rows = []
    for _ in range(PAYMENTS):
        payee = f"M{rng.randrange(MERCHANTS):02d}"
        kind = rng.random()  # a merchant, a consumer, or a consumer with a Chinese id
        payer = f"M{rng.randrange(MERCHANTS):02d}" if kind < 0.1 \
            else f"C{rng.randrange(300):03d}" if kind < 0.7 else f"客{rng.randrange(100)}"
        if payer == payee:
            payer = "C000"
        amount = f"{rng.uniform(1, 500):.2f}"
        ts = f"2025-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}T" \
             f"{rng.randrange(24):02d}:{rng.randrange(60):02d}:00"
        rows.append([payer, payee, amount, ts])
    return rows


def damaged_folder(folder: Path, seed: int) -> tuple[pd.DataFrame, set[int]]:
    """Write a damaged folder; return the valid payment rows and the damaged lines."""
    rng = random.Random(seed)
    folder.mkdir(parents=True)
    merchants = "merchant_id,name\n" + "".join(f"M{i:02d},店{i}\n" for i in range(MERCHANTS))
    (folder / "merchants.csv").write_text(merchants, encoding="utf-8")

    lines: list[bytes] = [b"payer_id,payee_id,amount,ts\n"]
    valid: list[list[str]] = []
    bad: set[int] = set()
    for row in _valid_rows(rng):
        line_no = len(lines) + 1
        roll = rng.random()
        if roll < 0.15:
            damage = rng.choice(sorted(_DAMAGES))
            lines.append((",".join(_DAMAGES[damage](row, rng)) + "\n").encode("utf-8"))
            bad.add(line_no)
        elif roll < 0.17:  # a payer named in GBK inside a UTF-8 file
            lines.append(",".join(["顾客" + row[0], *row[1:]]).encode("gbk") + b"\n")
            bad.add(line_no)
        elif roll < 0.18:  # one giant field
            lines.append(",".join([row[0], row[1], row[2], row[3] + "x" * 140_000]).encode()
                         + b"\n")
            bad.add(line_no)
        elif roll < 0.20:  # blank lines are skipped, and counted in line numbers
            lines.append(b"\n" if rng.random() < 0.5 else b" , , , \n")
            lines.append((",".join(row) + "\n").encode())
            valid.append(row)
        else:
            lines.append((",".join(row) + "\n").encode())
            valid.append(row)
    # Most non-ASCII lines are UTF-8, so the file is UTF-8 and the GBK lines are rejects.
    lines.append(",".join(["微信支付顾客", "M01", "9.90", "2025-05-05T12:00:00"]).encode() + b"\n")
    valid.append(["微信支付顾客", "M01", "9.90", "2025-05-05T12:00:00"])
    (folder / "payments.csv").write_bytes(b"".join(lines))
    frame = pd.DataFrame(valid, columns=["payer_id", "payee_id", "amount", "ts"])
    return frame.astype({"amount": float}), bad


@pytest.mark.parametrize("seed", [11, 12, 13, 14])
def test_random_damage_rejects_exactly_the_damaged_lines(graph: Graph, tmp_path: Path,
                                                         neo4j_env: dict, seed: int) -> None:
    valid, bad = damaged_folder(tmp_path / "in", seed)
    assert bad, "the seed damaged nothing: the test would prove nothing"
    rejects = tmp_path / "rejects.csv"
    result = run_cli("ingest", str(tmp_path / "in"), "--json", "--max-reject-rate", "1",
                     "--rejects", str(rejects), "--batch-size", "50", env=neo4j_env)
    assert "Traceback" not in result.stderr
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    payments = report["files"][1]
    assert (payments["rejected"], payments["rows_written"]) == (len(bad), len(valid))

    listed = pd.read_csv(rejects, dtype=str, keep_default_na=False)
    assert (listed["source_file"] == "payments.csv").all()
    assert sorted(listed["line"].astype(int)) == sorted(bad)
    assert (listed["reason"].str.len() > 0).all()

    totals = graph.read("MATCH ()-[p:PAID]->() RETURN sum(p.count) AS n, sum(p.amount) AS a")[0]
    assert totals["n"] == len(valid)
    assert totals["a"] == pytest.approx(valid["amount"].sum(), rel=1e-9)
    pairs = graph.read("MATCH (a)-[p:PAID]->(b) RETURN count(p) AS n")[0]["n"]
    assert pairs == len(valid.groupby(["payer_id", "payee_id"]))
    name = graph.read("MATCH (c:Consumer {id: '微信支付顾客'}) RETURN c.id AS id")
    assert name == [{"id": "微信支付顾客"}]  # stored as written, not re-decoded
