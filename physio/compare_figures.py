"""Figures of a ``physio compare`` run: scan lines (paper Fig. 5/6), pixel traces (Fig. 7/8), Table 1
as bars, rates from the outputs (Bland–Altman), and the §5.4 ablations (Fig. 10/11)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["write_figures"]

_LABEL = {"original": "original", "deepmag": "DeepMag", "evm": "EVM", "phase": "phase EVM", "vam": "VAM",
          "oh": "Oh et al.", "lwmm-m1": "LW-MM M1", "lwmm-m2": "LW-MM M2",
          "deepmag-nol1": "DeepMag, no L1 norm", "deepmag-nosign": "DeepMag, no sign corr.",
          "deepmag-signsample": "DeepMag, per-sample sign", "deepmag-full": "DeepMag, whole frame"}


def label(method: str) -> str:
    return _LABEL.get(method, method)


def write_figures(result: dict, clips, fig_clips: dict, recs: dict, source: str, out_dir, *, ablations: bool,
                  factors: dict, device: str) -> dict:
    """Write every figure under ``out_dir``; returns ``{name: path relative to out_dir's parent}``."""
    from matplotlib.figure import Figure  # noqa: PLC0415

    from physio.figures import change_map_figure, pixel_trace_figure, save_figure, scanline_figure  # noqa: PLC0415
    from physio.plots import bland_altman_plot  # noqa: PLC0415

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, str] = {}

    def keep(name: str, fig) -> None:
        path = out / f"{name}.png"
        save_figure(fig, path, dpi=110)
        files[name] = f"{out.name}/{path.name}"

    methods = ["original", *result["methods"]]
    for task, clip in fig_clips.items():
        scans = {label(m): recs[(task, m)][0].result() for m in methods if (task, m) in recs}
        traces = {label(m): recs[(task, m)][1].result()[:, 0, :] for m in methods if (task, m) in recs}
        if not scans:
            continue
        first = next(iter(clip.chunks()))[0]
        keep(f"scanline_{task}", scanline_figure(scans, clip.fps, clip.scan_line, frame=first,
                                                 title=f"{clip.name} (task {task}): scan line, {source}"))
        keep(f"pixel_{task}", pixel_trace_figure(traces, clip.fps, channel_names=("R", "G", "B"), subtract_mean=True,
                                                 title=f"{clip.name}: pixel (x={clip.pixel[0]}, y={clip.pixel[1]})"))
        changes = {label(m): recs[(task, m)][2] for m in result["methods"] if (task, m) in recs}
        if changes:
            region, name = ((clip.regions.skin_fixed, "skin") if source == "pulse"
                            else (clip.regions.shoulders_fixed, "shoulders"))
            keep(f"change_{task}", change_map_figure(
                changes, frame=first, mask=region,
                title=f"{clip.name} (task {task}): where each method changes the frame ({name} outlined)"))

    # Table 1 as bars
    agg = [r for r in result["results"] if r["task"] != "all" and r["method"] != "original"]
    tasks = sorted({r["task"] for r in agg})
    ms = list(dict.fromkeys(r["method"] for r in agg))
    if agg:
        fig = Figure(figsize=(9, 3.4), layout="constrained")
        for k, key in enumerate(("psnr", "ssim", "gain")):
            ax = fig.add_subplot(1, 3, k + 1)
            w = 0.8 / max(1, len(ms))
            for j, m in enumerate(ms):
                vals = [next((r[key] for r in agg if r["task"] == t and r["method"] == m), None) for t in tasks]
                ax.bar(np.arange(len(tasks)) + j * w, [np.nan if v is None else v for v in vals], w, label=label(m))
            ax.set_xticks(np.arange(len(tasks)) + w * (len(ms) - 1) / 2, tasks)
            ax.set_title({"psnr": "PSNR vs original [dB]", "ssim": "SSIM vs original", "gain": "in-band gain"}[key])
            if key == "ssim":
                lo = min((r["ssim"] for r in agg if r["ssim"] is not None), default=0.9)
                ax.set_ylim(max(0.0, lo - 0.02), 1.0)
        fig.axes[0].legend(fontsize="small")
        keep("table1", fig)

    # rates from the outputs
    rate = "hr" if source == "pulse" else "br"
    unit = "bpm" if rate == "hr" else "breaths/min"
    fig = Figure(figsize=(9, 3.6), layout="constrained")
    drawn = False
    for k, rt in enumerate(("hr", "br")):
        ax = fig.add_subplot(1, 2, k + 1)
        for j, m in enumerate(methods):
            rows = [r for r in result["sessions"] if r["method"] == m and r.get(f"{rt}_bpm") is not None]
            if not rows:
                continue
            x = np.arange(len(rows)) + (j - (len(methods) - 1) / 2) * 0.8 / len(methods)
            ax.scatter(x, [r[f"{rt}_bpm"] for r in rows], s=16, label=label(m))
            drawn = True
        truth = [r.get(f"{rt}_true") for r in result["sessions"] if r["method"] == "original"]
        if any(v is not None for v in truth):
            ax.scatter(np.arange(len(truth)), [np.nan if v is None else v for v in truth], marker="_", s=300,
                       color="k", label="truth")
        clips_ = [r["session"] for r in result["sessions"] if r["method"] == "original"]
        ax.set_xticks(np.arange(len(clips_)), clips_, rotation=60, fontsize="x-small")
        ax.set_ylabel(f"{rt.upper()} measured from the output [{'bpm' if rt == 'hr' else '/min'}]")
    if drawn:
        fig.axes[0].legend(fontsize="x-small")
        keep("rates", fig)
    for m in methods:
        rows = [r for r in result["sessions"] if r["method"] == m and r.get(f"{rate}_bpm") is not None
                and r.get(f"{rate}_true") is not None]
        if len(rows) >= 2:
            keep(f"bland_altman_{m}", bland_altman_plot([r[f"{rate}_bpm"] for r in rows], [r[f"{rate}_true"] for r in rows],
                                                        unit=unit, title=f"{rate.upper()} from the {label(m)} output"))
    if ablations and "deepmag" in factors:
        paths, stats = _ablation_figures(clips, source, factors["deepmag"], out, device)
        files.update({k: f"{out.name}/{Path(v).name}" for k, v in paths.items()})
        result["ablation"] = stats
    return files


