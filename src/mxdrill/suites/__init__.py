"""The drill suites that ship with mxdrill: collected by the plugin in every drill run, wherever it runs.

They are part of the package (not of a checkout) so that `pytest --hosts=hosts.yml` in any directory
runs the same items, with the same ids and markers. A user's own checks live in their `tests_infra/`
beside them and run in the same session, after the drill (see `mxdrill init`).
"""

SUITES = ("test_preflight", "test_failover")
"""In the order they run: the non-disruptive checks first, then the drill itself."""
