"""Small helpers for tests (importable as ``helpers``; tests/ is on pytest's path)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pandas as pd


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


GUANXI = [sys.executable, "-m", "guanxi"]
"""The real ``guanxi`` command, as a child process of the tests' Python."""


def as_in_a_terminal() -> None:
    """``preexec_fn`` for a child the test will Ctrl-C: SIGINT as a command typed in a
    terminal has it. A shell's background job (where a test run may be) starts its
    children with SIGINT ignored, and guanxi, as Python does, leaves it ignored."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def cli_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment without NEO4J_* (tests choose their server), plus ``env``."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("NEO4J_")}
    full_env.update(env or {})
    return full_env


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 600,
            cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run the real ``guanxi`` command in a child process and wait for it."""
    return subprocess.run([*GUANXI, *args], capture_output=True, text=True,
                          env=cli_env(env), timeout=timeout, cwd=cwd)


# A tiny folder of every kind, known by heart: five merchants in 杭州, payments by
# consumers and by one merchant, supply with and without shipments.
MERCHANTS = pd.DataFrame({
    "merchant_id": ["M1", "M2", "M3", "M4", "M5"],
    "name": ["老王面馆", "华联便利店", "张记批发", "李氏水果", "小陈维修"],
    "category": ["restaurant", "convenience", "wholesaler", "fruit", "repair"],
    "city": ["杭州"] * 5,
    "district": ["西湖区", "上城区", "上城区", "西湖区", "滨江区"],
    "registered_on": ["2020-01-05", "2021-03-05", "2019-07-01", "", "2022-02-02"],
    "owner_id": ["P1", "P2", "P2", "P3", ""],
    "phone": ["13800000001", "13800000002", "13800000002", "13800000004", ""],
    "device_id": ["D1", "D2", "", "", ""],
    "bank_account": ["6222000011112222", "", "", "", ""],
    "address": ["西湖路1号", "解放路2号", "解放路2号", "", ""],
    "agent_id": ["SP1", "SP1", "SP2", "SP2", "SP1"],
})
PAYMENTS = pd.DataFrame({
    "payer_id": ["C1", "C1", "C2", "C3", "M2", "M2", "C2", "C4"],
    "payee_id": ["M1", "M1", "M1", "M4", "M3", "M3", "M5", "M2"],
    "amount": ["15.00", "20.50", "100", "8.8", "5000", "3000.00", "60", "12.3"],
    "ts": ["2025-01-01T12:00:00", "2025-01-02T02:30:00", "2025-01-03", "2025-01-03T18:00",
           "2025-01-04T10:00:00", "2025-02-04T10:00:00", "2025-02-05T01:00", "2025-02-06T09:00"],
})
SUPPLY = pd.DataFrame({"supplier_id": ["M3", "M3", "M3"], "buyer_id": ["M2", "M2", "M4"],
                       "amount": ["2000", "1500.5", "800"],
                       "ts": ["2025-01-02", "2025-01-20", "2025-01-21"]})
SHIPMENTS = pd.DataFrame({"shipper_id": ["M3", "M3"], "receiver_id": ["M2", "M2"],
                          "ts": ["2025-01-03", "2025-01-21"], "weight_kg": ["120.5", ""]})


def training_labels(manifest: dict) -> dict[str, int]:
    """The label counts ``guanxi train`` must report for the synthetic ``scoring_folder``,
    from its manifest."""
    return {"fraud": manifest["labels"]["fraud"], "legit": manifest["labels"]["legit"],
            "defaults_observed": manifest["rows"]["defaults"],
            "defaulted": manifest["credit"]["observed_defaults"], "from_cases": 0}


def table_with(at, *columns: str) -> pd.DataFrame:
    """The first table a Streamlit ``AppTest`` page drew that has ``columns`` (AppTest
    does not find a dataframe by its key)."""
    for element in at.dataframe:
        if set(columns) <= set(element.value.columns):
            return element.value
    raise AssertionError(f"no table with columns {columns}; tables: "
                         f"{[list(e.value.columns) for e in at.dataframe]}")


def as_shown(markdown: str) -> str:
    """What a page's Markdown shows: ``ui.common.md``'s escapes and word joiners gone."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", markdown).replace("\u2060", "")
