"""Drives the official OpenAI Python SDK against BASE_URL (argv[1], e.g.
http://127.0.0.1:PORT/v1) with API key argv[2] and prints, as JSON, what the SDK made of the
answers. MODE (argv[3], default "chat"):

- chat: a streamed chat completion with two tools, accumulated by the SDK's own stream helper
  (content, tool calls by index with their concatenated arguments, finish_reason, the usage
  chunk), the raw chunk count, then the same request non-streaming.
- models: the model list.
- error: one request; prints the exception class the SDK raised, its status and body.
"""

import json
import sys

import openai


def request(model: str) -> dict:
    return dict(
        model=model,
        messages=[
            {"role": "system", "content": "You are a careful assistant. «élan» 日本語"},
            {"role": "user", "content": "List “src dir” and write héllo.txt"},
        ],
        tools=[
            {
                "type": "function",
                "function": {
                    "name": "Bash",
                    "description": "Run a shell command",
                    "parameters": {
                        "type": "object",
                        "properties": {"command": {"type": "string"}},
                        "required": ["command"],
                    },
                },
            },
            {
                "type": "function",
                "function": {
                    "name": "Write",
                    "description": "Write a file",
                    "parameters": {
                        "type": "object",
                        "properties": {
                            "file_path": {"type": "string"},
                            "content": {"type": "string"},
                        },
                        "required": ["file_path", "content"],
                    },
                },
            },
        ],
    )


def chat(client: openai.OpenAI, model: str) -> dict:
    chunks = 0
    usage_chunks = []
    finish_reasons = []
    with client.chat.completions.stream(
        **request(model), stream_options={"include_usage": True}
    ) as stream:
        for event in stream:
            if event.type == "chunk":
                chunks += 1
                if not event.chunk.choices and event.chunk.usage is not None:
                    usage_chunks.append(event.chunk.usage.model_dump(mode="json"))
                for choice in event.chunk.choices:
                    if choice.finish_reason is not None:
                        finish_reasons.append(choice.finish_reason)
        final = stream.get_final_completion()
    created = client.chat.completions.create(**request(model))
    return {
        "stream_final": final.model_dump(mode="json"),
        "stream_chunks": chunks,
        "stream_usage_chunks": usage_chunks,
        "stream_finish_reasons": finish_reasons,
        "create": created.model_dump(mode="json"),
    }


def models(client: openai.OpenAI) -> dict:
    return {"models": [m.model_dump(mode="json") for m in client.models.list()]}


def error(client: openai.OpenAI, model: str) -> dict:
    try:
        client.chat.completions.create(**request(model))
    except openai.APIStatusError as e:
        return {"class": type(e).__name__, "status": e.status_code, "body": e.body}
    except openai.APIError as e:
        return {"class": type(e).__name__, "status": None, "body": e.body}
    return {"class": None}


def main() -> None:
    base_url, api_key = sys.argv[1], sys.argv[2]
    mode = sys.argv[3] if len(sys.argv) > 3 else "chat"
    model = sys.argv[4] if len(sys.argv) > 4 else "claude-sonnet-4-5-20250929"
    client = openai.OpenAI(base_url=base_url, api_key=api_key, max_retries=0, timeout=60.0)
    if mode == "chat":
        result = chat(client, model)
    elif mode == "models":
        result = models(client)
    elif mode == "error":
        result = error(client, model)
    else:
        raise SystemExit(f"unknown mode {mode}")
    print(json.dumps(result, ensure_ascii=False, sort_keys=True))


if __name__ == "__main__":
    main()
