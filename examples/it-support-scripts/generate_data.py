"""Write the IT-support dataset of Norvia Logistics (a fictitious company): seeded, Spanish and
English, three scenarios, and the fixture database its SQL answers run against.

A request from Norvia's staff becomes one answer, scored by the row's ``metric``:

- ``sql`` (``data/fixture.sql``: hosts, tickets, deployments): a SQLite query whose result must
  equal the reference's (execution accuracy);
- ``bash`` for Norvia's Linux hosts (``ssh host '...'``): must pass ``bash -n`` and shellcheck,
  then is scored by the reference's commands and words it uses;
- ``powershell`` for the Windows hosts and Active Directory: balanced, scored by the reference's
  cmdlets and words;
- ``clarify`` for user errors: a request without a host, service or account, or naming a host
  Norvia does not have, must get a question back and no script.

Scenarios: ``normal`` (everyday tasks), ``exception`` (something broke: failed starts, full
disks, failed deployments, stopped Windows services, locked accounts) and ``user_error``.

Run ``python generate_data.py`` to rewrite ``data/train.jsonl``, ``data/eval.jsonl``,
``data/eval_disjoint.jsonl`` and ``data/fixture.sql``; the output is byte-for-byte the same for
the same ``--seed``. The disjoint split asks for the same tasks on Norvia's own hosts, services
and accounts in phrasings training never sees (``HELD_ASKS``; user errors with other wordings
and other hosts Norvia does not have). Its hosts are not held out: the assistant must know
Norvia's inventory, and a host it was never told of must get a question back.
"""

from __future__ import annotations

import argparse
import json
import random
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).parent

SYSTEM_PROMPT = (
    "You are the IT automation assistant of Norvia Logistics. Answer with the command or SQL query only. "
    "If a request lacks a host, service or account, or names a host Norvia does not have, ask for it."
)

LINUX = {  # host -> role; site from the number: 01-02 MAD, 03-04 BCN
    **{f"nv-web-0{i}": "web" for i in range(1, 5)},
    **{f"nv-app-0{i}": "app" for i in range(1, 5)},
    **{f"nv-db-0{i}": "db" for i in range(1, 3)},
    "nv-mq-01": "mq",
}
WINDOWS = {
    **{f"nv-files-0{i}": "files" for i in range(1, 4)},
    **{f"nv-rds-0{i}": "rds" for i in range(1, 3)},
    "nv-dc-01": "dc",
    "nv-print-01": "print",
    "nv-scan-01": "scan",
}
SERVICES = {  # Linux role -> services running there
    "web": ["nginx", "norvia-portal"],
    "app": ["norvia-tracker", "norvia-billing", "norvia-routing"],
    "db": ["postgresql"],
    "mq": ["rabbitmq-server"],
}
WIN_SERVICES = ["Spooler", "W32Time", "NorviaSync", "NorviaAgent", "NorviaScanner", "WinRM", "Dnscache"]
GROUPS = ["NV-Finance", "NV-Warehouse", "NV-Drivers", "NV-IT-Admins", "NV-Customs", "NV-Sales", "NV-Fleet", "NV-HR"]
ACCOUNTS = [f"e{1000 + 37 * i}" for i in range(1, 31)]
PATHS = ["/var/log", "/var/lib/postgresql", "/srv/norvia/exports", "/srv/norvia/uploads", "/tmp"]
PRIORITIES = ["P1", "P2", "P3", "P4"]
STATUSES = ["open", "pending", "closed"]
MONTHS = [f"2024-{m:02d}" for m in range(1, 13)]
BAD_HOSTS = ["nv-web-07", "nv-app-09", "nv-db-05", "srv-old-3", "nv-files-08", "mail-02", "nv-cache-01"]
SITES = {"MAD": "Madrid", "BCN": "Barcelona"}


