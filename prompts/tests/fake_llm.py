"""A fake OpenAI-compatible chat endpoint on loopback, on the fake providers' server
scaffolding (jobs/tests/fakes/server.py), written from OpenAI's API reference:

    POST /v1/chat/completions  {"model", "messages": [{"role", "content"}], ...}
        -> 200 {"id", "object": "chat.completion", "created", "model",
                "choices": [{"index", "message": {"role": "assistant", "content"}, "finish_reason"}], "usage"}
    errors: {"error": {"message", "type", "param", "code"}}

It "enhances" a prompt by adding words to it, so a test can tell which prompt each came from.
"""

import json

from jobs.tests.fakes.server import FakeServer, Reply

KEY = "fake-llm-key"
MODEL = "fake-chat-1"


def error(status, message, kind="invalid_request_error"):
    return Reply(status, {"error": {"message": message, "type": kind, "param": None, "code": None}})


class FakeChat(FakeServer):
    routes = (("POST", r"/v1/chat/completions", "complete"),)

    def configure(self, settings):
        settings.PROMPT_LLM_URL = f"{self.url}/v1"
        settings.PROMPT_LLM_KEY = KEY
        settings.PROMPT_LLM_MODEL = MODEL

    def complete(self, match, query, body, headers):
        if headers.get("Authorization") != f"Bearer {KEY}":
            return error(401, "Incorrect API key provided.")
        payload = json.loads(body)
        if payload.get("model") != MODEL:
            return error(404, f"The model `{payload.get('model')}` does not exist.")
        messages = payload.get("messages") or []
        if [m.get("role") for m in messages] != ["system", "user"]:
            return error(400, "Expected a system and a user message.")
        prompt = messages[-1]["content"]
        return Reply(200, {
            "id": f"chatcmpl-{self.new_id()}", "object": "chat.completion", "created": 0, "model": MODEL,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": f" \"{prompt}, golden hour, 35mm film\"\n"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 20, "completion_tokens": 10, "total_tokens": 30},
        })  # fmt: skip

    @property
    def prompts_asked(self):
        return [json.loads(c.body)["messages"][-1]["content"] for c in self.calls_to("POST", "/chat/completions")]
