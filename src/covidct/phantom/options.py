"""Options and size presets of the chest-CT phantom.

All lengths are in mm, intensities in Hounsfield units (HU). Array shapes are ``(z, y, x)``.
The default class proportions follow the iCTCF / HUST-19 cohort (1329 patients):
severity 568 / 562 / 199, CT+ 998 / CT- 331, NAT+ 761 / NAT- 568, with 259 NAT- CT+ and
22 NAT+ CT- patients. They are reproduced by

* ``control`` (NAT-, CT-, severity 0, morbidity 'Control'): 309 / 1329,
* ``pneumonia`` (common pneumonia, NAT-, CT+, severity 0, morbidity 'Suspected'): 259 / 1329,
* ``covid`` (NAT+, severity 1 or 2): 761 / 1329, of which 22 / 761 show no lesion (CT-)
  and 199 / 761 are severe or critically ill.
"""

from __future__ import annotations

from dataclasses import dataclass

from covidct.errors import InvalidInputError

__all__ = ["DIAGNOSES", "SIZE_PRESETS", "PhantomOptions", "SizePreset", "get_size_preset"]

DIAGNOSES: tuple[str, ...] = ("control", "pneumonia", "covid")


@dataclass(frozen=True)
class SizePreset:
    """Grid of one phantom size.

    Attributes:
        shape: ``(z, y, x)`` voxels of every volume of this preset.
        pixel_mm: range of in-plane pixel size in mm (drawn per case, at least large enough
            for the body to fit in the field of view).
        thickness_factor: slice thickness (z blur FWHM) as a multiple of the z spacing, range.
    """

    shape: tuple[int, int, int]
    pixel_mm: tuple[float, float]
    thickness_factor: tuple[float, float] = (1.0, 1.6)


SIZE_PRESETS: dict[str, SizePreset] = {
    "tiny": SizePreset(shape=(32, 64, 64), pixel_mm=(4.8, 7.2)),
    "small": SizePreset(shape=(64, 128, 128), pixel_mm=(2.4, 3.6)),
    "medium": SizePreset(shape=(96, 256, 256), pixel_mm=(1.2, 1.8)),
    "full": SizePreset(shape=(100, 512, 512), pixel_mm=(0.6, 0.9)),
}


def get_size_preset(size: str) -> SizePreset:
    """The :class:`SizePreset` named ``size`` ('tiny', 'small', 'medium', 'full')."""
    try:
        return SIZE_PRESETS[size]
    except KeyError:
        raise InvalidInputError(
            f"unknown phantom size {size!r}; expected one of {sorted(SIZE_PRESETS)}"
        ) from None


@dataclass(frozen=True)
class PhantomOptions:
    """How phantom cases are drawn.

    Attributes:
        p_control, p_pneumonia, p_covid: diagnosis proportions (normalised to sum 1).
        p_covid_ct_negative: share of COVID cases (NAT+) without visible lesions (CT-).
        p_covid_severe: share of COVID cases with lesions that are severe / critically ill.
        p_pneumonia_bilateral: share of common pneumonia cases involving both lungs.
        p_control_nodules: share of controls with 1-3 small benign nodules (not lesions).
        p_nat_flip: probability of flipping the NAT result (extra label noise; 0 by default).
        p_ct_flip: probability of flipping the radiology CT label (extra label noise).
        physics: forward-project every slice, add Poisson noise, reconstruct by filtered
            back-projection (slow) instead of additive Gaussian noise.
        noise_hu: range of the image noise standard deviation in water, HU.
        blur_mm: range of the in-plane reconstruction-kernel blur (Gaussian sigma, mm);
            small = sharp kernel.
        contrast_probability: share of contrast-enhanced scans (blood +150..+300 HU).
        photons: range of unattenuated photons per detector bin in physics mode.
    """

    p_control: float = 309 / 1329
    p_pneumonia: float = 259 / 1329
    p_covid: float = 761 / 1329
    p_covid_ct_negative: float = 22 / 761
    p_covid_severe: float = 199 / 739
    p_pneumonia_bilateral: float = 0.2
    p_control_nodules: float = 0.3
    p_nat_flip: float = 0.0
    p_ct_flip: float = 0.0
    physics: bool = False
    noise_hu: tuple[float, float] = (10.0, 35.0)
    blur_mm: tuple[float, float] = (0.3, 1.0)
    contrast_probability: float = 0.5
    photons: tuple[float, float] = (2e4, 2e5)

    def __post_init__(self) -> None:
        probs = {
            "p_control": self.p_control,
            "p_pneumonia": self.p_pneumonia,
            "p_covid": self.p_covid,
            "p_covid_ct_negative": self.p_covid_ct_negative,
            "p_covid_severe": self.p_covid_severe,
            "p_pneumonia_bilateral": self.p_pneumonia_bilateral,
            "p_control_nodules": self.p_control_nodules,
            "p_nat_flip": self.p_nat_flip,
            "p_ct_flip": self.p_ct_flip,
            "contrast_probability": self.contrast_probability,
        }
        for name, value in probs.items():
            if not 0.0 <= float(value) <= 1.0:
                raise InvalidInputError(f"PhantomOptions.{name} must be in [0, 1]; got {value}")
        if self.p_control + self.p_pneumonia + self.p_covid <= 0:
            raise InvalidInputError("PhantomOptions: the diagnosis proportions sum to 0")
        for name in ("noise_hu", "blur_mm", "photons"):
            lo, hi = getattr(self, name)
            if not 0 <= lo <= hi:
                raise InvalidInputError(
                    f"PhantomOptions.{name} must be a range (low, high) with 0 <= low <= high; "
                    f"got {getattr(self, name)}"
                )

    @property
    def diagnosis_probabilities(self) -> dict[str, float]:
        """Normalised probabilities of 'control', 'pneumonia', 'covid'."""
        raw = (self.p_control, self.p_pneumonia, self.p_covid)
        total = float(sum(raw))
        return {d: float(p) / total for d, p in zip(DIAGNOSES, raw)}
