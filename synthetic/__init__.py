"""Synthetic schools for the demo, the benchmarks and the tests: Russian names, classes 1–11,
parents, teachers, a weekly timetable, written as OneRoster 1.2 CSV. Not part of any running
component; it builds on the pure core's model (``appservice.diary_sync``)."""