def _ablation_figures(clips, source: str, gamma: float, out: Path, device: str) -> tuple[dict, dict]:
    """Fig. 10 (L1 norms of X₁ and of the gradient) and Fig. 11 (per-pixel correlation of X₁ and X_N,
    sign correction on/off) on the first clip; returns the figure paths and the numbers behind them."""
    import torch  # noqa: PLC0415

    from physio.figures import correlation_map_figure, gradient_norm_figure, save_figure  # noqa: PLC0415
    from physio.magnify.ascent import gradient_ascent  # noqa: PLC0415
    from physio.magnify.outputs import ascent_l1_norms, per_pixel_correlation  # noqa: PLC0415
    from physio.models import load_net  # noqa: PLC0415
    from physio.represent.compute import RepresentationSpec, iter_representation  # noqa: PLC0415

    clip = clips[0]
    net, ckpt = load_net(f"{source}_cnn", device)
    spec = RepresentationSpec.from_dict(ckpt["representation"])
    box = clip.boxes["face" if source == "pulse" else "torso"]
    x1 = torch.from_numpy(np.concatenate(list(iter_representation(clip.chunks(), spec, box)))).float()
    scale = float(x1.pow(2).mean().sqrt()) or 1.0
    x_l1, g_l1 = ascent_l1_norms(net, x1.to(device), input_scale=scale)
    paths = {}
    p = out / "ablation_gradient_norms.png"
    save_figure(gradient_norm_figure(x_l1, g_l1, fps=clip.fps, title=f"{clip.name}: L1 norms (§5.4)"), p, dpi=110)
    paths["ablation_gradient_norms"] = str(p)
    maps = {}
    cv = float(np.std(g_l1) / np.mean(g_l1)) if np.mean(g_l1) > 0 else None
    stats = {"clip": clip.name, "gamma": gamma, "grad_l1_cv": cv,
             "x1_grad_l1_r": float(np.corrcoef(x_l1, g_l1)[0, 1]) if np.std(x_l1) > 0 and np.std(g_l1) > 0 else None}
    for on in (False, True):
        xn = gradient_ascent(net, x1.to(device), gamma, 20, sign_correct=on, input_scale=scale).x.cpu()
        corr = per_pixel_correlation(x1.numpy(), xn.numpy())
        tag = "on" if on else "off"
        maps["sign correction" if on else "no sign correction"] = np.nanmean(corr, axis=0)
        finite = corr[np.isfinite(corr)]  # constant cells have no correlation: left out, not counted negative
        stats[f"positive_share_sign_{tag}"] = float(np.mean(finite > 0)) if finite.size else None
        stats[f"median_r_sign_{tag}"] = float(np.nanmedian(corr))
    p = out / "ablation_correlation.png"
    save_figure(correlation_map_figure(maps, title=f"{clip.name}: corr(X1, XN) per pixel (§5.4)"), p, dpi=110)
    paths["ablation_correlation"] = str(p)
    return paths, stats
