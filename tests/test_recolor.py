"""The public API: recolor() and RecolorSession, input checking, renderer choice."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
from PIL import Image

import hairfx
from conftest import REPO, TOL_LEVELS, in_thread
from hairfx.errors import InputError, RendererUnavailable, UnknownColorError


def test_recolor_changes_only_hair(portrait):
    frame, mask = portrait
    out = hairfx.recolor(frame, "copper", mask=mask, renderer="cpu")
    assert out.shape == frame.shape and out.dtype == np.uint8 and out is not frame
    np.testing.assert_array_equal(out[mask == 0], frame[mask == 0])
    assert np.abs(out[mask > 0.5].astype(int) - frame[mask > 0.5]).mean() > 5


@pytest.mark.gl
def test_auto_and_gl_agree_with_cpu(gl_context, portrait):
    frame, mask = portrait
    cpu = hairfx.recolor(frame, "copper", mask=mask, renderer="cpu")
    gl = hairfx.recolor(frame, "copper", mask=mask, renderer="gl")
    assert np.abs(cpu.astype(int) - gl).max() <= TOL_LEVELS


def test_pil_in_pil_out(portrait):
    frame, mask = portrait
    out = hairfx.recolor(Image.fromarray(frame), "copper", mask=Image.fromarray((mask * 255).astype(np.uint8)), renderer="cpu")
    assert isinstance(out, Image.Image) and out.size == (frame.shape[1], frame.shape[0]) and out.mode == "RGB"


@pytest.mark.parametrize("session", [False, True])
def test_a_pil_image_with_a_colour_profile_is_recoloured_in_srgb_and_keeps_it(portrait, session):
    """As `hairfx recolor` does with a Display P3 photo: the hair recoloured in sRGB, as the
    LUTs were made, every other pixel the image's own, and the profile on the output. The
    image once came back without its profile (saved, every pixel shifted colour) and its
    hair recoloured from the P3 values as if they were sRGB (up to 14 levels off)."""
    from PIL import ImageCms

    from hairfx.icc import matrix_shaper_profile

    frame, mask = portrait
    p3 = matrix_shaper_profile("Display P3")
    image = Image.fromarray(frame)
    image.info["icc_profile"] = p3
    p3_to_srgb = ImageCms.buildTransform(ImageCms.ImageCmsProfile(ImageCms.core.profile_frombytes(p3)),
                                         ImageCms.createProfile("sRGB"), "RGB", "RGB")
    if session:
        with hairfx.RecolorSession("copper", renderer="cpu") as s:
            out = s.process(image, mask=mask)
    else:
        out = hairfx.recolor(image, "copper", mask=mask, renderer="cpu")
    assert isinstance(out, Image.Image) and out.info.get("icc_profile") == p3
    got, levels = np.asarray(out), np.round(mask * 255)
    np.testing.assert_array_equal(got[levels == 0], frame[levels == 0])  # not touched
    # the hair, seen in sRGB, is what the sRGB picture recolours to (LittleCMS as the oracle)
    srgb = np.asarray(ImageCms.applyTransform(Image.fromarray(frame), p3_to_srgb))
    want = hairfx.recolor(srgb, "copper", mask=mask, renderer="cpu")
    seen = np.asarray(ImageCms.applyTransform(out, p3_to_srgb)).astype(int)
    hair = levels == 255
    assert np.abs(seen - want)[hair].mean() < 1.0 and np.abs(seen - want)[hair].max() <= 4


@pytest.mark.parametrize("renderer", ["cpu", "auto"])
def test_a_recolor_session_refuses_to_be_pickled_and_says_what_to_do(portrait, renderer):
    """A session holds one stream's state and its own renderer: pickling it (to a worker
    process) names the class and what to do instead, not a lock or a GL context inside it."""
    import copy
    import pickle

    frame, mask = portrait
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "auto" without OpenGL
        with hairfx.RecolorSession("copper", renderer=renderer) as s:
            s.process(frame, mask=mask)
            for attempt in (pickle.dumps, copy.copy):
                with pytest.raises(TypeError, match=r"^cannot pickle a RecolorSession: .*make a RecolorSession in "
                                                    r"each process"):
                    attempt(s)


def test_low_resolution_mask_is_resized(portrait):
    import cv2

    frame, mask = portrait
    h, w = mask.shape
    small = cv2.resize(mask, (w // 4, h // 4), interpolation=cv2.INTER_AREA)
    out = hairfx.recolor(frame, "copper", mask=small, renderer="cpu")
    expected = hairfx.recolor(frame, "copper", mask=cv2.resize(small, (w, h)), renderer="cpu")
    np.testing.assert_array_equal(out, expected)


def test_no_hair_comes_back_unchanged(portrait):
    frame, _ = portrait
    out = hairfx.recolor(frame, "copper", mask=np.zeros(frame.shape[:2], np.float32), renderer="cpu")
    np.testing.assert_array_equal(out, frame)


@pytest.mark.parametrize(
    "frame, message",
    [
        (np.zeros((8, 8), np.uint8), r"grayscale \(8, 8\) uint8"),
        (np.zeros((8, 8, 4), np.uint8), r"got \(8, 8, 4\) uint8 \(RGBA\?"),
        (np.zeros((8, 8, 3), np.float32), r"got \(8, 8, 3\) float32"),
        (np.zeros((0, 8, 3), np.uint8), "empty"),
        (np.zeros((8, 20000, 3), np.uint8), "larger than the 16384"),
        ([[1, 2, 3]], "got list"),
        (Image.new("RGBA", (4, 4)), "mode 'RGBA'"),
        (Image.new("L", (4, 4)), "mode 'L'"),
    ],
)
def test_bad_frames(frame, message):
    with pytest.raises(InputError, match=message):
        hairfx.recolor(frame, "copper", mask=np.ones((8, 8), np.float32), renderer="cpu")


@pytest.mark.parametrize(
    "mask, message",
    [
        (np.ones((8, 8, 3), np.float32), r"mask must be HxW \(single channel\), got \(8, 8, 3\)"),
        (np.full((8, 8), 2.0, np.float32), r"values must lie in \[0, 1\], got range \[2, 2\]"),
        (np.full((8, 8), np.nan, np.float32), "NaN"),
        (np.ones((8, 8), np.int64), "got \\(8, 8\\) int64"),
        (np.ones((8, 16), np.float32), "aspect ratios differ"),
        (np.ones((8, 9), np.float32), "aspect ratios differ"),  # 12 % off, and not scaled down
        (np.ones((0, 8), np.float32), "empty"),
    ],
)
def test_bad_masks(mask, message):
    with pytest.raises(InputError, match=message):
        hairfx.recolor(np.zeros((8, 8, 3), np.uint8), "copper", mask=mask, renderer="cpu")


def test_bad_options():
    frame, mask = np.zeros((8, 8, 3), np.uint8), np.ones((8, 8), np.float32)
    with pytest.raises(UnknownColorError, match="unknown colour 'mauvish'; valid colours: .*copper"):
        hairfx.recolor(frame, "mauvish", mask=mask)
    with pytest.raises(InputError, match=r"strength must be in \[0, 1\], got 1.5"):
        hairfx.recolor(frame, "copper", mask=mask, strength=1.5)
    for bad in ("0.5", True):
        with pytest.raises(InputError, match="strength must be a number"):
            hairfx.recolor(frame, "copper", mask=mask, strength=bad)
    with pytest.raises(InputError, match=r"renderer must be one of auto, gl, cpu, got \['gl'\]"):
        hairfx.recolor(frame, "copper", mask=mask, renderer=["gl"])
    with pytest.raises(InputError, match="renderer must be one of auto, gl, cpu, got 'vulkan'"):
        hairfx.recolor(frame, "copper", mask=mask, renderer="vulkan")
    with pytest.raises(InputError, match="interpolation must be one of"):
        hairfx.recolor(frame, "copper", mask=mask, interpolation="cubic")


def test_inputs_are_not_modified(portrait):
    frame, mask = portrait
    f0, m0 = frame.copy(), mask.copy()
    hairfx.recolor(frame, "copper", mask=mask, renderer="cpu")
    np.testing.assert_array_equal(frame, f0)
    np.testing.assert_array_equal(mask, m0)


_NO_GL_SCRIPT = """
import warnings, numpy as np, hairfx
frame = np.full((16, 16, 3), 90, np.uint8); mask = np.ones((16, 16), np.float32)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    a = hairfx.recolor(frame, "copper", mask=mask)           # auto: falls back, warns once
    b = hairfx.recolor(frame, "copper", mask=mask, renderer="auto")
    s = hairfx.RecolorSession("copper")                      # no second warning either
