"""The contracts between parta's processes: request and answer models both sides import."""
