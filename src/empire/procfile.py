"""Parse Procfiles into process definitions.

Three formats are accepted:

- standard, a YAML map of process name to command string: `web: ./bin/web -p 80`;
- Heroku's line format, for files that are not valid YAML (`web: curl -H "A: b"`);
- extended, a YAML map of process name to an object:

      web:
        command: ["./bin/web", "-p", "80"]   # or a string, split like a shell would
        ports: ["80", "443:8443", {"8080:80": {protocol: tcp}}]
        environment: {WORKERS: "4"}
        healthcheck: {path: /health, interval: 5s, timeout: 2s, grace: 10s}
      clock: {command: ./bin/tick, cron: "0/5 * * * ? *"}
      migrate: {command: ./bin/migrate, noservice: true}

Processes come back with quantity 0 and no size: the caller fills those from the formation.

A Procfile comes from an image, which any deployer controls, and is parsed inside the API
process: parsing is bounded. The file is at most `MAX_BYTES`; YAML anchors and aliases are
refused (an alias expands a small file into a huge value, "billion laughs"); nesting and the
number of values are capped; and an error message quotes at most `EXCERPT` characters of a bad
value, never the value whole.
"""

from __future__ import annotations

import dataclasses
import re
import reprlib
import shlex
from collections.abc import Mapping
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import yaml

from empire.errors import InvalidProcfile
from empire.model import HealthCheck, Port, Process

PROTOCOLS = ("http", "https", "tcp", "ssl")
DEFAULT_WEB_PORTS = (Port(host=80, container=80, protocol="http"),)

MAX_BYTES = 64 * 1024  # a Procfile lists processes; scripts belong in the image
MAX_DEPTH = 16  # nesting: the extended format needs 5 (map, process, ports, port, options)
MAX_NODES = 10_000  # YAML values (scalars, lists, maps) in the whole file
MAX_PROCESSES = 100  # process types in one Procfile
MAX_PORTS = 16  # ports of one process (each one is published, routed, health-checked)
MAX_CRON = 256  # characters of a cron schedule
RELEASE = "release"  # the release phase's entry
MAX_PATH = 1024  # characters of a health check path
EXCERPT = 80  # characters of a bad value an error message quotes
_NO_ALIAS = "anchors (&) and aliases (*) are not allowed in a Procfile, write each value out"
_NO_TAG = "tags (!, !!) are not allowed in a Procfile, write plain values (quote text)"
_LONG_SCALAR = 100  # an int or timestamp written longer than this stays a string

_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_-]{0,62}$")  # a DNS label: `<process>.<app>`
_LINE = re.compile(r"^([A-Za-z0-9_-]+):\s*(.+)$")
_PORT_SPEC = re.compile(r"^(\d{1,5})(?::(\d{1,5}))?$")
_DURATION = re.compile(r"^(\d{1,9}(?:\.\d{1,9})?)(ms|s|m)?$")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0}
_HEALTHCHECK_KEYS = frozenset({"type", "path", "port", "interval", "timeout", "grace"})


class _Refused(Exception):
    """The YAML uses what a Procfile may not (an anchor, an alias) or is too big to build.

    Not a yaml.YAMLError: it must pass through PyYAML untouched, to be reported as is.
    """

    def __init__(self, what: str, advice: str, mark: Any) -> None:
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        self.message = f"Procfile {what}{where}: {advice}"
        super().__init__(self.message)


