"""The tools of Norvia Logistics' IT assistant (a fictitious company), run on its fixture database.

Three tools, as OpenAI function tools (:data:`TOOLS`), answered by :class:`NorviaDesk` from the
IT-support example's fixture database (``../it-support-scripts/data/fixture.sql``: hosts,
tickets, deployments): the training data's tool results are what these functions return, and
``tool_loop.py`` calls the same functions when a served model asks for them.

- ``lookup_ticket(ticket_id)``: one ticket (host, service, priority, status, opened);
- ``find_hosts(site?, role?, os?)``: the hosts matching every filter given;
- ``restart_service(host, service)``: restarts a service where it runs (here: checks that it does).
"""

from __future__ import annotations

import importlib.util
import json
import sqlite3
import sys
from pathlib import Path

HERE = Path(__file__).parent
FIXTURE = HERE.parent / "it-support-scripts" / "data" / "fixture.sql"


def _inventory():
    """The hosts and services of the IT-support example's generator (one inventory for both)."""
    spec = importlib.util.spec_from_file_location(
        "it_support_data", HERE.parent / "it-support-scripts" / "generate_data.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


_IT = _inventory()
LINUX, WINDOWS, SITES = _IT.LINUX, _IT.WINDOWS, _IT.SITES
ROLES = sorted({*LINUX.values(), *WINDOWS.values()})
SERVICES = {host: _IT.SERVICES[role] for host, role in LINUX.items()} | {host: _IT.WIN_SERVICES for host in WINDOWS}
"""Which services run on each host."""

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "lookup_ticket",
            "description": "Get one ticket of Norvia's ticket system by its number.",
            "parameters": {
                "type": "object",
                "properties": {"ticket_id": {"type": "integer", "minimum": 1}},
                "required": ["ticket_id"],
                "additionalProperties": False,
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "find_hosts",
            "description": "List Norvia's hosts matching every filter given.",
            "parameters": {
                "type": "object",
                "properties": {
                    "site": {"type": "string", "enum": sorted(SITES)},
                    "role": {"type": "string", "enum": ROLES},
                    "os": {"type": "string", "enum": ["linux", "windows"]},
                },
                "additionalProperties": False,
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "restart_service",
            "description": "Restart a service on one of Norvia's hosts.",
            "parameters": {
                "type": "object",
                "properties": {"host": {"type": "string"}, "service": {"type": "string"}},
                "required": ["host", "service"],
                "additionalProperties": False,
            },
        },
    },
]


class NorviaDesk:
    """The tools, answered from the fixture database (loaded into memory, read only)."""

    def __init__(self, fixture: Path = FIXTURE):
        self.db = sqlite3.connect(":memory:")
        self.db.executescript(fixture.read_text(encoding="utf-8"))
        self.restarted: list[tuple[str, str]] = []
        """Every (host, service) restarted, in order (what a tool loop did)."""

    def call(self, name: str, arguments: dict) -> str:
        """The tool's result as JSON text (an ``error`` key when it cannot be done)."""
        handler = {"lookup_ticket": self.lookup_ticket, "find_hosts": self.find_hosts, "restart_service": self.restart}
        if name not in handler:
            return json.dumps({"error": f"no tool {name}"})
        try:
            return json.dumps(handler[name](**arguments), ensure_ascii=False)
        except TypeError as err:  # arguments the tool does not take
            return json.dumps({"error": str(err)})

    def lookup_ticket(self, ticket_id: int) -> dict:
        row = self.db.execute(
            "SELECT id, host, service, priority, status, opened FROM tickets WHERE id = ?", (ticket_id,)
        ).fetchone()
        if row is None:
            return {"error": f"no ticket {ticket_id}"}
        return dict(zip(("id", "host", "service", "priority", "status", "opened"), row, strict=True))

    def find_hosts(self, site: str | None = None, role: str | None = None, os: str | None = None) -> dict:
        filters = {"site": site, "role": role, "os": os}
        where = [f"{k} = ?" for k, v in filters.items() if v is not None]
        sql = "SELECT name FROM hosts" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY name"
        return {"hosts": [r[0] for r in self.db.execute(sql, [v for v in filters.values() if v is not None])]}

    def restart(self, host: str, service: str) -> dict:
        if host not in SERVICES:
            return {"error": f"{host} is not a Norvia host"}
        if service not in SERVICES[host]:
            return {"error": f"{service} does not run on {host}"}
        self.restarted.append((host, service))
        return {"host": host, "service": service, "restarted": True}
