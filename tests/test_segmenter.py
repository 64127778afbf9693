"""Segmenter API: shapes, priors, sessions, verified weights, bad frames, the mask CLI."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from conftest import in_threads, needs_torch
from hairfx.errors import InputError, WeightsError
from hairfx.frames import MAX_SIDE
from hairfx.recolor import hair_alpha
from hairfx.segmenter import (
    BACKENDS,
    MODEL_NAMES,
    OPENCV_NETS,
    PRIOR_RAMP,
    WEIGHTS_DIR,
    Segmenter,
    SegmenterSession,
    canvas_layout,
    _thumb,
    get_segmenter,
    letterbox,
    search_tiles,
    zoom_box,
)

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
REFERENCE = Path(__file__).resolve().parents[1] / "reference_images"
#: Largest difference between the OpenCV DNN (ONNX) and torch masks: float32 rounding
#: through ~40 layers, far below one 8-bit level.
BACKEND_ATOL = 1e-4
#: A shipped model must reach at least this IoU on a clear real portrait (a modest bar:
#: a broken pipeline, e.g. BGR/RGB or letterbox mix-ups, scores far below it).
PLAUSIBLE_IOU = 0.5


@pytest.fixture(scope="module")
def seg() -> Segmenter:
    return get_segmenter("small")


def _portrait(h: int = 120, w: int = 90) -> np.ndarray:
    """A synthetic head: dark 'hair' cap over a skin-toned face on a pale wall."""
    img = np.full((h, w, 3), (200, 205, 210), np.uint8)
    cv2.ellipse(img, (w // 2, h // 2), (w // 3, h // 2 - 10), 0, 0, 360, (40, 30, 25), -1)
    cv2.ellipse(img, (w // 2, h // 2 + 12), (w // 4, h // 3), 0, 0, 360, (205, 160, 135), -1)
    return img


def test_registry_and_cache():
    assert MODEL_NAMES == ("small", "full")
    assert get_segmenter("small") is get_segmenter("small")
    assert get_segmenter() is get_segmenter("small")


def test_unknown_model_lists_valid_names():
    with pytest.raises(InputError, match="small, full"):
        get_segmenter("huge")


@pytest.mark.parametrize("shape", [(120, 90), (90, 160), (8, 8), (257, 255), (31, 400)])
def test_predict_shape_dtype_range(seg, shape):
    frame = np.random.default_rng(0).integers(0, 256, (*shape, 3), dtype=np.uint8)
    mask = seg.predict(frame)
    assert mask.shape == shape and mask.dtype == np.float32
    assert mask.min() >= 0.0 and mask.max() <= 1.0
    nonzero = mask[mask > 0]
    assert nonzero.size == 0 or nonzero.min() >= 1.0 / 255.0  # exact-zero background


def test_pil_image_accepted(seg):
    frame = _portrait()
    assert np.array_equal(seg.predict(Image.fromarray(frame)), seg.predict(frame))


def test_a_pil_image_with_a_colour_profile_is_seen_in_srgb(seg):
    """As recolor() and `hairfx mask` see it: a Display P3 image's mask is the mask of its
    sRGB conversion (LittleCMS's, as the oracle), in a session too; the raw P3 values,
    which were used before, give another."""
    from PIL import ImageCms

    from hairfx.icc import matrix_shaper_profile

    frame = _portrait(160, 120)  # saturated colours, where P3 and sRGB values differ most:
    frame[(frame == (200, 205, 210)).all(-1)] = (30, 160, 40)  # a green wall (sRGB 0, 163, 0)
    frame[(frame == (40, 30, 25)).all(-1)] = (160, 60, 30)  # red hair (sRGB 173, 50, 12)
    p3 = matrix_shaper_profile("Display P3")
    image = Image.fromarray(frame)
    image.info["icc_profile"] = p3
    to_srgb = ImageCms.buildTransform(ImageCms.ImageCmsProfile(ImageCms.core.profile_frombytes(p3)),
                                      ImageCms.createProfile("sRGB"), "RGB", "RGB")
    srgb = np.asarray(ImageCms.applyTransform(Image.fromarray(frame), to_srgb))
    assert np.abs(srgb.astype(int) - frame).max() > 20
    got, want = seg.predict(image), seg.predict(srgb)
    assert np.abs(got - want).max() < 0.02
    assert np.abs(seg.predict(frame) - want).max() > 0.02  # the check can tell the two apart
    session = seg.session()
    assert np.abs(session.process(image) - want).max() < 0.02  # its first frame: no prior
    assert np.asarray(image).tobytes() == frame.tobytes()  # the caller's image is untouched


def test_empty_versus_supplied_prior(seg):
    frame = _portrait()
    empty = seg.predict(frame)
    assert np.array_equal(empty, seg.predict(frame, prior=np.zeros(frame.shape[:2], np.float32)))
    full = seg.predict(frame, prior=np.ones(frame.shape[:2], np.float32))
    assert not np.array_equal(empty, full)


def _mirror_mean(seg, frame, prior=None):
    """One round of tta, built by hand: the mean of the frame's pass and its mirror's."""
    flip = lambda a: None if a is None else np.ascontiguousarray(a[:, ::-1])  # noqa: E731
    return 0.5 * (seg.predict(frame, prior=prior) + seg.predict(flip(frame), prior=flip(prior))[:, ::-1])


@pytest.mark.parametrize("with_prior", [False, True])
def test_tta_is_two_mirrored_rounds_the_second_fed_the_first(seg, with_prior):
    frame = _portrait(100, 76)
    prior = np.zeros(frame.shape[:2], np.float32)
    prior[10:50, 15:60] = 1.0
    prior = prior if with_prior else None
    first = _mirror_mean(seg, frame, prior)
    # the first round's mask fed back as a session feeds its masks: through the ramp
    x = np.round(first * 255.0) / 255.0
    lo, hi = PRIOR_RAMP
    t = np.clip((x - lo) / (hi - lo), 0.0, 1.0)
    fed = (np.round(t * t * (3.0 - 2.0 * t) * 255.0) / 255.0).astype(np.float32)  # in 8-bit levels
    expected = _mirror_mean(seg, frame, fed)
    expected[expected < 1.0 / 255.0] = 0.0
    got = seg.predict(frame, prior=prior, tta=True)
    assert got.shape == frame.shape[:2] and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, atol=1e-5)


def _on_a_wall(name: str, times: int) -> tuple[np.ndarray, np.ndarray]:
    """A reference photo and its label in the middle of a grey wall ``times`` its size: a head
    small in the frame."""
    rgb = np.asarray(Image.open(REFERENCE / f"{name}.png").convert("RGB"))
    label = np.asarray(Image.open(REFERENCE / f"{name}_mask.png")) > 127
    h, w = label.shape
    frame = np.full((h * times, w * times, 3), 150, np.uint8)
    truth = np.zeros((h * times, w * times), bool)
    top, left = (h * times - h) // 2, (w * times - w) // 2
    frame[top : top + h, left : left + w] = rgb
    truth[top : top + h, left : left + w] = label
    return frame, truth


def _iou(prob: np.ndarray, truth: np.ndarray) -> float:
    return float(((prob > 0.5) & truth).sum() / max(1, ((prob > 0.5) | truth).sum()))


@pytest.mark.parametrize("name", MODEL_NAMES)
@pytest.mark.parametrize("photo", ["dark", "medium"])
def test_zoom_finds_a_head_small_in_the_frame(name, photo):
    """A real head at half the frame's side: one pass sees it smaller than the networks
    learnt and misses much of the hair; the zoom's second pass, on the square around it,
    finds it (small: dark 0.39 -> 0.63, medium 0.78 -> 0.97; full 0.42 -> 0.70, 0.46 -> 0.98)."""
    seg = get_segmenter(name)
    frame, truth = _on_a_wall(photo, 2)
    one, zoomed = seg.predict(frame, zoom=False), seg.predict(frame)
    assert zoom_box(one) is not None
    assert _iou(zoomed, truth) > max(PLAUSIBLE_IOU, _iou(one, truth) + 0.15), (_iou(one, truth), _iou(zoomed, truth))
    assert zoomed.dtype == np.float32 and zoomed.shape == truth.shape and 0.0 <= zoomed.min() <= zoomed.max() <= 1.0


def test_zoom_replaces_the_mask_in_its_square_only(seg):
    frame, _ = _on_a_wall("dark", 2)
    one = seg.predict(frame, zoom=False)
    top, bottom, left, right = zoom_box(one)
    got = seg.predict(frame)
    crop = np.ascontiguousarray(frame[top:bottom, left:right])
    np.testing.assert_array_equal(got[top:bottom, left:right], seg.predict(crop, zoom=False))
    outside = np.ones(got.shape, bool)
    outside[top:bottom, left:right] = False
    np.testing.assert_array_equal(got[outside], one[outside])


def test_zoom_crops_the_prior_with_the_frame(seg):
    frame, truth = _on_a_wall("dark", 2)
    prior = truth.astype(np.float32)
    top, bottom, left, right = zoom_box(seg.predict(frame, prior=prior, zoom=False))
    got = seg.predict(frame, prior=prior)
    crop = np.ascontiguousarray(frame[top:bottom, left:right])
    want = seg.predict(crop, prior=np.ascontiguousarray(prior[top:bottom, left:right]), zoom=False)
    np.testing.assert_array_equal(got[top:bottom, left:right], want)
    assert not np.array_equal(want, seg.predict(crop, zoom=False))  # the prior did reach it


def test_zoom_with_tta_runs_tta_on_the_square(seg):
    frame, _ = _on_a_wall("medium", 2)
    top, bottom, left, right = zoom_box(seg.predict(frame, tta=True, zoom=False))
    crop = np.ascontiguousarray(frame[top:bottom, left:right])
    np.testing.assert_array_equal(seg.predict(frame, tta=True)[top:bottom, left:right],
                                  seg.predict(crop, tta=True, zoom=False))


@pytest.mark.parametrize("fill", [0, 128, 255])
def test_zoom_leaves_a_frame_without_hair_as_one_pass_sees_it(seg, fill):
    """No second look, and a search of its tiles that finds nothing: no hair."""
    frame = np.full((240, 320, 3), fill, np.uint8)
    assert zoom_box(seg.predict(frame, zoom=False)) is None
    np.testing.assert_array_equal(seg.predict(frame), seg.predict(frame, zoom=False))


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_a_head_too_small_for_the_first_pass_is_found_in_a_tile(name):
    """The medium reference photo on a grey wall three times its sides: one pass finds none of
    its hair, so there is no square for a second look; the search of the frame's tiles sees
    it at twice that scale and the second look on its square finds it (0.97-0.98)."""
    seg = get_segmenter(name)
    frame, truth = _on_a_wall("medium", 3)
    one = seg.predict(frame, zoom=False)
    assert zoom_box(one) is None and _iou(one, truth) < 0.05
    got = seg.predict(frame)
    assert _iou(got, truth) > 0.8, _iou(got, truth)
    assert got.dtype == np.float32 and got.shape == truth.shape and 0.0 <= got.min() <= got.max() <= 1.0


def test_the_search_masks_the_head_it_found_and_nothing_else(seg):
    """The mask of a search is the second look's, on the square around the strongest find:
    around the head, and nothing in the rest of the frame."""
    frame, truth = _on_a_wall("medium", 3)
    got = seg.predict(frame)
    rows, cols = np.flatnonzero(got.any(axis=1)), np.flatnonzero(got.any(axis=0))
    h, w = truth.shape
    inside = np.zeros(truth.shape, bool)
    inside[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1] = True
    assert truth[inside].sum() > 0.95 * truth.sum()  # around the head
    assert (rows[-1] - rows[0]) < h / 2 and (cols[-1] - cols[0]) < w / 2  # and only there


def test_search_tiles_cover_the_frame_with_overlapping_squares():
    for h, w in [(480, 640), (720, 1280), (1280, 720), (512, 512), (300, 2000), (10, 40)]:
        tiles = search_tiles(h, w)
        side = max(4, round(0.5 * max(h, w)))
        covered = np.zeros((h, w), int)
        for top, bottom, left, right in tiles:
            assert 0 <= top < bottom <= h and 0 <= left < right <= w
            assert (bottom - top, right - left) == (min(side, h), min(side, w))
            covered[top:bottom, left:right] += 1
        assert covered.min() >= 1, (h, w)
        for axis, length in ((0, h), (1, w)):  # neighbours overlap by a quarter of a side or more
            starts = sorted({t[2 * axis] for t in tiles})
            assert all(b - a <= 0.75 * side for a, b in zip(starts, starts[1:])), (h, w, starts)
    assert len(search_tiles(480, 640)) == 6 and len(search_tiles(512, 512)) == 9


def test_zoom_box_runs_only_where_the_hair_spans_little_of_the_frame():
    prob = np.zeros((400, 300), np.float32)
    prob[100:140, 120:170] = 0.9  # 50 px wide: a square of 65 around it
    assert zoom_box(prob) == (88, 152, 112, 178)
    prob[:, :] = 0.0
    prob[20:380, 10:290] = 0.9  # the hair fills the frame: nothing to zoom into
    assert zoom_box(prob) is None
    prob[:, :] = 0.19  # below the hair found
    assert zoom_box(prob) is None
    prob[:, :] = 0.0
    prob[0:2, 0:2] = 0.9  # a speck in a corner: its square is cut by the frame, and too small to run
    assert zoom_box(prob) is None
    prob[0:8, 290:300] = 0.9  # from the speck to the other top corner: the top of the frame,
    assert zoom_box(prob) == (0, 199, 0, 300)  # its longer side 3/4 of the frame's: a zoom of 4/3
    prob[392:400, 0:8] = 0.9  # and to a bottom corner: the whole frame
    assert zoom_box(prob) is None


def test_zoom_must_be_a_flag(seg):
    with pytest.raises(InputError, match="zoom must be True or False, got 'no'"):
        seg.predict(_portrait(), zoom="no")


def test_prior_must_match_the_frame(seg):
    frame = _portrait()  # 90x120
    with pytest.raises(InputError, match="prior is 10x10 but the frame is 90x120: their aspect ratios differ"):
        seg.predict(frame, prior=np.zeros((10, 10), np.float32))
    half = cv2.resize(seg.predict(frame), (45, 60), interpolation=cv2.INTER_AREA)
    full = cv2.resize(half, (90, 120), interpolation=cv2.INTER_LINEAR)
    assert np.array_equal(seg.predict(frame, prior=half), seg.predict(frame, prior=full))
    with pytest.raises(InputError):
        seg.predict(frame, prior=np.full(frame.shape[:2], 2.0, np.float32))


def test_prior_is_letterboxed_like_the_frame(seg):
    ch, cw, nh, nw, top, left = seg._layout(100, 190)
    assert (ch, cw, nh, nw, top, left) == (160, 256, 135, 256, 12, 0)
    canvas = seg._prior_to_canvas(np.ones((100, 190), np.float32))
    assert canvas.shape == (ch, cw)
    assert canvas[top : top + nh, left : left + nw].min() == 1.0
    assert canvas[:top].max() == 0.0 and canvas[top + nh :].max() == 0.0


@pytest.mark.parametrize("size, stride", [(256, 32), (512, 64)])
def test_canvas_is_the_content_rounded_up_to_the_stride(size, stride):
    shapes = [(480, 640), (640, 480), (720, 1280), (377, 300), (100, 190), (7, 3000), (4, 16384), (50, 50), (999, 1000)]
    for h, w in shapes:
        ch, cw, nh, nw, top, left = canvas_layout(h, w, size, stride)
        assert (nh, nw) == letterbox(h, w, size)[:2]
        for side, content, offset in ((ch, nh, top), (cw, nw, left)):
            # at least two strides: a canvas one stride high fails in OpenCV's DNN module
            assert side % stride == 0 and content <= side <= size and side >= 2 * stride
            assert side - content < stride or side == 2 * stride
            assert offset == (side - content) // 2  # centred, as in the square
    assert canvas_layout(480, 640, 512, 64) == (384, 512, 384, 512, 0, 0)
    assert canvas_layout(720, 1280, 512, 64) == (320, 512, 288, 512, 16, 0)


@pytest.mark.parametrize("name, shape", [("small", (192, 256)), ("full", (384, 512))])
def test_a_4_by_3_frame_runs_on_a_4_by_3_canvas(name, shape):
    with get_segmenter(name).session() as sess:
        sess.process(np.zeros((480, 640, 3), np.uint8))
        assert sess.previous_mask_canvas.shape == shape


def _square_canvas_mask(seg: Segmenter, rgb: np.ndarray) -> np.ndarray:
    """The mask ``seg.predict`` gave before the canvas was cut to the frame: the network
    on the whole letterboxed square."""
    from hairfx.segmenter import _resize

    h, w = rgb.shape[:2]
    s = seg.input_size
    nh, nw, top, left = letterbox(h, w, s)
    prob = seg._forward(_resize(rgb, nw, nh), (s, s, nh, nw, top, left), None)
    return _resize(np.ascontiguousarray(prob[top : top + nh, left : left + nw]), w, h)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_the_cut_canvas_scores_as_the_square_one_on_real_photos(name):
    """Leaving out the padding moves single photos' IoU either way (the network was trained
    on the square), but not the mean: on the first 40 Figaro test photos that are not
    square, within 0.01 of the square canvas's mean."""
    seg = get_segmenter(name)
    cut, square = [], []
    for rgb, gt in _real_pairs("figaro1k/test", 60):
        ch, cw, _, _, _, _ = seg._layout(*rgb.shape[:2])
        if len(cut) == 40:
            break
        if ch == cw:
            continue
        for out, mask in ((cut, seg.predict(rgb, zoom=False)), (square, _square_canvas_mask(seg, rgb))):
            out.append(((mask > 0.5) & gt).sum() / max(1, ((mask > 0.5) | gt).sum()))
    assert len(cut) >= 30
    assert np.mean(cut) > np.mean(square) - 0.01, (np.mean(cut), np.mean(square))