print("warnings", sum("OpenGL unavailable" in str(w.message) for w in caught))
print("renderer", s.renderer.name)
print("changed", bool((a != frame).any()), bool((a == b).all()))
try:
    hairfx.recolor(frame, "copper", mask=mask, renderer="gl")
except hairfx.RendererUnavailable as exc:
    print("gl error", type(exc).__name__)
"""


def test_without_opengl_auto_falls_back_once_and_gl_fails_loudly():
    # A real failure, not a mock: point libglvnd's EGL at no vendor library at all.
    env = dict(os.environ, __EGL_VENDOR_LIBRARY_FILENAMES=os.devnull, PYTHONPATH=str(REPO))
    out = subprocess.run([sys.executable, "-c", _NO_GL_SCRIPT], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "warnings 1" in out.stdout
    assert "renderer cpu" in out.stdout
    assert "changed True True" in out.stdout
    assert "gl error RendererUnavailable" in out.stdout


# -- the video session --------------------------------------------------------------------
def _frames(portrait, n, brightness):
    frame, mask = portrait
    for k in range(n):
        f = np.clip(frame.astype(np.int16) + brightness[k % len(brightness)], 0, 255).astype(np.uint8)
        yield f, mask


def test_session_smooths_intensity(portrait):
    with hairfx.RecolorSession("copper", renderer="cpu", smoothing=0.8) as s:
        raws, smooth = [], []
        for f, m in _frames(portrait, 12, [0, 60]):  # intensity jumps every frame
            s.process(f, mask=m)
            raws.append(s.last_raw_intensity)
            smooth.append(s.intensity)
    jumps_raw = np.abs(np.diff(raws[4:])).mean()
    jumps_smooth = np.abs(np.diff(smooth[4:])).mean()
    assert jumps_smooth < 0.3 * jumps_raw
    assert min(raws) < smooth[-1] < max(raws)
    frame, mask = portrait
    with hairfx.RecolorSession("copper", renderer="cpu", smoothing=0.8) as s:
        s.process(frame, mask=mask)
        held = s.intensity
        np.testing.assert_array_equal(s.process(frame, mask=np.zeros_like(mask)), frame)  # a frame with no hair
        assert s.last_raw_intensity is None and s.last_weight is None  # it has no intensity of its own...
        assert s.intensity == held  # ...and the smoothed one is kept for the hair's return


def test_session_first_frame_matches_recolor_and_reset_forgets(portrait):
    frame, mask = portrait
    single = hairfx.recolor(frame, "copper", mask=mask, renderer="cpu")
    with hairfx.RecolorSession("copper", renderer="cpu", smoothing=0.8) as s:
        np.testing.assert_array_equal(s.process(frame, mask=mask), single)
        s.process(np.clip(frame.astype(int) + 80, 0, 255).astype(np.uint8), mask=mask)
        assert s.intensity != pytest.approx(s.last_raw_intensity)
        s.reset()
        assert s.intensity is None
        np.testing.assert_array_equal(s.process(frame, mask=mask), single)


def test_session_colour_and_strength_can_change(portrait):
    frame, mask = portrait
    with hairfx.RecolorSession("copper", renderer="cpu") as s:
        s.color = "blue"
        s.strength = 0.0
        np.testing.assert_array_equal(s.process(frame, mask=mask), frame)
        with pytest.raises(UnknownColorError):
            s.color = "nope"
        with pytest.raises(InputError):
            s.strength = -1
    with pytest.raises(InputError, match="closed"):
        s.process(frame, mask=mask)
    with pytest.raises(InputError, match="closed"):
        s.mask(frame)  # would quietly start a new model session that nothing closes


@pytest.fixture
def gl_textures_64(gl_context, monkeypatch):
    """Every GL context reports 64-pixel textures: real contexts, a smaller limit."""
    import sys

    import moderngl

    real = moderngl.Context.info.fget
    monkeypatch.setattr(moderngl.Context, "info", property(lambda ctx: {**real(ctx), "GL_MAX_TEXTURE_SIZE": 64}))
    monkeypatch.setattr(sys.modules["hairfx.recolor"], "_large_frame_warned", False, raising=False)


@pytest.mark.gl
def test_frame_too_large_for_gl_falls_back_under_auto_only(gl_textures_64):
    rng = np.random.default_rng(11)
    frame = rng.integers(0, 256, (100, 120, 3), dtype=np.uint8)
    mask = np.zeros((100, 120), np.float32)
    mask[10:90, 10:110] = 0.8
    cpu = hairfx.recolor(frame, "copper", mask=mask, renderer="cpu")
    with pytest.warns(RuntimeWarning, match=r"CPU renderer for a frame OpenGL cannot take .*GL_MAX_TEXTURE_SIZE of 64\); "
                                            r"give smaller frames, or ask for renderer='cpu' to use it without") as seen:
        auto = hairfx.recolor(frame, "copper", mask=mask, renderer="auto")
    assert "use renderer='cpu' or" not in str(seen[0].message)
    np.testing.assert_array_equal(auto, cpu)
    with pytest.raises(RendererUnavailable, match=r"120x100 frame .* GL_MAX_TEXTURE_SIZE of 64"):
        hairfx.recolor(frame, "copper", mask=mask, renderer="gl")

    small = np.zeros_like(mask)
    small[20:60, 30:90] = 0.8  # within 64 x 64 pixels
    with hairfx.RecolorSession("copper", renderer="auto") as s:
        assert s.renderer.name == "gl"
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # warned once per process, above
            np.testing.assert_array_equal(s.process(frame, mask=mask), cpu)
            assert s.last_raw_intensity is not None and s.last_weight is not None
            out = s.process(frame, mask=small)  # on the GPU again
        ref = hairfx.recolor(frame, "copper", mask=small, renderer="cpu")
        assert np.abs(out.astype(int) - ref).max() <= TOL_LEVELS
    with hairfx.RecolorSession("copper", renderer="gl") as s:
        with pytest.raises(RendererUnavailable, match="GL_MAX_TEXTURE_SIZE of 64"):
            s.process(frame, mask=mask)
        assert s.intensity is None  # refused before the intensity was measured

    from hairfx.video import VideoRecolorer

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with VideoRecolorer(color="copper", renderer="auto") as v:
            np.testing.assert_array_equal(v.process(frame, 0.0, mask), cpu)
        with VideoRecolorer(ombre="copper,platinum", renderer="auto") as v, \
                VideoRecolorer(ombre="copper,platinum", renderer="cpu") as v_cpu:  # fmt: skip
            np.testing.assert_array_equal(v.process(frame, 0.0, mask), v_cpu.process(frame, 0.0, mask))


@pytest.mark.gl
def test_session_gl_reuses_renderer(gl_context, portrait):
    frame, mask = portrait
    with hairfx.RecolorSession("copper", renderer="gl") as s:
        renderer = s.renderer
        for _ in range(3):
            s.process(frame, mask=mask)
        assert s.renderer is renderer and renderer.name == "gl"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert s.renderer is None


def test_session_default_follows_the_frame_intensity(portrait):
    frame, mask = portrait
    brighter = np.clip(frame.astype(int) + 80, 0, 255).astype(np.uint8)
    with hairfx.RecolorSession("copper", renderer="cpu") as s:
        s.process(frame, mask=mask)
        out = s.process(brighter, mask=mask)
        assert s.intensity == s.last_raw_intensity
    np.testing.assert_array_equal(out, hairfx.recolor(brighter, "copper", mask=mask, renderer="cpu"))


def test_a_mask_scaled_to_whole_pixels_is_accepted_however_small():
    """1080x1920 at 1/32 is 33.75x60: a 33x60 mask is 2.2 % off the frame's aspect ratio
    only because of the rounding, and is the frame's own mask."""
    frame = np.zeros((1080, 1920, 3), np.uint8)
    for mask_shape in ((33, 60), (34, 60), (22, 40), (8, 14)):
        out = hairfx.recolor(frame, "copper", mask=np.ones(mask_shape, np.float32), renderer="cpu")
        assert out.shape == frame.shape
    # under 8 px a side one pixel of rounding is no excuse: these were taken and stretched
    for mask_shape in ((2, 1), (1, 3), (6, 6), (6, 10), (7, 10)):
        with pytest.raises(InputError, match="aspect ratios differ"):
            hairfx.recolor(np.zeros((480, 640, 3), np.uint8), "copper", mask=np.ones(mask_shape, np.float32),
                           renderer="cpu")


