"""The request bodies, as the OpenAPI document describes them.

The handlers take `body: Any = Body(default=None)` and parse it themselves (`context.obj` and
`context.string`), so that every mistake is a Heroku error with Empire's own message and both
Empire's and Heroku's forms are taken. FastAPI therefore knows nothing of the bodies: each
constant here is a route's `openapi_extra`, which documents its body (a schema, a description,
named examples) and validates nothing.

A schema takes no more than its handler does. A body it accepts passes the handler's parsing
(but for NUL characters, which no string may hold); the rules behind the handler may still
refuse it (a name taken, an unknown process type), and where such a rule is simple the schema
says it too (name patterns, roles, quantity bounds). Fields a handler ignores are left out, and
any body may carry them. Optional fields may be null: the handlers read null as absent.
"""

from __future__ import annotations

from typing import Any

from empire import formation as rules
from empire.model import Role

Json = dict[str, Any]


def _body(
    title: str,
    description: str,
    schema: Json,
    examples: dict[str, tuple[str, Any]],
    *,
    required: bool = True,
) -> Json:
    """A route's `openapi_extra`: its JSON body's description, schema and named examples."""
    return {
        "requestBody": {
            "description": description,
            "required": required,
            "content": {
                "application/json": {
                    "schema": {"title": title, "type": "object", **schema},
                    "examples": {
                        name: {"summary": summary, "value": value}
                        for name, (summary, value) in examples.items()
                    },
                }
            },
        }
    }


def _string(description: str, *, optional: bool = False, **more: Any) -> Json:
    return {
        "type": ["string", "null"] if optional else "string",
        "description": description,
        **more,
    }


def _boolean(description: str) -> Json:
    return {"type": ["boolean", "null"], "description": description}


def _count(description: str) -> Json:
    return {"type": ["integer", "null"], "minimum": 0, "description": description}


_APP_NAME = _string(
    "3 to 30 lowercase letters, digits and dashes, starting with a letter",
    pattern=rules.APP_NAME.pattern,
)
_ROLE = {
    "type": ["string", "null"],
    "enum": [*(role.value for role in Role), None],
    "description": "viewer (read), deployer (deploy, scale, restart, run, config) or admin "
    "(also destroy, rename, domains, certificates, access)",
}
_SIZE = _string(
    "1X, 2X or PX, or cpu:memory[:nproc=N] (CPU shares, memory with a unit B, KB, MB, GB or TB)",
    optional=True,
    examples=["2X", "512:1GB", "100:64mb:nproc=8"],
)
_QUANTITY = {
    "description": "instances to run (a missing or null quantity keeps the current one)",
    "anyOf": [
        {"type": "integer", "minimum": 0, "maximum": rules.MAX_QUANTITY},
        {"type": "string", "pattern": r"^\s*[0-9]+\s*$", "description": "a whole number"},
        {"type": "null"},
    ],
}
_IMAGE = {
    "properties": {
        "image": _string("a Docker image: repository[:tag] or repository@digest"),
        "stream": _boolean("also stream the scheduler's output while the release rolls out"),
    },
    "required": ["image"],
}
_IMAGE_EXAMPLES = {
    "deploy": ("Deploy an image", {"image": "remind101/acme-inc:latest"}),
    "stream": (
        "Deploy, following the rollout",
        {"image": "remind101/acme-inc:latest", "stream": True},
    ),
}


def _naming(names: tuple[str, ...]) -> list[Json]:
    """`anyOf` branches: one of `names` is there, a non-empty string (the one the handler reads)."""
    return [
        {"properties": {name: {"type": "string", "minLength": 1}}, "required": [name]}
        for name in names
    ]