ASKS = {  # request phrasings by task: str.format templates, English and Spanish
    "failed_deploys": {"en": "Which deployments of {service} failed in {month}? Give host and version.",
                       "es": "¿Qué despliegues de {service} fallaron en {month}? Dame host y versión."},
    "open_tickets_over": {"en": "Which hosts have more than {n} open tickets?",
                          "es": "¿Qué hosts tienen más de {n} tickets abiertos?"},
    "count_tickets": {"en": "How many {word} {prio} tickets are there for {host}?",
                      "es": "¿Cuántos tickets {prio} {word} hay de {host}?"},
    "hosts_of_site": {"en": "List the {role} hosts at site {site}.",
                      "es": "Lista los hosts de tipo {role} de la sede {site}."},
    "last_good_version": {"en": "Which version of {service} was last deployed successfully?",
                          "es": "¿Qué versión de {service} se desplegó con éxito por última vez?"},
    "tickets_per_service": {"en": "How many tickets were opened per service in {month}?",
                            "es": "¿Cuántos tickets se abrieron por servicio en {month}?"},
    "fails_to_start": {"en": "{svc} on {host} fails to start; show its errors since {day} {hour:02d}:00.",
                       "es": "{svc} en {host} no arranca; muestra sus errores desde el {day} a las {hour:02d}:00."},
    "dir_full": {"en": "{path} on {host} is full; list the 10 largest files there.",
                 "es": "{path} en {host} está lleno; lista los 10 ficheros más grandes."},
    "delete_csv": {"en": "Delete the CSV exports older than {days} days in /srv/norvia/exports on {host}.",
                   "es": "Borra los CSV exportados de más de {days} días en /srv/norvia/exports de {host}."},
    "restart": {"en": "Restart {svc} on {host}.", "es": "Reinicia {svc} en {host}."},
    "status": {"en": "Show the status of {svc} on {host}.", "es": "Muestra el estado de {svc} en {host}."},
    "free_space": {"en": "Check the free disk space of {path} on {host}.",
                   "es": "Comprueba el espacio libre de {path} en {host}."},
    "last_logs": {"en": "Show the last {n} log lines of {svc} on {host}.",
                  "es": "Muestra las últimas {n} líneas de log de {svc} en {host}."},
    "start_stopped": {"en": "The {svc} service on {host} is stopped; start it and set it to start automatically.",
                      "es": "El servicio {svc} de {host} está parado; arráncalo y ponlo en inicio automático."},
    "system_errors": {"en": "Show the last {n} system errors on {host}.",
                      "es": "Muestra los últimos {n} errores del sistema en {host}."},
    "locked_out": {"en": "Account {user} cannot log in; check whether it is locked out.",
                   "es": "La cuenta {user} no puede iniciar sesión; comprueba si está bloqueada."},
    "win_restart": {"en": "Restart the {svc} service on {host}.", "es": "Reinicia el servicio {svc} en {host}."},
    "group_members": {"en": "List the members of the AD group {group}.",
                      "es": "Lista los miembros del grupo de AD {group}."},
    "unlock": {"en": "Unlock the AD account {user}.", "es": "Desbloquea la cuenta de AD {user}."},
    "drive_free": {"en": "How much space is free on drive {drive} of {host}?",
                   "es": "¿Cuánto espacio libre queda en la unidad {drive} de {host}?"},
}  # fmt: skip
HELD_ASKS = {  # the same tasks asked the way training never asks them (the disjoint split)
    "failed_deploys": {"en": "I need the host and version of every failed {service} deployment during {month}.",
                       "es": "Necesito host y versión de cada despliegue fallido de {service} durante {month}."},
    "open_tickets_over": {"en": "Find the hosts with over {n} tickets still open.",
                          "es": "Busca los hosts con más de {n} tickets todavía abiertos."},
    "count_tickets": {"en": "Count the {prio} tickets of {host} whose status is {word}.",
                      "es": "Cuenta los tickets {prio} de {host} que están {word}."},
    "hosts_of_site": {"en": "Which {role} machines do we have in {site}?",
                      "es": "¿Qué máquinas {role} tenemos en {site}?"},
    "last_good_version": {"en": "What is the latest {service} version that deployed without errors?",
                          "es": "¿Cuál es la última versión de {service} que se desplegó sin errores?"},
    "tickets_per_service": {"en": "Break down the tickets opened in {month} by service.",
                            "es": "Desglosa por servicio los tickets abiertos en {month}."},
    "fails_to_start": {"en": "{host} cannot bring up {svc}. I need its error log from {day} {hour:02d}:00 onwards.",
                       "es": "{host} no levanta {svc}. Necesito su log de errores desde el {day} {hour:02d}:00."},
    "dir_full": {"en": "No space left in {path} on {host}: which 10 files take the most room?",
                 "es": "No queda espacio en {path} de {host}: ¿qué 10 ficheros ocupan más?"},
    "delete_csv": {"en": "Clean up {host}: remove CSV files from /srv/norvia/exports that are over {days} days old.",
                   "es": "Limpia {host}: elimina los CSV de /srv/norvia/exports con más de {days} días."},
    "restart": {"en": "Please bounce {svc} on {host}.", "es": "Por favor, relanza {svc} en {host}."},
    "status": {"en": "Is {svc} running on {host}?", "es": "¿Está funcionando {svc} en {host}?"},
    "free_space": {"en": "How full is {path} on {host}?", "es": "¿Cómo de lleno está {path} en {host}?"},
    "last_logs": {"en": "Print the {n} most recent log entries of {svc} from {host}.",
                  "es": "Saca las {n} entradas de log más recientes de {svc} en {host}."},
    "start_stopped": {"en": "{svc} is down on {host}: bring it up and make it start on boot.",
                      "es": "{svc} está caído en {host}: levántalo y haz que arranque al iniciar."},
    "system_errors": {"en": "Pull the {n} latest errors from the System log of {host}.",
                      "es": "Extrae los {n} errores más recientes del registro System de {host}."},
    "locked_out": {"en": "{user} says the login fails. Is the account locked?",
                   "es": "{user} dice que no puede entrar. ¿Está la cuenta bloqueada?"},
    "win_restart": {"en": "Please bounce the {svc} service on {host}.",
                    "es": "Por favor, relanza el servicio {svc} en {host}."},
    "group_members": {"en": "Who belongs to {group} in Active Directory?",
                      "es": "¿Quién pertenece a {group} en Active Directory?"},
    "unlock": {"en": "{user} is locked out of AD, please unlock.", "es": "{user} está bloqueado en AD, desbloquéalo."},
    "drive_free": {"en": "Free space left on {host}, drive {drive}?",
                   "es": "¿Espacio libre en {host}, unidad {drive}?"},
}  # fmt: skip