@cache
def _strict_loader() -> type[yaml.SafeLoader]:
    """The loader class, made at the first parse: PyYAML loads only once Procfiles are read."""
    import yaml

    class StrictLoader(yaml.SafeLoader):
        """Load YAML safely and within bounds.

        Refuses duplicate keys (YAML would silently keep the last), anchors and aliases (the
        only way a few bytes of YAML become a huge value), explicit tags (`!!float x`,
        `!!timestamp x` and `!!set` make PyYAML fail with errors of its own, and no Procfile
        needs one), nesting deeper than MAX_DEPTH and more than MAX_NODES values. Integers and
        timestamps Python cannot build (a 5000-digit number, February 30) stay strings, so the
        rules below report them like any bad value.
        """

        def __init__(self, stream: str) -> None:
            super().__init__(stream)
            self._depth = 0
            self._nodes = 0

        def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
            """Compose one node, refusing anchors, aliases and what is past the bounds."""
            event: yaml.Event = self.peek_event()  # type: ignore[no-untyped-call]
            mark = event.start_mark
            if isinstance(event, yaml.AliasEvent):
                raise _Refused(f"uses a YAML alias (*{_clip(event.anchor or '')})", _NO_ALIAS, mark)
            anchor = getattr(event, "anchor", None)
            if anchor is not None:
                raise _Refused(f"uses a YAML anchor (&{_clip(anchor)})", _NO_ALIAS, mark)
            tag = getattr(event, "tag", None)
            if tag is not None:
                raise _Refused(f"uses a YAML tag ({_clip(tag)})", _NO_TAG, mark)
            self._nodes += 1
            if self._nodes > MAX_NODES:
                raise _Refused(f"has more than {MAX_NODES} values", "keep it to processes", mark)
            if self._depth >= MAX_DEPTH:
                what = f"nests values more than {MAX_DEPTH} levels deep"
                raise _Refused(what, "a process needs only a few levels", mark)
            self._depth += 1
            try:
                return super().compose_node(parent, index)
            finally:
                self._depth -= 1

        def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
            """Construct a mapping after checking that no key appears twice."""
            seen: set[object] = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=deep)
                try:
                    twice = key in seen
                except TypeError:  # unhashable: the base class says so
                    continue
                if twice:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"{_show(key)} is defined twice", key_node.start_mark
                    )
                seen.add(key)
            return super().construct_mapping(node, deep=deep)

        def construct_bounded_int(self, node: yaml.ScalarNode) -> object:
            """An int, or the text when Python would refuse to build or print it."""
            text = self.construct_scalar(node)
            if len(text) > _LONG_SCALAR:
                return text
            try:
                return yaml.SafeLoader.construct_yaml_int(self, node)
            except ValueError:
                return text

        def construct_bounded_timestamp(self, node: yaml.ScalarNode) -> object:
            """A date or datetime, or the text when it names none (2001-02-30)."""
            text = self.construct_scalar(node)
            if len(text) > _LONG_SCALAR:
                return text
            try:
                return yaml.SafeLoader.construct_yaml_timestamp(self, node)
            except (ValueError, OverflowError):
                return text

    StrictLoader.add_constructor("tag:yaml.org,2002:int", StrictLoader.construct_bounded_int)
    StrictLoader.add_constructor(
        "tag:yaml.org,2002:timestamp", StrictLoader.construct_bounded_timestamp
    )
    return StrictLoader


def parse(content: bytes) -> dict[str, Process]:
    """Parse Procfile bytes into processes by name, in file order."""
    if len(content) > MAX_BYTES:
        raise InvalidProcfile(
            f"Procfile is {len(content)} bytes, over the limit of {MAX_BYTES} (64 KiB): "
            "a Procfile lists processes, move long scripts into the image"
        )
    text = _decode(content)
    if not _significant_lines(text):
        raise InvalidProcfile("Procfile is empty: add at least one process, e.g. web: ./bin/web")
    import yaml

    try:
        data = yaml.load(text, Loader=_strict_loader())  # a SafeLoader: no arbitrary objects
    except (yaml.YAMLError, _Refused) as e:
        # Only syntax errors can be Heroku lines YAML cannot read (`web: curl -H "A: b"`); a
        # duplicate key or unknown tag is a YAML file that is wrong. An anchor may be a Heroku
        # line too (`web: &x ./run`): the line format reads it as text, which cannot expand.
        rescuable = not isinstance(e, yaml.constructor.ConstructorError)
        lines = _parse_lines(text) if rescuable else None
        if lines is None:
            if isinstance(e, _Refused):
                raise InvalidProcfile(e.message) from None
            raise InvalidProcfile(f"Procfile is not valid YAML: {_describe_yaml_error(e)}") from e
        return _processes(lines)
    if data is None:
        raise InvalidProcfile("Procfile is empty: add at least one process, e.g. web: ./bin/web")
    if not isinstance(data, dict):
        raise InvalidProcfile(
            f"Procfile must be a map of process name to command, got {_kind(data)}"
        )
    if not data:
        raise InvalidProcfile("Procfile defines no processes: add one, e.g. web: ./bin/web")
    try:
        return _processes(data)
    except InvalidProcfile:
        # YAML misreads some Heroku lines: `clock: 10:30` becomes a number, `on:` a boolean,
        # and `echo 'a #b'` loses its end to a comment. The line format reads them as written.
        extended = any(isinstance(v, dict | list) for v in data.values())
        lines = None if extended else _parse_lines(text)
        if lines is None:
            raise
        return _processes(lines)


