"""Write Norvia Logistics' internal IT manuals (fictitious) and questions about them: seeded.

The company runs 48 internal systems. Each has five facts that no base model can know: the team
that owns it, its weekly maintenance day, its on-call extension, the site that hosts it, and how
long its backups are kept. The manuals state every fact several times, in different documents and
wordings, as a company's documents do (the service catalogue, the runbooks, the on-call handbook
in English and in Spanish, the maintenance calendar, the backup policy), among procedure text
that states no fact of any system. The help desk's FAQ page answers questions about the first 32
systems only.

- ``manuals/``: the documents (Markdown), for continued pretraining (``recipe-cpt.yaml``);
- ``heldout/``: a quick-reference card in wordings the manuals do not use, for the held-out
  perplexity of continued pretraining;
- ``data/qa_train.jsonl``: questions about the facts of the first 32 systems, answered with the
  bare value, to teach the question format (``recipe-sft.yaml``, ``recipe-sft-after-cpt.yaml``);
- ``data/qa_eval.jsonl``: questions about the other 16 systems, whose facts are only in the
  manuals: a model answers them only if it learned the manuals (``exact`` metric).

Run ``python generate_data.py``; the output is byte-for-byte the same for the same ``--seed``.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

HERE = Path(__file__).parent

NAMES = """Halcon Brisa Faro Ancla Cobalto Delta Ebano Fresno Granito Helio Indigo Jara Kiwi Lince Mistral
Nogal Onda Pino Quasar Roble Sauce Tizon Umbra Vega Yunque Zafiro Alcor Bruma Cierzo Duna Espiga Fragua
Garza Hiedra Iris Jaspe Lirio Marea Nube Olmo Perla Quejigo Rayo Salvia Tejo Ulmo Viento Zarza""".split()
TEAMS = ["Warehouse Systems", "Payments Platform", "Fleet Telemetry", "Customer Portal", "Data Platform",
         "Identity and Access", "Network Operations", "Finance Applications"]  # fmt: skip
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
DIAS = dict(zip(DAYS, ["lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo"], strict=True))
SITES = ["Zaragoza", "Valencia", "Bilbao", "Sevilla", "Vigo"]
RETENTION = [7, 14, 30, 60, 90]
PURPOSES = ["route planning", "invoice matching", "pallet tracking", "driver scheduling", "customs declarations",
            "returns processing", "supplier onboarding", "fuel card reconciliation", "dock booking",
            "temperature logging", "proof of delivery", "carrier rating", "stock counting", "claims handling",
            "label printing", "yard management"]  # fmt: skip
TRAIN_SYSTEMS = 32
FACTS = ("team", "day", "extension", "site", "retention")


def systems(rng: random.Random) -> list[dict]:
    extensions = rng.sample(range(2100, 9900), len(NAMES))
    return [
        {
            "name": name,
            "team": rng.choice(TEAMS),
            "day": rng.choice(DAYS),
            "extension": str(extensions[i]),
            "site": rng.choice(SITES),
            "retention": rng.choice(RETENTION),
            "purpose": PURPOSES[i % len(PURPOSES)],
        }
        for i, name in enumerate(NAMES)
    ]


# Each fact in several wordings: the manuals use them all, so no fact is tied to one sentence.
CATALOGUE = [
    "{name} is the system for {purpose}. It is owned by the {team} team and runs in the {site} data centre.",
    "The {team} team owns {name}, the {purpose} system, which is hosted at the {site} site.",
    "{name} ({purpose}) belongs to {team}; its servers are in {site}.",
]
RUNBOOK = [
    "Before any change to {name}, page the on-call engineer at extension {extension}. Planned work on {name} "
    "happens only on {day}, its weekly maintenance day.",
    "On-call for {name}: extension {extension}. The maintenance window of {name} is every {day}.",
    "If {name} is down, call extension {extension} first. {name} is patched each {day}.",
]
ONCALL_EN = [
    "{name}: on-call extension {extension}, owner {team}.",
    "Call {extension} for {name} incidents (owned by {team}).",
]
ONCALL_ES = [
    "{name}: extensión de guardia {extension}, equipo responsable {team}.",
    "Para incidencias de {name}, llame a la extensión {extension} (equipo {team}).",
]
CALENDAR = [
    "{name} is serviced on {day}s.",
    "Every {day}, {name} is taken down for maintenance.",
    "{name}: maintenance on {day}, hosted in {site}.",
]
BACKUP = [
    "Backups of {name} are kept for {retention} days.",
    "{name} keeps its backups for {retention} days before they are deleted.",
    "The retention period for {name} backups is {retention} days.",
]
PROCEDURES = [
    "To request access to any system, open a ticket in the IT portal and name the system and the reason. "
    "Access is granted by the owning team within two working days.",
    "Changes outside the maintenance window need an emergency change record approved by the duty manager.",
    "Every incident gets a ticket, even when it is solved on the phone; the ticket records who was called and "
    "when the service came back.",
    "Restores from backup are requested through the IT portal; the owning team confirms the restore point "
    "with the requester before it starts.",
    "After a maintenance window, the owning team posts a short note in the change log: what changed, what was "
    "tested, and whether anything was rolled back.",
]

QUESTIONS = {
    "team": ["Which team owns {name}?", "Who is responsible for the {name} system?", "Which team runs {name}?"],
    "day": [
        "On which day is {name} maintained?",
        "What is the maintenance day of {name}?",
        "When is the weekly maintenance window of {name}?",
    ],
    "extension": [
        "What is the on-call extension for {name}?",
        "Which extension do I call when {name} is down?",
        "Whom do I phone for {name} incidents? Give the extension.",
    ],
    "site": ["Where is {name} hosted?", "Which data centre runs {name}?", "At which site are the {name} servers?"],
    "retention": [
        "How long are {name} backups kept?",
        "What is the backup retention of {name}?",
        "For how many days does {name} keep its backups?",
    ],
}


def answer(system: dict, fact: str) -> str:
    return f"{system['retention']} days" if fact == "retention" else system[fact]


def _fill(templates: list[str], s: dict, rng: random.Random) -> str:
    return rng.choice(templates).format(**s)


def manuals(all_systems: list[dict], rng: random.Random) -> dict[str, str]:
    """The documents, by file name: each kind of document lists every system, in its own order
    and wordings; two versions of each but the on-call handbooks (old and current pages say the
    same facts in other words)."""
    docs = {}

    def doc(title: str, intro: str, lines: list[str], name: str, procedures: int = 2) -> None:
        body = [f"# {title}", intro, *lines, *rng.sample(PROCEDURES, procedures)]
        docs[name] = "\n\n".join(body) + "\n"

    for part in range(4):  # the catalogue in four parts of 12 systems, each page twice over the years
        chunk = all_systems[part * 12 : (part + 1) * 12]
        for version in (1, 2):
            lines = [_fill(CATALOGUE, s, rng) for s in rng.sample(chunk, len(chunk))]
            doc(f"Service catalogue, part {part + 1}", "What each internal system does, who owns it and where it "
                "runs.", lines, f"catalogue-{part + 1}-v{version}.md")  # fmt: skip
    for part in range(6):
        chunk = all_systems[part * 8 : (part + 1) * 8]
        for version in (1, 2):
            lines = [f"## {s['name']}\n\n" + _fill(RUNBOOK, s, rng) for s in rng.sample(chunk, len(chunk))]
            doc(f"Runbooks, volume {part + 1}", "How to work on each system safely.", lines,
                f"runbooks-{part + 1}-v{version}.md")  # fmt: skip
    lines = ["- " + _fill(ONCALL_EN, s, rng) for s in rng.sample(all_systems, len(all_systems))]
    doc("On-call handbook", "Who to call when a system fails, by system.", lines, "oncall-handbook.md", 1)
    lines = ["- " + _fill(ONCALL_ES, s, rng) for s in rng.sample(all_systems, len(all_systems))]
    docs["manual-guardias.md"] = "\n\n".join(
        ["# Manual de guardias", "A quién llamar cuando falla un sistema.", *lines,
         "Toda incidencia se registra en el portal de IT, aunque se resuelva por teléfono."]
    ) + "\n"  # fmt: skip
    for version in (1, 2):  # the calendar and the backup policy each in two halves, two versions
        for part in range(2):
            chunk = all_systems[part::2]
            lines = [_fill(CALENDAR, s, rng) for s in rng.sample(chunk, len(chunk))]
            doc(f"Maintenance calendar {part + 1}", "Weekly maintenance days of the internal systems.", lines,
                f"maintenance-calendar-{part + 1}-v{version}.md", 1)  # fmt: skip
            lines = [_fill(BACKUP, s, rng) for s in rng.sample(chunk, len(chunk))]
            doc(f"Backup policy {part + 1}", "How long the backups of each system are kept.", lines,
                f"backup-policy-{part + 1}-v{version}.md", 1)  # fmt: skip
    return docs


CARD = [
    "{name} | {purpose} | team {team} | ext. {extension} | {site} | maintenance {day} | backups {retention} days",
]


def quick_reference(all_systems: list[dict], rng: random.Random) -> str:
    """One page that states every system's facts in a table layout the manuals never use."""
    lines = [_fill(CARD, s, rng) for s in rng.sample(all_systems, len(all_systems))]
    intro = "Print this card and keep it by the phone. It summarises the catalogue, the runbooks and the policies."
    return "\n".join(["# IT quick reference card", "", intro, "", *lines]) + "\n"