_FORKED_SEGMENTER: Segmenter | None = None  # what a forked child predicts with


def _predict_in_child(frame: np.ndarray) -> np.ndarray:
    return _FORKED_SEGMENTER.predict(frame)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.parametrize("backend", ["onnxruntime", "opencv", pytest.param("torch", marks=needs_torch)])
def test_a_child_forked_after_the_segmenter_ran_gets_its_mask_not_a_hang(by_backend, backend):
    """A service that loads and warms up its segmenter, then forks its workers
    (multiprocessing's default start method on Linux, a preloading web server): with the
    torch backend the child's first mask once never came, as GNU OpenMP waited for the
    parent's threads, which a child does not have."""
    import multiprocessing

    global _FORKED_SEGMENTER
    frame = _portrait()
    _FORKED_SEGMENTER = s = by_backend[backend]
    want = s.predict(frame)  # the runtime's threads have run in the parent
    with multiprocessing.get_context("fork").Pool(1) as pool:
        got = pool.apply_async(_predict_in_child, (frame,)).get(timeout=30)
    _assert_same_mask(got, want)  # torch sums in another order on one thread


@pytest.mark.parametrize("name, ensemble", [("small", None), ("full", None), ("full", False)])
def test_a_shared_segmenter_pickles_as_the_shared_one(name, ensemble):
    """A segmenter handed to a worker process is pickled: that raised Python's TypeError
    naming ONNX Runtime's InferenceSession. get_segmenter's is unpickled as the shared one
    of the process that unpickles it, loaded there once however many tasks it comes with."""
    import pickle

    s = get_segmenter(name, ensemble=ensemble)
    assert pickle.loads(pickle.dumps(s)) is s
    assert pickle.loads(pickle.dumps(s.predict)).__self__ is s  # pool.map(seg.predict, frames)


