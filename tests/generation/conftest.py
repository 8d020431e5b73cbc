"""A tiny decoder trained in seconds on a handful of pairs, on top of the session's tiny NLU model."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]

DOMAIN = """version: "3.1"
intents: [track_order, check_invoice, contact_customer_service, delivery_period]
responses:
  utter_track_order:
    - text: "Your order {{Order Number}} is on its way. Questions? Call {{Customer Support Phone Number}}."
  utter_check_invoice:
    - text: "Invoice INV-73921 totals $48.60, due 17/03/2026."
  utter_contact_customer_service:
    - text: "You can reach us at {{Customer Support Phone Number}} or {{Customer Support Email}}."
"""

NLU = """version: "3.1"
nlu:
- intent: track_order
  examples: |
    - where is my order
    - track my order
    - where is my package
- intent: check_invoice
  examples: |
    - where is my invoice
    - show me my invoice
- intent: contact_customer_service
  examples: |
    - how do I contact you
    - customer service phone number
"""

SETTINGS = """shop_name: Test Shop
support_phone: "+1 555 0100"
support_email: help@test.example.com
"""


@pytest.fixture(scope="session")
def generation_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Rasa project of a few pairs, the real knowledge base and a settings file."""
    root = tmp_path_factory.mktemp("generation-project")
    (root / "data").mkdir()
    (root / "domain.yml").write_text(DOMAIN, encoding="utf-8")
    (root / "data" / "nlu.yml").write_text(NLU, encoding="utf-8")
    (root / "settings.yml").write_text(SETTINGS, encoding="utf-8")
    shutil.copytree(REPO_ROOT / "dialogues" / "knowledge", root / "knowledge")
    return root


@pytest.fixture(scope="session")
def generation_model(tiny_model: Path, generation_project: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the tiny NLU model with a tiny decoder trained on `generation_project`."""
    from nlu_model.generation.train import train_generator

    model_dir = tmp_path_factory.mktemp("generation-model") / "model"
    shutil.copytree(tiny_model, model_dir)
    train_generator(model_dir, generation_project, bitext_csv=None, config_name="tiny", seed=0, threads=1, progress=False)
    return model_dir


@pytest.fixture(scope="session")
def generator(generation_model: Path, generation_project: Path):
    from nlu_model.generation.decoding import AnswerGenerator

    return AnswerGenerator.load(generation_model, knowledge_dir=generation_project / "knowledge",
                                settings_path=generation_project / "settings.yml", threads=1)


@pytest.fixture(scope="session")
def bare_generator(generator):
    """The same decoder without a knowledge base: answers come from the intent and the message only."""
    from nlu_model.generation.decoding import AnswerGenerator

    return AnswerGenerator(generator.predictor, generator.loaded, knowledge=None, settings=generator.settings)
