"""POST /api/pipelines with a template and enhancement: the API shares the page's form."""

import json

from jobs.tests.conftest import make_source
from prompts.models import PromptList

from .fake_llm import FakeChat


def post(client, data):
    return client.post("/api/pipelines", json.dumps(data), content_type="application/json")


def body(owner, **overrides):
    return {"sources": [make_source(owner).pk], "i2i_enabled": True, "i2i_model": "local-i2i", **overrides}


def test_it_expands_a_template_sent_as_json(owner_client, owner, sent):
    PromptList.objects.create(owner=owner, name="animal", items="fox\nowl")
    response = post(owner_client, body(owner, prompts=["typed"], template="a {animal} at {dawn|dusk}"))
    assert response.status_code == 202
    pipeline = owner.pipelines.get()
    assert pipeline.config["prompts"] == ["typed", "a fox at dawn", "a fox at dusk", "a owl at dawn", "a owl at dusk"]
    assert pipeline.planned_steps == 5


def test_it_names_the_template_field_in_its_422(owner_client, owner):
    response = post(owner_client, body(owner, template="a {fox|{owl}}"))
    assert response.status_code == 422
    assert "template" in json.dumps(response.json()) and "can't be nested" in json.dumps(response.json())
    assert not owner.pipelines.exists()


def test_it_refuses_a_template_that_makes_an_empty_prompt(owner_client, owner):
    response = post(owner_client, body(owner, template="{|x}"))
    assert response.status_code == 422
    assert "leaves the prompt empty" in json.dumps(response.json())
    assert not owner.pipelines.exists()


def test_it_adds_the_enhancement_step_on_request(owner_client, owner, settings, sent):
    with FakeChat() as llm:
        llm.configure(settings)
        response = post(owner_client, body(owner, prompts=["a fox"], enhance_prompts=True))
    assert response.status_code == 202
    detail = owner_client.get(response["Location"]).json()
    assert [(s["kind"], s["status"]) for s in detail["steps"]] == [("prompt_enhance", "queued")]
    assert detail["progress"]["planned"] == 2