@pytest.mark.parametrize("backend, threads", [("onnxruntime", 1), ("opencv", None),
                                              pytest.param("torch", None, marks=needs_torch)])
def test_a_segmenter_of_ones_own_pickles_as_its_preset_and_options(backend, threads):
    """Unpickled, a segmenter made with Segmenter(...) is made again from its preset and the
    options it was made with (the OpenCV and torch thread counts are the process's, so only
    ONNX Runtime's, its own, is set here)."""
    import pickle

    s = Segmenter("small", backend=backend, threads=threads)
    back = pickle.loads(pickle.dumps(s))
    assert back is not s and back is not get_segmenter("small")
    assert (back.name, back.backend, back.ensemble, back._options) == ("small", backend, False, s._options)
    if threads is not None:
        assert back._ort.get_session_options().intra_op_num_threads == threads
    frame = _portrait()
    np.testing.assert_array_equal(back.predict(frame), s.predict(frame))


@pytest.mark.parametrize("ensemble", [None, False])
def test_a_full_segmenter_of_ones_own_pickles_with_its_ensemble(ensemble):
    import pickle

    s = Segmenter("full", backend="onnxruntime", ensemble=ensemble)
    back = pickle.loads(pickle.dumps(s))
    assert back is not get_segmenter("full", ensemble=ensemble) and back.ensemble == s.ensemble == (ensemble is None)
    frame = _portrait(96, 72)
    np.testing.assert_array_equal(back.predict(frame, zoom=False), s.predict(frame, zoom=False))


def test_an_unpickled_segmenter_reads_and_verifies_its_weights_again(tmp_path, monkeypatch):
    """Unpickling loads the weights from the folder the segmenter was made from (a relative
    weights_dir as the folder it named then), checked against weights.json again."""
    import pickle

    _copy_weights(tmp_path)
    monkeypatch.chdir(tmp_path)
    data = pickle.dumps(Segmenter("small", weights_dir="weights", backend="onnxruntime"))
    monkeypatch.chdir(tmp_path.parent)
    assert pickle.loads(data).predict(_portrait()).shape == (120, 90)
    onnx = tmp_path / "weights" / "small.onnx"
    onnx.write_bytes(onnx.read_bytes()[:-1] + b"\0")
    with pytest.raises(WeightsError, match=r"small\.onnx fails its checksum"):
        pickle.loads(data)


def test_segmenters_reach_spawned_worker_processes(seg):
    """multiprocessing with the 'spawn' start method (macOS's and Windows' default) pickles
    every task's arguments: a segmenter, shared or not, gives there the masks it gives here."""
    import multiprocessing

    frames = [_portrait(48, 36), _portrait(40, 64)]
    own = Segmenter("small", backend="opencv")
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        shared_masks = pool.map(seg.predict, frames)
        own_mask = pool.apply(own.predict, (frames[0],))
    for got, frame in zip(shared_masks, frames):
        _assert_same_mask(got, seg.predict(frame))
    _assert_same_mask(own_mask, own.predict(frames[0]))


def test_a_segmenter_session_refuses_to_be_pickled_and_says_what_to_do(seg):
    """A session is one stream's: pickling it names the class and the way to a session in
    each process, not ONNX Runtime's InferenceSession, which it raised before."""
    import copy
    import pickle

    with seg.session() as s:
        s.process(_portrait())
        for attempt in (pickle.dumps, copy.copy, copy.deepcopy):
            with pytest.raises(TypeError, match=r"^cannot pickle a SegmenterSession: .*segmenter\.session\(\)"):
                attempt(s)


def test_a_shallow_copy_of_a_segmenter_shares_its_runtime(seg):
    """copy.copy is not pickling: the copy shares the runtime session (the shared ensemble
    is made that way from the shared networks)."""
    import copy

    c = copy.copy(seg)
    assert c is not seg and c._ort is seg._ort
    assert get_segmenter("full")._partner is get_segmenter("small")


@pytest.mark.parametrize("backend", ["onnxruntime", "opencv", pytest.param("torch", marks=needs_torch)])
def test_frames_of_changing_shape_reuse_nothing_stale(by_backend, backend):
    """A canvas made for one shape is remade for the next: the same frame gives the same
    mask before and after frames of other shapes."""
    s = by_backend[backend]
    a, b, c = _portrait(120, 90), _portrait(90, 160), _portrait(64, 64)
    first = s.predict(a)
    for frame in (b, c, b):
        s.predict(frame)
    assert np.array_equal(s.predict(a), first)


@pytest.mark.parametrize(
    "frame, match",
    [
        (np.zeros((32, 32), np.uint8), "grayscale"),
        (np.zeros((32, 32, 4), np.uint8), "RGBA"),
        (np.zeros((32, 32, 3), np.float32), "uint8"),
        (np.zeros((32, 32, 3), np.uint16), "uint8"),
        (np.zeros((0, 32, 3), np.uint8), "empty"),
        (np.zeros((2, 2, 3), np.uint8), "smaller"),
        (np.zeros((MAX_SIDE + 1, 1, 3), np.uint8), "larger"),
        ([[0, 0, 0]], "numpy"),
        (Image.new("L", (8, 8)), "mode"),
    ],
)
def test_bad_frames_raise_input_error(seg, frame, match):
    with pytest.raises(InputError, match=match):
        seg.predict(frame)
    with seg.session() as sess, pytest.raises(InputError):
        sess.process(frame)


@needs_torch
@pytest.mark.parametrize("name", MODEL_NAMES)
@pytest.mark.parametrize("backend", ["onnxruntime", "opencv"])
def test_onnx_export_matches_torch(name, backend):
    """On canvases of several shapes: landscape, portrait and square frames."""
    ref = Segmenter(name, backend="torch")
    dnn = Segmenter(name, backend=backend)
    rng = np.random.default_rng(1)
    for shape in ((150, 200), (200, 90), (120, 120)):
        frame = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
        prior = np.zeros(shape, np.float32)
        prior[20:90, 40:80] = 0.8
        for p in (None, prior):
            _assert_same_mask(ref.predict(frame, prior=p), dnn.predict(frame, prior=p))


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_opencv_matches_onnxruntime_on_a_canvas_one_stride_high_or_wide(name):
    """A frame 8 or more times wider than high (or higher than wide) once letterboxed onto
    a canvas one network stride high: a 1-pixel bottleneck, on which OpenCV's DNN module
    computed values up to 1e25 (a mask of 1.0 over a banner with no head in it), while ONNX
    Runtime and PyTorch did not. OpenCV is the runtime where ONNX Runtime is missing."""
    ref = Segmenter(name, backend="onnxruntime", ensemble=False)
    dnn = Segmenter(name, backend="opencv", ensemble=False)
    rng = np.random.default_rng(5)
    for shape in ((40, 428), (428, 40), (5, 640)):
        frame = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
        _assert_same_mask(ref.predict(frame), dnn.predict(frame))


def _assert_same_mask(a: np.ndarray, b: np.ndarray) -> None:
    from hairfx.segmenter import ZERO_BELOW

    # probabilities under ZERO_BELOW are cut to exactly 0: a pixel that lands on the cut
    # may be 0 in one runtime and just above it in the other
    at_cut = ((a == 0) != (b == 0)) & (np.maximum(a, b) < ZERO_BELOW + BACKEND_ATOL)
    assert np.abs(a - b)[~at_cut].max() < BACKEND_ATOL and at_cut.mean() < 0.001


def test_auto_backend_prefers_the_shipped_onnx():
    assert BACKENDS == ("auto", "onnxruntime", "opencv", "torch")
    assert get_segmenter("small").backend == "onnxruntime"
    with pytest.raises(InputError, match="auto, onnxruntime, opencv, torch"):
        Segmenter("small", backend="tflite")


def test_without_onnxruntime_auto_takes_opencv_and_asking_for_it_says_what_is_missing(monkeypatch):
    import builtins
    import importlib.util

    real_import, real_find = builtins.__import__, importlib.util.find_spec

    def no_ort_import(name, *a, **kw):
        if name == "onnxruntime":
            raise ImportError("No module named 'onnxruntime'")
        return real_import(name, *a, **kw)

    monkeypatch.setattr(builtins, "__import__", no_ort_import)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnxruntime" else real_find(name, *a))
    assert Segmenter("small").backend == "opencv"
    with pytest.raises(InputError, match="backend 'onnxruntime' needs the onnxruntime package .*pip install onnxruntime"):
        Segmenter("small", backend="onnxruntime")


def test_onnx_file_that_onnxruntime_cannot_read_is_named(tmp_path):
    folder = _copy_weights(tmp_path)
    junk = b"not an onnx graph"
    (folder / "small.onnx").write_bytes(junk)
    index = json.loads((folder / "weights.json").read_text())
    index["small"]["onnx_sha256"] = hashlib.sha256(junk).hexdigest()
    (folder / "weights.json").write_text(json.dumps(index))
    with pytest.raises(WeightsError, match=r"small\.onnx cannot be loaded by ONNX Runtime"):
        Segmenter("small", weights_dir=folder, backend="onnxruntime")


def _copy_weights(tmp_path: Path) -> Path:
    folder = tmp_path / "weights"
    folder.mkdir()
    for name in ("small.pt", "small.onnx", "weights.json"):
        shutil.copy(WEIGHTS_DIR / name, folder / name)
    return folder


