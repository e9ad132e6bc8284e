"""Non-disruptive checks (acceptance after a migration): one pytest item per row of the preflight
table (`survey.CHECKS`), each over every MX of the domain, so that JUnit names the check that broke.

An error fails its item with the one-line message of each finding (evidence, then fix); a warning
leaves it passing and is shown in pytest's warnings summary; every finding goes into the history
and the report's Preflight section.
"""

from __future__ import annotations

import pytest

from mxdrill import preflight
from mxdrill.history import History
from mxdrill.inventory import Inventory
from mxdrill.mailhost import MailHost
from mxdrill.survey import CHECKS, Check, Survey, run_check


@pytest.fixture(scope="module")
def survey(inventory: Inventory, hosts: dict[str, MailHost], run_id: str, history: History) -> Survey:
    """One per domain: each MX's greetings and delivery role are asked once for all the checks."""
    return Survey(inventory, hosts, run_id, history)


@pytest.mark.parametrize("check", CHECKS, ids=[c.name for c in CHECKS])
def test_preflight(check: Check, survey: Survey, inventory: Inventory) -> None:
    found = run_check(check, survey, inventory.mxs)
    if not found:
        pytest.skip(check.applies or f"{check.name}: nothing to check here")
    bad = preflight.errors(found)
    assert not bad, " | ".join(bad)