def test_a_mask_a_few_pixels_off_the_frame_is_refused_not_stretched():
    """Within 2 % of the frame's aspect ratio, these were stretched over it: a decoder's padded
    1920x1088 moved hair at the bottom by 8 px, a 1900-wide mask stretched by 20 px. Neither is
    the frame's mask scaled to whole pixels. Scaled-down and scaled-up copies still pass."""
    frame = np.zeros((1080, 1920, 3), np.uint8)
    for mask_shape in ((1088, 1920), (1080, 1900), (1072, 1920), (540, 964), (368, 640)):
        with pytest.raises(InputError, match="aspect ratios differ"):
            hairfx.recolor(frame, "copper", mask=np.ones(mask_shape, np.float32), renderer="cpu")
    for mask_shape in ((540, 960), (2160, 3840), (67, 120), (68, 120)):
        assert hairfx.recolor(frame, "copper", mask=np.ones(mask_shape, np.float32), renderer="cpu").shape == frame.shape


def test_hair_alpha_refuses_what_is_not_a_probability():
    from hairfx.recolor import hair_alpha

    for bad, message in ((np.full((4, 4), -1.0, np.float32), r"must lie in \[0, 1\]"),
                         (np.full((4, 4), 3.5, np.float32), r"must lie in \[0, 1\]"),  # logits, say
                         ([[0.5]], "got list")):
        with pytest.raises(InputError, match=message):
            hair_alpha(bad)


