"""Gas pockets: stomach and bowel gas under a lung base is not lung (known answers)."""

from __future__ import annotations

import numpy as np
from synth import make_chest

from covidct.lungs import LEFT, LungOptions, segment_lungs
from covidct.lungs.gas import abdominal_gas, gas_pockets
from covidct.lungs.options import CavityOptions


def _chest_with_stomach():
    """The synthetic chest with a stomach under the left lung base: a +20 HU ball whose
    top half holds gas (a gas-fluid level), ringed by lung in the slices of the gas; the
    top slice of the gas dome is a gas-lung partial volume (-900 HU, like lung)."""
    chest = make_chest("none", seed=3)
    z, y, x = np.meshgrid(*(np.arange(n) for n in chest.hu.shape), indexing="ij")
    zc, yc, xc = 9, 120, 210  # 27 mm above the first slice, in the left lung base
    ball = ((z - zc) * 3.0) ** 2 + (y - yc) ** 2 + (x - xc) ** 2 <= 22.0**2
    gas = ball & (z >= zc)
    hu = chest.hu.copy()
    hu[ball] = 20
    hu[gas] = -1000
    hu[gas & (z >= zc + 6)] = -900  # the dome's top slice: gas and lung, partial volume
    truth = chest.truth.copy()
    truth[ndi_dilate(ball)] = 0
    return hu, truth, gas, chest.spacing


def ndi_dilate(mask: np.ndarray) -> np.ndarray:
    from scipy import ndimage as ndi

    return ndi.binary_dilation(mask, structure=np.ones((1, 3, 3), bool), iterations=2)


def test_stomach_gas_is_not_lung():
    """The rules' gas step (``method="refined"``). The default, ``"hybrid"``, hands this
    synthetic chest to the lung network's mask: the network, trained on the simulator's and
    real chests, reads its plain soft-tissue wall as lung (docs/validation.md, Known limits)."""
    hu, truth, gas, spacing = _chest_with_stomach()
    labels = segment_lungs(hu, spacing, method="refined")
    assert (labels[gas] > 0).mean() < 0.05  # the gas bubble stays out
    without = segment_lungs(hu, spacing, method="refined",
                            options=LungOptions(cavity=CavityOptions(enabled=False)))
    assert (without[gas] > 0).mean() < 0.05  # excluded before the cavity step
    left = labels == LEFT
    dice = 2.0 * (left & (truth == 2)).sum() / (left.sum() + (truth == 2).sum())
    assert dice > 0.95


def _pockets_on(floor_hu: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A 10 x 20 x 20 body of lung (-850 HU) with a pure-gas box (z 4-6) lying on tissue of
    ``floor_hu`` in the two slices under it (feet at index 0)."""
    hu = np.full((10, 20, 20), -850.0, np.float32)
    hu[4:7, 5:15, 5:15] = -1000.0
    hu[2:4, 5:15, 5:15] = floor_hu
    return hu, np.ones(hu.shape, bool), np.zeros(hu.shape, bool)


def test_gas_pocket_on_fluid_is_abdominal_on_lung_is_not():
    hu, body, no_airway = _pockets_on(20.0)  # a gas-fluid level: stomach
    pockets = gas_pockets(hu, voxel_ml=2.0)  # 300 voxels: 600 mL >= 5 mL
    assert pockets[4:7, 5:15, 5:15].all() and pockets.sum() == 3 * 12 * 12  # grown in-plane
    gas = abdominal_gas(pockets, hu, body, no_airway, superior_is_high=True)
    assert gas[3:8, 4:16, 4:16].all()  # the pocket grown by a voxel in 3D
    hu, body, no_airway = _pockets_on(-850.0)  # on lung: a bulla, not abdominal gas
    assert not abdominal_gas(gas_pockets(hu, 2.0), hu, body, no_airway, True).any()
    # feet at the high index: the floor is then above the pocket in the array
    hu, body, no_airway = _pockets_on(20.0)
    flipped = abdominal_gas(gas_pockets(hu[::-1], 2.0), hu[::-1], body, no_airway, False)
    np.testing.assert_array_equal(flipped[::-1], gas)
    touching = no_airway.copy()
    touching[5, 10, 10] = True  # a pocket that touches the airway is airway, not stomach
    assert not abdominal_gas(pockets, hu, body, touching, True).any()
    assert gas_pockets(hu, voxel_ml=0.01).sum() == 0  # 3 mL: too small
