"""One-line messages for settings: pydantic's errors translated, and values shown as JSON.

Every message names the key (with the index of a bad list item), shows the bad value and says
what is allowed, from the field's description (`pyramid.settings.types`); pydantic's own
multi-line text never reaches the user.
"""

import difflib
import json
import typing
from typing import Literal

MAX_SHOWN = 60  # longest bad value quoted in a message


def translate(error, data, root, item_models=None, not_a_key=""):
    """The message for the first error of a pydantic ValidationError on `data` against model
    `root`, preferring unknown keys: a misspelt required key shows up both as unknown and as
    missing, and the misspelling is the useful half.

    `item_models` maps list keys whose elements are models to that model; `not_a_key` ends
    the message of an unknown key that resembles none.
    """
    item_models = item_models or {}
    details = error.errors()
    first = min(details, key=lambda detail: detail["type"] != "extra_forbidden")
    loc = first["loc"]
    where = path_text(loc[:-1])
    model = item_models[loc[0]] if len(loc) == 3 and loc[0] in item_models else root

    if first["type"] == "extra_forbidden":
        name = str(loc[-1])
        hint = did_you_mean(name, tuple(model.model_fields))
        if not hint and model is not root:
            hint = " allowed keys are %s" % ", ".join(model.model_fields)
        elif not hint:
            hint = not_a_key
        return prefixed(where, "unknown key %s;%s" % (quote(name), hint))
    if first["type"] == "missing":
        return prefixed(where, "missing required key %s" % quote(str(loc[-1])))

    walked, value = _walk(data, loc)
    field = _field_at(walked, root, item_models)
    expected = field.description if field is not None else "a valid value"
    hint = ""
    if isinstance(value, str) and field is not None:
        hint = did_you_mean(value, literal_choices(field.annotation))
    return "%s: %s is not allowed;%s expected %s" % (path_text(walked), show(value), hint, expected)


def _walk(data, loc):
    """Follow `loc` into the raw data as far as it goes; return the path and the value."""
    walked, value = [], data
    for part in loc:
        if isinstance(part, int) and isinstance(value, list) and 0 <= part < len(value):
            value = value[part]
        elif isinstance(part, str) and isinstance(value, dict) and part in value:
            value = value[part]
        else:
            break
        walked.append(part)
    return walked, value


def _field_at(walked, root, item_models):
    """The deepest model field on the path: its description says what is allowed."""
    if not walked:
        return None
    model = item_models.get(walked[0])
    if model is not None and len(walked) >= 3 and walked[2] in model.model_fields:
        return model.model_fields[walked[2]]
    return root.model_fields.get(walked[0])


def literal_choices(annotation):
    """The strings of a Literal (or Optional[Literal], or Annotated) annotation."""
    if typing.get_origin(annotation) is Literal:
        return tuple(typing.get_args(annotation))
    return tuple(c for arg in typing.get_args(annotation) for c in literal_choices(arg))


def path_text(parts):
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += "[%d]" % part
        elif text and not part.isidentifier():
            text += "[%s]" % quote(part)
        else:
            text += ("." if text else "") + part
    return text


def prefixed(where, message):
    return "%s: %s" % (where, message) if where else message


def did_you_mean(name, choices):
    """' did you mean "x"?' for the closest choice, or ''.  Starts with a space."""
    matches = difflib.get_close_matches(name, choices, n=1)
    return ' did you mean "%s"?' % matches[0] if matches else ""


def show(value, limit=MAX_SHOWN):
    """A value as JSON would spell it (strings in double quotes, null, true), shortened."""
    try:
        text = json.dumps(value, ensure_ascii=False, default=repr)
    except ValueError:  # a circular structure, only possible from Python callers
        text = repr(value)
    return shorten(text, limit)


def quote(text, limit=MAX_SHOWN):
    return shorten(json.dumps(str(text), ensure_ascii=False), limit)


def shorten(text, limit):
    # json.dumps escapes control characters; this also folds Unicode line separators.
    text = " ".join(text.splitlines())
    if limit is not None and len(text) > limit:
        text = text[: limit - 3] + "..."
    return text


def json_type(value):
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean",
             int: "a number", float: "a number", type(None): "null"}
    return names.get(type(value), type(value).__name__)


class DuplicateKey(Exception):
    pass


def refuse_duplicate_keys(pairs):
    """`object_pairs_hook` for json.loads: json keeps the last of two equal keys silently; a
    settings file that says two things is an error."""
    result = {}
    for key, value in pairs:
        if key in result:
            raise DuplicateKey("key %s appears twice in the same object" % quote(key))
        result[key] = value
    return result
