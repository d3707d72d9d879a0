"""schemathesis hooks for scripts/schemathesis (SCHEMATHESIS_HOOKS=schemathesis_hooks).

A username and an email must be new: a rule of the data, which no schema can
state. hypothesis draws the same short values again and again ("0", "0@0.0"),
and coverage derives every case from one base value, so after the first user
every valid POST /users would be a 422 "is already taken" and schemathesis
could not tell a good document from a bad one. Each POST /users gets a serial
number in its username and email instead; a value that breaks the schema
(a wrong character, too long, not a string) still breaks it.

In the stateful phase, a user just created is followed by a change of its
organizations drawn at random: an organization id nobody has is a 404, as
JSON:API requires ("a request that references a related resource that does
not exist"), which the "created resource not found" check reads as the user
being gone. Such a follow-up names organization 1 (Main) instead; the other
phases still send ids nobody has, and tests/it covers their 404.
"""

import itertools

import schemathesis

_serial = itertools.count(1)
SUFFIX_LEN = 7  # "-000001"


def _fresh_username(value, n):
    core = value.strip()
    if not core or len(core) > 64:
        return value  # already invalid: keep it so
    suffix = f"-{n:06d}"
    return value.replace(core, core[: 64 - SUFFIX_LEN] + suffix, 1)


def _fresh_email(value, n):
    at = value.rfind("@")
    if at <= 0 or len(value.strip()) + SUFFIX_LEN > 254:
        return value
    return f"{value[:at]}+{n:06d}{value[at:]}"


def _from_a_link(case):
    overrides = getattr(case, "_override", None)
    path = getattr(overrides, "path_parameters", None) or {}
    return "id" in path


@schemathesis.hook
def map_case(context, case):
    operation = context.operation
    if operation is None:
        return case
    if operation.path.endswith("/relationships/organizations") and _from_a_link(case):
        data = case.body.get("data") if isinstance(case.body, dict) else None
        if isinstance(data, list):
            for item in data:
                if isinstance(item, dict) and isinstance(item.get("id"), str):
                    item["id"] = "1"
        return case
    if operation.method.upper() != "POST" or not operation.path.endswith("/users"):
        return case
    body = case.body
    data = body.get("data") if isinstance(body, dict) else None
    attributes = data.get("attributes") if isinstance(data, dict) else None
    if not isinstance(attributes, dict):
        return case
    n = next(_serial)
    if isinstance(attributes.get("username"), str):
        attributes["username"] = _fresh_username(attributes["username"], n)
    if isinstance(attributes.get("email"), str):
        attributes["email"] = _fresh_email(attributes["email"], n)
    return case