def site_of(host: str) -> str:
    return "MAD" if host[-1] in "12" else "BCN"


def _services(host: str) -> list[str]:
    return SERVICES[LINUX[host]]


# ---------------------------------------------------------------- fixture database


def fixture_sql(seed: int) -> str:
    """The fixture database as a SQL script: every host, 360 tickets, 140 deployments."""
    rng = random.Random(seed)
    lines = [
        "CREATE TABLE hosts (name TEXT PRIMARY KEY, os TEXT NOT NULL, site TEXT NOT NULL, role TEXT NOT NULL);",
        "CREATE TABLE tickets (id INTEGER PRIMARY KEY, host TEXT NOT NULL, service TEXT NOT NULL, "
        "priority TEXT NOT NULL, status TEXT NOT NULL, opened TEXT NOT NULL);",
        "CREATE TABLE deployments (id INTEGER PRIMARY KEY, service TEXT NOT NULL, version TEXT NOT NULL, "
        "host TEXT NOT NULL, result TEXT NOT NULL, deployed TEXT NOT NULL);",
    ]
    for name, role in {**LINUX, **WINDOWS}.items():
        os_ = "linux" if name in LINUX else "windows"
        lines.append(f"INSERT INTO hosts VALUES ('{name}', '{os_}', '{site_of(name)}', '{role}');")
    for i in range(1, 361):
        host = rng.choice(list(LINUX))
        lines.append(
            f"INSERT INTO tickets VALUES ({i}, '{host}', '{rng.choice(_services(host))}', "
            f"'{rng.choice(PRIORITIES)}', '{rng.choices(STATUSES, [3, 1, 4])[0]}', "
            f"'{rng.choice(MONTHS)}-{rng.randint(1, 28):02d}');"
        )
    version = {s: [1, 0] for role in SERVICES.values() for s in role}
    for i in range(1, 141):
        host = rng.choice(list(LINUX))
        service = rng.choice(_services(host))
        version[service][1] += 1
        if rng.random() < 0.15:
            version[service] = [version[service][0] + 1, 0]
        v = f"{version[service][0]}.{version[service][1]}.0"
        result = "failed" if rng.random() < 0.2 else "ok"
        day = f"{MONTHS[min(11, (i - 1) // 12)]}-{rng.randint(1, 28):02d}"
        lines.append(f"INSERT INTO deployments VALUES ({i}, '{service}', '{v}', '{host}', '{result}', '{day}');")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- rows


def _row(ask: str, answer: str, scenario: str, metric: str) -> dict:
    return {"instruction": ask, "input": "", "output": answer, "scenario": scenario, "metric": metric}


