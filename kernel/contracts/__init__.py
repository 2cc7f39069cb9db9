"""The contracts between parta's processes: request and answer models both sides import,
and one client per API (:mod:`kernel.contracts.base`)."""
