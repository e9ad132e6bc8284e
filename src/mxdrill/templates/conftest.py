"""Your drill repository's conftest: your own fixtures go here.

mxdrill's plugin needs nothing from this file: pytest loads it from the installed package, with its
drill suites and its fixtures for your checks (`inventory`, `infra_host`, `mail_log`, `mailbox`,
`send_probe`; see mxdrill's README, "Your own checks"). The file anchors pytest's rootdir here.
"""
