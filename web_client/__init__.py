"""The diary web client: login, Дневник, Журнал, Чаты.

Built by the diary issue; empty in this slice.
"""