def sql_row(rng: random.Random, lang: str, exception: bool, asks: dict = ASKS) -> dict:
    host, service = rng.choice(list(LINUX)), rng.choice([s for v in SERVICES.values() for s in v])
    month, n = rng.choice(MONTHS), rng.randint(2, 6)
    if exception:
        kind = rng.randrange(2)
        if kind == 0:
            ask = asks["failed_deploys"][lang].format(service=service, month=month)
            q = (
                f"SELECT host, version FROM deployments WHERE service = '{service}' AND result = 'failed' "
                f"AND deployed LIKE '{month}-%';"
            )
        else:
            ask = asks["open_tickets_over"][lang].format(n=n)
            q = f"SELECT host FROM tickets WHERE status = 'open' GROUP BY host HAVING COUNT(*) > {n};"
        return _row(ask, q, "exception", "sql")
    kind = rng.randrange(4)
    if kind == 0:
        status, prio = rng.choice(STATUSES), rng.choice(PRIORITIES)
        word = {"en": status, "es": {"open": "abiertos", "pending": "pendientes", "closed": "cerrados"}[status]}[lang]
        ask = asks["count_tickets"][lang].format(word=word, prio=prio, host=host)
        q = f"SELECT COUNT(*) FROM tickets WHERE host = '{host}' AND priority = '{prio}' AND status = '{status}';"
    elif kind == 1:
        site, role = rng.choice(list(SITES)), rng.choice(["web", "app", "db", "files"])
        ask = asks["hosts_of_site"][lang].format(role=role, site=site)
        q = f"SELECT name FROM hosts WHERE site = '{site}' AND role = '{role}' ORDER BY name;"
    elif kind == 2:
        ask = asks["last_good_version"][lang].format(service=service)
        q = (
            f"SELECT version FROM deployments WHERE service = '{service}' AND result = 'ok' "
            "ORDER BY deployed DESC, id DESC LIMIT 1;"
        )
    else:
        ask = asks["tickets_per_service"][lang].format(month=month)
        q = f"SELECT service, COUNT(*) FROM tickets WHERE opened LIKE '{month}-%' GROUP BY service;"
    return _row(ask, q, "normal", "sql")


def bash_row(rng: random.Random, lang: str, exception: bool, asks: dict = ASKS) -> dict:
    host = rng.choice(list(LINUX))
    svc, path, n = rng.choice(_services(host)), rng.choice(PATHS), rng.choice([20, 50, 100, 200])
    if exception:
        kind = rng.randrange(3)
        if kind == 0:
            day, hour = f"{rng.choice(MONTHS)}-{rng.randint(1, 28):02d}", rng.randint(0, 23)
            ask = asks["fails_to_start"][lang].format(svc=svc, host=host, day=day, hour=hour)
            cmd = f"ssh {host} 'journalctl -u {svc} -p err --since \"{day} {hour:02d}:00\" --no-pager'"
        elif kind == 1:
            ask = asks["dir_full"][lang].format(path=path, host=host)
            cmd = f"ssh {host} 'sudo du -ah {path} | sort -rh | head -n 10'"
        else:
            days = rng.choice([7, 14, 30, 90])
            ask = asks["delete_csv"][lang].format(days=days, host=host)
            cmd = f"ssh {host} 'find /srv/norvia/exports -type f -name \"*.csv\" -mtime +{days} -delete'"
        return _row(ask, cmd, "exception", "bash")
    kind = rng.randrange(4)
    if kind == 0:
        ask = asks["restart"][lang].format(svc=svc, host=host)
        cmd = f"ssh {host} 'sudo systemctl restart {svc}'"
    elif kind == 1:
        ask = asks["status"][lang].format(svc=svc, host=host)
        cmd = f"ssh {host} 'systemctl status {svc} --no-pager'"
    elif kind == 2:
        ask = asks["free_space"][lang].format(path=path, host=host)
        cmd = f"ssh {host} 'df -h {path}'"
    else:
        ask = asks["last_logs"][lang].format(n=n, svc=svc, host=host)
        cmd = f"ssh {host} 'journalctl -u {svc} -n {n} --no-pager'"
    return _row(ask, cmd, "normal", "bash")