def test_hair_alpha_ramp():
    from hairfx.recolor import MASK_RAMP, hair_alpha

    p = np.array([[0.0, 0.1, MASK_RAMP[0], 0.5, MASK_RAMP[1], 0.9, 1.0]], np.float32)
    a = hair_alpha(p)
    assert a.dtype == np.float32 and a.shape == p.shape
    np.testing.assert_array_equal(a[0, [0, 1, 2]], 0.0)  # low confidence: exactly untouched
    np.testing.assert_array_equal(a[0, [4, 5, 6]], 1.0)
    assert abs(a[0, 3] - 0.5) < 0.01  # the hair / not-hair decision stays at p = 0.5
    ramp = hair_alpha(np.linspace(0, 1, 1001, dtype=np.float32)[None])
    assert (np.diff(ramp) >= 0).all()


def test_session_checks_its_options_up_front():
    for bad, message in (("abc", "must be a number, got 'abc'"), ("0.5", "must be a number, got '0.5'"),
                         (1.0, r"must be in \[0, 1\), got 1.0"), (-0.1, r"must be in \[0, 1\), got -0.1"), (float("nan"), "must be a finite number")):
        with pytest.raises(InputError, match=f"smoothing {message}"):
            hairfx.RecolorSession("copper", renderer="cpu", smoothing=bad)


