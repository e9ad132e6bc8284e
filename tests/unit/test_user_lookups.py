"""Issue 14, seed 003 Scénario 2: the preflight's reading of each MX's own lookups (`postmap -q` with the
maps `postconf` names) and their parity between MXs; and the userdb fault's commands. Pure."""

from __future__ import annotations

from mxdrill import lookups
from mxdrill.faults import userdb
from mxdrill.mta.postfix import tables_of

DOMAINS = "mysql:/etc/postfix/mysql-virtual-mailbox-domains.cf"
MAILBOXES = "mysql:/etc/postfix/mysql-virtual-mailbox-maps.cf"


def test_only_tables_of_a_list_setting_are_asked() -> None:
    assert tables_of(f"example.test, {DOMAINS} texthash:/etc/postfix/more") == [DOMAINS, "texthash:/etc/postfix/more"]
    assert tables_of("example.test") == []
    assert lookups.lookup_command("probe@example.test", MAILBOXES) == f"postmap -q probe@example.test {MAILBOXES}"


def test_an_mx_that_answers_for_the_domain_and_the_recipient_passes_naming_the_mailbox() -> None:
    found = lookups.judge("mx2", "example.test", "probe@example.test", DOMAINS, [lookups.Lookup(DOMAINS, "1")],
                          [lookups.Lookup(MAILBOXES, "example.test/probe/")])
    assert found.ok and found.detail == "mx2 takes example.test and delivers probe@example.test into example.test/probe/"
    literal = lookups.judge("mx1", "example.test", "probe@example.test", "example.test", [],
                            [lookups.Lookup("texthash:/etc/postfix/vmailbox", "example.test/probe/")])
    assert literal.ok


def test_a_lookup_error_names_the_table_and_what_postfix_said_but_no_secret() -> None:
    said = "warning: connect to mysql server 198.51.100.26: Access denied for user 'postfix'@'198.51.100.12'"
    found = lookups.judge("mx2", "example.test", "probe@example.test", DOMAINS, [lookups.Lookup(DOMAINS, "", said)], [])
    assert found.blocks and f"cannot look up example.test or probe@example.test in {DOMAINS}: {said}" in found.message


def test_a_domain_it_does_not_take_and_a_recipient_without_mailbox_are_errors() -> None:
    no_domain = lookups.judge("mx2", "example.test", "probe@example.test", DOMAINS, [lookups.Lookup(DOMAINS, "")],
                              [lookups.Lookup(MAILBOXES, "example.test/probe/")])
    assert no_domain.blocks and "mx2 does not take example.test" in no_domain.detail
    no_mailbox = lookups.judge("mx2", "example.test", "probe@example.test", DOMAINS, [lookups.Lookup(DOMAINS, "1")],
                               [lookups.Lookup(MAILBOXES, "")])
    assert no_mailbox.blocks and f"no mailbox for probe@example.test: virtual_mailbox_maps ({MAILBOXES})" in no_mailbox.detail


def test_an_mx_that_puts_the_user_elsewhere_than_the_primary_is_an_error() -> None:
    assert lookups.parity({"mx1": "example.test/probe/", "mx2": "example.test/probe/"}, "probe@example.test", "mx1") == []
    (found,) = lookups.parity({"mx1": "example.test/probe/", "mx2": "1"}, "probe@example.test", "mx1")
    assert found.host == "mx2" and "mx2 delivers probe@example.test into 1, mx1 into example.test/probe/" in found.detail
    assert lookups.answer([lookups.Lookup("a:b", ""), lookups.Lookup("c:d", "x/")]) == "x/"


def test_the_userdb_heal_starts_the_database_only_if_it_does_not_answer_and_waits_for_it() -> None:
    heal = userdb.start_command()
    assert heal.startswith("( { mariadb-admin ping") and heal.endswith(" )"), "a subshell: its exit ends one attempt"
    assert "service mariadb start" in heal and "systemctl start mariadb" in heal and "exit 1" in heal
    assert "stop mariadb" in userdb.UserDbDown.describe(userdb.UserDbDown(remote=None))  # type: ignore[arg-type]
