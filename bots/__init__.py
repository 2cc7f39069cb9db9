"""Bots (matrix-nio): lesson and meeting links, invites and QR codes, homework, polls.

Built by the calls and messenger issues; empty in this slice.
"""
