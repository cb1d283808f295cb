"""What the deployment's static checks share: the files, read once, and Compose's own rules
for `${VARIABLE}` substitution, health checks and secrets."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
ENV_EXAMPLE = ROOT / ".env.example"
SCHEMA_FILE = Path(__file__).parent / "compose-spec.json"

# Compose substitutes `${NAME}`, `${NAME:-default}` (the default when unset or empty) and
# `$$` (a literal `$`, left for the container's shell).
_SUBSTITUTION = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
# A value that is nothing but a variable of `.env`, with no default or an empty one.
_ONLY_A_VARIABLE = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*(:-)?\}")
# Names whose values are secrets; a `..._FILE` is the path of one, not the secret.
_SECRET_NAME = re.compile(r"PASSWORD|SECRET|FERNET|TOKEN|API_KEY|^AIRFLOW_CONN_")
# A URL's password: scheme://user:password@host.
_URL_PASSWORD = re.compile(r"://[^/\s:@]+:([^@\s]*)@")
# A pasted key or token: 32 or more base64 characters mixing cases and digits (a Fernet
# key is 44, secrets.token_urlsafe(32) 43).
_TOKEN = re.compile(r"[A-Za-z0-9_\-+/]{32,}={0,2}")


def load_compose() -> dict:
    """The compose file as Compose reads it: YAML merge keys (`<<: *anchor`) resolved."""
    return yaml.safe_load(COMPOSE_FILE.read_text())


def env_example() -> dict[str, str]:
    """`.env.example`'s variables and values, as Compose reads a `.env` file."""
    values = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


def interpolate(value: str, variables: Mapping[str, str]) -> str:
    """`value` after Compose's substitution with `variables` (a `.env`)."""

    def substitute(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        name, default = match.groups()
        return variables.get(name) or (default or "")

    return _SUBSTITUTION.sub(substitute, value)


def strings(node: object) -> Iterator[str]:
    """Every string value in a parsed YAML document (keys aside)."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from strings(value)


def variables_used(document: dict) -> set[str]:
    """The `.env` variables the document substitutes (not `$${...}`, the shell's)."""
    return {
        match.group(1)
        for text in strings(document)
        for match in _SUBSTITUTION.finditer(text)
        if match.group(1)
    }


def compose_healthcheck(command: tuple[str, ...]) -> list[str]:
    """A component's health check (caravan.deployment, `$HOSTNAME` for the container's host
    name) in Compose's syntax: a command naming the host runs in a shell, which expands it,
    written `$${HOSTNAME}` since Compose substitutes `${...}` itself; others run as they are."""
    if any("$HOSTNAME" in part for part in command):
        shell = " ".join(part.replace("$HOSTNAME", "$${HOSTNAME}") for part in command)
        return ["CMD-SHELL", shell]
    return ["CMD", *command]


def is_secret_name(name: str) -> bool:
    return bool(_SECRET_NAME.search(name)) and not name.endswith("_FILE")


def literal_secrets_in_compose(document: dict) -> list[str]:
    """Secrets written into a compose document rather than taken from `.env`: a secret
    variable with a value or a default, a URL with a password, a pasted key (each once)."""
    found = []
    environments = [document.get("x-airflow-common", {}).get("environment", {})]
    environments += [service.get("environment", {}) for service in document["services"].values()]
    for environment in environments:
        for name, value in environment.items():
            if is_secret_name(name) and not _ONLY_A_VARIABLE.fullmatch(str(value)):
                found.append(f"{name}: {value}")
    for text in strings(document):
        found += [
            f"password in {text}"
            for password in _URL_PASSWORD.findall(text)
            if not _ONLY_A_VARIABLE.fullmatch(password)
        ]
    return sorted(set(found + pasted_keys(yaml.safe_dump(document))))


def literal_secrets_in_env_file(text: str) -> list[str]:
    """Secret variables of a `.env` file that have a value."""
    return [
        line
        for line in text.splitlines()
        if not line.lstrip().startswith("#")
        and is_secret_name(line.partition("=")[0].strip())
        and line.partition("=")[2].strip()
    ] + pasted_keys(text)


def pasted_keys(text: str) -> list[str]:
    """Strings that look like a generated key or token."""
    return [
        token
        for token in _TOKEN.findall(text)
        if re.search(r"[a-z]", token) and re.search(r"[A-Z]", token) and re.search(r"\d", token)
    ]
