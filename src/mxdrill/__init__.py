"""mxdrill: failover drills for real mail exchangers."""

__version__ = "0.1.0"
