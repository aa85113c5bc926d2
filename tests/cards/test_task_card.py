"""Task cards: TOML in, JSON in the statement, strict validation that names the field."""

from __future__ import annotations

import pytest

from secfp.errors import BadInput
from secfp.cards.task_card import TaskCard, card_from_toml, load_card

SHA = "0123456789abcdef" * 4

FULL = f'''
v = 1

[task]
name = "Pneumonia on chest X-ray"
modality = "x_ray"
body_region = "chest"
label_type = "binary"
num_classes = 2
images = 5232
images_kind = "dp_estimate"
keywords = ["medical", "tissue_pathology"]

[knowledge.architecture]
name = "convnext_tiny.fb_in22k"
score = 0.93
metric = "BA"

[knowledge.pretrained_weights]
uri = "https://models.example.org/pneumonia/convnext.pt"
sha256 = "{SHA}"
licence = "CC-BY-NC-4.0"
terms = "Research use only; cite the data set."

[knowledge.augmentation]
policy_json = \'\'\'{{"__version__": "1.4.0", "transform": {{"__class_fullname__": "Compose", "p": 1.0,
  "bbox_params": null, "transforms": [{{"__class_fullname__": "HorizontalFlip", "p": 0.5}}]}}}}\'\'\'

[knowledge.cotraining]
data_shareable = true
terms = "Data-use agreement required."
contact = "mailto:data-office@example.org"
'''


def leaf_paths(obj, prefix=""):
    for key, value in obj.items():
        path = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict) and not path.endswith("policy"):
            yield from leaf_paths(value, path)
        else:
            yield path


def test_full_card_round_trips_through_json(tmp_path):
    (tmp_path / "card.toml").write_text(FULL, encoding="utf-8")
    card = load_card(tmp_path / "card.toml")
    assert card.num_classes == 2 and card.images_kind == "dp_estimate"
    assert card.knowledge.architecture.name == "convnext_tiny.fb_in22k"
    assert card.knowledge.augmentation.policy["transform"]["bbox_params"] is None
    doc = card.to_json()
    assert doc["v"] == 1 and doc["knowledge"]["augmentation"]["policy"]["__version__"] == "1.4.0"
    assert TaskCard.from_json(doc) == card
    assert set(leaf_paths(doc)) <= set(TaskCard.field_paths())


def test_minimal_card_needs_only_a_name():
    card = TaskCard.from_json({"v": 1, "task": {"name": "t"}})
    assert card.to_json() == {"v": 1, "task": {"name": "t"}}
    assert card.knowledge.cotraining is None


def test_images_default_to_exact_count():
    assert card_from_toml('v = 1\n[task]\nname = "t"\nimages = 10\n').images_kind == "exact"


def test_field_paths_name_every_section_an_export_policy_can_withhold():
    paths = TaskCard.field_paths()
    for p in ("task.images", "knowledge.pretrained_weights.terms", "knowledge.cotraining.data_shareable",
              "knowledge.augmentation.policy"):
        assert p in paths
    assert len(paths) == len(set(paths))


@pytest.mark.parametrize(
    ("old", "new", "match"),
    [
        ('metric = "BA"', 'metric = "BA"\nmetricc = 1', "unknown field knowledge.architecture.metricc"),
        ("[knowledge.cotraining]", "[knowledge.finetune]\nx = 1\n[knowledge.cotraining]",
         "unknown field knowledge.finetune"),
        ("score = 0.93", "score = nan", "knowledge.architecture.score must be a finite number"),
        ("score = 0.93", 'score = "high"', "knowledge.architecture.score must be a finite number"),
        ('name = "convnext_tiny.fb_in22k"', 'name = "ResNet 50!"', "knowledge.architecture.name must be a torchvision"),
        ("num_classes = 2", "num_classes = 3", "task.num_classes must be 2 for label_type binary"),
        ("num_classes = 2", "num_classes = true", "task.num_classes must be an integer"),
        ("images = 5232", "images = 0", "task.images must be at least 1"),
        ('images_kind = "dp_estimate"', 'images_kind = "guess"', "task.images_kind must be one of exact, dp_estimate"),
        ('label_type = "binary"', 'label_type = "segmentation"', "task.label_type must be one of"),
        (f'sha256 = "{SHA}"', 'sha256 = "abc"', "knowledge.pretrained_weights.sha256 must be 64 lower-case hex"),
        (f'sha256 = "{SHA}"', f'sha256 = "{SHA.upper()}"', "pretrained_weights.sha256 must be 64 lower-case hex"),
        ('uri = "https://models.example.org/pneumonia/convnext.pt"', 'uri = "file:///etc/passwd"',
         "knowledge.pretrained_weights.uri must be a URI with scheme"),
        ('licence = "CC-BY-NC-4.0"\n', "", "knowledge.pretrained_weights.licence is required"),
        ('terms = "Data-use agreement required."\n', "", "knowledge.cotraining.terms is required when data_shareable"),
        ("data_shareable = true", 'data_shareable = "yes"',
         "knowledge.cotraining.data_shareable must be true or false"),
        ('modality = "x_ray"', 'modality = "x_ray\\u001b[31m"', "task.modality holds control characters"),
        ('keywords = ["medical", "tissue_pathology"]', 'keywords = ["medical", "medical"]',
         "task.keywords lists"),
        ("v = 1", "v = 2", "unsupported version v = 2"),
        ("v = 1", "", "field v .* is required"),
        ('name = "Pneumonia on chest X-ray"', "", "field task.name is required"),
        ("[knowledge.augmentation]", '[knowledge.augmentation]\nuri = "https://x.org/p.json"',
         "knowledge.augmentation needs exactly one of policy"),
        ("policy_json = '''", "policy = '''", "knowledge.augmentation.policy is written as policy_json"),
        ('"p": 0.5', '"p": NaN', "not valid strict JSON"),
        ("[task]", "[task]\n[task]", "not valid TOML"),
    ],
)
def test_bad_card_is_rejected_naming_the_field(old, new, match):
    assert old in FULL
    with pytest.raises(BadInput, match=match):
        card_from_toml(FULL.replace(old, new, 1))


def test_unshareable_data_needs_no_terms():
    card = TaskCard.from_json({"v": 1, "task": {"name": "t"}, "knowledge": {"cotraining": {"data_shareable": False}}})
    assert card.knowledge.cotraining.data_shareable is False


def test_json_card_with_wrong_shapes_is_bad_input():
    with pytest.raises(BadInput, match="must be a JSON object"):
        TaskCard.from_json(["not", "a", "card"])
    with pytest.raises(BadInput, match="task.keywords must be a list"):
        TaskCard.from_json({"v": 1, "task": {"name": "t", "keywords": "medical"}})
    with pytest.raises(BadInput, match="knowledge.augmentation.policy must be a JSON object"):
        TaskCard.from_json({"v": 1, "task": {"name": "t"}, "knowledge": {"augmentation": {"policy": [1]}}})


def test_oversized_or_non_utf8_card_file_is_bad_input(tmp_path):
    big = tmp_path / "big.toml"
    big.write_bytes(b"#" * (257 * 1024))
    with pytest.raises(BadInput, match="more than the limit"):
        load_card(big)
    latin = tmp_path / "latin.toml"
    latin.write_bytes('v = 1\n[task]\nname = "caf\xe9"\n'.encode("latin-1"))
    with pytest.raises(BadInput, match="not UTF-8"):
        load_card(latin)
