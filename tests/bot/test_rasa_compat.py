"""Rasa's example bots load, and their own test stories run through `kefu test`'s engine."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from bot.project import load_project
from bot.story_test import run_test_stories

DATASETS = Path(__file__).resolve().parents[3] / "shared" / "datasets"
MOODBOT = DATASETS / "rasa-moodbot-init"
FORMBOT = DATASETS / "rasa-formbot"

pytestmark = pytest.mark.skipif(not DATASETS.is_dir(), reason="../shared/datasets is not beside the repo")


async def test_moodbot_without_domain_passes_its_stories() -> None:
    project = load_project(MOODBOT)
    assert {"greet", "mood_unhappy", "bot_challenge"} <= set(project.domain.intents)
    assert "utter_cheer_up" in project.domain.responses
    report = await run_test_stories(project.engine(), None, MOODBOT / "tests")
    assert (report.stories, report.failed) == (7, 0), [r for r in report.results if not r.passed]


async def test_formbot_2_0_domain_is_migrated() -> None:
    project = load_project(FORMBOT)
    form = project.domain.forms["restaurant_form"]
    assert form.required_slots == ("cuisine", "num_people", "outdoor_seating", "preferences", "feedback")
    seating = project.domain.slots["outdoor_seating"].mappings
    assert [m.type for m in seating] == ["from_entity", "from_intent", "from_intent"]
    assert project.domain.slots["preferences"].mappings[1].not_intent == ("affirm",)


async def test_formbot_stories_fail_only_where_its_files_disagree(tmp_path: Path) -> None:
    # shared/datasets' formbot mixes commits: rules.yml says `utter_submit` then
    # `utter_slots_values` after the form, its test stories expect `utter_slots_values` at once.
    report = await run_test_stories(load_project(FORMBOT).engine(), None, FORMBOT / "tests")
    divergences = {(r.divergence.kind, r.divergence.expected, r.divergence.predicted)
                   for r in report.results if r.divergence}
    assert report.stories == 3 and divergences == {("action", "utter_slots_values", "utter_submit")}
    # With the test stories aligned to the rules, every story passes, digression included.
    aligned = tmp_path / "formbot"
    shutil.copytree(FORMBOT, aligned)
    stories = yaml.safe_load((FORMBOT / "tests" / "test_stories.yml").read_text())
    for story in stories["stories"]:
        steps = story["steps"]
        at = next(i for i, s in enumerate(steps) if s.get("action") == "utter_slots_values")
        steps.insert(at, {"action": "utter_submit"})
    (aligned / "tests" / "test_stories.yml").write_text(yaml.safe_dump(stories))
    report = await run_test_stories(load_project(aligned).engine(), None, aligned / "tests")
    assert (report.stories, report.failed) == (3, 0), [r for r in report.results if not r.passed]