@pytest.mark.parametrize(
    "suffix, backend", [pytest.param(".pt", "torch", marks=needs_torch), (".onnx", "opencv"), (".onnx", "onnxruntime")]
)
def test_corrupt_weights_fail_their_checksum(tmp_path, suffix, backend):
    folder = _copy_weights(tmp_path)
    path = folder / f"small{suffix}"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match=f"small{suffix} fails its checksum"):
        Segmenter("small", weights_dir=folder, backend=backend)


def test_missing_weights_say_how_to_train(tmp_path):
    folder = _copy_weights(tmp_path)
    (folder / "small.pt").unlink()
    (folder / "small.onnx").unlink()
    with pytest.raises(WeightsError, match="hairfx train --model small"):
        Segmenter("small", weights_dir=folder)


# "auto" finds no ONNX weights recorded, so it reads the .pt with PyTorch
@pytest.mark.parametrize("backend", [pytest.param("auto", marks=needs_torch), "onnxruntime", "opencv"])
def test_unrecorded_weights_are_refused(tmp_path, backend):
    folder = _copy_weights(tmp_path)
    (folder / "weights.json").write_text("{}")
    with pytest.raises(WeightsError, match="SHA-256"):
        Segmenter("small", weights_dir=folder, backend=backend)


def test_session_feeds_back_and_resets(seg):
    frame = _portrait()
    with seg.session() as sess:
        assert isinstance(sess, SegmenterSession)
        first = sess.process(frame)
        assert sess.previous_mask_canvas is not None
        assert np.array_equal(first, seg.predict(frame))  # the first frame has no prior
        second = sess.process(frame)
        assert second.shape == frame.shape[:2]
        before = sess.resets
        sess.process(255 - frame)  # a scene cut: everything changes at once
        assert sess.resets == before + 1
        sess.reset()
        assert sess.previous_mask_canvas is None
        assert np.array_equal(sess.process(frame), first)
    with pytest.raises(InputError, match="closed"):
        sess.process(frame)


def _drifting(name: str, times: int, steps: int, dx: int):
    """A reference photo on a grey wall ``times`` its size, moved ``dx`` px right a frame:
    (frame, label) for each of ``steps`` frames."""
    frame, truth = _on_a_wall(name, times)
    wall = np.full_like(frame, 150)
    for i in range(steps):
        moved = wall.copy()
        moved[:, i * dx :] = frame[:, : frame.shape[1] - i * dx]
        label = np.zeros_like(truth)
        label[:, i * dx :] = truth[:, : truth.shape[1] - i * dx]
        yield moved, label


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_a_session_keeps_its_view_of_a_small_head_and_finds_more_of_it(name):
    """A head at half the frame's side, drifting: the session looks at the square around it
    from the first frame on, one pass a frame, and finds more of its hair than one pass of
    the whole frame does."""
    seg = get_segmenter(name)
    frames = list(_drifting("medium", 2, 6, 3))
    with seg.session() as zoomed, seg.session(zoom=False) as whole:
        got = [(zoomed.process(f), zoomed.view, whole.process(f), whole.view) for f, _ in frames]
    views = [v for _, v, _, _ in got]
    assert all(v is not None for v in views) and all(w is None for _, _, _, w in got)
    assert len(set(views)) <= 2  # kept from frame to frame, moved at most once over 9 px
    np.testing.assert_array_equal(got[0][0], seg.predict(frames[0][0]))  # the first frame: predict's two passes
    zoomed_iou = np.mean([_iou(m, t) for (m, _, _, _), (_, t) in zip(got, frames)])
    whole_iou = np.mean([_iou(m, t) for (_, _, m, _), (_, t) in zip(got, frames)])
    assert zoomed_iou > max(PLAUSIBLE_IOU, whole_iou + 0.1), (whole_iou, zoomed_iou)
    for (mask, _, _, _), view in zip(got[1:], views):  # each later frame: the view's pass alone, 0 outside
        outside = np.ones(mask.shape, bool)
        outside[view[0] : view[1], view[2] : view[3]] = False
        assert mask[outside].max() == 0.0


def test_a_session_view_follows_the_head_and_gives_way_at_a_cut(seg):
    frames = list(_drifting("dark", 2, 12, 12))  # 12 px a frame: past the view's edge in a few frames
    with seg.session(recheck_threshold=1.0) as sess:
        views = []
        for i, (f, truth) in enumerate(frames):
            if i > 0:  # the view this frame is seen in holds all its hair: the view moved in time
                top, bottom, left, right = views[-1]
                assert truth[top:bottom, left:right].sum() == truth.sum(), i
            mask = sess.process(f)
            views.append(sess.view)
            assert _iou(mask, truth) > PLAUSIBLE_IOU
        assert len(set(views)) > 1 and views[-1][2] > views[0][2]  # moved right with the head
        sess.process(np.full_like(frames[0][0], 30))  # a cut to a dark empty room
        assert sess.view is None and sess.resets >= 1


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_a_session_finds_a_head_too_small_for_the_first_pass(name):
    """While the whole frame holds no hair, a session looks at one search tile a frame, in turn:
    the medium reference photo three times smaller than the frame is found within as many
    frames as there are tiles, and then kept in a view."""
    seg = get_segmenter(name)
    frame, truth = _on_a_wall("medium", 3)
    n = len(search_tiles(*truth.shape))
    with seg.session() as sess, seg.session(zoom=False) as whole:
        got = [(sess.process(frame), sess.view, whole.process(frame)) for _ in range(n + 3)]
    assert all(_iou(m, truth) < 0.05 for _, _, m in got)  # the whole frame alone never finds it
    found = [i for i, (m, _, _) in enumerate(got) if _iou(m, truth) > 0.8]
    assert found and found[0] <= n, [round(_iou(m, truth), 2) for m, _, _ in got]
    assert all(_iou(m, truth) > 0.8 and v is not None for m, v, _ in got[found[0]:])


def test_a_session_without_zoom_does_not_search(seg):
    frame, truth = _on_a_wall("medium", 3)
    with seg.session(zoom=False) as sess:
        for _ in range(len(search_tiles(*truth.shape)) + 1):
            assert _iou(sess.process(frame), truth) < 0.05 and sess.view is None


def test_a_session_recheck_looks_at_the_whole_frame_again(seg):
    frames = [f for f, _ in _drifting("medium", 2, 3, 0)]
    with seg.session(check_every=2) as sess:
        sess.process(frames[0])
        assert sess.view is not None
        canvas_shape = sess.previous_mask_canvas.shape
        sess.process(frames[1])
        sess.process(frames[2])  # the second frame with a prior: re-checked over the whole frame
        assert sess.view is not None and sess.previous_mask_canvas.shape == canvas_shape


def _two_people(walk: int, stand: int, speed: int):
    """A 480x640 frame: the dark reference photo, 300 px high, at the left, and the medium one
    walking in from the right, ``speed`` px a frame, then standing beside it: (frame, the
    newcomer's label) for each frame."""
    def photo(name):
        rgb = np.asarray(Image.open(REFERENCE / f"{name}.png").convert("RGB"))
        label = np.asarray(Image.open(REFERENCE / f"{name}_mask.png")) > 127
        size = (round(rgb.shape[1] * 300 / rgb.shape[0]), 300)
        return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA), cv2.resize(label.astype(np.uint8), size) > 0

    first, _ = photo("dark")
    second, label = photo("medium")
    for x in [640 - i * speed for i in range(walk)] + [640 - (walk - 1) * speed] * stand:
        frame = np.full((480, 640, 3), 150, np.uint8)
        frame[150:450, 20 : 20 + first.shape[1]] = first
        truth = np.zeros((480, 640), bool)
        seen = min(second.shape[1], 640 - x)
        frame[150:450, x : x + seen] = second[:, :seen]
        truth[150:450, x : x + seen] = label[:, :seen]
        yield frame, truth


def test_a_session_view_gives_way_to_someone_walking_in(seg):
    """Someone walking into the frame beside a head the session has a view of: no frame
    changes enough for the re-check, but the frame outside the view has changed since it was
    last seen whole, so it is looked at again and the newcomer's hair is found, as a session of
    the whole frame finds it."""
    frames = list(_two_people(21, 5, 15))
    with seg.session() as zoomed, seg.session(zoom=False) as whole:
        first = zoomed.process(frames[0][0])
        assert zoomed.view is not None  # a view of the first head
        whole.process(frames[0][0])
        for (before, _), (f, _) in zip(frames, frames[1:]):
            assert np.abs(_thumb(f) - _thumb(before)).mean() < zoomed.recheck_threshold  # no re-check
            mask, reference = zoomed.process(f), whole.process(f)
        truth = frames[-1][1]
        assert (mask > 0.5)[truth].mean() > 0.8 and (reference > 0.5)[truth].mean() > 0.8
        assert zoomed.resets == 0 and first.max() > 0.5


def test_a_session_keeps_its_view_when_only_the_wall_outside_it_changes(seg):
    """The wall brightening around a head the session has a view of: the frame is looked at
    whole again, finds no hair outside the view and keeps it."""
    frame, _ = _on_a_wall("medium", 2)
    with seg.session() as sess:
        sess.process(frame)
        view = sess.view
        assert view is not None
        for level in range(152, 200, 2):  # less than a re-check's change a frame, more in all
            brighter = frame.copy()
            brighter[np.all(frame == 150, axis=2)] = level
            sess.process(brighter)
            assert sess.view == view and sess.resets == 0


def test_session_zoom_must_be_a_flag(seg):
    with pytest.raises(InputError, match="zoom must be True or False, got 1"):
        seg.session(zoom=1)


