"""The aiortc call bridge: forwarding conference server for lessons and meetings.

Built by the calls issue; so far only `identity` (a caller vouched for by their own server).
"""
