"""Issue 7's second dataset: scikit-learn's bundled handwritten digits as an MNIST-like image folder.

scikit-learn ships 1,797 8×8 digits (UCI optdigits, 16 grey levels) inside its wheel, so nothing is
downloaded. Each is scaled to 20×20 and centred in a 28×28 black canvas, the way MNIST frames its digits,
and written as OUT/<digit>/<index>.png: the engine's imagefolder source reads the folder names as labels
(used only to score).

    python benchmarks/recipe/make_digits_folder.py --out data/digits
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits


def write_digits_folder(out: Path) -> int:
    digits = load_digits()
    for index, (image, label) in enumerate(zip(digits.images, digits.target)):
        grey = Image.fromarray(np.uint8(np.round(image * (255 / 16)))).resize((20, 20), Image.BICUBIC)
        canvas = Image.new("L", (28, 28))
        canvas.paste(grey, (4, 4))
        folder = out / str(int(label))
        folder.mkdir(parents=True, exist_ok=True)
        canvas.save(folder / f"{index:04d}.png")
    return len(digits.images)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="folder to write (one subfolder per digit)")
    args = p.parse_args()
    print(f"wrote {write_digits_folder(Path(args.out))} images under {args.out}")


if __name__ == "__main__":
    main()