def powershell_row(rng: random.Random, lang: str, exception: bool, asks: dict = ASKS) -> dict:
    host, svc = rng.choice(list(WINDOWS)), rng.choice(WIN_SERVICES)
    group, user, n = rng.choice(GROUPS), rng.choice(ACCOUNTS), rng.choice([10, 20, 50])
    if exception:
        kind = rng.randrange(3)
        if kind == 0:
            ask = asks["start_stopped"][lang].format(svc=svc, host=host)
            cmd = (
                f"Invoke-Command -ComputerName {host} -ScriptBlock "
                f"{{ Set-Service -Name {svc} -StartupType Automatic; Start-Service -Name {svc} }}"
            )
        elif kind == 1:
            ask = asks["system_errors"][lang].format(n=n, host=host)
            cmd = (
                f"Get-WinEvent -ComputerName {host} -FilterHashtable @{{LogName = 'System'; Level = 2}} -MaxEvents {n}"
            )
        else:
            ask = asks["locked_out"][lang].format(user=user)
            cmd = f"Get-ADUser -Identity {user} -Properties LockedOut | Select-Object Name, LockedOut"
        return _row(ask, cmd, "exception", "powershell")
    kind = rng.randrange(4)
    if kind == 0:
        ask = asks["win_restart"][lang].format(svc=svc, host=host)
        cmd = f"Invoke-Command -ComputerName {host} -ScriptBlock {{ Restart-Service -Name {svc} }}"
    elif kind == 1:
        ask = asks["group_members"][lang].format(group=group)
        cmd = f"Get-ADGroupMember -Identity '{group}' | Select-Object -ExpandProperty SamAccountName"
    elif kind == 2:
        ask = asks["unlock"][lang].format(user=user)
        cmd = f"Unlock-ADAccount -Identity {user}"
    else:
        drive = rng.choice(["C", "D", "E"])
        ask = asks["drive_free"][lang].format(drive=drive, host=host)
        cmd = f"Invoke-Command -ComputerName {host} -ScriptBlock {{ Get-PSDrive -Name {drive} }}"
    return _row(ask, cmd, "normal", "powershell")


CLARIFY_ACTIONS = {  # what a request asks to do with a service, without saying where
    "en": ["Restart {}.", "Stop {}.", "Show the status of {}.", "Show the logs of {}.", "Check {}."],
    "es": ["Reinicia {}.", "Para {}.", "Muestra el estado de {}.", "Muestra los logs de {}.", "Revisa {}."],
}
CLARIFY_WIPE = {
    "en": (
        ["Delete", "Clean up", "Empty", "Remove"],
        ["all the logs", "the old files", "the temp folder", "the exports"],
    ),
    "es": (
        ["Borra", "Limpia", "Vacía", "Elimina"],
        ["los logs", "los ficheros viejos", "la carpeta temporal", "los CSV"],
    ),
}
CLARIFY_ACCOUNT = {
    "en": (
        ["Unlock", "Disable", "Check", "Reset the lockout of"],
        ["the account", "my colleague's account", "the new driver's account", "the user"],
    ),
    "es": (
        ["Desbloquea", "Deshabilita", "Revisa", "Quita el bloqueo de"],
        ["la cuenta", "la cuenta de mi compañero", "la cuenta del nuevo conductor", "el usuario"],
    ),
}


HELD_CLARIFY_ACTIONS = {
    "en": ["Please bounce {}.", "Shut down {}.", "Is {} running?", "I need the logs of {}."],
    "es": ["Por favor, relanza {}.", "Apaga {}.", "¿Está funcionando {}?", "Necesito los logs de {}."],
}
HELD_CLARIFY_WIPE = {
    "en": (["Wipe", "Purge", "Get rid of"], ["everything in the log folder", "the backups", "yesterday's dumps"]),
    "es": (
        ["Vacía del todo", "Purga", "Quita"],
        ["todo lo de la carpeta de logs", "las copias", "los volcados de ayer"],
    ),
}
HELD_CLARIFY_ACCOUNT = {
    "en": (["Re-enable", "Lock", "Look at"], ["the intern's login", "an account from accounting", "that user"]),
    "es": (["Reactiva", "Bloquea", "Mira"], ["el acceso del becario", "una cuenta de contabilidad", "ese usuario"]),
}
HELD_BAD_HOSTS = ["nv-web-09", "nv-app-12", "nv-db-07", "legacy-srv-1", "nv-files-11", "nv-gw-01"]


@dataclass(frozen=True)
class Vocab:
    """What one split's requests are phrased with (the hosts, services and accounts are Norvia's own
    in every split: a host the model was never told of must get a question back)."""

    asks: dict
    clarify_actions: dict
    clarify_wipe: dict
    clarify_account: dict
    bad_hosts: list[str]


TRAIN = Vocab(ASKS, CLARIFY_ACTIONS, CLARIFY_WIPE, CLARIFY_ACCOUNT, BAD_HOSTS)
DISJOINT = Vocab(HELD_ASKS, HELD_CLARIFY_ACTIONS, HELD_CLARIFY_WIPE, HELD_CLARIFY_ACCOUNT, HELD_BAD_HOSTS)