def generate_from_cmd(cmd: list[str]) -> bytes:
    """Return an extended Procfile whose `web` process runs `cmd` (an image's CMD)."""
    if not cmd:
        raise InvalidProcfile("cannot generate a Procfile from an empty command")
    import yaml

    doc = {"web": {"command": list(cmd)}}
    content = yaml.safe_dump(doc, default_flow_style=False, sort_keys=False).encode()
    if len(content) > MAX_BYTES:
        raise InvalidProcfile(
            f"the image CMD is too long to make a Procfile of ({len(content)} bytes, over the "
            f"limit of {MAX_BYTES}): add a Procfile to the image"
        )
    return content


def _decode(content: bytes) -> str:
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise InvalidProcfile(
            f"Procfile is not UTF-8 text: {e.reason} at byte {e.start}: save it as UTF-8"
        ) from None


def _significant_lines(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]


def _parse_lines(text: str) -> dict[str, str] | None:
    """Read Heroku's `name: command` lines, or return None when a line is not one."""
    matches = [_LINE.match(line) for line in _significant_lines(text)]
    pairs = [m.groups() for m in matches if m is not None]
    # A command opening with { or [ is a YAML flow map or list gone wrong, not a shell command.
    if len(pairs) < len(matches) or any(cmd.startswith(("{", "[")) for _, cmd in pairs):
        return None
    processes: dict[str, str] = {}
    for name, command in pairs:
        if name in processes:
            raise InvalidProcfile(f'process "{_clip(name)}" is defined twice in the Procfile')
        processes[name] = command.strip()
    return processes


def _processes(data: Mapping[Any, object]) -> dict[str, Process]:
    if len(data) > MAX_PROCESSES:
        raise InvalidProcfile(
            f"Procfile defines {len(data)} processes, over the limit of {MAX_PROCESSES}: "
            "run related work in one process type"
        )
    found = {
        name: _process(name, value) for name, value in ((_name(k), v) for k, v in data.items())
    }
    phase = found.get(RELEASE)
    if phase is not None:
        found[RELEASE] = _release_phase(phase)
    return found


def _release_phase(process: Process) -> Process:
    """The `release` entry is the release phase: a command run once per release, before any
    process of it starts. It serves nothing and runs on no schedule."""
    if process.ports:
        raise InvalidProcfile(
            'process "release" is the release phase: it runs once per release and serves '
            "nothing, so it takes no ports"
        )
    if process.cron:
        raise InvalidProcfile(
            'process "release" is the release phase: it runs once per release, not on a '
            "schedule; give the scheduled command another name"
        )
    return dataclasses.replace(process, noservice=True, quantity=0, healthcheck=None)


def _name(key: object) -> str:
    name = str(key) if isinstance(key, str | int) and not isinstance(key, bool) else None
    if name is None or not _NAME.match(name):
        raise InvalidProcfile(
            f"invalid process name {_show(key)}: use 1 to 63 letters, digits, '-' and '_', "
            "starting with a letter or digit"
        )
    return name


def _process(name: str, value: object) -> Process:
    if isinstance(value, str):
        return _with_default_ports(Process(name=name, command=_command(name, value)), None)
    if value is None:
        raise InvalidProcfile(f'process "{name}" has no command')
    if not isinstance(value, dict):
        raise InvalidProcfile(
            f'process "{name}" must be a command string or a map with a command, got {_kind(value)}'
        )
    return _with_default_ports(
        Process(
            name=name,
            command=_command(name, value.get("command")),
            noservice=_noservice(name, value.get("noservice", False)),
            cron=_cron(name, value.get("cron")),
            ports=_ports(name, value.get("ports")),
            environment=_environment(name, value.get("environment")),
            healthcheck=_healthcheck(name, value.get("healthcheck")),
        ),
        value.get("ports"),
    )


def _with_default_ports(process: Process, declared: object) -> Process:
    # Only an absent `ports` gets the default: an explicit empty list means "no ports".
    if process.name == "web" and declared is None:
        return dataclasses.replace(process, ports=DEFAULT_WEB_PORTS)
    return process


