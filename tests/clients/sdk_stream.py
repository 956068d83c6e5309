"""Drives the official Anthropic Python SDK against BASE_URL (argv[1]) and prints, as JSON,
what the SDK made of the answers: the accumulated final message of a streamed thinking +
tool_use response, the event types it saw, a non-streaming message and a token count."""

import json
import sys

import anthropic


def main() -> None:
    base_url = sys.argv[1]
    client = anthropic.Anthropic(
        base_url=base_url, api_key="sk-ant-test-key", max_retries=0, timeout=60.0
    )
    request = dict(
        model="claude-sonnet-4-5-20250929",
        max_tokens=32000,
        thinking={"type": "enabled", "budget_tokens": 4000},
        system="You are a careful assistant. «élan» 日本語",
        messages=[{"role": "user", "content": "List “src dir” and write héllo.txt"}],
        tools=[
            {
                "name": "Bash",
                "description": "Run a shell command",
                "input_schema": {
                    "type": "object",
                    "properties": {"command": {"type": "string"}},
                    "required": ["command"],
                },
            },
            {
                "name": "Write",
                "description": "Write a file",
                "input_schema": {
                    "type": "object",
                    "properties": {
                        "file_path": {"type": "string"},
                        "content": {"type": "string"},
                    },
                    "required": ["file_path", "content"],
                },
            },
        ],
    )
    event_types = []
    text_snapshots = []
    with client.messages.stream(**request) as stream:
        for event in stream:
            event_types.append(event.type)
            if event.type == "text":
                text_snapshots.append(event.snapshot)
        final = stream.get_final_message()
    created = client.messages.create(**request)
    counted = client.messages.count_tokens(
        model=request["model"], messages=request["messages"], tools=request["tools"]
    )
    print(
        json.dumps(
            {
                "stream_final": final.model_dump(mode="json"),
                "event_types": event_types,
                "text_snapshots": text_snapshots,
                "create": created.model_dump(mode="json"),
                "count_tokens": counted.model_dump(mode="json"),
            },
            ensure_ascii=False,
            sort_keys=True,
        )
    )


if __name__ == "__main__":
    main()
