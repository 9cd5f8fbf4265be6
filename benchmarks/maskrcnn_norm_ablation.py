"""Mask R-CNN from scratch on generated blob slices: frozen vs learnt batch-norm statistics.

Usage: .venv/bin/python benchmarks/maskrcnn_norm_ablation.py MASK_TYPE LR BOX_BATCH NORM
       e.g. ``both 2e-3 64 batch`` and ``both 2e-3 64 frozen-stats``

Data: the generated CNCB-layout slices of the tests (``tests/detection/conftest.py``:
8 patients x 6 slices, 64 x 64, square GGO and round consolidation blobs), written once to
``.scratch/blobs``; patients 06 and 07 are held out. ResNet18 truncation 2, 64 px, Adam
(weight decay 1e-3), batch 2, 8 epochs of 18 steps, one thread. After each epoch: COCO box and
mask AP@0.5 on the held-out slices. Prints epoch, step, last loss, APs, seconds.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "detection"))
from conftest import write_blob_slices

from covidct.datasets.cncb import read_cncb_seg
from covidct.detection.coco import coco_metrics
from covidct.detection.infer import predict_slices
from covidct.detection.model import MaskRCNNOptions, build_maskrcnn, num_classes
from covidct.detection.slices import LesionSliceDataset


def main() -> None:
    mask_type, lr, box_batch, norm = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    torch.set_num_threads(1)
    torch.manual_seed(0)
    root = Path(".scratch/blobs")
    if not root.exists():
        write_blob_slices(root)
    table = read_cncb_seg(root)
    ds = LesionSliceDataset(table, root, mask_type=mask_type)
    held_out = table["patient_id"].str.endswith(("06", "07")).to_numpy()
    train, test = np.flatnonzero(~held_out), np.flatnonzero(held_out)
    model = build_maskrcnn(MaskRCNNOptions(truncation=2, mask_type=mask_type, min_size=64, max_size=64,
                                           box_batch_size=box_batch, norm=norm))
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr, weight_decay=1e-3)
    data = [ds[i] for i in range(len(ds))]
    t0, step = time.time(), 0
    for epoch in range(8):
        model.train()
        for j in range(0, len(train), 2):
            batch = [data[k] for k in np.random.default_rng(epoch).permutation(train)[j:j + 2]]
            losses = model([b[0] for b in batch],
                           [{k: v for k, v in b[1].items() if k != "image_id"} for b in batch])
            loss = sum(losses.values())
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
        preds = predict_slices(model, [data[i][0] for i in test])
        gts = [{k: data[i][1][k].numpy() for k in ("boxes", "labels", "masks")} for i in test]
        res = coco_metrics(gts, preds, n_classes=num_classes(mask_type) - 1)
        print(epoch, step, round(float(loss.detach()), 3),
              {k: round(v["ap50"], 3) for k, v in res.items()}, round(time.time() - t0), flush=True)


if __name__ == "__main__":
    main()
