"""Plot what ``ae_epochs_probe.py`` printed: AE + K-Means ACC / NMI and the reconstruction MSE per epoch.

  python benchmarks/heads/plot_ae_epochs.py runs/ae_probe/*.jsonl --out ae_epochs.png
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("logs", nargs="+", help="JSON lines from ae_epochs_probe.py, one file per run")
    p.add_argument("--out", required=True)
    args = p.parse_args()
    fig, (acc_ax, nmi_ax, mse_ax) = plt.subplots(1, 3, figsize=(15, 4.2))
    for log in args.logs:
        rows = [json.loads(line) for line in Path(log).read_text().splitlines() if line.startswith("{")]
        if not rows:
            continue
        epochs = [r["epoch"] for r in rows]
        label = f"seed {rows[0]['seed']}, {rows[0]['precision']}"
        style = "-" if rows[0]["precision"] == "fp32" else "--"
        line, = acc_ax.plot(epochs, [r["acc"] for r in rows], style, marker=".", label=label)
        nmi_ax.plot(epochs, [r["nmi"] for r in rows], style, marker=".", color=line.get_color(), label=label)
        mse_ax.plot(epochs, [r["mse"] for r in rows], style, color=line.get_color(), label=label)
    for ax, name in ((acc_ax, "AE + K-Means ACC"), (nmi_ax, "AE + K-Means NMI"), (mse_ax, "reconstruction MSE")):
        ax.set_xlabel("autoencoder epoch (SGD lr 1, momentum 0.9)")
        ax.set_title(name)
        ax.grid(alpha=0.3)
    mse_ax.set_yscale("log")
    acc_ax.axhline(0.606, color="grey", lw=0.8, ls=":", label="DEC-keras AE + K-Means, mean of 10 (300 ep.)")
    acc_ax.legend(fontsize=8, loc="upper left")
    fig.suptitle("Fashion-MNIST 70k, raw pixels: k-means (n_init 20) on the 10-d codes while the autoencoder trains")
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
