"""Write the tool-calling dataset of Norvia Logistics' IT assistant (fictitious): seeded, Spanish
and English, in OpenAI's fine-tuning chat format with ``tools``.

Each request either needs a tool (look up a ticket, two tickets at once, find hosts, restart a
service) or does not (a request that lacks the ticket or host a tool needs gets a question back;
thanks and how-to questions get a plain answer). A training row is the whole loop: the user's
request, the assistant's call(s), the results :class:`norvia_tools.NorviaDesk` gives on the
fixture database, and the assistant's answer from them.

``data/eval.jsonl`` holds tickets, phrasings and how-to questions training never sees, in three
kinds of rows, each scored by its ``metric``:

- ``tool_call``, ending at the call: is a call made, to the right tool, with the right arguments
  (compared as JSON values);
- ``tool_call``, ending at a plain answer where no tool is needed: no call must be made;
- ``exact``, ending at the answer after the results came back: the answer the results give.

Run ``python generate_data.py``; the output is byte-for-byte the same for the same ``--seed``.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

from norvia_tools import LINUX, SERVICES, SITES, TOOLS, WINDOWS, NorviaDesk

HERE = Path(__file__).parent

SYSTEM_PROMPT = (
    "You are the IT operations assistant of Norvia Logistics. Use the tools to look up tickets, find hosts "
    "and restart services; if a request lacks what a tool needs, ask for it."
)

ASKS = {  # (train phrasings, held-out phrasings) per task and language
    "ticket": {
        "en": (["What is the status of ticket {id}?", "Look up ticket #{id} for me.", "Any news on ticket {id}?",
                "Show me ticket {id}.", "Open incident {id}, please.", "Where are we with ticket number {id}?",
                "Pull up the details of ticket {id}.", "Is ticket {id} still open?"],
               ["Can you check ticket number {id}?", "I need the details of incident {id}.",
                "What's going on with #{id}?"]),
        "es": (["¿Cómo está el ticket {id}?", "Busca el ticket #{id}.", "¿Qué sabemos del ticket {id}?",
                "Enséñame el ticket {id}.", "Abre la incidencia {id}, por favor.",
                "¿En qué punto está el ticket número {id}?",
                "Dame los detalles del ticket {id}.", "¿Sigue abierto el ticket {id}?"],
               ["¿Puedes revisar el ticket número {id}?", "Necesito los detalles de la incidencia {id}.",
                "¿Qué pasa con el #{id}?"]),
    },
    "two_tickets": {
        "en": (["Compare tickets {a} and {b}.", "Look up tickets {a} and {b}.", "Check incidents {a} and {b}."],
               ["What about tickets {a} and {b}?"]),
        "es": (["Compara los tickets {a} y {b}.", "Busca los tickets {a} y {b}.", "Revisa las incidencias {a} y {b}."],
               ["¿Y los tickets {a} y {b}?"]),
    },
    "role_site": {
        "en": (["List the {role} hosts in {site_name}.", "Which {role} hosts are at site {site}?",
                "Which {role} machines are in {site_name}?", "Find the {role} servers of {site_name}."],
               ["Which {role} machines do we run in {site_name}?"]),
        "es": (["Lista los hosts {role} de {site_name}.", "¿Qué hosts {role} hay en la sede {site}?",
                "¿Qué máquinas {role} hay en {site_name}?", "Busca los servidores {role} de {site_name}."],
               ["¿Qué máquinas {role} tenemos en {site_name}?"]),
    },
    "os_site": {
        "en": (["Which {os} servers do we have in {site_name}?", "List the {os} hosts at {site}.",
                "Show the {os} machines in {site_name}."],
               ["Give me every {os} box in {site_name}."]),
        "es": (["¿Qué servidores {os} tenemos en {site_name}?", "Lista los hosts {os} de {site}.",
                "Muestra las máquinas {os} de {site_name}."],
               ["Dame todas las máquinas {os} de {site_name}."]),
    },
    "role": {
        "en": (["Show me all {role} hosts.", "Which hosts have the {role} role?", "List every {role} server."],
               ["Where do the {role} servers run?"]),
        "es": (["Muéstrame todos los hosts {role}.", "¿Qué hosts tienen el rol {role}?",
                "Lista todos los servidores {role}."],
               ["¿Dónde están los servidores {role}?"]),
    },
    "restart": {
        "en": (["Restart {service} on {host}.", "Please restart the {service} service on {host}.",
                "{service} on {host} is stuck; restart it.", "Bounce {service} on {host}.",
                "Could you restart {service} on {host}?"],
               ["{service} is hung on {host}, bounce it.", "Can you give {service} on {host} a restart?"]),
        "es": (["Reinicia {service} en {host}.", "Reinicia el servicio {service} de {host}, por favor.",
                "{service} en {host} está bloqueado; reinícialo.", "Relanza {service} en {host}.",
                "¿Podrías reiniciar {service} en {host}?"],
               ["{service} está colgado en {host}, relánzalo.", "¿Puedes reiniciar {service} en {host}?"]),
    },
}  # fmt: skip

NO_CALL = {  # requests a tool cannot serve yet, or that need none: (ask, answer), train and held out
    "en": (
        [("Restart the service, please.", "Which service, and on which host?"),
         ("Look up my ticket.", "Which ticket number should I look up?"),
         ("What happened with the incident I reported?", "Which ticket number should I look up?"),
         ("A service is down, restart it.", "Which service, and on which host?"),
         ("Restart {service}.", "On which host should I restart {service}?"),
         ("Thanks!", "You're welcome."),
         ("How do I check disk usage on a Linux host?", "Run df -h on the host."),
         ("How do I see the running services on Linux?", "Run systemctl list-units --type=service --state=running."),
         ("What does P1 mean on a ticket?", "P1 is the highest priority: the service is down for everyone.")],
        [("Can you restart something for me?", "Which service, and on which host?"),
         ("Check the ticket I opened yesterday.", "Which ticket number should I look up?"),
         ("{service} needs a restart.", "On which host should I restart {service}?"),
         ("Great, thank you.", "You're welcome."),
         ("How can I list open ports on Linux?", "Run ss -tlnp on the host.")],
    ),
    "es": (
        [("Reinicia el servicio, por favor.", "¿Qué servicio, y en qué host?"),
         ("Busca mi ticket.", "¿Qué número de ticket busco?"),
         ("¿Qué pasó con la incidencia que abrí?", "¿Qué número de ticket busco?"),
         ("Hay un servicio caído, reinícialo.", "¿Qué servicio, y en qué host?"),
         ("Reinicia {service}.", "¿En qué host reinicio {service}?"),
         ("¡Gracias!", "De nada."),
         ("¿Cómo veo el uso de disco en un host Linux?", "Ejecuta df -h en el host."),
         ("¿Cómo veo los servicios en marcha en Linux?",
          "Ejecuta systemctl list-units --type=service --state=running."),
         ("¿Qué significa P1 en un ticket?", "P1 es la prioridad más alta: el servicio está caído para todos.")],
        [("¿Puedes reiniciarme algo?", "¿Qué servicio, y en qué host?"),
         ("Revisa el ticket que abrí ayer.", "¿Qué número de ticket busco?"),
         ("Hay que reiniciar {service}.", "¿En qué host reinicio {service}?"),
         ("Genial, gracias.", "De nada."),
         ("¿Cómo listo los puertos abiertos en Linux?", "Ejecuta ss -tlnp en el host.")],
    ),
}  # fmt: skip

STATUS_ES = {"open": "abierto", "pending": "pendiente", "closed": "cerrado"}
BAD_HOSTS = ["nv-web-07", "nv-app-09", "nv-db-05", "srv-old-3"]
N_TICKETS = 360


# ---------------------------------------------------------------- answers from tool results


def ticket_answer(result: dict, lang: str) -> str:
    if "error" in result:
        number = result["error"].split()[-1]
        return f"There is no ticket {number}." if lang == "en" else f"No existe el ticket {number}."
    r = result
    if lang == "en":
        return (
            f"Ticket {r['id']} is {r['status']}: {r['service']} on {r['host']}, "
            f"priority {r['priority']}, opened {r['opened']}."
        )
    return (
        f"El ticket {r['id']} está {STATUS_ES[r['status']]}: {r['service']} en {r['host']}, "
        f"prioridad {r['priority']}, abierto el {r['opened']}."
    )


def hosts_answer(result: dict, lang: str) -> str:
    hosts = ", ".join(result["hosts"])
    if lang == "en":
        return f"Hosts found: {hosts}." if hosts else "No host matches."
    return f"Hosts encontrados: {hosts}." if hosts else "Ningún host coincide."


def restart_answer(result: dict, lang: str) -> str:
    if "error" in result:
        why = result["error"]
        return f"I could not restart it: {why}." if lang == "en" else f"No he podido reiniciarlo: {why}."
    if lang == "en":
        return f"Restarted {result['service']} on {result['host']}."
    return f"He reiniciado {result['service']} en {result['host']}."


# ---------------------------------------------------------------- conversations


class Writer:
    """Builds rows whose tool results come from the fixture database."""

    def __init__(self, rng: random.Random):
        self.rng, self.desk, self.n = rng, NorviaDesk(), 0

    def _call_id(self) -> str:
        self.n += 1
        return f"call_{self.n:05d}"

    def loop(self, ask: str, calls: list[tuple[str, dict]], answer_of, lang: str) -> list[dict]:
        """The messages of one tool loop: ask, call(s), result(s), answer."""
        ids = [self._call_id() for _ in calls]
        results = [json.loads(self.desk.call(name, args)) for name, args in calls]
        assistant = {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": i, "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}
                for i, (name, args) in zip(ids, calls, strict=True)
            ],
        }
        tool_turns = [
            {"role": "tool", "tool_call_id": i, "content": json.dumps(r, ensure_ascii=False)}
            for i, r in zip(ids, results, strict=True)
        ]
        answer = " ".join(answer_of(r, lang) for r in results)
        return [{"role": "user", "content": ask}, assistant, *tool_turns, {"role": "assistant", "content": answer}]

    def task(self, kind: str, lang: str, held: bool, tickets: list[int]) -> tuple[list[dict], str]:
        """One tool-needing conversation of ``kind``; returns (messages, scenario)."""
        rng = self.rng
        phrasing = rng.choice(ASKS[kind][lang][1 if held else 0])
        if kind == "ticket":
            missing = rng.random() < 0.1
            tid = rng.randint(N_TICKETS + 1, 999) if missing else rng.choice(tickets)
            ask = phrasing.format(id=tid)
            return self.loop(ask, [("lookup_ticket", {"ticket_id": tid})], ticket_answer, lang), (
                "exception" if missing else "normal"
            )
        if kind == "two_tickets":
            a, b = rng.sample(tickets, 2)
            calls = [("lookup_ticket", {"ticket_id": a}), ("lookup_ticket", {"ticket_id": b})]
            return self.loop(phrasing.format(a=a, b=b), calls, ticket_answer, lang), "normal"
        if kind in ("role_site", "os_site", "role"):
            site = rng.choice(sorted(SITES))
            role = rng.choice(sorted({*LINUX.values(), *WINDOWS.values()}))
            os_ = rng.choice(["linux", "windows"])
            args = {
                "role_site": {"site": site, "role": role},
                "os_site": {"site": site, "os": os_},
                "role": {"role": role},
            }[kind]
            ask = phrasing.format(
                site=site, site_name=SITES[site], role=role, os=os_.capitalize() if lang == "en" else os_
            )
            return self.loop(ask, [("find_hosts", args)], hosts_answer, lang), "normal"
        bad = rng.random() < 0.15
        host = rng.choice(BAD_HOSTS) if bad else rng.choice(sorted(SERVICES))
        service = rng.choice(SERVICES.get(host) or SERVICES["nv-web-01"])
        if not bad and rng.random() < 0.1:  # a service that runs elsewhere
            service = rng.choice(sorted({s for ss in SERVICES.values() for s in ss} - set(SERVICES[host])))
            bad = True
        ask = phrasing.format(service=service, host=host)
        calls = [("restart_service", {"host": host, "service": service})]
        return self.loop(ask, calls, restart_answer, lang), "exception" if bad else "normal"

    def no_call(self, lang: str, held: bool) -> list[dict]:
        ask, answer = self.rng.choice(NO_CALL[lang][1 if held else 0])
        service = self.rng.choice(sorted({s for ss in SERVICES.values() for s in ss}))
        return [{"role": "user", "content": ask.format(service=service)},
                {"role": "assistant", "content": answer.format(service=service)}]  # fmt: skip


KINDS = ["ticket"] * 4 + ["two_tickets"] + ["role_site", "os_site", "role"] + ["restart"] * 3


def _row(messages: list[dict], scenario: str, metric: str | None = None) -> dict:
    row = {"tools": TOOLS, "messages": messages, "scenario": scenario}
    return row | ({"metric": metric} if metric else {})


def train_rows(w: Writer, n: int, tickets: list[int]) -> list[dict]:
    rows = []
    for i in range(n):
        lang = "en" if i % 2 == 0 else "es"
        if w.rng.random() < 0.2:
            messages = w.no_call(lang, held=False)
            rows.append(_row(messages, "user_error" if "?" in messages[1]["content"] else "normal"))
        else:
            rows.append(_row(*w.task(w.rng.choice(KINDS), lang, False, tickets)))
    return rows


def eval_rows(w: Writer, n: int, tickets: list[int]) -> list[dict]:
    """Held-out tickets and phrasings: rows ending at the call, at the answer after the results,
    or at a plain answer where no tool is needed."""
    rows = []
    for i in range(n):
        lang = "en" if i % 2 == 0 else "es"
        kind = i % 4
        if kind == 3:
            messages = w.no_call(lang, held=True)
            rows.append(_row(messages, "user_error" if "?" in messages[1]["content"] else "normal", "tool_call"))
            continue
        messages, scenario = w.task(w.rng.choice(KINDS), lang, True, tickets)
        if kind == 2:  # the answer from the results
            rows.append(_row(messages, scenario, "exact"))
        else:  # the call
            rows.append(_row(messages[:2], scenario, "tool_call"))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--train", type=int, default=640)
    parser.add_argument("--eval", type=int, default=120)
    parser.add_argument("--out", type=Path, default=HERE / "data")
    args = parser.parse_args()
    w = Writer(random.Random(args.seed))
    train_tickets = [t for t in range(1, N_TICKETS + 1) if t % 5]
    held_tickets = [t for t in range(1, N_TICKETS + 1) if t % 5 == 0]
    args.out.mkdir(parents=True, exist_ok=True)
    for name, rows in (
        ("train", train_rows(w, args.train, train_tickets)),
        ("eval", eval_rows(w, args.eval, held_tickets)),
    ):
        path = args.out / f"{name}.jsonl"
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        print(f"wrote {len(rows)} rows to {path}")


if __name__ == "__main__":
    main()