def _command(name: str, value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        argv = _shell_words(name, value)
    elif isinstance(value, list):
        if not all(isinstance(a, str | int | float) and not isinstance(a, bool) for a in value):
            raise InvalidProcfile(
                f'process "{name}": command must be a string or a list of strings'
            )
        # YAML reads `[sleep, 10]` with an int; the argv wants the text.
        argv = [str(a) for a in value]
    elif value is None:
        argv = []
    else:
        raise InvalidProcfile(
            f'process "{name}": command must be a string or a list of strings, got {_kind(value)}'
        )
    if not argv or not argv[0]:
        raise InvalidProcfile(f'process "{name}" has no command')
    if any("\x00" in a for a in argv):
        raise InvalidProcfile(f'process "{name}": command contains a NUL character')
    return tuple(argv)


def _shell_words(name: str, command: str) -> list[str]:
    try:
        return shlex.split(_strip_comment(command))
    except ValueError as e:
        raise InvalidProcfile(
            f'process "{name}": cannot split command {_show(command)}: {e}'
        ) from None


def _strip_comment(command: str) -> str:
    """Cut a shell comment: an unquoted `#` that starts a word (`a#b` and `"#"` stay)."""
    quote: str | None = None
    escaped = False
    for i, ch in enumerate(command):
        if escaped:
            escaped = False
        elif ch == "\\" and quote != "'":
            escaped = True
        elif quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or command[i - 1].isspace()):
            return command[:i]
    return command