def test_tta_is_a_yes_or_no_not_anything_truthy(portrait):
    """`tta="no"` ran the four-pass model, as every non-empty string is true."""
    from hairfx.segmenter import get_segmenter

    frame, mask = portrait
    for bad in ("no", 1, None):
        with pytest.raises(InputError, match=f"tta must be True or False, got {bad!r}"):
            hairfx.recolor(frame, "copper", mask=mask, renderer="cpu", tta=bad)
        with pytest.raises(InputError, match="tta must be True or False"):
            get_segmenter("small").predict(frame, tta=bad)
    hairfx.recolor(frame, "copper", mask=mask, renderer="cpu", tta=np.bool_(False))


def test_recolor_with_the_full_model_uses_its_ensembles_mask(portrait, tmp_path):
    """model="full" recolours with the shared full ensemble's mask, exactly as passing that
    mask (through hair_alpha) does, and so does `hairfx recolor --model full`;
    ensemble=False (--no-ensemble) uses the full network alone; ensemble=True with the
    small model is refused, mask or not."""
    from hairfx.cli import main
    from hairfx.imagefiles import read_rgb, write_rgb
    from hairfx.recolor import hair_alpha
    from hairfx.segmenter import get_segmenter

    frame, mask = portrait
    got = hairfx.recolor(frame, "copper", renderer="cpu", model="full")
    alpha = hair_alpha(get_segmenter("full", ensemble=True).predict(frame))
    np.testing.assert_array_equal(got, hairfx.recolor(frame, "copper", mask=alpha, renderer="cpu"))
    np.testing.assert_array_equal(got, hairfx.recolor(frame, "copper", renderer="cpu", model="full", ensemble=True))
    alone = hairfx.recolor(frame, "copper", renderer="cpu", model="full", ensemble=False)
    alpha = hair_alpha(get_segmenter("full", ensemble=False).predict(frame))
    np.testing.assert_array_equal(alone, hairfx.recolor(frame, "copper", mask=alpha, renderer="cpu"))
    assert not np.array_equal(got, alone)
    write_rgb(tmp_path / "in.png", frame)
    argv = ["recolor", str(tmp_path / "in.png"), "--color", "copper", "-o", str(tmp_path / "out.png"),
            "--renderer", "cpu"]
    for flags, want in ([], got), (["--ensemble"], got), (["--no-ensemble"], alone):
        assert main(argv + ["--model", "full", *flags]) == 0
        np.testing.assert_array_equal(read_rgb(tmp_path / "out.png"), want)
    assert main(argv + ["--ensemble"]) == 2  # the small model, the default
    assert main(argv + ["--no-ensemble"]) == 0  # the small model is one network anyway
    for m in (None, mask):
        with pytest.raises(InputError, match="ensemble=True is for the 'full' preset only, not 'small'"):
            hairfx.recolor(frame, "copper", mask=m, renderer="cpu", ensemble=True)
    with pytest.raises(InputError, match="ensemble must be True or False"):
        hairfx.recolor(frame, "copper", mask=mask, renderer="cpu", model="full", ensemble="yes")


def test_session_smoothing_changed_between_frames_is_checked_too(portrait):
    """A NaN set between frames was taken, and every later frame failed even after a
    good value was set again (the NaN stayed in the smoothed intensity)."""
    frame, mask = portrait
    with hairfx.RecolorSession("copper", renderer="cpu", smoothing=0.5) as s:
        s.process(frame, mask)
        for bad in (float("nan"), 1.0, "0.2"):
            with pytest.raises(InputError, match="smoothing must be"):
                s.smoothing = bad
        assert s.smoothing == 0.5
        s.smoothing = 0.8
        s.process(frame, mask)
        assert s.smoothing == 0.8 and np.isfinite(s.intensity)
    with pytest.raises(InputError, match="unknown model 'huge'; valid models are: small, full"):
        hairfx.RecolorSession("copper", renderer="cpu", model="huge")


@pytest.mark.parametrize("tta", [False, True])
def test_model_mask_is_the_segmenters_through_the_ramp(portrait, tta):
    """recolor() without a mask = recolor() with the segmenter's mask through hair_alpha."""
    from hairfx.recolor import hair_alpha
    from hairfx.segmenter import get_segmenter

    frame, _ = portrait
    got = hairfx.recolor(frame, "copper", renderer="cpu", tta=tta)
    mask = hair_alpha(get_segmenter("small").predict(frame, tta=tta))
    assert np.array_equal(got, hairfx.recolor(frame, "copper", mask=mask, renderer="cpu"))
    assert np.any(got != frame)


