"""The event catalogue as files: a JSON Schema per event and an AsyncAPI document.

    python -m chungtay_common.catalogue write   # regenerate docs/events/
    python -m chungtay_common.catalogue check   # exit 1 when the committed files differ

A test runs ``check`` so that the committed schemas never drift from the models.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from chungtay_common import contracts  # noqa: F401  (registers every event model)
from chungtay_common.events import CATALOGUE, Envelope
from chungtay_common.settings import REPO_ROOT
from chungtay_common.topics import TOPICS

OUT = REPO_ROOT / "docs" / "events"


def _dump(doc: Any) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def event_schema(event_type: str, version: int) -> dict[str, Any]:
    model = CATALOGUE.model(event_type, version)
    assert model is not None
    schema = Envelope[model].model_json_schema()  # type: ignore[valid-type]
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"urn:chungtay:event:{event_type}:v{version}"
    schema["title"] = f"{event_type} v{version}"
    schema["description"] = (model.__doc__ or "").strip() or f"The {event_type} event."
    props = schema["properties"]
    props["event_type"] = {"const": event_type, "type": "string"}
    props["schema_version"] = {"const": version, "type": "integer"}
    return schema


def asyncapi() -> dict[str, Any]:
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for spec in TOPICS.values():
        name = spec.name("chungtay")
        types = [(t, v) for t, v, _ in CATALOGUE.items() if CATALOGUE.owner(t) == spec.owner]
        refs = {}
        for t, v in types:
            msg_id = f"{t.replace('.', '_')}_v{v}"
            messages[msg_id] = {
                "name": t,
                "title": f"{t} v{v}",
                "contentType": "application/json",
                "headers": {"type": "object", "properties": {"event_type": {"const": t}}},
                "bindings": {"kafka": {"key": {"type": "string",
                                               "description": "subject_id of the envelope"}}},
                "payload": {"$ref": f"./{t}.v{v}.schema.json"},
            }
            refs[msg_id] = {"$ref": f"#/components/messages/{msg_id}"}
        channels[spec.owner] = {
            "address": name,
            "description": spec.description,
            "bindings": {"kafka": {"partitions": spec.partitions, "replicas": 1}},
            "messages": refs,
        }
        if refs:
            operations[f"publish_{spec.owner}"] = {
                "action": "send",
                "channel": {"$ref": f"#/channels/{spec.owner}"},
                "summary": f"The {spec.publisher or spec.owner} service publishes through "
                           "its outbox.",
            }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "chungtay events",
            "version": "1.0.0",
            "description": (
                "Events of the chungtay services. Topic names start with a namespace "
                "(CHUNGTAY_TOPIC_NAMESPACE, 'chungtay' in production). Every message is a JSON "
                "envelope keyed by subject_id, so one unit's events keep their order."
            ),
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
    }


def files() -> dict[Path, str]:
    out = {OUT / f"{t}.v{v}.schema.json": _dump(event_schema(t, v))
           for t, v, _ in CATALOGUE.items()}
    out[OUT / "asyncapi.json"] = _dump(asyncapi())
    return out


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else "check"
    wanted = files()
    if command == "write":
        OUT.mkdir(parents=True, exist_ok=True)
        for old in set(OUT.glob("*.json")) - set(wanted):
            old.unlink()
        for path, text in wanted.items():
            path.write_text(text)
        return 0
    stale = sorted(p.name for p in set(OUT.glob("*.json")) - set(wanted))
    differ = sorted(p.name for p, t in wanted.items()
                    if not p.exists() or p.read_text() != t)
    for name in differ + stale:
        sys.stderr.write(f"docs/events/{name} is out of date: run "
                         "`python -m chungtay_common.catalogue write`\n")
    return 1 if differ or stale else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