def test_session_resets_when_frame_size_changes(seg):
    with seg.session() as sess:
        sess.process(_portrait(120, 90))
        sess.process(_portrait(120, 90))
        before = sess.resets
        out = sess.process(_portrait(100, 100))
        assert out.shape == (100, 100) and sess.resets == before + 1


def _real_pairs(split: str, n: int):
    folder = DATA / split
    if not (folder / "images").is_dir():
        pytest.skip(f"{folder} not available")
    for img_path in sorted((folder / "images").glob("*.jpg"))[:n]:
        rgb = cv2.cvtColor(cv2.imread(str(img_path)), cv2.COLOR_BGR2RGB)
        gt = cv2.imread(str(folder / "masks" / f"{img_path.stem}.png"), cv2.IMREAD_GRAYSCALE) > 127
        yield rgb, gt


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_shipped_model_gives_a_plausible_mask_on_real_photos(name):
    seg = get_segmenter(name)
    ious, tta_ious = [], []
    for rgb, gt in _real_pairs("celeb1k/test", 3):
        for out, kw in ((ious, {}), (tta_ious, {"tta": True})):
            pred = seg.predict(rgb, **kw) > 0.5
            out.append((pred & gt).sum() / max(1, (pred | gt).sum()))
    assert np.mean(ious) > PLAUSIBLE_IOU, ious
    assert np.mean(tta_ious) > PLAUSIBLE_IOU, tta_ious


def test_mask_cli_writes_one_png_per_image(tmp_path):
    from hairfx.cli import main

    src = tmp_path / "in"
    src.mkdir()
    cv2.imwrite(str(src / "a.jpg"), _portrait(120, 90))
    cv2.imwrite(str(src / "b.png"), _portrait(64, 80))
    (src / "notes.txt").write_text("not an image")
    single = tmp_path / "c.jpg"
    cv2.imwrite(str(single), _portrait(50, 50))
    out = tmp_path / "out"
    assert main(["mask", str(src), str(single), "-o", str(out)]) == 0
    written = sorted(p.name for p in out.iterdir())
    assert written == ["a.png", "b.png", "c.png"]
    mask = cv2.imread(str(out / "b.png"), cv2.IMREAD_UNCHANGED)
    assert mask.shape == (64, 80) and mask.dtype == np.uint8


def test_mask_cli_tta_writes_the_four_pass_mask(tmp_path):
    from hairfx.cli import main
    from hairfx.imagefiles import read_rgb

    src = tmp_path / "a.png"
    cv2.imwrite(str(src), _portrait(120, 90))
    assert main(["mask", str(src), "-o", str(tmp_path / "out"), "--tta"]) == 0
    written = cv2.imread(str(tmp_path / "out" / "a.png"), cv2.IMREAD_UNCHANGED)
    probability = get_segmenter("small").predict(read_rgb(src), tta=True)
    assert np.array_equal(written, np.round(hair_alpha(probability) * 255).astype(np.uint8))
    assert main(["mask", str(src), "-o", str(tmp_path / "raw"), "--tta", "--probability"]) == 0
    written = cv2.imread(str(tmp_path / "raw" / "a.png"), cv2.IMREAD_UNCHANGED)
    assert np.array_equal(written, np.round(probability * 255).astype(np.uint8))


def test_mask_cli_zooms_into_a_small_head_unless_told_not_to(tmp_path):
    from hairfx.cli import main

    frame, _ = _on_a_wall("medium", 2)
    src = tmp_path / "a.png"
    cv2.imwrite(str(src), frame[:, :, ::-1])
    seg = get_segmenter("small")
    for args, zoom in (([], True), (["--no-zoom"], False)):
        out = tmp_path / f"out{zoom}"
        assert main(["mask", str(src), "-o", str(out), "--probability", *args]) == 0
        written = cv2.imread(str(out / "a.png"), cv2.IMREAD_UNCHANGED)
        assert np.array_equal(written, np.round(seg.predict(frame, zoom=zoom) * 255).astype(np.uint8))
    assert not np.array_equal(cv2.imread(str(tmp_path / "outTrue" / "a.png")),
                              cv2.imread(str(tmp_path / "outFalse" / "a.png")))


def test_mask_cli_full_writes_the_full_ensembles_mask(tmp_path, capsys, full_ensemble):
    """--model full writes the ensemble's mask (also with --ensemble), --no-ensemble the
    full network's alone; --ensemble with the small model is refused."""
    from hairfx.cli import main
    from hairfx.imagefiles import read_rgb

    src = tmp_path / "a.png"
    cv2.imwrite(str(src), _portrait(120, 90))
    alone = get_segmenter("full", ensemble=False)
    for i, (flags, seg) in enumerate([([], full_ensemble), (["--ensemble"], full_ensemble), (["--no-ensemble"], alone)]):
        out = tmp_path / f"out{i}"
        assert main(["mask", str(src), "-o", str(out), "--model", "full", *flags, "--probability"]) == 0
        written = cv2.imread(str(out / "a.png"), cv2.IMREAD_UNCHANGED)
        assert np.array_equal(written, np.round(seg.predict(read_rgb(src)) * 255).astype(np.uint8))
    assert main(["mask", str(src), "-o", str(tmp_path / "small"), "--ensemble"]) == 2
    assert "error: --ensemble needs --model full" in capsys.readouterr().err
    assert not (tmp_path / "small").exists()  # refused before the output folder is made


def test_a_written_mask_given_back_to_recolor_gives_the_same_photo(tmp_path):
    """The mask-edit-recolour workflow: `hairfx mask`, then `hairfx recolor --mask` with it,
    recolours exactly as `hairfx recolor` with the model does."""
    from hairfx.cli import main

    src = tmp_path / "a.png"
    cv2.imwrite(str(src), _portrait(120, 90))
    assert main(["mask", str(src), "-o", str(tmp_path / "m")]) == 0
    mask = tmp_path / "m" / "a.png"
    assert cv2.imread(str(mask), cv2.IMREAD_UNCHANGED).max() > 0  # not a trivial comparison
    for args, name in (([], "model.png"), (["--mask", str(mask)], "given.png")):
        assert main(["recolor", str(src), "--color", "copper", "--renderer", "cpu", "-o", str(tmp_path / name)] + args) == 0
    model, given = (cv2.imread(str(tmp_path / n)) for n in ("model.png", "given.png"))
    assert np.array_equal(model, given) and not np.array_equal(model, cv2.imread(str(src)))


def test_mask_cli_rejects_unknown_model_and_missing_input(tmp_path, capsys):
    from hairfx.cli import main

    assert main(["mask", str(tmp_path / "nope.jpg"), "-o", str(tmp_path / "o")]) == 2
    cv2.imwrite(str(tmp_path / "a.jpg"), _portrait())
    with pytest.raises(SystemExit) as exc:  # refused while parsing, before any model loads
        main(["mask", str(tmp_path / "a.jpg"), "-o", str(tmp_path / "o"), "--model", "huge"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice" in err and "huge" in err and "small" in err and "full" in err


def test_mask_cli_never_overwrites_its_inputs(tmp_path, capsys):
    from hairfx.cli import main

    src = tmp_path / "in"
    src.mkdir()
    cv2.imwrite(str(src / "a.png"), _portrait())
    before = (src / "a.png").read_bytes()
    assert main(["mask", str(src), "-o", str(src)]) == 2
    assert "is the input folder" in capsys.readouterr().err
    assert main(["mask", str(src / "a.png"), "-o", str(src)]) == 2
    assert "would overwrite an input image" in capsys.readouterr().err
    assert sorted(p.name for p in src.iterdir()) == ["a.png"] and (src / "a.png").read_bytes() == before


def test_mask_cli_replaces_an_earlier_mask_but_never_a_photo_of_the_same_name(tmp_path, capsys):
    """IMG_1.jpg's mask is IMG_1.png: in a folder that also holds a photo IMG_1.png, the
    photo must not become a mask."""
    from hairfx.cli import main

    from PIL import Image

    cv2.imwrite(str(tmp_path / "IMG_1.jpg"), _portrait())
    for photo in (_portrait()[::-1], cv2.cvtColor(_portrait()[::-1], cv2.COLOR_BGR2GRAY)):  # colour, black and white
        cv2.imwrite(str(tmp_path / "IMG_1.png"), photo)  # another photo
        before = (tmp_path / "IMG_1.png").read_bytes()
        assert main(["mask", str(tmp_path / "IMG_1.jpg"), "-o", str(tmp_path)]) == 2
        assert "would replace a file there that is not a mask hairfx wrote" in capsys.readouterr().err
        assert (tmp_path / "IMG_1.png").read_bytes() == before
    out = tmp_path / "masks"
    assert main(["mask", str(tmp_path / "IMG_1.jpg"), "-o", str(out)]) == 0
    first = (out / "IMG_1.png").stat().st_mtime_ns
    with Image.open(out / "IMG_1.png") as im:
        assert im.mode == "L" and im.info["Software"] == "hairfx mask"
        assert np.array_equal(np.asarray(im), cv2.imread(str(out / "IMG_1.png"), cv2.IMREAD_UNCHANGED))
    assert main(["mask", str(tmp_path / "IMG_1.jpg"), "-o", str(out)]) == 0  # again: its own mask is replaced
    assert sorted(p.name for p in out.iterdir()) == ["IMG_1.png"] and (out / "IMG_1.png").stat().st_mtime_ns >= first
    # the masks among the inputs of a later run: skipped, not given masks of their own
    capsys.readouterr()
    assert main(["mask", str(tmp_path / "IMG_1.jpg"), str(out), "-o", str(tmp_path / "again")]) == 2
    assert f"skipped {out / 'IMG_1.png'}: a hair mask hairfx wrote, not a photo" in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "again").iterdir()) == ["IMG_1.png"]


