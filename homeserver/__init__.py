"""Synapse for one school: configuration rendered from settings, run as a child process.

``settings`` says what the homeserver is, ``render`` writes it to a state directory,
``process`` runs and stops Synapse from there, ``postgres`` prepares its database.
"""

from homeserver.errors import (
    DatabaseError,
    DatabaseLocaleError,
    DatabaseUnreachable,
    HomeserverError,
    RenderError,
    SettingsError,
    SynapseExited,
    SynapseNotReady,
    SynapseStartError,
)
from homeserver.process import SynapseProcess
from homeserver.render import RenderedHomeserver, StateLayout, render_homeserver
from homeserver.settings import (
    AppserviceRegistration,
    HomeserverSettings,
    ModuleSpec,
    PostgresDatabase,
    SqliteDatabase,
)

__all__ = [
    "AppserviceRegistration",
    "DatabaseError",
    "DatabaseLocaleError",
    "DatabaseUnreachable",
    "HomeserverError",
    "HomeserverSettings",
    "ModuleSpec",
    "PostgresDatabase",
    "RenderError",
    "RenderedHomeserver",
    "SettingsError",
    "SqliteDatabase",
    "StateLayout",
    "SynapseExited",
    "SynapseNotReady",
    "SynapseProcess",
    "SynapseStartError",
    "render_homeserver",
]
