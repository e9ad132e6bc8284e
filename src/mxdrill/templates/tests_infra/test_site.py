"""A site check of your own, beside mxdrill's drill: it runs in the same session, after the drill,
and in the same report. Copy it, and say what your site needs in your postmaster's words.

The fixtures (see mxdrill's README, "Your own checks"): `inventory`, `infra_host("mx2")` (testinfra),
`mail_log` (each MX's log since the drill began), `mailbox.find(message_id, recipient)` and
`send_probe(recipient)` (one probe, sent as a real sender would and waited for in a mailbox).
"""


def test_postmaster_mail_still_lands_on_the_shared_store(inventory, send_probe, mail_log, infra_host) -> None:
    sent = send_probe(f"postmaster@{inventory.domain}")
    assert sent.accepted_by == inventory.primary.name, f"{sent.message_id} was taken by {sent.accepted_by}"
    assert sent.copies, f"{sent.message_id} reached no mailbox within the drain deadline"
    assert any(e.status == "sent" for trail in mail_log.trails(sent.message_id) for e in trail.events)
    if inventory.mailstore is None:  # the MXs deliver themselves, into the shared store each one mounts
        assert infra_host(inventory.primary.name).mount_point(inventory.primary.mailbox_base).exists
