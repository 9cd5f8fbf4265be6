"""The learned parts of ``segment_lungs``: which lung network(s) and lung choice classifier a
segmentation uses, and their record in a result.

The network is ``LungOptions.hybrid.model`` when set (a network the user trained with
``covidct train lungs-unet-2mm``), else the shipped one. The classifier of ``"hybrid"`` reads
the network's probability, so it belongs to the network it was fitted with (its card's
``trained_on[].model_sha256``): ``LungOptions.hybrid.choice`` when set, else the shipped
classifier, with a warning when it was fitted with another network. Held out, it corrected
another network better than the fixed thresholds, and at least as well as a classifier fitted with
that network (``covidct train lung-choice``; docs/validation.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from covidct.lungs.options import LungOptions

if TYPE_CHECKING:
    from covidct.lungs.choice import LungChoice
    from covidct.lungs.network import LungNetwork

__all__ = ["fitted_with", "foreign_note", "lung_choice", "lung_model_record", "lung_networks", "network_id"]


def network_id(networks: Sequence[Any]) -> str:
    """What names networks to a classifier fitted with them: each network's ``.pt`` sha256
    (its card's ``sha256``; an ONNX export carries its ``.pt``'s card), joined by "+"."""
    return "+".join(str(getattr(n, "card", {}).get("sha256") or getattr(n, "sha256", "")) for n in networks)


def lung_networks(opts: LungOptions, model: Any = None) -> tuple[LungNetwork, ...]:
    """``model`` (a network or several), else the networks of ``opts.hybrid.model``, else
    the shipped ones.

    Raises:
        DataUnavailableError, InvalidInputError: a file is missing, damaged or not a lung model.
    """
    from covidct.lungs.network import load_lung_models

    if model is not None:
        return tuple(model) if isinstance(model, (list, tuple)) else (model,)
    return load_lung_models(opts.hybrid.model)


def fitted_with(choice: LungChoice, networks: Sequence[Any]) -> bool:
    """Whether ``choice`` was fitted with ``networks`` (its card's ``trained_on[].model_sha256``)."""
    return network_id(networks) in {str(t.get("model_sha256")) for t in choice.card.get("trained_on", [])}


def lung_choice(opts: LungOptions, choice: LungChoice | None = None) -> LungChoice:
    """The lung choice classifier: ``choice``, else the file of ``opts.hybrid.choice``, else
    the shipped one, also with a network it was not fitted with (:func:`foreign_note`): held
    out, it still corrects better than the fixed thresholds (docs/validation.md).

    Raises:
        DataUnavailableError, InvalidInputError: a classifier file is missing or damaged.
    """
    from covidct.lungs.choice import load_lung_choice

    if choice is not None:
        return choice
    if opts.hybrid.choice is not None:
        return load_lung_choice(opts.hybrid.choice)
    return load_lung_choice()


def foreign_note(choice: LungChoice, networks: Sequence[Any]) -> str | None:
    """The warning for ``choice`` used with ``networks`` it was not fitted with (else None)."""
    if fitted_with(choice, networks):
        return None
    names = ", ".join(str(getattr(n, "source", None) or "a network") for n in networks)
    return (f"the lung choice classifier {choice.source.name if choice.source else ''} was fitted with another "
            f"network than {names} (held out, it corrected such a network at least as well as a classifier "
            "fitted with it; `covidct train lung-choice` fits one, given with --lung-choice)")


def lung_model_record(method: str, opts: LungOptions) -> dict[str, Any] | None:
    """For a result's JSON: the lung networks (file name, sha256) that ``method`` uses with
    ``opts`` and, for ``"hybrid"``, its classifier (``choice``: file name, sha256 and
    ``fitted_with_networks``; None with ``learned_choice=False``: the fixed thresholds). None
    for the methods without a network, or when the shipped files are missing (the
    segmentation has then failed).
    """
    from covidct.errors import DataUnavailableError

    if method not in ("model", "hybrid"):
        return None
    try:
        networks = lung_networks(opts)
        block: dict[str, Any] = {"networks": [_file(n) for n in networks]}
        if method == "hybrid":
            chosen = lung_choice(opts) if opts.hybrid.learned_choice else None
            block["choice"] = ({**_file(chosen), "fitted_with_networks": fitted_with(chosen, networks)}
                               if chosen is not None else None)
    except DataUnavailableError:
        return None
    return block


def _file(part: Any) -> dict[str, Any]:
    return {"file": part.source.name, "sha256": part.sha256}