def test_model_mask_zooms_into_a_small_head_unless_told_not_to(portrait, tmp_path):
    """On a head small in the frame the model's mask comes from the zoom's second pass;
    zoom=False (``--no-zoom``) recolours with one pass's mask, and zoom="no" is refused."""
    from hairfx.cli import main
    from hairfx.imagefiles import read_rgb, write_rgb
    from hairfx.recolor import hair_alpha
    from hairfx.segmenter import get_segmenter, zoom_box

    face, _ = portrait
    h, w = face.shape[:2]
    frame = np.full((2 * h, 2 * w, 3), 150, np.uint8)
    frame[h // 2 : h // 2 + h, w // 2 : w // 2 + w] = face
    seg = get_segmenter("small")
    assert zoom_box(seg.predict(frame, zoom=False)) is not None
    results = {}
    for zoom in (True, False):
        results[zoom] = hairfx.recolor(frame, "copper", renderer="cpu", zoom=zoom)
        mask = hair_alpha(seg.predict(frame, zoom=zoom))
        np.testing.assert_array_equal(results[zoom], hairfx.recolor(frame, "copper", mask=mask, renderer="cpu"))
    np.testing.assert_array_equal(results[True], hairfx.recolor(frame, "copper", renderer="cpu"))
    assert not np.array_equal(results[True], results[False])
    write_rgb(tmp_path / "in.png", frame)
    argv = ["recolor", str(tmp_path / "in.png"), "--color", "copper", "-o", str(tmp_path / "out.png"), "--renderer", "cpu"]
    for flags, zoom in ([], True), (["--no-zoom"], False):
        assert main(argv + flags) == 0
        np.testing.assert_array_equal(read_rgb(tmp_path / "out.png"), results[zoom])
    with pytest.raises(InputError, match="zoom must be True or False, got 'no'"):
        hairfx.recolor(frame, "copper", renderer="cpu", zoom="no")


def test_a_session_keeps_a_view_of_a_small_head_unless_told_not_to(portrait):
    from hairfx.recolor import hair_alpha
    from hairfx.segmenter import get_segmenter

    face, _ = portrait
    h, w = face.shape[:2]
    frame = np.full((2 * h, 2 * w, 3), 150, np.uint8)
    frame[h // 2 : h // 2 + h, w // 2 : w // 2 + w] = face
    out = {}
    for zoom in (True, False):
        with hairfx.RecolorSession("copper", renderer="cpu", zoom=zoom) as s, \
                get_segmenter("small").session(zoom=zoom) as masks:
            for _ in range(2):
                out[zoom] = s.process(frame)
                want = hairfx.recolor(frame, "copper", mask=hair_alpha(masks.process(frame)), renderer="cpu")
                np.testing.assert_array_equal(out[zoom], want)
            assert (s.segmenter_session.view is not None) == zoom
    assert not np.array_equal(out[True], out[False])
    with pytest.raises(InputError, match="zoom must be True or False"):
        hairfx.RecolorSession("copper", renderer="cpu", zoom="yes")


def test_release_renderers_frees_the_threads_renderers(portrait):
    """recolor() keeps a renderer per thread; release_renderers() closes the calling
    thread's (a GL context among them when one can be made) and a later call makes anew."""
    import importlib

    rec = importlib.import_module("hairfx.recolor")  # the module; hairfx.recolor is the function

    frame, mask = portrait
    seen = {}

    def worker():
        first = hairfx.recolor(frame, "copper", mask=mask, renderer="auto")
        kept = list(rec._local.renderers.values())
        hairfx.release_renderers()
        seen["kept"] = len(kept)
        seen["closed"] = all(r.ctx is None for r in kept if r.name == "gl")
        seen["empty"] = rec._local.renderers == {}
        seen["again"] = np.array_equal(hairfx.recolor(frame, "copper", mask=mask, renderer="auto"), first)
        hairfx.release_renderers()

    in_thread(worker)
    assert seen == {"kept": 1, "closed": True, "empty": True, "again": True}


def test_the_cpu_fallback_warning_points_at_the_callers_line(monkeypatch, portrait):
    """It was attributed to a line inside hairfx (recolor.py), or to the line below the
    caller's, depending on the path that made the renderer."""
    import sys

    import hairfx.render_gl

    rec = sys.modules["hairfx.recolor"]

    def no_gl(*args, **kwargs):
        raise RendererUnavailable("no EGL here")

    monkeypatch.setattr(hairfx.render_gl, "GLRenderer", no_gl)
    frame, mask = portrait
    calls = {
        "recolor": lambda: hairfx.recolor(frame, "copper", mask=mask),
        "session": lambda: hairfx.RecolorSession("copper").close(),
        "make_renderer": lambda: rec.make_renderer("auto"),
    }
    for name, call in calls.items():
        monkeypatch.setattr(rec, "_fallback_warned", False)
        monkeypatch.setattr(rec, "_gl_unavailable", None)
        monkeypatch.setattr(rec, "_local", __import__("threading").local())
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            call()
        # it says what was done, and how to ask for it, not "use renderer='cpu'" as if it were not
        assert [str(w.message) for w in seen] == ["hairfx: OpenGL unavailable (no EGL here); fell back to the CPU "
                                                  "renderer (ask for renderer='cpu' to use it without this "
                                                  "warning)"], name
        assert seen[0].filename == __file__, (name, seen[0].filename)


def test_a_frame_given_its_own_mask_breaks_the_models_chain_of_priors(portrait):
    """Frames with the caller's masks between model frames: the next model frame starts
    afresh, as a first frame does, not from the model's mask of frames before (which kept
    the face recoloured for seconds on a real clip)."""
    from hairfx.recolor import hair_alpha
    from hairfx.segmenter import get_segmenter

    frame, mask = portrait
    moved = np.ascontiguousarray(np.roll(frame, 40, axis=1))
    with hairfx.RecolorSession("copper", renderer="cpu") as s:
        s.process(frame)  # the model: its mask becomes the prior
        assert s.segmenter_session.previous_mask_canvas is not None
        s.process(moved, mask=np.zeros(mask.shape, np.float32))  # the caller's
        assert s.segmenter_session.previous_mask_canvas is None  # the next model frame starts afresh
        got = s.mask(moved)
    fresh = hair_alpha(get_segmenter("small").predict(moved))  # no prior
    np.testing.assert_array_equal(got, fresh)


def test_the_models_own_mask_given_back_to_process_keeps_its_chain(portrait):
    """mask() then process(frame, mask=that mask), to time the model apart from the
    recolouring as the webcam example does, reset the model's session on every frame: no
    frame was ever given its previous mask. Only the mask mask() just made keeps the chain:
    a copy of it, or the same array given later, is the caller's."""
    frame, _ = portrait
    moved = np.ascontiguousarray(np.roll(frame, 12, axis=1))
    with hairfx.RecolorSession("copper", renderer="cpu") as plain:
        expected = [plain.process(f) for f in (frame, moved)]
        expected_mask = plain.last_mask
    with hairfx.RecolorSession("copper", renderer="cpu") as s:
        got = []
        for f in (frame, moved):
            m = s.mask(f)
            got.append(s.process(f, mask=m))
            assert s.segmenter_session.previous_mask_canvas is not None
        np.testing.assert_array_equal(s.last_mask, expected_mask)  # the second frame had the first's prior
        for a, b in zip(got, expected):
            np.testing.assert_array_equal(a, b)
        m = s.mask(frame)
        s.process(frame, mask=m.copy())
        assert s.segmenter_session.previous_mask_canvas is None
        m = s.mask(frame)
        s.process(frame)
        s.process(frame, mask=m)  # not the next call
        assert s.segmenter_session.previous_mask_canvas is None


def test_a_session_passes_its_prior_check_to_the_models_session(portrait):
    frame, _ = portrait
    with hairfx.RecolorSession("copper", renderer="cpu", check_every=15) as s:
        s.process(frame)
        assert s.segmenter_session.check_every == 15
    for bad in (-1, 1.5, "15"):
        with pytest.raises(InputError, match="check_every must be"):
            hairfx.RecolorSession("copper", renderer="cpu", check_every=bad)


def test_a_video_recolorer_keeps_its_sessions_state_current(portrait):
    from hairfx.video import VideoRecolorer

    frame, mask = portrait
    with VideoRecolorer(color="copper", renderer="cpu") as rv:
        rv.process(frame, mask=mask)
        s = rv.session
        assert s.last_mask is rv.last_mask and s.last_raw_intensity is not None and s.last_weight is not None
        rv.process(np.zeros_like(frame), mask=np.zeros(mask.shape, np.float32))  # no hair
        assert s.last_raw_intensity is None and s.last_weight is None and not s.last_mask.any()


def test_session_with_the_full_model_feeds_back_the_ensembles_masks(portrait):
    """RecolorSession and VideoRecolorer take `ensemble` as recolor() does: full's
    ensemble by default, the full network alone with False; its frames' masks are those of
    a segmenter session of the same segmenter."""
    from hairfx.recolor import hair_alpha
    from hairfx.segmenter import get_segmenter
    from hairfx.video import VideoRecolorer

    frame, _ = portrait
    frames = [frame, np.ascontiguousarray(frame[:, ::-1])]
    for ensemble in (None, True, False):
        seg = get_segmenter("full", ensemble=ensemble)
        with hairfx.RecolorSession("copper", renderer="cpu", model="full", ensemble=ensemble) as s, seg.session() as ref:
            assert s.ensemble is (ensemble is not False)
            for f in frames:
                np.testing.assert_array_equal(s.mask(f), hair_alpha(ref.process(f)))
        with VideoRecolorer(color="copper", renderer="cpu", model="full", ensemble=ensemble) as rv:
            assert rv.session.ensemble is (ensemble is not False)
    with pytest.raises(InputError, match="ensemble=True is for the 'full' preset only"):
        hairfx.RecolorSession("copper", renderer="cpu", ensemble=True)


def test_a_session_refuses_a_second_threads_frame_in_the_middle_of_one(portrait):
    """Two threads feeding one session at once crossed their streams' previous masks (25 of
    30 frames wrong, no error), through process() or mask() alike; one at a time, from any
    thread, stays fine. close() and reset() from another thread wait for the frame in hand:
    a close in its middle had made the worker fail with AttributeError, not InputError."""
    import threading
    import time

    from conftest import in_thread

    frame, mask = portrait
    expected = hairfx.recolor(frame, "copper", mask=mask, renderer="cpu")
    with hairfx.RecolorSession("copper", renderer="cpu") as s:
        inside, release = threading.Event(), threading.Event()
        plain_mask = s._mask

        def slow_mask(f, m=None):  # the first thread's frame, held half way through
            inside.set()
            release.wait(10)
            return plain_mask(f, m)

        s._mask = slow_mask
        box = {}
        worker = threading.Thread(target=lambda: box.setdefault("out", s.process(frame, mask)))
        worker.start()
        assert inside.wait(10)
        for call in (lambda: s.process(frame, mask), lambda: s.mask(frame, mask), lambda: s.mask(frame)):
            with pytest.raises(InputError, match="processing a frame in another thread"):
                call()
        closer = threading.Thread(target=s.close)
        closer.start()
        time.sleep(0.2)
        assert closer.is_alive()  # waiting for the frame in hand
        release.set()
        worker.join()
        closer.join(10)
        np.testing.assert_array_equal(box["out"], expected)  # the frame in hand finished as it would have
        with pytest.raises(InputError, match="has been closed"):
            s.process(frame, mask)
    with hairfx.RecolorSession("copper", renderer="cpu") as s:
        np.testing.assert_array_equal(in_thread(s.process, frame, mask), expected)  # one at a time, any thread


def test_closing_a_session_while_another_thread_feeds_it_stops_that_thread_with_input_error():
    """A worker feeding frames as fast as it can and a close from another thread: the
    worker stops on the session's own error, every time, whichever renderer."""
    import threading
    import time

    frame = np.full((96, 96, 3), 90, np.uint8)
    for renderer, mask in (("cpu", np.ones((96, 96), np.float32)), ("auto", np.ones((96, 96), np.float32)),
                           ("cpu", None)):  # None: the model's masks, through the session's previous masks
        for _ in range(4):
            s = hairfx.RecolorSession("copper", renderer=renderer)
            box = {}

            def feed():
                try:
                    while True:
                        s.process(frame, mask)
                except Exception as exc:  # noqa: BLE001 - examined below
                    box["error"] = exc

            worker = threading.Thread(target=feed)
            worker.start()
            time.sleep(0.02)
            s.close()
            worker.join(10)
            assert isinstance(box["error"], InputError) and "closed" in str(box["error"]), repr(box["error"])


def test_a_session_keeps_its_own_copy_of_the_callers_mask():
    """A capture loop that refills one mask buffer must not change the mask the session
    keeps (last_mask), and writing into what mask() returns must not write into the input."""
    frame = np.full((4, 6, 3), 90, np.uint8)
    buf = np.ones((4, 6), np.float32)
    with hairfx.RecolorSession("copper", renderer="cpu") as s:
        s.process(frame, mask=buf)
        assert s.last_mask is not buf
        buf[:] = 0.0
        assert s.last_mask.min() == 1.0
        m = s.mask(frame, buf)
        m += 0.5
        assert buf.max() == 0.0


def test_the_models_mask_written_into_before_it_is_given_back_is_checked(portrait):
    """The mask mask() returns, edited in place and given back to process(), is checked as
    any mask is: a NaN or a value past 1 written into it had been taken unchecked (NaNs
    recoloured nothing and measured no hair, values past 1 recoloured at full strength),
    where the same values in any other array raise InputError."""
    frame, _ = portrait
    with hairfx.RecolorSession("copper", renderer="cpu") as s:
        for value, said in ((np.nan, "NaN"), (3.0, r"values must lie in \[0, 1\]")):
            m = s.mask(frame)
            m[m > 0.5] = value
            with pytest.raises(InputError, match=said):
                s.process(frame, mask=m)
        m = s.mask(frame)
        m[: m.shape[0] // 2] = 0.0  # an edit that leaves a mask: taken, and the model's chain goes on
        out = s.process(frame, mask=m)
        assert s.last_mask is m and s.segmenter_session.previous_mask_canvas is not None
        np.testing.assert_array_equal(out[: m.shape[0] // 2], frame[: m.shape[0] // 2])
