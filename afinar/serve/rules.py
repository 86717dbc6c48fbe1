"""Rules for the known families of prompt injection and jailbreak, in English and Spanish.

Each rule is a regular expression over a normalized copy of the text (NFKC, lowercase,
invisible characters removed, whitespace collapsed), so ``Ign\u200bore previous instructions``
and ``IGNORE  PREVIOUS\\nINSTRUCTIONS`` read the same. Families:

- ``override``: ignore / disregard / forget the previous instructions, "new instructions" (not a
  user taking back their own earlier request: "ignore the instructions I gave you about the tone").
- ``roleplay``: DAN ("do anything now"), a developer or jailbreak mode the assistant is told it is
  in, an AI "without restrictions", a jailbreak of the assistant (a phone's jailbreak or
  Android's developer mode is not one).
- ``extraction``: asking for the system prompt, hidden or initial instructions.
- ``smuggling``: chat-template delimiters (``<|im_start|>``, ``[INST]``, ``<<SYS>>``, fake
  ``system:`` headers), invisible Unicode (zero-width, bidi overrides, tag characters), and any
  base64 blob whose decoded text trips another rule.

The findings name the family and the rule, never the matched text.
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata
from collections.abc import Callable

__all__ = ["FAMILIES", "injection_findings", "normalize"]

# Zero-width and joiner characters, bidi embeddings/overrides/isolates, word joiner and
# invisible operators, the BOM, and Unicode tag characters (used to hide ASCII in plain sight).
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff\U000e0000-\U000e007f]")

_PRIOR = r"(?:previous|prior|above|earlier|preceding|former|original|initial|all|any|your|the|these|those)"
_ORDERS = r"(?:instructions?|rules|prompts?|directions|directives|guidelines|guardrails|orders|programming)"
_ORDERS_ES = r"(?:instrucciones|reglas|indicaciones|directrices|normas|[oó]rdenes|restricciones)"
_AI = r"(?:ai|a\.i\.|assistant|model|chatbot|bot|persona|character|version of (?:you|yourself))"
_LIMITS = r"(?:restrictions|filters|censorship|ethics|ethical guidelines|morals|content polic(?:y|ies)|guardrails)"

# A user may take back their own earlier request ("ignore the instructions I gave you about the
# tone", "olvida mis indicaciones anteriores"): an override match that names them as the user's
# ("my", inside it) or is followed by "I gave you" is not an attack.
_MINE = re.compile(r"\b(?:my|our|mis|nuestras|nuestros)\b")
_I_GAVE = re.compile(
    r"^\W*(?:that\s+|which\s+)?(?:i|we)\s+(?:just\s+)?(?:gave|sent|wrote|made|provided|asked|typed|shared)\b"
    r"|^\W*que\s+(?:te|le)\s+(?:di|dimos|pas[eé]|mand[eé]|escrib[ií]|ped[ií])\b"
)


def _own_request(match: re.Match) -> bool:
    return bool(_MINE.search(match.group()) or _I_GAVE.search(match.string[match.end() :]))


_RULES: dict[str, list[tuple]] = {
    # (name, pattern) or (name, pattern, unless): a match for which ``unless(match)`` holds does not count
    "override": [
        (
            "ignore-previous",
            rf"\b(?:ignore|disregard|forget|override|bypass|abandon|set aside|pay no attention to)\b"
            rf"(?:\W+\w+){{0,3}}?\W+{_PRIOR}\W+(?:\w+\W+){{0,2}}{_ORDERS}\b",
            _own_request,
        ),
        (
            "ignorar-anteriores",
            rf"\b(?:ignora\w*|olvida\w*|omite|haz caso omiso|no hagas caso|descarta\w*)\b"
            rf"(?:\W+\w+){{0,4}}?\W+{_ORDERS_ES}\b",
            _own_request,
        ),
        ("new-instructions", r"\byour (?:new|updated|real|true) instructions (?:are|follow)\b"),
        ("nuevas-instrucciones", r"\btus (?:nuevas|verdaderas) instrucciones son\b"),
        ("no-longer-apply", r"\b(?:rules|guidelines|restrictions|instructions) (?:no longer|do not|don't) apply\b"),
    ],
    "roleplay": [
        ("dan", r"\bdo anything now\b|\byou are (?:now )?(?:dan|stan|dude)\b"),
        # Developer, god and debug modes are also real settings of phones, browsers and Windows: only
        # a mode the assistant is told it is in counts; jailbreak and unrestricted modes always do.
        (
            "developer-mode",
            r"\b(?:jailbreak|jailbroken|unrestricted|unfiltered|uncensored|dan|evil) mode\b|"
            rf"\b(?:you are|you're|you will be|you'll be|you (?:now )?(?:respond|answer|reply|operate)|{_AI})\b"
            r".{0,30}\b(?:in|into|to) (?:developer|god|sudo|debug|admin|maintenance) mode\b|"
            r"\b(?:enable|activate|enter|switch (?:on|to|into)|turn on|unlock)\b (?:your|the assistant's|the ai's) "
            r"(?:developer|god|sudo|debug|admin|maintenance) mode\b|"
            r"\b(?:est[aá]s|entras|pasas|eres)\b.{0,20}\bmodo (?:desarrollador|dios|depuraci[oó]n|administrador)\b|"
            r"\b(?:activa|entra en|pasa a|desbloquea) tu modo (?:desarrollador|dios|depuraci[oó]n|administrador)\b|"
            r"\bmodo (?:sin (?:filtros|restricciones|censura)|jailbreak)\b",
        ),
        (
            "no-restrictions",
            rf"\b{_AI}\b.{{0,40}}\b(?:without|no|free (?:of|from)|with no)\b (?:any )?{_LIMITS}\b|"
            rf"\byou (?:are|have) (?:now )?(?:no|free (?:of|from)|without) (?:any )?{_LIMITS}\b",
        ),
        (
            "sin-restricciones",
            r"\b(?:ia|asistente|modelo|bot|eres|act[uú]a)\b.{0,40}\bsin (?:ning[uú]n tipo de |ningun[ao]? )?"
            r"(?:restricciones|filtros|censura|reglas|l[ií]mites [ée]ticos)\b",
        ),
        (
            "never-refuse",
            r"\b(?:you|assistant|it|ai) (?:will )?(?:never|won't|will not|cannot|can't) (?:refuse|decline)\b",
        ),
        # Phones, consoles and cars are jailbroken too: only a jailbreak of the assistant counts.
        (
            "jailbreak",
            rf"\bjailbr(?:eak|oke|oken)\b (?:you|yourself|(?:this|the|our) (?:chat|{_AI}))\b|"
            r"\b(?:you are|you're|you have been|you've been|you got) (?:now )?jailbroken\b|"
            r"\b(?:this is|here is|here's|use|apply|run) (?:a|the|this|my) jailbreak(?: prompt)?\b(?! (?:for|on|of) "
            r"(?:the|my|an?|your) (?:phone|iphone|ipad|device|console|kindle|switch|car))|"
            r"\b(?:jailbreak|jailbroken) (?:prompt|persona|version of (?:you|yourself))\b",
        ),
    ],
    "extraction": [
        (
            "system-prompt",
            # "What is a system prompt?" and "write a system prompt for our bot" are ordinary questions:
            # the prompt asked for must be this assistant's.
            r"\b(?:reveal|show|print|repeat|tell|give|output|share|display|leak|dump|translate|write out|"
            r"what(?:'s| is| was| are| were))\b.{0,40}\b(?:(?:your|the|this chat's|the assistant's) (?:full |complete |"
            r"exact |entire |original |actual )?(?:system|hidden|secret|internal|developer) "
            r"(?:prompt|message|instructions?)|your (?:initial|original|first) (?:prompt|instructions))\b",
        ),
        (
            "prompt-del-sistema",
            r"\b(?:muestra|dime|revela|repite|imprime|escribe|cu[aá]l es|cu[aá]les son)\b.{0,40}"
            r"\b(?:tu|tus|el|su|sus) (?:prompt|mensaje|instrucciones) (?:del|de) sistema\b|"
            r"\b(?:tus|sus|las) instrucciones (?:ocultas|iniciales)\b",
        ),
        (
            "repeat-above",
            r"\b(?:repeat|print|output|reveal|show|display|recite|echo)\b.{0,30}\b(?:text|words|everything|"
            r"all) (?:above|before|preceding)\b(?!\s*[\d$€£])",
        ),
        (
            "your-instructions",
            r"\b(?:what|which) (?:are|were) (?:your|the) (?:instructions|rules|guidelines)\b|"
            r"\b(?:reveal|show|print|tell me) (?:me )?your (?:instructions|rules|prompt|configuration)\b",
        ),
    ],
    "smuggling": [
        ("chat-delimiter", r"<\|[a-z_]+\|>|\[/?inst\]|<</?sys>>|<\|endoftext\|>"),
        (
            "fake-role-header",
            r"(?:^|\n)\s*(?:#{1,4}\s*)?(?:system|sistema)\s*(?:prompt|message)?\s*:\s*"
            r"(?:you|your|from now|new|ignore|the assistant|eres|a partir)",
        ),
        ("role-tag", r"</?(?:system|sistema)>"),
    ],
}

FAMILIES = tuple(_RULES)
_COMPILED = [
    (family, name, re.compile(rx, re.S), unless[0] if unless else None)
    for family, rules in _RULES.items()
    for name, rx, *unless in rules
]


def _trips(rx: re.Pattern, unless: Callable[[re.Match], bool] | None, norm: str) -> bool:
    """Does ``rx`` match ``norm`` other than where its ``unless`` excuses the match?"""
    return any(unless is None or not unless(m) for m in rx.finditer(norm))


_BASE64 = re.compile(r"[A-Za-z0-9+/]{24,}={0,2}")


def normalize(text: str) -> str:
    """NFKC, invisible characters removed, lowercase, runs of spaces collapsed (newlines kept)."""
    text = _INVISIBLE.sub("", unicodedata.normalize("NFKC", text)).lower()
    return re.sub(r"[ \t\r\f\v]+", " ", text)


def _decoded_blobs(text: str) -> list[str]:
    """Text hidden in base64 blobs (only blobs that decode to printable UTF-8)."""
    out = []
    for m in _BASE64.finditer(text):
        blob = m.group()
        try:
            raw = base64.b64decode(blob + "=" * (-len(blob) % 4), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            continue
        if raw.isprintable() or all(c.isprintable() or c.isspace() for c in raw):
            out.append(raw)
    return out


def injection_findings(text: str, _depth: int = 0) -> list[str]:
    """``family:rule`` for every rule ``text`` trips (each once), in rule order."""
    found = []
    if _INVISIBLE.search(text):
        found.append("smuggling:invisible-unicode")
    norm = normalize(text)
    found += [f"{family}:{name}" for family, name, rx, unless in _COMPILED if _trips(rx, unless, norm)]
    if _depth == 0:
        for raw in _decoded_blobs(text):
            if injection_findings(raw, 1):
                found.append("smuggling:base64")
                break
    return found
