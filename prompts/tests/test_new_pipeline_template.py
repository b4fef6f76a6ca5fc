"""A template on New pipeline: the live estimate counts its prompts and prices them
(the form's own estimate, POST /pipelines/new/estimate), and creating the pipeline
makes a step for each."""

from jobs.tests.conftest import make_source
from prompts.models import PromptList, PromptTemplate
from i2v.lib.idempotency import form_key


def form_data(source, **overrides):
    data = {
        "sources": [source.pk], "prompts": "", "i2i_enabled": "on", "i2i_model": "local-i2i",
        "images_per_prompt": "1", "aspect_ratio": "1:1", "quality": "draft", "mode": "auto",
        "once": form_key(),  # what the page draws in the form: each send of a new form is its first
    }  # fmt: skip
    data.update(overrides)
    return data


def test_it_counts_and_prices_the_template_as_you_type(owner_client, owner, django_assert_max_num_queries):
    source = make_source(owner)
    PromptList.objects.create(owner=owner, name="costume", items="pirate\nastronaut\nclown")
    data = form_data(source, template="a {red|blue} {costume} at {dawn|night}", i2i_model="flux-kontext")
    # session, user, sources, the named lists (one query), and nothing per prompt
    with django_assert_max_num_queries(6):
        response = owner_client.post("/pipelines/new/estimate", data)
    html = response.content.decode()
    assert response.status_code == 200
    assert "<strong>12</strong> prompts, 12 from the template, such as" in html
    assert "<li>a red pirate at dawn</li>" in html
    assert "for 12 outputs" in html and "$0.48" in html  # 12 x the catalog's $0.04


def test_it_adds_typed_prompts_to_the_template(owner_client, owner):
    data = form_data(make_source(owner), prompts="a typed one", template="{a|b}")
    html = owner_client.post("/pipelines/new/estimate", data).content.decode()
    assert "<strong>3</strong> prompts, 2 from the template:" in html and "for 3 outputs" in html


def test_it_shows_template_errors_live_and_escaped(owner_client, owner):
    data = form_data(make_source(owner), template="<script>x</script> {a|{b}}")
    html = owner_client.post("/pipelines/new/estimate", data).content.decode()
    assert "Braces can&#x27;t be nested (line 1, column 23)" in html
    assert "<script>" not in html


def test_it_refuses_a_template_beyond_what_a_pipeline_allows(owner_client, owner):
    source = make_source(owner)
    html = owner_client.post("/pipelines/new/estimate", form_data(source, template="{1|2|3|4|5|6|7|8}" * 3)).content.decode()
    assert "This template makes 512 prompts; a pipeline takes at most 500." in html
    response = owner_client.post("/pipelines/new", form_data(source, template="{1|2|3|4|5|6|7|8}" * 3))
    assert response.status_code == 422 and not owner.pipelines.exists()


def test_it_refuses_more_outputs_than_a_pipeline_makes(owner_client, owner, settings):
    settings.PIPELINE_MAX_OUTPUTS = 10
    data = form_data(make_source(owner), template="{1|2|3|4|5|6} {a|b}")
    html = owner_client.post("/pipelines/new/estimate", data).content.decode()
    assert "This would make 12 outputs; a pipeline may make at most 10." in html


def test_it_creates_a_step_per_expanded_prompt(owner_client, owner, sent):
    source = make_source(owner)
    PromptList.objects.create(owner=owner, name="costume", items="pirate\nastronaut")
    response = owner_client.post("/pipelines/new", form_data(source, template="a {costume} at {dawn|night|noon}"))
    assert response.status_code == 302
    pipeline = owner.pipelines.get()
    prompts = sorted(pipeline.steps.values_list("config__prompt", flat=True))
    assert len(prompts) == 6 and pipeline.planned_steps == 6
    assert prompts[0] == "a astronaut at dawn" and pipeline.name == "a pirate at dawn"


def test_it_uses_only_the_owners_lists(owner_client, owner, other):
    PromptList.objects.create(owner=other, name="costume", items="pirate")
    response = owner_client.post("/pipelines/new", form_data(make_source(owner), template="a {costume}"))
    assert response.status_code == 422
    assert "You have no saved list named “costume”." in response.content.decode()


def test_it_starts_from_a_saved_template(owner_client, owner, other):
    mine = PromptTemplate.objects.create(owner=owner, name="cars", text="{red|blue} car & <b>")
    theirs = PromptTemplate.objects.create(owner=other, name="secret", text="their secret")
    html = owner_client.get(f"/pipelines/new?template={mine.pk}").content.decode()
    assert "{red|blue} car &amp; &lt;b&gt;</textarea>" in html
    assert "their secret" not in owner_client.get(f"/pipelines/new?template={theirs.pk}").content.decode()
    for junk in ("99999999999999999999999", "9" * 5000, "²", "³³³", "-1"):
        assert owner_client.get(f"/pipelines/new?template={junk}").status_code == 200, junk
    assert f'href="/pipelines/new?template={mine.pk}">cars</a>' in html and "secret</a>" not in html


def test_it_needs_prompts_or_a_template(owner_client, owner):
    response = owner_client.post("/pipelines/new", form_data(make_source(owner)))
    assert "Write at least one prompt (one per line), or a template." in response.content.decode()


def test_it_names_the_prompt_too_long_and_where_it_came_from(owner_client, owner):
    source = make_source(owner)
    PromptList.objects.create(owner=owner, name="colour", items="y" * 2000)  # saved before items were capped
    response = owner_client.post("/pipelines/new", form_data(source, prompts="a short one", template="{colour} car"))
    assert response.status_code == 422
    html = response.content.decode()
    assert "Prompt 2 is 2,004 characters (made by the template: a saved list&#x27;s item may be too long); each may be at most 2,000." in html
    assert not owner.pipelines.exists()


def test_it_marks_a_saved_template_whose_list_is_gone(owner_client, owner):
    PromptList.objects.create(owner=owner, name="costume", items="pirate")
    working = PromptTemplate.objects.create(owner=owner, name="dress-up", text="a {costume}")
    broken = PromptTemplate.objects.create(owner=owner, name="outfits", text="a {outfit} and a {hat}")
    html = owner_client.get("/pipelines/new").content.decode()
    offer = html.split('data-testid="saved-templates"')[1].split("</p>")[0]
    marks = {t.id: offer.split(f'?template={t.id}">')[1].split("<a ")[0] for t in (working, broken)}
    assert 'data-testid="missing-lists"' not in marks[working.id]
    assert "⚠ No saved list “hat”, “outfit”: this template makes no prompts until they exist" in marks[broken.id]
