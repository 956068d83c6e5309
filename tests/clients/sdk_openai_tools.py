"""Drives the official Anthropic Python SDK through sluice (BASE_URL, argv[1]) to a model on
an OpenAI-format provider (MODEL, argv[2]) with the client's own key (API_KEY, argv[3]); streams
one tool-using turn and prints, as JSON, the SDK's accumulated final message and the event
types it saw."""

import json
import sys

import anthropic


def main() -> None:
    base_url, model, api_key = sys.argv[1], sys.argv[2], sys.argv[3]
    client = anthropic.Anthropic(
        base_url=base_url, api_key=api_key, max_retries=0, timeout=60.0
    )
    tools = [
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
            "input_schema": {"type": "object"},
        },
    ]
    event_types = []
    with client.messages.stream(
        model=model,
        max_tokens=1024,
        system="You are terse.",
        messages=[{"role": "user", "content": "write héllo.txt and list it"}],
        tools=tools,
    ) as stream:
        for event in stream:
            event_types.append(event.type)
        final = stream.get_final_message()
    print(json.dumps({"final": final.model_dump(mode="json"), "events": event_types}))


if __name__ == "__main__":
    main()