def _noservice(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise InvalidProcfile(f'process "{name}": noservice must be true or false')
    return value


def _cron(name: str, value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise InvalidProcfile(
            f'process "{name}": cron must be a schedule string, e.g. "0/5 * * * ? *"'
        )
    if len(value.strip()) > MAX_CRON or not value.strip().isprintable():
        raise InvalidProcfile(
            f'process "{name}": cron {_show(value)} is not a schedule: use at most {MAX_CRON} '
            'printable characters, e.g. "0/5 * * * ? *"'
        )
    return value.strip()


def _ports(name: str, value: object) -> tuple[Port, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise InvalidProcfile(f'process "{name}": ports must be a list, e.g. ["80", "443:8443"]')
    ports: list[Port] = []
    for item in value:
        if isinstance(item, dict):
            for spec, options in item.items():
                ports.append(_port(name, spec, _protocol_option(name, spec, options)))
        else:
            ports.append(_port(name, item, None))
        if len(ports) > MAX_PORTS:
            raise InvalidProcfile(
                f'process "{name}" declares more than {MAX_PORTS} ports: '
                "expose one and talk to the others inside the container"
            )
    return tuple(ports)


def _protocol_option(name: str, spec: object, options: object) -> str | None:
    if options is None:
        return None
    if not isinstance(options, dict):
        raise InvalidProcfile(
            f'process "{name}": port {_show(spec)} options must be a map, e.g. {{protocol: tcp}}'
        )
    protocol = options.get("protocol")
    if protocol is not None and not isinstance(protocol, str):
        raise InvalidProcfile(f'process "{name}": port {_show(spec)} protocol must be a string')
    return protocol


def _port(name: str, spec: object, protocol: str | None) -> Port:
    text = str(spec) if isinstance(spec, str | int) and not isinstance(spec, bool) else ""
    m = _PORT_SPEC.match(text.strip())
    numbers = [int(n) for n in m.groups() if n is not None] if m else []
    if not numbers or not all(1 <= n <= 65535 for n in numbers):
        raise InvalidProcfile(
            f'process "{name}": invalid port {_show(spec)}: use "80" or "80:8080" '
            "(host:container), ports 1-65535"
        )
    host, container = numbers[0], numbers[-1]
    if protocol is None:
        protocol = {80: "http", 8080: "http", 443: "https"}.get(host, "tcp")
    if protocol not in PROTOCOLS:
        raise InvalidProcfile(
            f'process "{name}": port {_show(spec)} has unknown protocol {_show(protocol)}: '
            f"use one of {', '.join(PROTOCOLS)}"
        )
    return Port(host=host, container=container, protocol=protocol)


def _environment(name: str, value: object) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    if not isinstance(value, dict):
        raise InvalidProcfile(f'process "{name}": environment must be a map of name to value')
    env: dict[str, str] = {}
    for key, val in value.items():
        if not isinstance(key, str) or not key or "=" in key or "\x00" in key:
            raise InvalidProcfile(f'process "{name}": invalid environment name {_show(key)}')
        if isinstance(val, bool):
            env[key] = "true" if val else "false"
        elif isinstance(val, str | int | float):
            env[key] = str(val)
        else:
            raise InvalidProcfile(
                f'process "{name}": environment {_clip(key)} must be a string, got {_kind(val)}'
            )
        if "\x00" in env[key]:
            raise InvalidProcfile(
                f'process "{name}": environment {_clip(key)} contains a NUL character'
            )
    return tuple(sorted(env.items()))


def _healthcheck(name: str, value: object) -> HealthCheck | None:
    if value is None:
        return None
    where = f'process "{name}": healthcheck'
    if isinstance(value, str):
        if value == "tcp":
            return HealthCheck(type="tcp")
        if value == "http":
            return HealthCheck(type="http")
        if not value.startswith("/"):
            raise InvalidProcfile(
                f"{where} {_show(value)} is not valid: use a path such as /health, or tcp"
            )
        value = {"path": value}  # a path alone: checked as the map form's is
    if not isinstance(value, dict):
        raise InvalidProcfile(f"{where} must be a path, tcp, or a map with type and path")
    unknown = [_clip(str(k), 20) for k in value if k not in _HEALTHCHECK_KEYS]
    if unknown:
        named = ", ".join(sorted(unknown)[:5]) + (", ..." if len(unknown) > 5 else "")
        raise InvalidProcfile(
            f"{where} has unknown keys {named}: use {', '.join(sorted(_HEALTHCHECK_KEYS))}"
        )
    path = value.get("path")
    kind = value.get("type", "http" if path is not None else "tcp")
    if kind not in ("http", "tcp"):
        raise InvalidProcfile(f"{where} type {_show(kind)} is not valid: use http or tcp")
    if path is not None and (not isinstance(path, str) or not path.startswith("/")):
        raise InvalidProcfile(f"{where} path {_show(path)} must start with /, e.g. /health")
    if isinstance(path, str) and not _http_path(path):
        raise InvalidProcfile(
            f"{where} path {_show(path)} is not a URL path: use at most {MAX_PATH} printable "
            "characters without spaces, e.g. /health"
        )
    if path is not None and kind == "tcp":
        raise InvalidProcfile(f"{where} of type tcp has no path: remove path or use type http")
    port = value.get("port")
    if port is not None and (
        isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535
    ):
        raise InvalidProcfile(f"{where} port {_show(port)} must be a number from 1 to 65535")
    defaults = HealthCheck()
    return HealthCheck(
        type="http" if kind == "http" else "tcp",
        path=path if isinstance(path, str) else defaults.path,
        port=port,
        interval=_duration(where, "interval", value.get("interval"), defaults.interval, 0.001),
        timeout=_duration(where, "timeout", value.get("timeout"), defaults.timeout, 0.001),
        grace=_duration(where, "grace", value.get("grace"), defaults.grace, 0.0),
    )


def _duration(where: str, key: str, value: object, default: float, minimum: float) -> float:
    if value is None:
        return default
    seconds: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str):
        m = _DURATION.match(value.strip())
        if m:
            seconds = float(m.group(1)) * _DURATION_UNITS[m.group(2) or "s"]
    if seconds is None or seconds < minimum:
        raise InvalidProcfile(
            f"{where} {key} {_show(value)} is not a valid duration: "
            'use seconds (5) or a number with s, ms or m ("5s", "500ms", "1m")'
        )
    return seconds


def _http_path(path: str) -> bool:
    """Whether a health check can send `path` as is: short, printable, no spaces."""
    return len(path) <= MAX_PATH and path.isprintable() and not any(c.isspace() for c in path)


def _kind(value: object) -> str:
    names = {dict: "a map", list: "a list", str: "a string", bool: "a boolean"}
    for t, label in names.items():
        if isinstance(value, t):
            return label
    if isinstance(value, int | float):
        return f"a number ({_show(value)})"
    return "nothing" if value is None else type(value).__name__


# Renders a value a piece at a time, never whole: a big list costs what is shown, not its size.
_REPR = reprlib.Repr()
_REPR.maxlevel = 3
_REPR.maxlist = _REPR.maxdict = _REPR.maxset = _REPR.maxfrozenset = 5
_REPR.maxstring = _REPR.maxlong = EXCERPT
_REPR.maxother = 40


def _show(value: object) -> str:
    """Quote a value from the Procfile for an error message: at most EXCERPT characters of it,
    control characters escaped (the message reaches a terminal)."""
    if isinstance(value, str):
        return f'"{_clip(value)}"'
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _clip(str(value))
    return _clip(_REPR.repr(value))


def _clip(text: str, limit: int = EXCERPT) -> str:
    """At most `limit` characters of `text` (then an ellipsis), control characters escaped."""
    cut = text[:limit]
    shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in cut)
    return shown + ("..." if len(text) > limit else "")


def _describe_yaml_error(error: yaml.YAMLError) -> str:
    import yaml

    if isinstance(error, yaml.MarkedYAMLError) and error.problem_mark is not None:
        problem = error.problem or error.context or "syntax error"
        mark = error.problem_mark
        return f"{_clip(problem, 2 * EXCERPT)} (line {mark.line + 1}, column {mark.column + 1})"
    return _clip(str(error), 2 * EXCERPT)