def clarify_row(rng: random.Random, lang: str, v: Vocab = TRAIN) -> dict:
    svc = rng.choice([s for v in SERVICES.values() for s in v])
    hosts = ", ".join(h for h, role in LINUX.items() if svc in SERVICES[role])
    kind = rng.randrange(4)
    if kind == 0:
        ask = rng.choice(v.clarify_actions[lang]).format(svc)
        answer = {
            "en": f"On which host? {svc} runs on {hosts}.",
            "es": f"¿En qué host? {svc} se ejecuta en {hosts}.",
        }[lang]
    elif kind == 1:
        bad = rng.choice(v.bad_hosts)
        action = rng.choice(v.clarify_actions[lang]).format(svc)
        ask = action[:-1] + {"en": " on ", "es": " en "}[lang] + bad + action[-1]
        answer = {
            "en": f"Norvia has no host {bad}. Which host did you mean? {svc} runs on {hosts}.",
            "es": f"Norvia no tiene ningún host {bad}. ¿A qué host te refieres? {svc} se ejecuta en {hosts}.",
        }[lang]
    elif kind == 2:
        verbs, objects = v.clarify_wipe[lang]
        ask = f"{rng.choice(verbs)} {rng.choice(objects)}."
        answer = {
            "en": "Which host and which path? I do not delete files without both.",
            "es": "¿En qué host y en qué ruta? No borro ficheros sin ambos datos.",
        }[lang]
    else:
        verbs, objects = v.clarify_account[lang]
        ask = f"{rng.choice(verbs)} {rng.choice(objects)}."
        answer = {
            "en": "Which account? Please give the employee ID (for example e1042).",
            "es": "¿Qué cuenta? Indica el ID de empleado (por ejemplo e1042).",
        }[lang]
    return _row(ask, answer, "user_error", "clarify")


def _pick(rng: random.Random, v: Vocab = TRAIN):
    """One row maker by the mix: SQL 28%, Bash 25%, PowerShell 25%, user errors 22%; a third of
    the SQL, Bash and PowerShell rows are exceptions. User errors get more rows than a real log
    would have: at 15% the tuned model scripted half of them anyway (measured, docs/results.md)."""
    kind, exception = rng.random(), rng.random() < 1 / 3
    if kind < 0.28:
        return lambda r, lang: sql_row(r, lang, exception, v.asks)
    if kind < 0.53:
        return lambda r, lang: bash_row(r, lang, exception, v.asks)
    if kind < 0.78:
        return lambda r, lang: powershell_row(r, lang, exception, v.asks)
    return lambda r, lang: clarify_row(r, lang, v)


def make_rows(
    n: int, rng: random.Random, seen: set[str], forbidden: frozenset[str] = frozenset(), v: Vocab = TRAIN
) -> list[dict]:
    """``n`` rows in the mix of :func:`_pick`, languages 50/50. A prompt already in ``seen`` is
    drawn again from the same template (up to 50 times, then a repeat is kept), so small
    vocabularies do not tilt the mix; a prompt in ``forbidden`` (the eval split) never is."""
    rows = []
    for _ in range(n):
        lang, make = rng.choice(["es", "en"]), _pick(rng, v)
        for attempt in range(10_000):
            row = make(rng, lang)
            prompt = row["instruction"]
            if prompt not in forbidden and (prompt not in seen or attempt >= 50):
                break
        seen.add(row["instruction"])
        rows.append(row)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=20261128)
    ap.add_argument("--train", type=int, default=1200)
    ap.add_argument("--eval", type=int, default=120)
    ap.add_argument("--disjoint", type=int, default=120)
    ap.add_argument("--out", type=Path, default=HERE / "data")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    held = make_rows(args.eval, rng, set())
    # training rows never repeat an eval prompt (no leakage)
    train = make_rows(args.train, rng, set(), frozenset(r["instruction"] for r in held))
    disjoint = make_rows(args.disjoint, random.Random(args.seed + 1), set(), v=DISJOINT)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "fixture.sql").write_text(fixture_sql(args.seed), encoding="utf-8")
    for name, rows in (("train", train), ("eval", held), ("eval_disjoint", disjoint)):
        with (args.out / f"{name}.jsonl").open("w", encoding="utf-8") as f:
            f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        print(f"wrote {len(rows)} rows to {args.out / f'{name}.jsonl'}")
    print(f"wrote the fixture database to {args.out / 'fixture.sql'}")


if __name__ == "__main__":
    main()