CREATE_APP = _body(
    "CreateApp",
    "The new app's name (other fields Heroku clients send, such as region, are ignored).",
    {"properties": {"name": _APP_NAME}, "required": ["name"]},
    {"create": ("Create an app", {"name": "acme-api"})},
)
UPDATE_APP = _body(
    "UpdateApp",
    "Any of: a new name, maintenance mode on or off, a certificate for the web process.",
    {
        "properties": {
            "name": {**_APP_NAME, "type": ["string", "null"], "description": "a new name"},
            "maintenance": {"type": "boolean", "description": "maintenance mode on or off"},
            "cert": _string(
                "a certificate (a name, an ARN or PEM text) for the web process",
                optional=True,
            ),
        }
    },
    {
        "rename": ("Rename the app", {"name": "acme-two"}),
        "maintenance": ("Turn maintenance mode on", {"maintenance": True}),
    },
    required=False,
)
ATTACH_CERT = _body(
    "AttachCert",
    "A certificate to serve a process's domains with.",
    {
        "properties": {
            "cert": _string(
                "a certificate name or ARN, or PEM text: a certificate chain and its private key",
                minLength=1,
            ),
            "process": _string("the process type (default web)", optional=True),
        },
        "required": ["cert"],
    },
    {
        "arn": (
            "Attach an IAM server certificate to web",
            {"cert": "arn:aws:iam::123456789012:server-certificate/acme", "process": "web"},
        )
    },
)
ROLLBACK = _body(
    "Rollback",
    "The release to roll back to: a new release is made from its image, config and formation.",
    {
        "properties": {
            "release": {
                "type": ["string", "integer"],
                "description": 'the release\'s version (3 or "3") or id',
            }
        },
        "required": ["release"],
    },
    {
        "version": ("Roll back to v1", {"release": "1"}),
        "number": ("Roll back to v1, the version as a number", {"release": 1}),
    },
)
UPDATE_CONFIG = _body(
    "UpdateConfigVars",
    "Config vars to set (a string) or unset (null); the others are kept. Makes a new release.",
    {
        "minProperties": 1,
        "propertyNames": {"pattern": rules.CONFIG_KEY.pattern},
        "additionalProperties": {"type": ["string", "null"]},
    },
    # No example unsets: FastAPI leaves out the nulls of an example's objects when it serves
    # the document, and every example here must be served as written.
    {
        "set": ("Set two vars", {"DATABASE_URL": "postgres://db.acme.internal/acme", "DEBUG": "1"}),
    },
)
_SCALE = {
    "quantity": _QUANTITY,
    "size": _SIZE,
}
SCALE = _body(
    "Scale",
    "Quantity and/or size per process type, each named by `type` (Heroku) or `process`.",
    {
        "properties": {
            "updates": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "properties": {
                        "type": _string("the process type", optional=True),
                        "process": _string("the process type (Empire's name)", optional=True),
                        **_SCALE,
                    },
                    "anyOf": _naming(("type", "process")),
                },
            }
        },
        "required": ["updates"],
    },
    {
        "heroku": (
            "Scale web to 2 (Heroku's form)",
            {"updates": [{"type": "web", "quantity": 2, "size": "2X"}]},
        ),
        "empire": (
            "Scale worker to 1 (Empire's form)",
            {"updates": [{"process": "worker", "quantity": 1}]},
        ),
    },
)
SCALE_ONE = _body(
    "ScaleProcess",
    "The process's new quantity and/or size.",
    {"properties": _SCALE},
    {
        "quantity": ("Scale to 2", {"quantity": 2}),
        "size": ("Resize, keeping the quantity", {"size": "512:1GB"}),
    },
    required=False,
)
RUN = _body(
    "Run",
    "A detached one-off dyno: a command from the current release's image. Attached runs use "
    "the WebSocket /apps/{app}/attach.",
    {
        "properties": {
            "command": _string(
                "a Procfile process name (extra arguments appended) or a command line",
                minLength=1,
            ),
            "env": {
                "type": ["object", "null"],
                "additionalProperties": {"type": "string"},
                "description": "environment variables added to the app's config vars",
            },
            "size": _SIZE,
            "attach": {
                "enum": [False, None],
                "description": "true (an attached run) is refused with 501 not_implemented",
            },
        },
        "required": ["command"],
    },
    {
        "migrate": ("Run the migrate process", {"command": "migrate"}),
        "command": (
            "Run a command with more memory",
            {"command": "./bin/rake db:seed", "env": {"RAILS_ENV": "production"}, "size": "2X"},
        ),
    },
)
ADD_DOMAIN = _body(
    "AddDomain",
    "A hostname to route to the app's web process (the app becomes public).",
    {
        "properties": {
            "hostname": _string("a DNS name, or a wildcard such as *.acme.com", minLength=1)
        },
        "required": ["hostname"],
    },
    {"add": ("Add a domain", {"hostname": "www.acme.com"})},
)
DEPLOY = _body(
    "Deploy",
    "The image to deploy; the app is named after its repository (created if new). The answer "
    "is a stream of JSON lines.",
    _IMAGE,
    _IMAGE_EXAMPLES,
)
DEPLOY_TO_APP = _body(
    "DeployToApp",
    "The image to deploy to this app. The answer is a stream of JSON lines.",
    _IMAGE,
    _IMAGE_EXAMPLES,
)
LOG_SESSION = _body(
    "LogSession",
    "Empire's form (`duration`, or nothing) streams the logs as text; Heroku's form (any of "
    "`lines`, `tail`, `dyno`, `source`) answers 201 with a URL that streams them.",
    {
        "properties": {
            "duration": _count("Empire's form: logs from this many nanoseconds ago"),
            "lines": _count("Heroku's form: the number of lines to start with"),
            "tail": _boolean("Heroku's form: follow the logs"),
            "dyno": _string("Heroku's form: only this process type", optional=True),
            "source": _string("Heroku's form: accepted and ignored", optional=True),
        }
    },
    {
        "empire": ("The last hour as text (emp log)", {"duration": 3_600_000_000_000}),
        "heroku": (
            "A log session URL (heroku logs)",
            {"lines": 100, "tail": True, "dyno": "web", "source": "app"},
        ),
    },
    required=False,
)
LOGIN = _body(
    "Login",
    "The new token's description. Authenticate with HTTP Basic (user name and password).",
    {"properties": {"description": _string("what the token is for", optional=True)}},
    {"login": ("Log in", {"description": "emp login"})},
    required=False,
)
_SUBJECTS = ("user", "team")
ADD_COLLABORATOR = _body(
    "AddCollaborator",
    "A user or a team (exactly one) and the role to grant them on the app (default deployer).",
    {
        "properties": {
            "user": _string("a user name or e-mail address", optional=True),
            "team": _string("a team name", optional=True),
            "role": _ROLE,
        },
        "oneOf": [
            {"properties": {name: {"type": "string"}}, "required": [name]} for name in _SUBJECTS
        ],
    },
    {
        "user": ("Let bob deploy", {"user": "bob", "role": "deployer"}),
        "team": ("Let the ops team view", {"team": "ops", "role": "viewer"}),
    },
)
UPDATE_COLLABORATOR = _body(
    "UpdateCollaborator",
    "The collaborator's new role.",
    {
        "properties": {
            "role": {
                "type": "string",
                "enum": [role.value for role in Role],
                "description": _ROLE["description"],
            }
        },
        "required": ["role"],
    },
    {"admin": ("Make bob an admin", {"role": "admin"})},
)
CREATE_TEAM = _body(
    "CreateTeam",
    "The new team's name.",
    {
        "properties": {
            "name": _string(
                "2 to 64 lowercase letters, digits and dashes, starting with a letter",
                pattern=rules.TEAM_NAME.pattern,
            )
        },
        "required": ["name"],
    },
    {"create": ("Create the team ops", {"name": "ops"})},
)
ADD_MEMBER = _body(
    "AddMember",
    "The user to add to the team, by `user` (a name, e-mail address or id) or `email`.",
    {
        "properties": {
            "user": _string("a user name, e-mail address or id", optional=True),
            "email": _string("a user's e-mail address", optional=True),
        },
        "anyOf": _naming(("user", "email")),
    },
    {
        "user": ("Add bob", {"user": "bob"}),
        "email": ("Add bob by e-mail address", {"email": "bob@example.com"}),
    },
)
