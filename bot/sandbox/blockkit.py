"""Would Slack accept this payload? Block Kit's JSON Schema plus the rules a schema cannot say.

One checker for the tests and for the Slack stand-in (bot/sandbox/fake_slack.py), which refuses
what it finds here as Slack does (``invalid_blocks``), so no test, benchmark or sandbox run
passes on a message, ephemeral, response_url answer, modal or Home tab Slack would refuse.

The schema (bot/sandbox/data/slack-block-kit.schema.json, MIT, from slack-block-kit-validator)
says the shape of each block, element and text object: its keys, lengths and types. The
payload-wide rules are checked here: a block_id used once per payload, an action_id once
per block, at most 50 blocks in a message and 100 in a view. The limits Slack refuses most
often (button text, modal title, submit and close, private_metadata, callback_id, empty
text) are also checked here by name, so they hold whatever a newer schema says.

Each problem reads like Slack's own ``response_metadata.messages``:
``[ERROR] must be less than 76 characters [json-pointer:/blocks/2/elements/0/text/text]``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError

SCHEMA_PATH = Path(__file__).with_name("data") / "slack-block-kit.schema.json"

MESSAGE_BLOCKS_MAX = 50
VIEW_BLOCKS_MAX = 100  # a modal or the Home tab
MESSAGE_TEXT_MAX = 40_000  # the top-level text; beyond it Slack answers msg_too_long
BUTTON_TEXT_MAX = 75
VIEW_BUTTON_MAX = 24  # a modal's title, submit and close
PRIVATE_METADATA_MAX = 3000
CALLBACK_ID_MAX = 255
_PROBLEM_TEXT_MAX = 200  # the longest wording of one problem (pointer aside)


def problem(message: str, pointer: str) -> str:
    """One problem as Slack words it in ``response_metadata.messages``."""
    return f"[ERROR] {message} [json-pointer:{pointer or '/'}]"


def message_problems(body: Mapping[str, Any]) -> list[str]:
    """What Slack would refuse in a message body (chat.postMessage, chat.update,
    chat.postEphemeral, a response_url post, a command's answer): its ``blocks``, and its
    ``text`` when that is all it has. Empty when Slack would accept it."""
    found: list[str] = []
    text, blocks = body.get("text"), body.get("blocks")
    if text is not None and not isinstance(text, str):
        found.append(problem("must be a string", "/text"))
    elif isinstance(text, str) and len(text) > MESSAGE_TEXT_MAX:
        found.append(problem(f"must be less than {MESSAGE_TEXT_MAX + 1} characters", "/text"))
    if blocks is None or blocks == []:
        return found  # no blocks (chat.update: an empty list clears them), just the text
    return _unique([*found, *_blocks_problems(blocks, "/blocks", MESSAGE_BLOCKS_MAX)])


def view_problems(view: Any, kind: str | None = None) -> list[str]:
    """What Slack would refuse in a view (views.open, .push, .update, .publish, or a
    response_action's view); ``kind`` ("modal" or "home") is the type the call needs."""
    if not isinstance(view, Mapping):
        return [problem("must be an object", "/view")]
    if kind is not None and view.get("type") != kind:
        return [problem(f"type must be {kind}", "/view/type")]
    if view.get("type") not in ("modal", "home"):
        return [problem("type must be modal or home", "/view/type")]
    found = [_explain(e, "/view") for e in _leaves(_validator(f"{view['type']}_view"), view)]
    if view["type"] == "modal":
        for key in ("title", "submit", "close"):
            label = view.get(key)
            if isinstance(label, Mapping) and isinstance(label.get("text"), str):
                found += _length(label["text"], VIEW_BUTTON_MAX, f"/view/{key}/text")
    if isinstance(view.get("private_metadata"), str):
        found += _length(view["private_metadata"], PRIVATE_METADATA_MAX, "/view/private_metadata")
    if isinstance(view.get("callback_id"), str):
        found += _length(view["callback_id"], CALLBACK_ID_MAX, "/view/callback_id")
    blocks = view.get("blocks")
    if isinstance(blocks, list):
        found += _rules(blocks, "/view/blocks", VIEW_BLOCKS_MAX)
    return _unique(found)


def answer_problems(body: Any) -> list[str]:
    """What Slack would refuse in the bot's HTTP answer to Slack: a command's reply
    message, or a form's response_action view (anything else carries no Block Kit)."""
    if not isinstance(body, Mapping):
        return []
    found = view_problems(body["view"], "modal") if "view" in body else []
    if "blocks" in body or "text" in body:
        found += message_problems(body)
    return found


def blocks_problems(blocks: Any, max_blocks: int = MESSAGE_BLOCKS_MAX) -> list[str]:
    """What Slack would refuse in a list of blocks on its own (pointers start at /blocks)."""
    return _unique(_blocks_problems(blocks, "/blocks", max_blocks))


def _blocks_problems(blocks: Any, at: str, max_blocks: int) -> list[str]:
    if not isinstance(blocks, list):
        return [problem("must be an array", at)]
    found = [_explain(e, at) for e in _leaves(_validator(None), blocks)]
    return found + _rules(blocks, at, max_blocks)


def _rules(blocks: list[Any], at: str, max_blocks: int) -> list[str]:
    """The rules of a whole payload, and the limits checked by name."""
    found: list[str] = []
    if not blocks:
        found.append(problem("must have at least 1 block", at))
    if len(blocks) > max_blocks:
        found.append(problem(f"must have no more than {max_blocks} blocks", at))
    seen_blocks: set[str] = set()
    for i, block in enumerate(blocks):
        if not isinstance(block, Mapping):
            continue
        block_id = block.get("block_id")
        if isinstance(block_id, str):
            if block_id in seen_blocks:
                where = f"{at}/{i}/block_id"
                found.append(problem(f"duplicate block_id {_quote(block_id)}", where))
            seen_blocks.add(block_id)
        seen_actions: set[str] = set()
        for pointer, obj in _objects(block, f"{at}/{i}"):
            action_id = obj.get("action_id")
            if isinstance(action_id, str):
                if action_id in seen_actions:
                    where = f"{pointer}/action_id"
                    found.append(problem(f"duplicate action_id {_quote(action_id)}", where))
                seen_actions.add(action_id)
            text = obj.get("text")
            if obj.get("type") in ("plain_text", "mrkdwn") and text == "":
                found.append(problem("must be more than 0 characters", f"{pointer}/text"))
            if obj.get("type") == "button" and isinstance(text, Mapping):
                label = text.get("text")
                if isinstance(label, str):
                    found += _length(label, BUTTON_TEXT_MAX, f"{pointer}/text/text")
    return found


def _length(text: str, limit: int, pointer: str) -> list[str]:
    if len(text) > limit:
        return [problem(f"must be less than {limit + 1} characters", pointer)]
    if not text:
        return [problem("must be more than 0 characters", pointer)]
    return []


def _objects(node: Any, pointer: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Every JSON object in ``node`` with its JSON pointer."""
    if isinstance(node, Mapping):
        yield pointer, node
        for key, value in node.items():
            yield from _objects(value, f"{pointer}/{_escape_pointer(str(key))}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _objects(value, f"{pointer}/{i}")


@cache
def _schema() -> dict[str, Any]:
    with SCHEMA_PATH.open(encoding="utf-8") as f:
        schema: dict[str, Any] = json.load(f)
    return schema


_UNION = "x-union-by-type"  # a keyword of our own: {type: reference}, see _direct


def _union(
    validator: Draft202012Validator, refs: dict[str, str], instance: Any, schema: Any
) -> Iterator[ValidationError]:
    if not isinstance(instance, Mapping):
        yield ValidationError("must be an object")
        return
    kind = instance.get("type")
    ref = refs.get(kind) if isinstance(kind, str) else None
    if ref is None:
        yield ValidationError(f"unsupported type {_quote(str(kind))}", path=["type"])
        return
    yield from validator.descend(instance, {"$ref": ref})


_Validator = validators.extend(Draft202012Validator, {_UNION: _union})


@cache
def _validator(definition: str | None) -> Any:
    """The schema (an array of blocks), or one of its $defs, with its unions made direct."""
    schema = _direct(_schema())
    if definition is not None:
        schema = {"$schema": schema["$schema"], "$defs": schema["$defs"]}
        schema["$ref"] = f"#/$defs/{definition}"
    return _Validator(schema)


def _direct(schema: dict[str, Any]) -> dict[str, Any]:
    """The same schema, each union of block or element types ("oneOf" of references to
    definitions that each fix ``type``) turned into "the definition its ``type`` names".

    As published, every block is tried against all 21 block types and every button against
    18 element types: 50 ms for one install message. Chosen by ``type`` it is a few ms, and
    a block of a type that fails says why rather than "valid under none of the schemas".
    """
    defs = schema["$defs"]

    def kinds(ref: Any) -> list[tuple[str, str]] | None:
        """(type, reference) for each type a reference stands for; None if not all fixed."""
        if not (isinstance(ref, dict) and set(ref) == {"$ref"}):
            return None
        target = defs.get(str(ref["$ref"]).removeprefix("#/$defs/"))
        if not isinstance(target, dict):
            return None
        const = target.get("properties", {}).get("type", {}).get("const")
        if isinstance(const, str):
            return [(const, ref["$ref"])]
        if set(target) - {"description"} == {"oneOf"}:
            return union(target["oneOf"])
        return None

    def union(branches: list[Any]) -> list[tuple[str, str]] | None:
        found: list[tuple[str, str]] = []
        for branch in branches:
            named = kinds(branch)
            if named is None:
                return None
            found += named
        return found

    def rewrite(node: Any) -> Any:
        if isinstance(node, list):
            return [rewrite(n) for n in node]
        if not isinstance(node, dict):
            return node
        out = {k: rewrite(v) for k, v in node.items()}
        named = union(node["oneOf"]) if isinstance(node.get("oneOf"), list) else None
        if named and len({k for k, _ in named}) == len(named):
            del out["oneOf"]
            out[_UNION] = dict(named)
        return out

    rewritten: dict[str, Any] = rewrite(schema)
    return rewritten


def _leaves(validator: Any, instance: Any) -> Iterator[ValidationError]:
    for error in validator.iter_errors(instance):
        yield from _meant(error)


def _meant(error: ValidationError) -> Iterator[ValidationError]:
    """The errors of the alternative the payload meant: a oneOf of block (or element) types
    fails as a whole; what matters is why the block of the type it names failed."""
    if error.validator in ("oneOf", "anyOf") and error.context:
        branches: dict[Any, list[ValidationError]] = {}
        for sub in error.context:
            branches.setdefault(sub.relative_schema_path[0], []).append(sub)
        meant = [errors for errors in branches.values() if not any(_wrong_type(e) for e in errors)]
        if len(meant) == 1:
            for sub in meant[0]:
                yield from _meant(sub)
            return
    yield error


def _wrong_type(error: ValidationError) -> bool:
    """An error saying the object is another type of block or element than this branch."""
    return error.validator == "const" and list(error.relative_path) == ["type"]


def _explain(error: ValidationError, at: str) -> str:
    """A schema error in Slack's words, quoting little of the payload."""
    pointer = at + "".join(f"/{_escape_pointer(str(p))}" for p in error.absolute_path)
    limit = error.validator_value
    if error.validator == "maxLength":
        return problem(f"must be less than {limit + 1} characters", pointer)
    if error.validator == "minLength":
        return problem(f"must be more than {limit - 1} characters", pointer)
    if error.validator == "maxItems":
        return problem(f"must have no more than {limit} items", pointer)
    if error.validator == "minItems":
        return problem(f"must have at least {limit} items", pointer)
    if error.validator == "additionalProperties" and isinstance(error.instance, Mapping):
        known = error.schema.get("properties", {})
        extra = sorted(str(k) for k in error.instance if k not in known)
        return problem(f"unknown key {', '.join(map(_quote, extra))}", pointer)
    if error.validator in ("oneOf", "anyOf") and isinstance(error.instance, Mapping):
        kind = error.instance.get("type")
        return problem(f"unsupported or invalid type {_quote(str(kind))}", pointer)
    if error.validator in ("required", _UNION):
        return problem(error.message[:_PROBLEM_TEXT_MAX], pointer)  # names a key or type
    if error.validator == "type":
        return problem(f"must be of type {json.dumps(limit)}", pointer)
    # Never the payload's own text: these messages reach logs and the sandbox's page.
    expected = json.dumps(limit, ensure_ascii=False)[:_PROBLEM_TEXT_MAX]
    return problem(f"failed {error.validator} constraint: {expected}", pointer)


def _quote(text: str) -> str:
    shown = text if len(text) <= 40 else text[:39] + "…"
    return json.dumps(shown, ensure_ascii=False)


def _escape_pointer(part: str) -> str:
    return part.replace("~", "~0").replace("/", "~1")


def _unique(problems: list[str]) -> list[str]:
    return list(dict.fromkeys(problems))
