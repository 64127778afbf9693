"""`hairfx evaluate` checks everything before it scores, and writes its JSON whole.

The metrics and the full report on photos are tested in test_training.py; here the data
trees are tiny synthetic ones made in tmp_path (48x64 blobs, a 6-frame clip).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest

import hairfx.segmenter
import hairfx.training.evaluate as evaluate_mod
from hairfx.errors import InputError, MissingFileError, WeightsError
from hairfx.segmenter import Segmenter
from hairfx.training.evaluate import SPLITS, check_inputs
from hairfx.training.evaluate import main as evaluate_main


def _blob(seed: int, h: int = 48, w: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """A BGR photo with a dark 'hair' ellipse on a light noisy background, and its mask."""
    rng = np.random.default_rng(seed)
    mask = np.zeros((h, w), np.uint8)
    cv2.ellipse(mask, (w // 2, h // 3), (w // 3, h // 4), 0, 0, 360, 255, -1)
    img = rng.integers(150, 230, (h, w, 3)).astype(np.uint8)
    img[mask > 0] = rng.integers(20, 70, (h, w, 3)).astype(np.uint8)[mask > 0]
    return img, mask


def _tree(root: Path, pairs: int = 2) -> Path:
    """A data folder shaped like ../shared/data: SPLITS of `pairs` pairs each, one clip."""
    for split in SPLITS:
        (root / split / "images").mkdir(parents=True)
        (root / split / "masks").mkdir(parents=True)
        for i in range(pairs):
            img, mask = _blob(i)
            cv2.imwrite(str(root / split / "images" / f"p{i}.jpg"), img)
            cv2.imwrite(str(root / split / "masks" / f"p{i}.png"), mask)
    (root / "videos").mkdir()
    img, _ = _blob(0)
    w = cv2.VideoWriter(str(root / "videos" / "pan.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 10, (64, 48))
    assert w.isOpened(), "OpenCV cannot write mp4v here"
    for i in range(6):
        w.write(np.roll(img, 2 * i, axis=1))
    w.release()
    return root


@pytest.fixture
def no_scoring(monkeypatch) -> list:
    """Records (and refuses) any scoring: a run that stops in its checks leaves this empty.
    Models are loaded first, with the checks (a stand-in here: the weights are fine)."""
    done = []

    def refuse(what):
        def f(*args, **kwargs):
            done.append(what)
            raise AssertionError(f"{what} before the inputs were checked")

        return f

    monkeypatch.setattr(hairfx.segmenter, "Segmenter", lambda name, **kw: object())
    monkeypatch.setattr(evaluate_mod, "evaluate_split", refuse("split scored"))
    monkeypatch.setattr(evaluate_mod, "flicker", refuse("clip scored"))
    return done


def test_evaluate_end_to_end_writes_json_into_a_new_folder(tmp_path, capsys):
    """The real run on a tiny tree: --limit keeps a broken pair past it out of the run, and
    --json may name folders that are not there yet."""
    data = _tree(tmp_path / "data")
    (data / "celeb1k/test/images/zz.jpg").write_bytes(b"not a jpeg")  # the 3rd pair: past --limit 2
    cv2.imwrite(str(data / "celeb1k/test/masks/zz.png"), _blob(0)[1])
    out = tmp_path / "reports" / "today" / "eval.json"
    assert evaluate_main(["--data", str(data), "--model", "small", "--limit", "2", "--max-frames", "4",
                          "--threads", "1", "--json", str(out)]) == 0
    res = json.loads(out.read_text())["small"]
    for split in SPLITS:
        assert res[split]["n"] == 2 and sorted(res[split]["per_image"]) == ["p0", "p1"]
        assert 0.0 <= res[split]["iou"] <= 1.0 and 0.0 <= res[split]["boundary_f"] <= 1.0
    assert res["videos"]["pan"]["frames"] == 4
    hair_free = res["hair_free"]
    assert hair_free["crops"]["n"] == 4 and hair_free["flat"]["n"] == len(evaluate_mod.FLAT_SCENES)
    for part in ("crops", "flat"):
        assert 0.0 <= hair_free[part]["hair_share"] <= 1.0 and 0 <= hair_free[part]["over_1pct"] <= hair_free[part]["n"]
    assert sorted(p.name for p in out.parent.iterdir()) == ["eval.json"]  # no temporary file left
    printed = capsys.readouterr().out
    assert "| small | pan | 4 |" in printed and "No hair in view" in printed and "Small heads" in printed
    assert sorted(res["small_heads"]["celeb1k/test"]) == ["0.25", "0.35", "0.5"]  # JSON keys: the scales


def test_small_heads_shrinks_photo_and_label_alike_and_scores_both_ways(tmp_path):
    from hairfx.training.evaluate import _shrunk, small_heads

    rgb = np.full((100, 200, 3), 255, np.uint8)
    gt = np.zeros((100, 200), bool)
    gt[:50, :100] = True
    img, label = _shrunk(rgb, gt, 0.5)
    assert img.shape == rgb.shape and label.shape == gt.shape
    assert np.array_equal(np.argwhere(img.any(axis=2))[[0, -1]], [[25, 50], [74, 149]])  # centred, half the sides
    assert np.array_equal(np.argwhere(label)[[0, -1]], [[25, 50], [49, 99]])  # the label's quarter of it

    class Seen:  # scores what it is given: the shrunk label as its mask, with or without the zoom
        def __init__(self):
            self.calls = []

        def predict(self, frame, zoom=True):
            self.calls.append((frame.shape, zoom))
            return np.where(np.arange(frame.shape[1]) < frame.shape[1] // 2, 0.9, 0.0)[None].repeat(frame.shape[0], 0)

    data = _tree(tmp_path / "data")
    seen = Seen()
    res = small_heads(seen, data / "figaro1k/test", limit=2, scales=(0.5,))
    assert sorted(res) == [0.5] and sorted(res[0.5]) == ["one_pass", "zoom"]
    assert [z for _, z in seen.calls] == [False, True, False, True]
    assert 0.0 <= res[0.5]["one_pass"] <= 1.0


class _Recording:
    """A stand-in segmenter that records the zoom of each predict() and session(), and
    masks nothing."""

    def __init__(self):
        self.zooms = []

    def predict(self, frame, prior=None, *, zoom=True):
        self.zooms.append(("predict", zoom))
        return np.zeros(frame.shape[:2], np.float32)

    def session(self, *, zoom=True, **options):
        self.zooms.append(("session", zoom))

        class Session:
            resets = 0

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                return False

            def process(self, frame):
                return np.zeros(frame.shape[:2], np.float32)

        return Session()


@pytest.mark.parametrize("zoom", [True, False])
def test_flicker_takes_the_zoom_for_every_mode(tmp_path, zoom):
    """--no-zoom scores the clips with the whole frame too: no prior, raw prior, the session
    and the re-checking one."""
    data = _tree(tmp_path / "data")
    seen = _Recording()
    res = evaluate_mod.flicker(seen, data / "videos" / "pan.mp4", 4, check_every=2, zoom=zoom)
    assert res["frames"] == 4
    # 4 frames without a prior, 4 fed back, then the session and the re-checking one
    assert seen.zooms == [("predict", zoom)] * 8 + [("session", zoom)] * 2


def test_evaluate_no_zoom_reaches_the_clips(tmp_path, monkeypatch):
    data = _tree(tmp_path / "data", pairs=1)
    monkeypatch.setattr(evaluate_mod, "evaluate_split", lambda seg, folder, limit=None, tta=False, zoom=True: {
        "n": 1, "iou": 1.0, "boundary_f": 1.0, "per_image": {},
        "by_lightness": {k: {"n": 0, "iou": None} for k, _, _ in evaluate_mod.LIGHTNESS}})
    monkeypatch.setattr(evaluate_mod, "small_heads", lambda *a, **kw: {
        s: {"one_pass": 1.0, "zoom": 1.0} for s in evaluate_mod.SMALL_HEAD_SCALES})
    monkeypatch.setattr(evaluate_mod, "hair_free", lambda *a, **kw: {
        part: {"n": 1, "hair_share": 0.0, "over_1pct": 0} for part in ("crops", "flat")})
    zooms = []

    def flicker(seg, clip, max_frames, check_every=0, *, zoom=True):
        zooms.append(zoom)
        return {"frames": 1, "no_prior": 0.0, "prior": 0.0, "session": 0.0, "resets": 0,
                "coverage_no_prior": 0.0, "coverage_session": 0.0}

    monkeypatch.setattr(evaluate_mod, "flicker", flicker)
    for args, zoom in (([], True), (["--no-zoom"], False)):
        assert evaluate_main(["--data", str(data), "--model", "small", *args]) == 0
        assert zooms.pop() is zoom


def test_the_hair_free_window_is_the_square_with_least_hair():
    from hairfx.training.evaluate import _hair_free_window

    gt = np.zeros((100, 200), bool)
    gt[:60, :] = True  # hair over the top, and down the left side
    gt[:, :50] = True
    y, x, n = _hair_free_window(gt)
    assert n == 40 and not gt[y : y + n, x : x + n].any()
    assert _hair_free_window(np.ones((100, 200), bool)) is None  # all hair: no window


def test_evaluate_json_is_replaced_whole(tmp_path, monkeypatch):
    """The JSON goes through a temporary file: a failed write leaves the old results whole."""
    data = _tree(tmp_path / "data", pairs=1)
    out = tmp_path / "eval.json"
    out.write_text('{"old": 1}\n')
    monkeypatch.setattr(evaluate_mod, "evaluate_split", lambda seg, folder, limit=None, tta=False, zoom=True: {
        "n": 1, "iou": 1.0, "boundary_f": 1.0, "per_image": {},
        "by_lightness": {k: {"n": 0, "iou": None} for k, _, _ in evaluate_mod.LIGHTNESS}})
    monkeypatch.setattr(evaluate_mod, "flicker", lambda *a, **kw: {
        "frames": 1, "no_prior": 0.0, "prior": 0.0, "session": 0.0, "resets": 0,
        "coverage_no_prior": 0.0, "coverage_session": 0.0})

    def write_half_then_fail(self, text, *args, **kwargs):  # a full disk, an interruption
        with open(self, "w") as f:
            f.write(text[: len(text) // 2])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_text", write_half_then_fail)
    with pytest.raises(OSError, match="No space left"):
        evaluate_main(["--data", str(data), "--model", "small", "--json", str(out)])
    assert out.read_text() == '{"old": 1}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "eval.json"]


def test_evaluate_names_a_missing_data_folder(tmp_path, capsys, no_scoring):
    from hairfx.cli import main

    with pytest.raises(MissingFileError, match=r"data folder .*nodata does not exist; give --data the folder"):
        evaluate_main(["--data", str(tmp_path / "nodata")])
    assert main(["evaluate", "--data", str(tmp_path / "nodata")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"hairfx evaluate: error: data folder {tmp_path / 'nodata'} does not exist")
    assert "clips" not in err
    (tmp_path / "afile").write_text("")
    with pytest.raises(InputError, match="is a file, not a folder"):
        evaluate_main(["--data", str(tmp_path / "afile")])
    assert no_scoring == []


def _break(data: Path, what: str) -> str:
    """Spoil one thing in a data tree; return a pattern of the message that names it."""
    if what == "celeb1k split missing":
        for f in (data / "celeb1k/test/images").iterdir():
            f.unlink()
        return r"no image/mask pairs in \S*celeb1k/test"
    if what == "image undecodable":
        (data / "figaro1k/test/images/p1.jpg").write_bytes(b"\xff\xd8 truncated")
        return r"cannot read \S*figaro1k/test/images/p1.jpg"
    if what == "label undecodable":
        (data / "celeb1k/test/masks/p0.png").write_bytes(b"")
        return r"cannot read \S*celeb1k/test/masks/p0.png"
    if what == "photo without label":
        (data / "figaro1k/test/masks/p1.png").unlink()  # it was left out, unsaid
        return r"\S*figaro1k/test/images/p1.jpg has no label \S*figaro1k/test/masks/p1.png"
    if what == "photo not jpg":
        (data / "celeb1k/test/images/p0.jpg").rename(data / "celeb1k/test/images/p0.jpeg")
        return r"\S*celeb1k/test/images/p0.jpeg: only .jpg photos are scored"
    if what == "label of another size":  # it was stretched over its photo
        m = cv2.imread(str(data / "figaro1k/test/masks/p0.png"), cv2.IMREAD_GRAYSCALE)
        cv2.imwrite(str(data / "figaro1k/test/masks/p0.png"), cv2.transpose(m))
        h, w = m.shape
        return rf"\S*figaro1k/test/masks/p0.png is {h}x{w} but \S*figaro1k/test/images/p0.jpg is {w}x{h}"
    if what == "clip undecodable":
        (data / "videos" / "broken.mp4").write_bytes(b"\x00" * 64)
        return r"\S*videos/broken.mp4"
    if what == "clip missing":  # a link whose clip was moved away
        (data / "videos" / "gone.mp4").symlink_to(data / "elsewhere.mp4")
        return r"not found: \S*videos/gone.mp4"
    if what == "no clips":
        (data / "videos" / "pan.mp4").unlink()
        return r"no .mp4 clips in \S*videos: temporal stability cannot be measured"
    if what == "json under a file":
        (data.parent / "taken").write_text("")
        return r"--json \S*taken/eval.json: \S*taken is a file, not a folder"
    if what == "json is a folder":
        (data.parent / "eval.json").mkdir()
        return r"--json \S*eval.json is a folder"
    raise ValueError(what)


JSON_PATH = {"json under a file": "taken/eval.json", "json is a folder": "eval.json"}


@pytest.mark.parametrize("what", ["celeb1k split missing", "image undecodable", "label undecodable",
                                  "photo without label", "photo not jpg", "label of another size",
                                  "clip undecodable", "clip missing", "no clips", "json under a file",
                                  "json is a folder"])
def test_evaluate_finds_each_problem_before_scoring_anything(tmp_path, capsys, no_scoring, what):
    from hairfx.cli import main

    data = _tree(tmp_path / "data")
    pattern = _break(data, what)
    json_path = tmp_path / JSON_PATH.get(what, "new/eval.json")
    argv = ["evaluate", "--data", str(data), "--model", "small", "--json", str(json_path)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("hairfx evaluate: error: nothing was scored: ")
    assert len(err.splitlines()) == 1
    assert re.search(pattern, err), err
    assert no_scoring == []
    assert not (tmp_path / "new").exists()  # no folder made for results that will not come


def test_evaluate_reports_every_problem_at_once(tmp_path, no_scoring):
    data = _tree(tmp_path / "data")
    patterns = [_break(data, w) for w in ("celeb1k split missing", "image undecodable", "clip undecodable")]
    with pytest.raises(InputError) as exc:
        check_inputs(data)
    for pattern in patterns:
        assert re.search(pattern, str(exc.value)), str(exc.value)


def test_evaluate_limit_checks_only_the_pairs_it_will_score(tmp_path):
    data = _tree(tmp_path / "data")
    _break(data, "image undecodable")  # p1, the second pair
    assert check_inputs(data, limit=1) == [data / "videos" / "pan.mp4"]
    with pytest.raises(InputError, match="cannot read"):
        check_inputs(data, limit=2)


def test_evaluate_loads_every_model_before_scoring_the_first(tmp_path, monkeypatch, no_scoring):
    def segmenter(name, **kw):  # the small model loads; the full one's weights are broken
        if name == "full":
            raise WeightsError("weights file full.pt fails its SHA-256")
        return Segmenter(name, **kw)

    monkeypatch.setattr(hairfx.segmenter, "Segmenter", segmenter)
    data = _tree(tmp_path / "data")
    _break(data, "clip undecodable")
    with pytest.raises(InputError, match="nothing was scored: weights file full.pt fails its SHA-256; .*broken.mp4"):
        evaluate_main(["--data", str(data), "--model", "small", "--model", "full",
                       "--json", str(tmp_path / "new" / "eval.json")])
    assert no_scoring == []
    assert not (tmp_path / "new").exists()


def test_evaluate_names_the_export_for_weights_missing_from_weights_dir(tmp_path, capsys):
    from hairfx.cli import main

    data = _tree(tmp_path / "data")
    (tmp_path / "w").mkdir()
    assert main(["evaluate", "--data", str(data), "--model", "small", "--weights-dir", str(tmp_path / "w")]) == 2
    err = capsys.readouterr().err
    assert "weights file" in err and "small.pt is missing" in err
    assert f"--export runs/small/best.pt --weights-dir {tmp_path / 'w'}`" in err


def test_worst_photos_are_listed_lowest_first_with_their_share_of_the_lost_iou(capsys):
    def split(ious):
        return {"per_image": {name: {"iou": v, "label_hair": 0.2, "predicted_hair": 0.25} for name, v in ious.items()}}

    figaro = {"a": 0.1, "b": 0.5, "c": 0.9, "d": 1.0, "e": 0.95, "f": 0.2, "g": 0.3}
    perfect = {"x": 1.0, "y": 1.0, "z": 1.0}
    evaluate_mod._print_worst({"small": {"figaro1k/test": split(figaro), "celeb1k/test": split(perfect)}}, k=2)
    out = capsys.readouterr().out
    a = out.index("| small | figaro1k/test | a | 0.100 | 20.0% | 25.0% |")
    f = out.index("| small | figaro1k/test | f | 0.200 |")
    assert a < f and "| g |" not in out
    # 0.9 + 0.8 of the 3.05 lost over the seven photos
    assert "| small | figaro1k/test | **these 2 of 7** | | 56% of the lost IoU | |" in out
    # nothing lost: no share to carry (ties listed by name)
    assert out.index("| x | 1.000") < out.index("| y | 1.000") and "| z |" not in out
    assert "| small | celeb1k/test | **these 2 of 3** | | 0% of the lost IoU | |" in out


def test_boundary_f_matches_pixels_within_the_davis_disk():
    """Independent oracle: Euclidean distance to the nearest boundary pixel of the other
    mask (OpenCV's exact distance transform), matched when at most r, as DAVIS's disk(r)
    dilation matches. OpenCV's ellipse kernel of the same size reached 6.32 px at r = 6
    and scored every test photo a little higher."""
    from hairfx.training.evaluate import boundary_f, seg2bmap

    rng = np.random.default_rng(8)
    for _ in range(6):
        gt = np.zeros((240, 320), bool)
        cv2.ellipse(gt.view(np.uint8), (160, 120), (int(rng.integers(40, 90)), int(rng.integers(30, 70))), 0, 0, 360, 1, -1)
        pred = np.roll(gt, (int(rng.integers(-9, 10)), int(rng.integers(-9, 10))), axis=(0, 1))
        pred[rng.random(pred.shape) < 0.002] ^= True  # specks: boundary pixels far from any other
        r = int(np.ceil(0.008 * np.hypot(*gt.shape)))  # 4 px
        fb, gb = seg2bmap(pred), seg2bmap(gt)

        def near(b):  # distance from every pixel to the nearest boundary pixel of b
            return cv2.distanceTransform((~b).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)

        precision = float((near(gb)[fb] <= r).mean())
        recall = float((near(fb)[gb] <= r).mean())
        expected = 2 * precision * recall / (precision + recall)
        assert boundary_f(pred, gt) == pytest.approx(expected, abs=1e-9)


def test_dataset_files_whose_names_are_not_utf8_are_read(tmp_path):
    """OpenCV's Python binding crashes the process on a name Python holds as surrogates;
    the datasets' readers hand it the bytes instead. Such a pair is checked and read like
    the others, its photo BGR-to-RGB as OpenCV decodes it."""
    import os

    from hairfx.training.data import _read_pair

    data = _tree(tmp_path / "data")
    split = data / "figaro1k" / "test"
    name = os.fsdecode(b"caf\xe9")
    (split / "images" / "p0.jpg").rename(split / "images" / f"{name}.jpg")
    (split / "masks" / "p0.png").rename(split / "masks" / f"{name}.png")
    assert check_inputs(data) == [data / "videos" / "pan.mp4"]
    pair = _read_pair(name, split / "images" / f"{name}.jpg", split / "masks" / f"{name}.png", None)
    (split / "images" / f"{name}.jpg").rename(tmp_path / "plain.jpg")
    np.testing.assert_array_equal(pair.image, cv2.imread(str(tmp_path / "plain.jpg"))[:, :, ::-1])
    np.testing.assert_array_equal(pair.mask, _blob(0)[1])