FAQ_ANSWERS = {
    "team": "The {team} team.",
    "day": "Every {day}.",
    "extension": "Extension {extension}.",
    "site": "In the {site} data centre.",
    "retention": "For {retention} days.",
}


def faq(chosen: list[dict], rng: random.Random) -> str:
    """The IT FAQ page: questions staff asked about some of the systems, with their answers (the
    help desk wrote it for the systems it gets calls about, the first 32)."""
    entries = [
        f"Q: {rng.choice(QUESTIONS[fact]).format(**s)}\nA: {FAQ_ANSWERS[fact].format(**s)}"
        for s in chosen
        for fact in FACTS
    ]
    rng.shuffle(entries)
    return "\n\n".join(["# IT help desk FAQ", "Questions staff ask the help desk, with the answers.", *entries]) + "\n"


def qa_rows(chosen: list[dict], rng: random.Random, phrasings: int) -> list[dict]:
    rows = []
    for s in chosen:
        for fact in FACTS:
            for q in rng.sample(QUESTIONS[fact], phrasings):
                rows.append({"messages": [{"role": "user", "content": q.format(**s)},
                                          {"role": "assistant", "content": answer(s, fact)}],
                             "meta": {"system": s["name"], "fact": fact}})  # fmt: skip
    rng.shuffle(rows)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--out", type=Path, default=HERE, help="folder that gets manuals/ and data/")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    all_systems = systems(rng)
    (args.out / "manuals").mkdir(parents=True, exist_ok=True)
    (args.out / "data").mkdir(parents=True, exist_ok=True)
    for name, text in manuals(all_systems, rng).items():
        (args.out / "manuals" / name).write_text(text, encoding="utf-8")
    (args.out / "heldout").mkdir(exist_ok=True)
    (args.out / "heldout" / "quick-reference.md").write_text(quick_reference(all_systems, rng), encoding="utf-8")
    splits = {
        "qa_train": qa_rows(all_systems[:TRAIN_SYSTEMS], rng, 3),
        "qa_eval": qa_rows(all_systems[TRAIN_SYSTEMS:], rng, 1),
    }
    for name, rows in splits.items():
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        (args.out / "data" / f"{name}.jsonl").write_text(text, encoding="utf-8")
    (args.out / "manuals" / "it-faq.md").write_text(faq(all_systems[:TRAIN_SYSTEMS], rng), encoding="utf-8")
    print(f"wrote {len(list((args.out / 'manuals').iterdir()))} manuals, "
          + ", ".join(f"{len(r)} {n} rows" for n, r in splits.items()))  # fmt: skip


if __name__ == "__main__":
    main()
