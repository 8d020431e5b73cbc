"""Fixtures for the NLU tests: Rasa's formbot NLU data plus a small file using every NLU section,
and one tiny model trained on them once per session (a few seconds on one thread)."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import torch

from nlu_model.data import NluData, load_training_data
from nlu_model.train import train


def _datasets_dir() -> Path:
    """$KEFU_DATASETS, else the shared folder of the workplace, else `shared/` beside the clone (CI)."""
    candidates = [os.environ.get("KEFU_DATASETS"), "/work/shared/datasets", Path(__file__).resolve().parents[3] / "shared" / "datasets"]
    for candidate in candidates:
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    raise RuntimeError("the shared datasets folder is missing; set KEFU_DATASETS")


DATASETS = _datasets_dir()

# One intra-op thread: the models here are tiny, and on a shared CPU OpenMP threads waiting
# for each other made small ops 30x slower.
torch.set_num_threads(1)
FORMBOT = DATASETS / "rasa-formbot"
MOODBOT = DATASETS / "rasa-moodbot-init"
BANKING77 = DATASETS / "banking77"

# Orders, refunds and complaints with an id regex, a lookup table, synonyms, roles and sentiment labels.
SHOP_NLU = '''version: "3.1"
nlu:
- intent: track_order
  examples: |
    - where is my order [12345](order_id)
    - track order [99881](order_id) please
    - has order [55512](order_id) shipped yet
    - what is the status of my parcel
    - when will my package arrive
    - can you track my delivery
    - where is my stuff
    - tracking for order [70001](order_id)
    - is my order on its way
    - my parcel has not arrived, order [31415](order_id)
- intent: refund
  examples: |
    - i want my money back
    - refund order [88888](order_id)
    - how do i get a refund
    - please refund me
    - return this and give me a refund
    - can i get a refund for order [24680](order_id)
    - i would like to be reimbursed
    - send my money back to my [visa card]{"entity": "payment", "value": "credit card"}
    - refund it to my [cc](payment)
    - money back please
- intent: complain
  metadata:
    sentiment: negative
  examples: |
    - this is terrible service
    - you are useless
    - worst shop ever
    - i am very angry about this
    - your delivery is awful
    - this is a disgrace
    - i hate this shop
    - totally unacceptable
    - what a horrible experience
    - never buying from you again
- intent: praise
  metadata:
    sentiment: positive
  examples: |
    - thank you so much, great service
    - you are wonderful
    - excellent help, thanks
    - i love this shop
    - brilliant, that solved it
    - amazing support
    - very helpful, thank you
    - perfect, you are the best
    - great job
    - fantastic service
- intent: fly
  examples:
  - text: |
      fly from [berlin]{"entity": "city", "role": "departure"} to [london]{"entity": "city", "role": "destination"}
    metadata:
      sentiment: neutral
  - text: |
      a flight from [paris]{"entity": "city", "role": "departure"} to [rome]{"entity": "city", "role": "destination"}
  - text: |
      book a flight to [madrid]{"entity": "city", "role": "destination"}
- synonym: credit card
  examples: |
    - cc
    - visa card
- regex: order_id
  examples: |
    - \\b\\d{5}\\b
- lookup: country
  examples: |
    - Germany
    - New Zealand
    - NZ
    - France
- synonym: New Zealand
  examples: |
    - NZ
'''


@pytest.fixture(scope="session")
def datasets() -> Path:
    """The shared datasets folder (rasa-formbot, rasa-moodbot-init, banking77, ...)."""
    return DATASETS


@pytest.fixture(scope="session")
def project_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Rasa project folder: formbot's nlu.yml and rules.yml plus the shop file, and a domain.yml."""
    root = tmp_path_factory.mktemp("project")
    (root / "data").mkdir()
    shutil.copy(FORMBOT / "data" / "nlu.yml", root / "data" / "nlu.yml")
    shutil.copy(FORMBOT / "data" / "rules.yml", root / "data" / "rules.yml")
    (root / "data" / "shop.yml").write_text(SHOP_NLU, encoding="utf-8")
    shutil.copy(FORMBOT / "domain.yml", root / "domain.yml")
    return root


@pytest.fixture(scope="session")
def project_data(project_dir: Path) -> NluData:
    return load_training_data(project_dir)


@pytest.fixture(scope="session")
def trained_model(project_data: NluData, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """(model folder, training report) of the tiny config trained on `project_data`."""
    out = tmp_path_factory.mktemp("model")
    report = train(project_data, out, config_name="tiny", seed=0, threads=1, progress=False)
    return out, report
