"""The pytest plugin: options, markers and fixtures of mxdrill, in one place."""
