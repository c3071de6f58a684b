"""The text ``eval_linear`` prints: every probed layer and the k-NN score, the random init beside the network."""

from __future__ import annotations


def _pct(result: dict | None, key: str) -> str:
    return f"{100 * result[key]:.1f}" if result and key in result else "-"


def _change(before: dict | None, after: dict | None) -> str:
    if not (before and after):
        return ""
    return f"{100 * (after['top1'] - before['top1']):+.1f}"


def format_report(report: dict) -> str:
    """A table of top-1 / top-5 (in %) per layer: random init, the network, and the change in points."""
    init = report.get("random_init")
    trained_name = "network" if report["checkpoint_epoch"] < 0 else "trained"
    rows = [(name, str(report["layers"][name]["dims"]), (init or {}).get("linear", {}).get(name), result)
            for name, result in report["linear"].items()]
    if report.get("knn"):
        knn_dims = report["layers"].get("penultimate", {}).get("dims", "")
        rows.append((f"k-NN, k={report['knn']['k']}", str(knn_dims), (init or {}).get("knn"), report["knn"]))
    lines = [f"linear probes on {report['checkpoint']} (epoch {report['checkpoint_epoch']}; {report['n_train']} "
             f"train / {report['n_test']} test images, {report['n_classes']} classes; top-1 and top-5 in %)"]
    if init:
        lines.append(f"  {'layer':<14}{'dims':>7}   {'top-1: random init':>18} {trained_name:>8} {'change':>7}   "
                     f"{'top-5: random init':>18} {trained_name:>8}")
        for name, dims, before, after in rows:
            lines.append(f"  {name:<14}{dims:>7}   {_pct(before, 'top1'):>18} {_pct(after, 'top1'):>8} "
                         f"{_change(before, after):>7}   {_pct(before, 'top5'):>18} {_pct(after, 'top5'):>8}")
        lines.append(f"  random init = the weights this run started from ({init['arch']}, seed {init['seed']}), "
                     f"probed with the same settings; change = {trained_name} - random init, in points")
    else:
        lines.append(f"  {'layer':<14}{'dims':>7}   {'top-1':>6} {'top-5':>6}")
        for name, dims, _, after in rows:
            lines.append(f"  {name:<14}{dims:>7}   {_pct(after, 'top1'):>6} {_pct(after, 'top5'):>6}")
        lines.append(f"  random init: {report.get('random_init_note') or 'not probed'}")
    return "\n".join(lines)
