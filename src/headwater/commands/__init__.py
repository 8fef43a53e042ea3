"""The `headwater` command groups, one module each; `headwater.cli` assembles them.

Thin, like the CLI as a whole: parse arguments, call the library, print.
"""

from __future__ import annotations

import click

from headwater.commands.catalog import catalog_group
from headwater.commands.events import events_group
from headwater.commands.privacy import consent_group, privacy_group
from headwater.commands.profiles import attributes_group, profile_group
from headwater.commands.quarantine import quarantine_group
from headwater.commands.tenancy import keys_group, projects_group

GROUPS: tuple[click.Group, ...] = (
    keys_group,
    projects_group,
    profile_group,
    attributes_group,
    quarantine_group,
    catalog_group,
    consent_group,
    privacy_group,
    events_group,
)
