"""The four prompts: ``capture``, ``review``, ``daily_digest``, ``organize``.

Each returns one user message that tells the model which tools to call; none reads the database.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any

from .protocol import invalid_params


@dataclasses.dataclass(frozen=True)
class Prompt:
    name: str
    description: str
    arguments: tuple[tuple[str, str, bool], ...]  # (name, description, required)
    render: Callable[[dict[str, str]], tuple[str, str]]  # arguments -> (description, text)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "arguments": [{"name": n, "description": d, "required": r} for n, d, r in self.arguments],
        }


def _capture(args: dict[str, str]) -> tuple[str, str]:
    text = (
        "Save the following as a new memo using the create_memo tool.\n\n"
        f"Visibility: {args.get('visibility') or 'PRIVATE'}\n\n"
        f"Content:\n{args['content']}"
    )
    if args.get("tags"):
        text += f"\n\nAppend these tags inline using #tag syntax: {args['tags']}"
    text += (
        "\n\nAfter creating the memo, confirm by showing the memo resource name (e.g. memo://memos/<uid>) "
        "so it can be referenced later."
    )
    return "Capture a memo", text


def _review(args: dict[str, str]) -> tuple[str, str]:
    topic = json.dumps(args["topic"], ensure_ascii=False)
    text = (
        f"Use the search_memos tool to find memos about {topic}, then:\n\n"
        "1. Group results by theme or tag\n"
        "2. For each memo, include its resource reference (memo://memos/<uid>) so the user can access it directly\n"
        "3. Provide a concise summary of what has been written on this topic\n"
        "4. Highlight any memos with incomplete tasks (has_incomplete_tasks)\n"
        "5. Note the most recent update times to show currency of the information"
    )
    return f"Review memos about {topic}", text


def _daily_digest(args: dict[str, str]) -> tuple[str, str]:
    days = args.get("days") or "1"
    text = (
        f"Generate a daily digest of memo activity from the last {days} day(s):\n\n"
        "1. Use list_memos to fetch recent memos (check multiple pages if needed)\n"
        "2. Use list_tags to get the current tag landscape\n"
        "3. Group memos by tags and summarize each group\n"
        "4. Highlight:\n"
        "   - Pinned memos (important items)\n"
        "   - Memos with incomplete tasks (action items)\n"
        "   - New memos created vs. memos updated\n"
        "5. Include memo resource references (memo://memos/<uid>) for each item\n"
        '6. End with a brief "action items" section listing incomplete tasks across all memos'
    )
    return "Daily memo digest", text


def _organize(args: dict[str, str]) -> tuple[str, str]:
    scope = args.get("scope") or "untagged"
    if scope == "untagged":
        focus = "Focus on memos that have no tags. Use list_memos and identify those with empty tag arrays."
    else:
        focus = "Analyze all recent memos regardless of tagging status."
    text = (
        "Analyze memos and suggest organizational improvements:\n\n"
        f"1. {focus}\n"
        "2. Use list_tags to understand the existing tag taxonomy\n"
        "3. For each unorganized memo, suggest:\n"
        "   - Appropriate tags from the existing taxonomy, or new tags if needed\n"
        "   - Potential relations (references) to other memos on similar topics\n"
        "4. Present suggestions as a structured list:\n"
        "   - Memo: memo://memos/<uid> (first line of content as preview)\n"
        "   - Suggested tags: #tag1, #tag2\n"
        "   - Related to: memo://memos/<other-uid> (brief reason)\n"
        "5. After presenting suggestions, ask the user which changes to apply\n"
        "6. Apply approved changes using update_memo (for tags in content) and create_memo_relation "
        "(for references)"
    )
    return f"Organize memos (scope: {scope})", text


PROMPTS: dict[str, Prompt] = {
    p.name: p
    for p in (
        Prompt(
            "capture",
            "Capture a thought, idea, or note as a new memo. Use this prompt when the user wants to quickly save "
            "something. The assistant will call create_memo with the provided content.",
            (
                ("content", "The text to save as a memo", True),
                ("tags", 'Comma-separated tags to apply, e.g. "work,project"', False),
                ("visibility", "Memo visibility: PRIVATE (default), PROTECTED, or PUBLIC", False),
            ),
            _capture,
        ),
        Prompt(
            "review",
            "Search and review memos on a given topic. The assistant will call search_memos and summarise the "
            "results, including memo resource URIs for easy reference.",
            (("topic", "Topic or keyword to search for", True),),
            _review,
        ),
        Prompt(
            "daily_digest",
            "Get a summary of recent memo activity. The assistant will list recent memos, group them by tags, and "
            "highlight any incomplete tasks or pinned items.",
            (("days", "Number of days to look back (default: 1)", False),),
            _daily_digest,
        ),
        Prompt(
            "organize",
            "Analyze untagged or loosely organized memos and suggest tags, relations, and groupings to improve "
            "discoverability.",
            (
                (
                    "scope",
                    'Scope of analysis: "untagged" (default) for memos without tags, "all" for all recent memos',
                    False,
                ),
            ),
            _organize,
        ),
    )
}


def get(name: Any, arguments: Any) -> dict[str, Any]:
    prompt = PROMPTS.get(name) if isinstance(name, str) else None
    if prompt is None:
        raise invalid_params(f"prompt '{name}' not found")
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, dict) or not all(isinstance(v, str) for v in arguments.values()):
        raise invalid_params("prompt arguments must be an object of strings")
    for arg, _, required in prompt.arguments:
        if required and not arguments.get(arg):
            raise invalid_params(f"{arg} argument is required")
    description, text = prompt.render(arguments)
    return {"description": description, "messages": [{"role": "user", "content": {"type": "text", "text": text}}]}
