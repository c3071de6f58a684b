"""The second transfer dataset: letters A-J rendered from the fonts Debian installs (a notMNIST-style set).

Nothing is downloaded: every TrueType / OpenType / Type 1 font under /usr/share/fonts (``.ci/run`` and
the benchmark install a fixed list of Debian font packages) renders each of the ten letters four
times, white on a black 28 x 28 canvas like MNIST, each with its own seeded scale, shift and rotation.
Fonts without Latin capitals (symbols, dingbats: their ten glyphs are not ten different pictures) are
left out. Written as OUT/<letter>/<font>_<variant>.png, so ``data.name=imagefolder`` reads the folder
names as labels (which only score).

    python benchmarks/protocol/make_letters_folder.py --out data/letters
"""

from __future__ import annotations

import argparse
import zlib
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

LETTERS = "ABCDEFGHIJ"
FONT_SUFFIXES = (".ttf", ".otf", ".t1", ".pfb")
SIZE = 28
VARIANTS = 4


def font_files(root: Path = Path("/usr/share/fonts")) -> list[Path]:
    """One file per font: the same font shipped in two formats (URW's .otf and .t1) counts once."""
    by_stem: dict[str, Path] = {}
    for path in sorted(p for p in root.rglob("*") if p.suffix.lower() in FONT_SUFFIXES):
        by_stem.setdefault(path.stem, path)
    return sorted(by_stem.values())


def render(font_path: Path, letter: str, rng: np.random.Generator) -> Image.Image:
    """One glyph, scaled to 60-90 % of the canvas height, rotated up to 12 degrees, shifted up to 2 px."""
    font = ImageFont.truetype(str(font_path), size=int(SIZE * rng.uniform(0.6, 0.9) * 1.3))
    big = Image.new("L", (SIZE * 2, SIZE * 2))
    draw = ImageDraw.Draw(big)
    left, top, right, bottom = draw.textbbox((0, 0), letter, font=font)
    draw.text((SIZE - (left + right) / 2, SIZE - (top + bottom) / 2), letter, fill=255, font=font)
    big = big.rotate(rng.uniform(-12, 12), resample=Image.BILINEAR)
    dx, dy = rng.integers(-2, 3, size=2)
    return big.crop((SIZE // 2 - dx, SIZE // 2 - dy, SIZE // 2 - dx + SIZE, SIZE // 2 - dy + SIZE))


def has_latin_capitals(font_path: Path) -> bool:
    """Ten different, non-blank pictures for A-J (a symbol font maps them to boxes or to one glyph)."""
    try:
        font = ImageFont.truetype(str(font_path), size=24)
    except OSError:
        return False
    pictures = set()
    for letter in LETTERS:
        image = Image.new("L", (32, 32))
        ImageDraw.Draw(image).text((2, 2), letter, fill=255, font=font)
        pixels = np.asarray(image)
        if pixels.max() == 0:
            return False
        pictures.add(pixels.tobytes())
    return len(pictures) == len(LETTERS) and "symbol" not in font_path.name.lower()


def write_letters_folder(out: Path) -> tuple[int, int]:
    fonts = [f for f in font_files() if has_latin_capitals(f)]
    if not fonts:
        raise SystemExit("no usable fonts under /usr/share/fonts; apt-get install the packages .ci/run lists")
    for font_path in fonts:
        for letter in LETTERS:
            folder = out / letter
            folder.mkdir(parents=True, exist_ok=True)
            rng = np.random.default_rng([zlib.crc32(font_path.name.encode()), ord(letter)])
            for variant in range(VARIANTS):
                render(font_path, letter, rng).save(folder / f"{font_path.stem}_{variant}.png")
    return len(fonts), len(fonts) * len(LETTERS) * VARIANTS


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, type=Path, help="folder to write (one subfolder per letter)")
    args = p.parse_args()
    n_fonts, n_images = write_letters_folder(args.out)
    print(f"wrote {n_images} images of {len(LETTERS)} letters from {n_fonts} fonts under {args.out}")


if __name__ == "__main__":
    main()