def test_mask_cli_writes_a_faint_mask_that_reads_back(tmp_path, monkeypatch):
    """A mask whose largest value rounds to 1 would read back as a 0/1 label map; it is
    written as the empty mask it almost is."""
    import hairfx.segmenter
    from hairfx.cli import main
    from hairfx.imagefiles import read_mask

    class Faint:
        def predict(self, frame, tta=False, zoom=True):
            return np.full(frame.shape[:2], 1.2 / 255, np.float32)

    monkeypatch.setattr(hairfx.segmenter, "get_segmenter", lambda name, ensemble=None: Faint())
    cv2.imwrite(str(tmp_path / "a.png"), _portrait())
    assert main(["mask", str(tmp_path / "a.png"), "-o", str(tmp_path / "out")]) == 0
    assert read_mask(tmp_path / "out" / "a.png").max() == 0.0



def _unreadable_images(folder: Path) -> dict[str, str]:
    """Image files `hairfx mask` cannot take, each with a word of the reason it gives."""
    ok, jpg = cv2.imencode(".jpg", _portrait())
    (folder / "b_truncated.jpg").write_bytes(jpg.tobytes()[:200])  # the header, no pixels
    alpha = np.full((120, 90), 255, np.uint8)
    alpha[:10] = 0  # a transparent strip (an opaque alpha channel is dropped and the image taken)
    cv2.imwrite(str(folder / "c_rgba.png"), np.dstack([_portrait(), alpha]))
    cv2.imwrite(str(folder / "d_16bit.png"), _portrait().astype(np.uint16) * 257)
    cv2.imwrite(str(folder / "e_tiny.png"), _portrait()[:2, :2])  # smaller than the network takes
    return {"b_truncated.jpg": "ends early", "c_rgba.png": "transparent pixels", "d_16bit.png": "8-bit",
            "e_tiny.png": "smaller than"}


def test_mask_cli_skips_unreadable_files_and_does_the_rest(tmp_path, capsys):
    """One bad photo in a batch is skipped with a line on stderr, not the end of the batch;
    named files and files found in a folder alike; the exit status then says so."""
    from hairfx.cli import main

    src = tmp_path / "in"
    src.mkdir()
    cv2.imwrite(str(src / "a.jpg"), _portrait())
    bad = _unreadable_images(src)
    cv2.imwrite(str(src / "z.png"), _portrait(64, 80))  # after the bad ones
    named_bad = tmp_path / "notes.jpg"
    named_bad.write_text("not an image")
    named_good = tmp_path / "y.png"
    cv2.imwrite(str(named_good), _portrait())
    out = tmp_path / "out"
    assert main(["mask", str(src), str(named_bad), str(named_good), "-o", str(out)]) == 2
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "y.png", "z.png"]
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == len(bad) + 1  # one line per skipped file, nothing else
    for name, reason in [*bad.items(), ("notes.jpg", "OpenCV can read")]:
        (line,) = [ln for ln in lines if f"{name}:" in ln]
        assert line.startswith("hairfx mask: skipped ") and reason in line
        assert line.count(name) == 1  # the reason does not repeat the file name
    summary = captured.out.strip().splitlines()[-1]
    assert summary.startswith(f"wrote 3 masks to {out}; skipped 5: ")
    assert "b_truncated.jpg" in summary and "and 0 more" not in summary


def test_mask_cli_summary_names_the_first_skips(tmp_path, capsys, monkeypatch):
    import hairfx.cli
    from hairfx.cli import main

    monkeypatch.setattr(hairfx.cli, "_SKIPS_LISTED", 2)
    src = tmp_path / "in"
    src.mkdir()
    _unreadable_images(src)
    assert main(["mask", str(src), "-o", str(tmp_path / "out")]) == 2
    summary = capsys.readouterr().out.strip()
    assert summary == (f"wrote 0 masks to {tmp_path / 'out'}; skipped 4: {src / 'b_truncated.jpg'}, "
                       f"{src / 'c_rgba.png'} and 2 more")


