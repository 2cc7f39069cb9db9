"""The aiortc call bridge: forwarding conference server for lessons and meetings.

Built by the calls issue; empty in this slice.
"""
