"""Export a pretrained backbone: safetensors weights, a model card and a torch.export program.

    python launch/export.py --checkpoint runs/fmnist/checkpoints/epoch_0009.pt --out exports/fmnist
    python launch/export.py --checkpoint runs/fmnist --out exports/fmnist          # newest checkpoint of a run

Writes OUT/backbone.safetensors (ResNet keys are torchvision's; Sobel under sobel.*, the DeepCluster MLP
under mlp.*), OUT/backbone.pt2 (torch.export, dynamic batch) and OUT/model_card.json (written last, after
every exported form was re-loaded and matched the checkpoint on random inputs). Load it back with
``deepcluster.load_backbone(OUT)``: JSON + safetensors only, no pickle. A ResNet trained with
model.sobel=false also loads into plain ``torchvision.models.resnet18()`` (only fc.* missing); a grayscale
one takes the image replicated to RGB (its 1-channel conv1 is stored as kernel / 3 on each of 3 channels).
Sobel, compact and AlexNet backbones do not fit plain torchvision: the card's "load" note says so.
Exit code 2, with one line, when the checkpoint is missing or is not a deepcluster checkpoint.
"""

from __future__ import annotations

import argparse
import json
import sys

from deepcluster.config import ConfigError
from deepcluster.export import export_backbone


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True,
                   help="checkpoint file, run directory (its newest checkpoint) or export directory")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--no-program", action="store_true", help="skip the torch.export program (weights and card only)")
    args = p.parse_args(argv)
    try:
        card = export_backbone(args.checkpoint, args.out, program=not args.no_program)
    except (ConfigError, ValueError, OSError) as err:  # OSError: missing files, an unwritable --out, a full disk
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"exported {card['model']['arch']} (sobel={card['model']['sobel']}, epoch {card['epoch']}, "
          f"{card['feature_dim']}-d features) to {args.out}")
    print("check against the checkpoint on random inputs: " + json.dumps(card["export_check"]))
    print(card["load"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