def test_mask_cli_refuses_an_output_that_is_a_file_before_the_model_loads(tmp_path, capsys, monkeypatch):
    import hairfx.segmenter
    from hairfx.cli import main

    def no_model(name):
        raise AssertionError("the model was loaded before -o was checked")

    monkeypatch.setattr(hairfx.segmenter, "get_segmenter", no_model)
    cv2.imwrite(str(tmp_path / "a.png"), _portrait())
    taken = tmp_path / "masks.png"
    taken.write_bytes(b"someone's file")
    for out, message in ((taken, f"-o {taken} is a file, not a folder"),
                         (taken / "sub", f"-o {taken / 'sub'} lies under {taken}, which is a file, not a folder")):
        assert main(["mask", str(tmp_path / "a.png"), "-o", str(out)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"hairfx mask: error: {message}") and "Traceback" not in err
    assert taken.read_bytes() == b"someone's file"


class _StubSegmenter:
    """Stands in for a network that never sees hair, to drive the session's checks."""

    input_size = 16

    def _check_frame(self, frame):
        return frame

    def _infer(self, frame, prior, *, keep_canvas=False):
        self.priors.append(prior)
        s = self.input_size
        return np.zeros((s, s), np.float32), np.zeros(frame.shape[:2], np.float32)


def test_session_drops_a_prior_the_network_rejects():
    stub = _StubSegmenter()
    stub.priors = []
    frame = _portrait()
    sess = SegmenterSession(stub)
    sess.process(frame)
    sess._prior = np.ones((16, 16), np.float32)  # a prior covering everything
    sess.process(frame)
    assert sess.resets == 1
    assert stub.priors[-1] is None  # the frame was re-run without the prior
    sess._prior = np.zeros((16, 16), np.float32)
    sess._prior[:2, :2] = 1.0  # a rejected prior too small to matter: kept
    sess.process(frame)
    assert sess.resets == 1


class _FollowingSegmenter(_StubSegmenter):
    """Takes any prior it is given for the answer (as a network does with a misplaced prior
    it cannot tell from the truth); without one it finds hair on the left half of a dark
    frame and on the right half of a bright one."""

    def _infer(self, frame, prior, *, keep_canvas=False):
        self.priors.append(prior)
        if prior is not None:
            canvas = (prior > 0.5).astype(np.float32)
        else:
            canvas = np.zeros((16, 16), np.float32)
            (canvas[:, 8:] if frame.mean() > 105 else canvas[:, :8])[...] = 1.0
        return canvas, canvas.copy()


def _flat(level: int) -> np.ndarray:
    return np.full((16, 16, 3), level, np.uint8)


def test_session_rechecks_a_frame_that_moved_too_much_for_a_shot_too_little_for_a_cut():
    """A jump cut inside one shot moves the thumbnail by less than a cut: the network keeps
    the misplaced prior, and only a prediction without it shows the hair has moved."""
    stub = _FollowingSegmenter()
    stub.priors = []
    with SegmenterSession(stub) as sess:
        left = sess.process(_flat(100))
        assert left[:, :8].all() and not left[:, 8:].any()
        assert sess.process(_flat(101)) is not None and len(stub.priors) == 2  # 0.004: no re-check
        moved = sess.process(_flat(114))  # 13 levels: 0.05, between 0.03 and the cut's 0.12
        assert sess.resets == 1 and stub.priors[-1] is None
        assert moved[:, 8:].all() and not moved[:, :8].any()  # the prior-free answer is kept
        sess.process(_flat(110))  # moved again (0.016), under the threshold: not re-checked
        assert len(stub.priors) == 5 and stub.priors[-1] is not None
    stub.priors = []
    with SegmenterSession(stub, recheck_threshold=1) as sess:  # off: the misplaced prior stays
        sess.process(_flat(100))
        stale = sess.process(_flat(114))
        assert sess.resets == 0 and len(stub.priors) == 2 and stale[:, :8].all()


def test_a_recheck_that_agrees_keeps_the_prior():
    stub = _FollowingSegmenter()
    stub.priors = []
    with SegmenterSession(stub) as sess:
        sess.process(_flat(110))
        sess.process(_flat(125))  # 0.059: re-checked, and the prior-free answer agrees
        assert sess.resets == 0 and len(stub.priors) == 3 and stub.priors[1] is not None


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan"), "0.03"])
def test_recheck_threshold_is_checked(seg, bad):
    with pytest.raises(InputError, match="recheck_threshold"):
        seg.session(recheck_threshold=bad)


def test_a_jump_cut_in_a_real_clip_lets_go_of_the_misplaced_prior(seg):
    """s32's frames 0-29 spliced to its frames 90-179: the head moves but the thumbnail
    changes by 0.054, under a cut. The oracle is a session that saw frames 60-179 without
    a splice. From the cut on, the session's masks differ from the oracle's on less than
    half the oracle's hair area (17 % on the first frame, then 1-4 %); without the re-check
    they differ on two to four times it, the face covered, for 50 frames."""
    clip = DATA / "videos" / "liveportrait_source_s32.mp4"
    if not clip.is_file():
        pytest.skip(f"{clip} not available")
    from hairfx.video import VideoReader

    with VideoReader(clip) as reader:
        frames = [f for _, f in zip(range(180), reader)]
    spliced = frames[:30] + frames[90:180]

    def masks(stream, **options):
        with seg.session(**options) as sess:
            return [sess.process(f) > 0.5 for f in stream], sess.resets

    for zoom in (True, False):  # the session's view of a small head, and the whole frame
        oracle = masks(frames[60:180], zoom=zoom)[0][30:]

        def misplaced(got):
            return sum(np.count_nonzero(a ^ b) > 0.5 * max(np.count_nonzero(b), 1) for a, b in zip(got[30:], oracle))

        with_recheck, resets = masks(spliced, zoom=zoom)
        assert resets == 1 and misplaced(with_recheck) == 0, zoom
    # the gap the re-check closes, where the whole frame is seen (with the view, it moves off the prior too)
    assert misplaced(masks(spliced, recheck_threshold=1, zoom=False)[0]) > 20


class _LampSegmenter(_StubSegmenter):
    """A network that sees a weak find (0.3, no hair) at the top left of a 96x128 frame, a
    lamp, which holds nothing seen closer; and the red head at the bottom right only in a
    part of the frame at most 64 px on a side (the head too small for a pass of the whole)."""

    def _infer(self, frame, prior, *, keep_canvas=False):
        self.shapes.append(frame.shape[:2])
        part = np.zeros(frame.shape[:2], np.float32)
        if frame.shape[:2] == (96, 128):
            part[10:20, 10:20] = 0.3
        elif max(frame.shape[:2]) <= 64:
            part[(frame[..., 0] > 200) & (frame[..., 1] < 50)] = 0.9
        return self._prior_to_canvas(part), part

    def _prior_to_canvas(self, prior):
        return cv2.resize(prior, (self.input_size, self.input_size), interpolation=cv2.INTER_AREA)

    def _canvas_to_frame(self, canvas, h, w):
        return cv2.resize(canvas, (w, h), interpolation=cv2.INTER_LINEAR)


def test_a_weak_find_with_no_hair_seen_closer_does_not_stop_the_search():
    """A lamp the whole frame's pass half takes for hair, and a head too small for it: the
    square around the lamp, looked at closer, holds no hair, so it does not become the view
    (which would alternate between it and the whole frame and never search); the frame is
    searched one tile a frame, the lamp is not looked at again, and the head is found."""
    stub = _LampSegmenter()
    frame = np.full((96, 128, 3), 120, np.uint8)
    frame[70:77, 100:109] = (230, 20, 20)
    head = np.zeros((96, 128), bool)
    head[70:77, 100:109] = True
    n = len(search_tiles(96, 128))
    with SegmenterSession(stub) as sess:
        passes, found = [], None
        for i in range(n + 2):
            stub.shapes = []
            mask = sess.process(frame)
            passes.append(len(stub.shapes))
            if found is None and (mask > 0.5)[head].all():
                found = i
        assert found is not None and found <= n, passes
        assert passes[0] == 3 and set(passes[1:found]) == {2}, passes  # the lamp's square once, then a tile a frame
        assert passes[found + 1 :] == [1] * (n + 1 - found) and sess.view is not None  # the head's view
        assert not (mask > 0.5)[~head].any()


class _GradientSegmenter(_StubSegmenter):
    """Returns a left-to-right ramp 0..1 as its canvas output."""

    def _infer(self, frame, prior, *, keep_canvas=False):
        self.priors.append(prior)
        s = self.input_size
        canvas = np.tile(np.linspace(0.0, 1.0, s, dtype=np.float32), (s, 1))
        return canvas, np.zeros(frame.shape[:2], np.float32)


def test_session_feeds_back_the_mask_through_the_prior_ramp():
    stub = _GradientSegmenter()
    stub.priors = []
    frame = _portrait()
    with SegmenterSession(stub, zoom=False) as sess:  # its masks hold no hair: no search of tiles between
        sess.process(frame)
        sess.process(frame)
    fed, out = stub.priors[1][0], np.linspace(0.0, 1.0, 16)
    lo, hi = PRIOR_RAMP
    assert np.all(fed[out < lo] == 0.0) and np.all(fed[out > hi] == 1.0)  # doubts dropped, hair confirmed
    assert np.all(np.diff(fed) >= 0)  # order kept
    mid = (out > lo + 0.05) & (out < hi - 0.05)
    assert np.all(np.sign(fed[mid] - 0.5) == np.sign(out[mid] - 0.5))  # the 0.5 boundary stays put


@pytest.fixture(scope="module")
def torch_seg() -> Segmenter:
    return Segmenter("small", backend="torch")


@pytest.fixture(scope="module")
def opencv_seg() -> Segmenter:
    return Segmenter("small", backend="opencv")


@pytest.fixture
def by_backend(request):
    """The shared small segmenter of each runtime, by name, each made when first asked for:
    a test of one runtime needs only that one (the torch one needs PyTorch)."""
    fixtures = {"onnxruntime": "seg", "opencv": "opencv_seg", "torch": "torch_seg"}

    class Segmenters(dict):
        def __missing__(self, backend):
            s = self[backend] = request.getfixturevalue(fixtures[backend])
            assert s.backend == backend
            return s

    return Segmenters()


def _thread_frames() -> list[np.ndarray]:
    """Four frames of different sizes and content: a mix-up between threads changes a mask."""
    root = Path(__file__).resolve().parents[1] / "reference_images"
    real = [cv2.imread(str(root / f"{n}.png"))[:, :, ::-1].copy() for n in ("dark", "light")]
    return [*real, _portrait(120, 90), np.ascontiguousarray(_portrait(90, 160)[::-1])]


@pytest.mark.parametrize("backend", ["onnxruntime", "opencv", pytest.param("torch", marks=needs_torch)])
def test_shared_segmenter_is_safe_across_threads(by_backend, backend):
    """get_segmenter() hands one instance to every thread (recolor() from worker threads):
    4 threads x 10 predictions of different frames give each frame's single-thread mask.
    (With one OpenCV net or one input canvas for all calls, masks mix or the net fails a
    shape check.) Calls share out at most OPENCV_NETS OpenCV nets, made as needed."""
    s = by_backend[backend]
    frames = _thread_frames()
    expected = [s.predict(f) for f in frames]
    assert min(np.abs(expected[0] - cv2.resize(m, expected[0].shape[::-1])).max() for m in expected[1:]) > 0.5

    def work(i):
        return [np.array_equal(s.predict(frames[i]), expected[i]) for _ in range(10)]

    assert in_threads(work, 4) == [[True] * 10] * 4
    assert 1 <= len(s._idle) <= (OPENCV_NETS if backend == "opencv" else 4)  # all given back


@pytest.mark.parametrize("backend", ["onnxruntime", "opencv", pytest.param("torch", marks=needs_torch)])
def test_sessions_in_separate_threads_do_not_interfere(by_backend, backend):
    """Each session keeps its own prior: three video streams through one shared segmenter,
    each in its own thread, give the masks each gives alone."""
    s = by_backend[backend]
    frames = _thread_frames()[1:]
    streams = [[np.roll(f, 3 * k, axis=1) for k in range(4)] for f in frames]  # a slow pan

    def run(i):
        with s.session(check_every=2) as sess:
            return [sess.process(f) for f in streams[i]]

    alone = [run(i) for i in range(3)]
    together = in_threads(run, 3)
    for a, t in zip(alone, together):
        assert not isinstance(t, Exception), t
        assert all(np.array_equal(x, y) for x, y in zip(a, t))


def test_the_shared_ensemble_is_made_of_the_shared_networks():
    """get_segmenter("full") loads no network of its own: it holds the shared full network
    and the shared small one, and masks exactly as an ensemble built from scratch does."""
    ensemble, alone, small = get_segmenter("full"), get_segmenter("full", ensemble=False), get_segmenter("small")
    assert ensemble.ensemble and not alone.ensemble and ensemble._partner is small
    held = {"onnxruntime": "_ort", "opencv": "_onnx", "torch": "_net"}[alone.backend]
    assert getattr(ensemble, held) is getattr(alone, held) and ensemble._idle is alone._idle
    frame = _portrait(120, 90)
    assert np.array_equal(ensemble.predict(frame), Segmenter("full").predict(frame))
    assert np.array_equal(alone.predict(frame), Segmenter("full", ensemble=False).predict(frame))


def test_get_segmenter_loads_once_when_threads_ask_together(monkeypatch):
    """The first calls from several threads at once load the weights (and check their
    SHA-256) once and all get the same instance."""
    import time

    import hairfx.segmenter as segmenter

    loads = []

    class Slow:
        def __init__(self, name, ensemble=None):
            loads.append(name)
            time.sleep(0.2)  # long enough for every thread to arrive during the load

    monkeypatch.setattr(segmenter, "_CACHE", {})
    monkeypatch.setattr(segmenter, "Segmenter", Slow)
    got = in_threads(lambda i: get_segmenter("small"), 8)
    assert loads == ["small"] and all(g is got[0] for g in got) and isinstance(got[0], Slow)


def test_a_loaded_preset_is_handed_out_while_another_loads(monkeypatch):
    """recolor() with the small model in one thread does not wait while another thread loads
    the full model (the cache used to be under one lock held for the whole load)."""
    import threading

    import hairfx.segmenter as segmenter

    small, loading, release = object(), threading.Event(), threading.Event()

    class Blocking:
        def __init__(self, name, ensemble=None):
            loading.set()
            release.wait(10)

    monkeypatch.setattr(segmenter, "_CACHE", {("small", False): small})
    monkeypatch.setattr(segmenter, "Segmenter", Blocking)
    loader = threading.Thread(target=get_segmenter, args=("full",))
    loader.start()
    got = []
    try:
        assert loading.wait(10)
        user = threading.Thread(target=lambda: got.append(get_segmenter("small")))
        user.start()
        user.join(2)  # a wait for the full model's load would last until `release`
        assert got == [small]
    finally:
        release.set()
        loader.join()
    assert isinstance(segmenter._CACHE["full", True], Blocking)  # the full preset: its ensemble


_EXTREME_SHAPES = [(4000, 40), (40, 4000), (4, 4), (4, 16384), (16384, 4), (7, 3000)]


@pytest.mark.parametrize("backend, shape", [*(("onnxruntime", s) for s in _EXTREME_SHAPES),
                                            *(("opencv", s) for s in ((4000, 40), (4, 16384))),
                                            *(pytest.param("torch", s, marks=needs_torch) for s in ((4000, 40), (4, 16384)))])
def test_extreme_aspect_ratios_give_masks(by_backend, backend, shape):
    """Very long and very thin frames, down to the smallest accepted side, and frames whose
    letterboxed content would be less than one canvas pixel high: a mask, never a crash.
    (The backends differ only once the canvas is built: two shapes suffice for the others.)"""
    s = by_backend[backend]
    frame = np.random.default_rng(2).integers(0, 256, (*shape, 3), dtype=np.uint8)
    with s.session() as sess:
        masks = [s.predict(frame), s.predict(frame, tta=True), s.predict(frame, prior=np.ones(shape, np.float32)),
                 sess.process(frame), sess.process(frame)]
    for m in masks:
        assert m.shape == shape and m.dtype == np.float32 and 0.0 <= m.min() and m.max() <= 1.0
    ch, cw, nh, nw, top, left = s._layout(*shape)
    assert min(nh, nw) >= 1 and max(nh, nw) == s.input_size
    assert 0 <= top and top + nh <= ch <= s.input_size and 0 <= left and left + nw <= cw <= s.input_size


def test_letterboxed_content_is_at_least_one_pixel():
    assert letterbox(4, 16384, 256) == (1, 256, 127, 0)  # 0.06 px high at scale: one row
    assert letterbox(16384, 4, 512) == (512, 1, 0, 255)
    with pytest.raises(InputError, match="frame is 16384x3, smaller than 4 px per side"):
        get_segmenter("small").predict(np.zeros((3, 16384, 3), np.uint8))


def test_shrinking_in_two_steps_stays_an_area_average():
    """A shrink first by the largest whole factor dividing both sides, then the rest: the
    result is on average within 1.5 levels of OpenCV's one-step area average on a
    photo-like frame with hard edges, and the same where one step is taken (a shrink by
    less than 2 or by an exact whole factor, or an enlargement)."""
    from hairfx.segmenter import _resize

    rng = np.random.default_rng(3)
    two_steps = [((480, 640), (192, 256)), ((720, 1280), (288, 512)), ((1080, 1920), (144, 256))]
    one_step = [((720, 1280), (144, 256)), ((377, 300), (256, 204)), ((100, 100), (200, 300))]
    for (h, w), (nh, nw) in two_steps + one_step:
        frame = cv2.GaussianBlur(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), (0, 0), 3)
        frame[h // 3 : h // 2, w // 4 : w // 2] = (250, 20, 20)  # hard edges too
        one = cv2.resize(frame, (nw, nh), interpolation=cv2.INTER_AREA if nh < h else cv2.INTER_LINEAR)
        out = _resize(frame, nw, nh)
        assert out.shape == one.shape and out.dtype == np.uint8
        diff = np.abs(out.astype(int) - one)
        if ((h, w), (nh, nw)) in one_step:
            assert diff.max() == 0
        else:
            assert diff.mean() < 1.5 and diff.max() <= 32, (diff.mean(), diff.max())


def test_full_preset_averages_its_network_with_the_mirrored_small_one():
    """The ensemble's mask is the mean of the full network's and the small network's on the
    mirror image, mirrored back: against that mean computed from two plain segmenters at
    frame size (the ensemble averages at the full canvas's scale, so a few edge pixels
    differ)."""
    ens, alone, small = Segmenter("full", ensemble=True), Segmenter("full", ensemble=False), Segmenter("small")
    assert "ensemble=True" in repr(ens) and "ensemble=False" in repr(alone) and "ensemble" not in repr(small)
    # one pass each (zoom=False): the zoom, where it runs, is one more pass of the same sum
    root = Path(__file__).resolve().parents[1] / "reference_images"
    for name in ("dark", "light"):
        rgb = cv2.imread(str(root / f"{name}.png"))[:, :, ::-1].copy()
        for prior in (None, alone.predict(rgb, zoom=False)):
            mirror_prior = None if prior is None else np.ascontiguousarray(prior[:, ::-1])
            mirrored = small.predict(np.ascontiguousarray(rgb[:, ::-1]), prior=mirror_prior, zoom=False)[:, ::-1]
            want = (alone.predict(rgb, prior=prior, zoom=False) + mirrored) / 2
            got = ens.predict(rgb, prior=prior, zoom=False)
            assert np.abs(got - want).mean() < 0.01
            assert ((got > 0.5) != (want > 0.5)).mean() < 0.005  # of the frame's pixels
            assert np.abs(got - alone.predict(rgb, prior=prior, zoom=False)).mean() > 0.001  # the partner does take part


def test_the_full_preset_is_its_ensemble_unless_asked_otherwise():
    frame = _portrait(120, 90)
    full, ens, alone = Segmenter("full"), Segmenter("full", ensemble=True), Segmenter("full", ensemble=False)
    assert (full.ensemble, ens.ensemble, alone.ensemble) == (True, True, False)
    assert np.array_equal(full.predict(frame), ens.predict(frame))
    assert not np.array_equal(full.predict(frame), alone.predict(frame))
    small = Segmenter("small")
    assert small.ensemble is False and Segmenter("small", ensemble=False).ensemble is False
    assert np.array_equal(small.predict(frame), Segmenter("small", ensemble=False).predict(frame))


def test_ensemble_is_for_the_full_preset_only():
    with pytest.raises(InputError, match="ensemble=True is for the 'full' preset only"):
        Segmenter("small", ensemble=True)
    for bad in ("yes", 1):
        with pytest.raises(InputError, match="ensemble must be True or False"):
            Segmenter("full", ensemble=bad)


def test_the_ensemble_takes_the_small_network_from_the_weights_folder_if_it_has_one(tmp_path):
    folder = _copy_weights(tmp_path)
    for name in ("full.pt", "full.onnx"):
        shutil.copy(WEIGHTS_DIR / name, folder / name)
    path = folder / "small.onnx"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="small.onnx fails its checksum"):
        Segmenter("full", weights_dir=folder, backend="onnxruntime", ensemble=True)
    index = json.loads((folder / "weights.json").read_text())
    del index["small"]
    (folder / "weights.json").write_text(json.dumps(index))
    seg = Segmenter("full", weights_dir=folder, backend="onnxruntime", ensemble=True)  # the package's small
    frame = _portrait(120, 90)
    package = Segmenter("full", backend="onnxruntime", ensemble=True)
    assert np.array_equal(seg.predict(frame), package.predict(frame))


