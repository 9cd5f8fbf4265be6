"""Which lung network and choice classifier a segmentation uses (covidct.lungs.weights)."""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import pytest

from covidct.errors import DataUnavailableError, InvalidInputError, NoLungsFoundError
from covidct.lungs import segment_lungs
from covidct.lungs.choice import load_lung_choice, lung_choice_path
from covidct.lungs.learned import TORCH_MODEL_FILE
from covidct.lungs.network import load_lung_models, lung_model_path
from covidct.lungs.options import HybridOptions, LungOptions
from covidct.lungs.weights import (
    fitted_with,
    foreign_note,
    lung_choice,
    lung_model_record,
    lung_networks,
    network_id,
)
from covidct.provenance import sha256_file

PT = lung_model_path(TORCH_MODEL_FILE)


def _options(**hybrid: object) -> LungOptions:
    return dataclasses.replace(LungOptions.fast(), hybrid=HybridOptions(**hybrid))


def _stranger():
    """The shipped ONNX network under another card: a network the classifier was not fitted with."""
    net = load_lung_models()[0]
    return dataclasses.replace(net, card={**net.card, "sha256": "0" * 64})


def test_the_shipped_network_in_either_format_is_the_one_the_shipped_classifier_was_fitted_with():
    onnx, torch = lung_networks(LungOptions.fast()), lung_networks(_options(model=str(PT)))
    assert [n.source for n in onnx] == [lung_model_path()] and [n.source for n in torch] == [PT]
    assert network_id(onnx) == network_id(torch) == sha256_file(PT)  # the ONNX export carries the .pt's card
    assert network_id(onnx) == load_lung_choice().card["trained_on"][0]["model_sha256"]
    for nets in (onnx, torch):
        assert fitted_with(load_lung_choice(), nets) and foreign_note(load_lung_choice(), nets) is None


def test_the_shipped_classifier_unless_one_is_given_and_a_note_for_another_network():
    other, shipped = (_stranger(),), load_lung_choice()
    assert not fitted_with(shipped, other)
    assert "fitted with another network" in foreign_note(shipped, other)
    assert lung_choice(LungOptions.fast()) is shipped
    text = lung_choice_path().with_suffix(".txt")
    given = lung_choice(_options(choice=str(text)))
    assert given.source == text and given.sha256 == sha256_file(text)
    assert lung_choice(LungOptions.fast(), given) is given
    with pytest.raises(DataUnavailableError, match="missing"):
        lung_choice(_options(choice="absent.txt"))


def test_options_name_files_as_text_or_nothing():
    assert HybridOptions(model=PT).model == str(PT)  # a Path is kept as text (JSON results)
    assert HybridOptions().model is None and HybridOptions().choice is None
    for bad in ("", "  "):
        with pytest.raises(InvalidInputError, match="hybrid.model"):
            HybridOptions(model=bad)


def test_the_record_names_what_is_used():
    shipped = lung_model_record("hybrid", LungOptions.fast())
    assert shipped == {"networks": [{"file": "lung-unet.onnx", "sha256": sha256_file(lung_model_path())}],
                       "choice": {"file": lung_choice_path().name, "sha256": sha256_file(lung_choice_path()),
                                  "fitted_with_networks": True}}
    assert lung_model_record("model", LungOptions.fast()) == {"networks": shipped["networks"]}
    assert lung_model_record("refined", LungOptions.fast()) is None
    fixed = lung_model_record("hybrid", _options(learned_choice=False, model=str(PT)))
    assert fixed == {"networks": [{"file": PT.name, "sha256": sha256_file(PT)}], "choice": None}


def test_hybrid_with_another_network_uses_the_shipped_classifier(phantom, caplog):
    """With the correction forced on (where the classifier decides voxels), a network under
    another card gives the shipped network's labels (the same probabilities, the same
    classifier), and a warning."""
    forced = _options(diseased_only=False)
    with caplog.at_level(logging.WARNING):
        other = segment_lungs(phantom.volume, options=forced, model=_stranger())
    assert "fitted with another network" in caplog.text
    assert np.array_equal(other, segment_lungs(phantom.volume, options=forced))
    caplog.clear()  # a scan without lungs: the rules' refusal alone, no warning before it
    body = np.full((24, 96, 96), -1000, np.int16)
    body[:, 12:84, 12:84] = 40
    with caplog.at_level(logging.WARNING), pytest.raises(NoLungsFoundError):
        segment_lungs(body, (2.5, 2.0, 2.0), model=_stranger())
    assert caplog.text == ""