@pytest.fixture(scope="module")
def full_ensemble() -> Segmenter:
    return get_segmenter("full", ensemble=True)


def test_the_shared_ensemble_is_the_full_presets_default(full_ensemble):
    assert get_segmenter("full", ensemble=True) is full_ensemble and get_segmenter("full") is full_ensemble
    alone = get_segmenter("full", ensemble=False)
    assert alone is not full_ensemble and alone is get_segmenter("full", ensemble=False) and not alone.ensemble
    with pytest.raises(InputError, match="ensemble=True is for the 'full' preset only"):
        get_segmenter("small", ensemble=True)


@pytest.mark.parametrize("shape", [(480, 640), (4, 16384), (4000, 40), (7, 3000)])
def test_the_ensemble_gives_masks_for_any_frame_shape(full_ensemble, shape):
    seg = full_ensemble
    frame = np.random.default_rng(4).integers(0, 256, (*shape, 3), dtype=np.uint8)
    with seg.session() as sess:
        masks = [seg.predict(frame), seg.predict(frame, tta=True), sess.process(frame), sess.process(frame)]
    for m in masks:
        assert m.shape == shape and m.dtype == np.float32 and 0.0 <= m.min() and m.max() <= 1.0


def test_masks_from_onnx_runtime_do_not_import_torch():
    """PyTorch takes 2-3 s and 150 MB to import here: a photo recoloured through ONNX Runtime
    (the default runtime) must not pay for it. In a fresh interpreter, as a user's script."""
    code = (
        "import sys, numpy as np, hairfx\n"
        "from hairfx.segmenter import get_segmenter\n"
        "frame = np.full((64, 48, 3), 90, np.uint8)\n"
        "for name in ('small', 'full'):\n"
        "    assert get_segmenter(name).backend == 'onnxruntime'\n"
        "    get_segmenter(name).predict(frame)\n"
        "hairfx.recolor(frame, 'copper', renderer='cpu')\n"
        "print('torch' in sys.modules)\n"
    )
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(root)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_a_segmenter_session_takes_one_frame_at_a_time_and_closes_after_the_frame_in_hand(seg):
    """A second thread's frame in the middle of one would cross the streams' previous masks:
    refused. close() from another thread waits for the frame in hand, and frames given
    meanwhile or later are refused as to a closed session."""
    import threading
    import time

    frame = _portrait()
    expected = seg.session().process(frame)
    sess = seg.session()
    inside, release = threading.Event(), threading.Event()
    plain = sess._process

    def slow(f):
        inside.set()
        release.wait(10)
        return plain(f)

    sess._process = slow
    box = {}
    worker = threading.Thread(target=lambda: box.setdefault("mask", sess.process(frame)))
    worker.start()
    assert inside.wait(10)
    with pytest.raises(InputError, match="processing a frame in another thread"):
        sess.process(frame)
    closer = threading.Thread(target=sess.close)
    closer.start()
    time.sleep(0.2)
    assert closer.is_alive()  # waiting for the frame in hand
    with pytest.raises(InputError, match="is closed"):
        sess.process(frame)
    release.set()
    worker.join(10)
    closer.join(10)
    np.testing.assert_array_equal(box["mask"], expected)
    with pytest.raises(InputError, match="is closed"):
        sess.process(frame)
