"""The CPU and GL renderers: against ffmpeg's lut3d, against each other, and the blend."""

from __future__ import annotations

import os
import subprocess

import numpy as np
import pytest

from conftest import TOL_LEVELS, graded, in_thread, in_threads, mask_at_8_bits
from hairfx.colors import Color
from hairfx.errors import InputError, RendererUnavailable
from hairfx.lut import LUT3D, sample_tetrahedral, sample_trilinear, write_cube
from hairfx.render_cpu import CpuRenderer
from hairfx.render_gl import GLRenderer


@pytest.fixture
def gl(gl_context):
    r = GLRenderer(context=gl_context)
    yield r
    r.close()


@pytest.fixture
def gl_tetra(gl_context):
    r = GLRenderer(context=gl_context, interpolation="tetrahedral")
    yield r
    r.close()


def _max_diff(a, b) -> int:
    return int(np.abs(a.astype(np.int16) - b.astype(np.int16)).max())


def _full_mask(frame):
    return np.ones(frame.shape[:2], np.float32)


def test_cpu_matches_ffmpeg_lut3d_on_a_real_photo(tmp_path, ffmpeg, portrait, copperish):
    """Independent oracle: ffmpeg's lut3d filter (trilinear) applied to the whole photo."""
    import cv2

    frame, _ = portrait
    # Intensity of the whole frame decides the blend; write the blended table ffmpeg will use.
    res = CpuRenderer().render(frame, _full_mask(frame), copperish)
    write_cube(LUT3D(copperish.blended(res.weight)), tmp_path / "blend.cube", decimals=7)
    cv2.imwrite(str(tmp_path / "in.png"), frame[:, :, ::-1])
    subprocess.run(
        [ffmpeg, "-v", "error", "-y", "-i", str(tmp_path / "in.png"),
         "-vf", f"lut3d=file={tmp_path / 'blend.cube'}:interp=trilinear", str(tmp_path / "out.png")],
        check=True,
    )  # fmt: skip
    theirs = cv2.imread(str(tmp_path / "out.png"))[:, :, ::-1]
    assert theirs.shape == frame.shape
    assert _max_diff(res.frame, theirs) <= TOL_LEVELS
    assert _max_diff(res.frame, frame) > 20  # the LUT really changed the photo


@pytest.mark.parametrize("interp", ["trilinear", "tetrahedral"])
def test_cpu_matches_reference_sampler(portrait, copperish, interp):
    frame, mask = portrait
    res = CpuRenderer(interpolation=interp).render(frame, mask, copperish, strength=0.8)
    sampler = sample_trilinear if interp == "trilinear" else sample_tetrahedral
    f = frame.astype(np.float64)
    lut = sampler(copperish.blended(res.weight), frame / 255.0).astype(np.float64) * 255.0
    expected = np.clip(np.floor(f + 0.8 * mask[..., None] * (lut - f) + 0.5), 0, 255)
    assert _max_diff(res.frame, expected.astype(np.uint8)) <= TOL_LEVELS


@pytest.mark.parametrize("threads", [1, 3])
def test_cpu_matches_reference_sampler_over_many_runs_and_threads(copperish, threads):
    """Random colours over the whole cube, more pixels than one run of the kernel holds,
    split across threads or not: every pixel against the reference sampler, and the
    intensity against its float64 definition, with the mask at 8 bits."""
    from hairfx.intensity import LUMA_WEIGHTS
    from hairfx.render_cpu import _RUN

    rng = np.random.default_rng(3)
    frame = rng.integers(0, 256, (97, 1201, 3), dtype=np.uint8)  # 116,497 pixels
    mask = rng.random((97, 1201), dtype=np.float32)
    mask[mask < 0.2] = 0.0
    assert (mask > 0).sum() > 2 * _RUN
    res = CpuRenderer(threads=threads).render(frame, mask, copperish, strength=0.9)
    f = frame.astype(np.float64)
    y = f @ np.array(LUMA_WEIGHTS) / 255.0
    m = mask_at_8_bits(mask)
    assert res.intensity == pytest.approx((m * y).sum() / m.sum(), abs=1e-9)
    lut = sample_trilinear(copperish.blended(res.weight), frame / 255.0).astype(np.float64) * 255.0
    expected = np.clip(np.floor(f + 0.9 * m[..., None] * (lut - f) + 0.5), 0, 255).astype(np.uint8)
    assert _max_diff(res.frame, expected) <= TOL_LEVELS
    np.testing.assert_array_equal(res.frame[mask == 0], frame[mask == 0])


def _domain_color() -> Color:
    """A colour whose two LUTs span a domain other than [0, 1], with curved tables."""
    lo, hi = (0.1, 0.05, 0.0), (0.9, 0.95, 0.8)
    light, dark = graded(9, (1.0, 0.62, 0.42), 2.5), graded(9, (1.6, 0.9, 0.6), 0.4)
    return Color(
        name="domain", display_name="Domain", swatch="#b4532a",
        light=LUT3D(light.table, domain_min=lo, domain_max=hi),
        dark=LUT3D(dark.table, domain_min=lo, domain_max=hi),
        light_intensity=0.6, dark_intensity=0.2,
    )  # fmt: skip


@pytest.mark.parametrize("renderer", ["cpu", pytest.param("gl", marks=pytest.mark.gl)])
@pytest.mark.parametrize("interp", ["trilinear", "tetrahedral"])
def test_renderers_honour_a_lut_domain_as_colour_science_does(request, renderer, interp):
    """Independent oracle: colour-science applying the blended table over its domain.
    Random colours cover the cube, inside and outside the domain."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # colour-science warns about optional packages
        import colour

    color = _domain_color()
    rng = np.random.default_rng(11)
    frame = rng.integers(0, 256, (48, 1024, 3), dtype=np.uint8)
    mask = rng.random((48, 1024), dtype=np.float32)
    if renderer == "gl":
        r = GLRenderer(context=request.getfixturevalue("gl_context"), interpolation=interp)
    else:
        r = CpuRenderer(interpolation=interp)
    with r:
        res = r.render(frame, mask, color)
    theirs = colour.LUT3D(color.blended(res.weight), domain=np.array(color.domain))
    kwargs = {} if interp == "trilinear" else {"interpolator": colour.algebra.table_interpolation_tetrahedral}
    f = frame.astype(np.float64)
    lut = theirs.apply(frame / 255.0, **kwargs) * 255.0
    expected = np.clip(np.floor(f + mask[..., None] * (lut - f) + 0.5), 0, 255).astype(np.uint8)
    assert _max_diff(res.frame, expected) <= TOL_LEVELS
    assert _max_diff(res.frame, frame) > 60  # the LUT really changed the frame


def test_a_colour_refuses_two_luts_over_different_domains():
    light, dark = graded(5, 1.0, 1.2), graded(5, 1.0, 0.8)
    with pytest.raises(InputError, match="domain .* differs from the dark LUT's"):
        Color(name="x", display_name="X", swatch="#112233", light=light,
              dark=LUT3D(dark.table, domain_min=(0, 0, 0), domain_max=(2, 2, 2)),
              light_intensity=0.6, dark_intensity=0.2)  # fmt: skip


def test_a_cpu_renderer_shared_by_threads_gives_each_its_own_frame(copperish):
    """Two threads, two colours of one size and two frames through one renderer: every
    frame as a renderer of its own gives it (the blend tables are shared state)."""
    rng = np.random.default_rng(2)
    frames = [rng.integers(0, 256, (256, 256, 3), dtype=np.uint8) for _ in range(2)]
    mask = np.ones((256, 256), np.float32)  # enough pixels for the renderer's own threads
    other = Color("other", "Other", "#2a53b4", light=graded(17, (0.4, 0.6, 1.0), 1.1),
                  dark=graded(17, (0.6, 0.9, 1.6), 0.6), light_intensity=0.7, dark_intensity=0.1)  # fmt: skip
    colors = [copperish, other]
    r = CpuRenderer(threads=2)
    alone = [CpuRenderer(threads=2).render(frames[i], mask, colors[i]).frame for i in range(2)]

    def work(i):
        return all(np.array_equal(r.render(frames[i], mask, colors[i]).frame, alone[i]) for _ in range(30))

    assert in_threads(work, 2) == [True, True]


@pytest.mark.gl
@pytest.mark.parametrize("strength", [1.0, 0.35])
def test_gl_equals_cpu(gl, portrait, copperish, strength):
    frame, mask = portrait
    a = CpuRenderer().render(frame, mask, copperish, strength=strength)
    b = gl.render(frame, mask, copperish, strength=strength)
    assert b.intensity == pytest.approx(a.intensity, abs=1e-5)
    assert b.weight == pytest.approx(a.weight, abs=1e-4)
    assert _max_diff(a.frame, b.frame) <= TOL_LEVELS
    assert _max_diff(a.frame, frame) > 20


@pytest.mark.gl
def test_gl_equals_cpu_tetrahedral(gl_tetra, portrait, copperish):
    frame, mask = portrait
    a = CpuRenderer(interpolation="tetrahedral").render(frame, mask, copperish)
    b = gl_tetra.render(frame, mask, copperish)
    assert _max_diff(a.frame, b.frame) <= TOL_LEVELS


@pytest.mark.gl
def test_gl_equals_cpu_on_every_colour_value(gl, copperish):
    """All 2**24 colours would be slow; a 4096x64 frame of random colours covers the cube."""
    rng = np.random.default_rng(7)
    frame = rng.integers(0, 256, (64, 4096, 3), dtype=np.uint8)
    mask = rng.random((64, 4096), dtype=np.float32)
    a = CpuRenderer().render(frame, mask, copperish)
    b = gl.render(frame, mask, copperish)
    assert _max_diff(a.frame, b.frame) <= TOL_LEVELS


@pytest.mark.gl
def test_gl_reuses_objects_across_frame_sizes(gl, copperish):
    rng = np.random.default_rng(3)
    textures = []
    for h, w in [(40, 60), (200, 120), (30, 30), (200, 120)]:
        frame = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        mask = np.zeros((h, w), np.float32)
        mask[h // 4 : h // 2, w // 3 :] = 0.7
        a = CpuRenderer().render(frame, mask, copperish)
        b = gl.render(frame, mask, copperish)
        assert _max_diff(a.frame, b.frame) <= TOL_LEVELS
        textures.append(gl._frame_tex)
    # sized to the largest mask box seen (80x50) rounded up to whole 32-pixel tiles, and
    # not reallocated for smaller ones
    assert gl._cap == (96, 64)
    assert textures[1] is textures[2] is textures[3]


def _striped_on_gl(gl, color, h: int, w: int) -> tuple[int, int]:
    """A striped ``h x w`` frame, all hair, rendered by ``gl`` within a level of the CPU;
    the GL renderer's texture capacity afterwards."""
    frame = np.full((h, w, 3), 90, np.uint8)
    frame[::3] = 200
    mask = np.ones((h, w), np.float32)
    assert _max_diff(CpuRenderer().render(frame, mask, color).frame, gl.render(frame, mask, color).frame) <= TOL_LEVELS
    return gl._cap


@pytest.mark.gl
def test_gl_textures_hold_both_orientations_but_not_a_wide_and_a_tall_box_squared(gl, copperish):
    """Portrait and landscape frames in turn share one square allocation (no reallocation
    per frame); a very wide box, then a very tall one, are not held as their long sides
    squared (8000x8000, 900 MB), but each at its own size, within a few levels of the CPU."""
    def run(h, w):
        return _striped_on_gl(gl, copperish, h, w), gl._frame_tex

    assert run(120, 200)[0] == (224, 128)  # whole 32-pixel tiles
    square = run(200, 120)
    assert square[0] == (224, 224)  # both sides grown: 1.75 times either box
    assert run(120, 200)[1] is square[1] and run(200, 120)[1] is square[1]  # reused, not remade
    assert run(16, 4000)[0] == (4000, 32)  # 4000 x 224 would be 7 times this box
    assert run(4000, 16)[0] == (32, 4000)  # the tall box alone, not 4000 x 4000
    assert run(16, 4000)[0] == (4000, 32)


@pytest.mark.gl
def test_gl_gives_back_what_one_large_photo_grew_once_frames_are_small_again(gl, copperish):
    """A thread's renderer that saw one 48-megapixel photo held its textures (600 MB) for
    as long as the thread lived. Above a 1080p box, textures are made again at the size
    needed once eight calls in a row have needed under a quarter of them; not sooner,
    so that sizes that alternate do not remake them every frame."""
    from hairfx import render_gl

    def run(h, w):
        return _striped_on_gl(gl, copperish, h, w)

    assert run(1600, 2400) == (2400, 1600)  # above the 1080p kept
    for _ in range(render_gl._SHRINK_AFTER - 1):
        assert run(480, 640) == (2400, 1600)
    assert run(1200, 1800) == (2400, 1600)  # over a quarter of it: the count starts again
    for _ in range(render_gl._SHRINK_AFTER - 1):
        assert run(480, 640) == (2400, 1600)
    assert run(480, 640) == (640, 480)  # the eighth small call in a row
    assert run(1080, 1920) == (1920, 1088)
    for _ in range(2 * render_gl._SHRINK_AFTER):
        assert run(240, 320) == (1920, 1088)  # a 1080p box is kept


@pytest.mark.gl
def test_gl_follows_changes_of_colour_and_weight(gl, portrait, copperish, two_tone):
    """One renderer, colours of other LUT sizes in turn and a weight that moves each frame
    (a video session's smoothing): each frame as a fresh CPU renderer makes it."""
    frame, mask = portrait
    cpu = CpuRenderer()
    for color, level in [(copperish, 0.30), (two_tone, 0.30), (copperish, 0.31), (copperish, 0.55), (two_tone, 0.9)]:
        a = cpu.render(frame, mask, color, intensity_filter=lambda i: level)
        b = gl.render(frame, mask, color, intensity_filter=lambda i: level)
        assert b.weight == a.weight
        assert _max_diff(a.frame, b.frame) <= TOL_LEVELS, (color.name, level)


def _renderers(gl_context):
    return [CpuRenderer(), GLRenderer(context=gl_context)]


@pytest.mark.gl
def test_identity_pair_leaves_frame_unchanged(gl_context, portrait, identity_color):
    frame, mask = portrait
    for r in _renderers(gl_context):
        out = r.render(frame, mask, identity_color).frame
        np.testing.assert_array_equal(out, frame, err_msg=r.name)


@pytest.mark.gl
def test_pixels_outside_mask_are_bit_identical(gl_context, portrait, copperish):
    frame, mask = portrait
    outside = mask == 0
    assert outside.any() and (~outside).any()
    for r in _renderers(gl_context):
        out = r.render(frame, mask, copperish).frame
        np.testing.assert_array_equal(out[outside], frame[outside], err_msg=r.name)
        assert (out[~outside] != frame[~outside]).any()


@pytest.mark.gl
def test_no_hair_returns_frame_unchanged(gl_context, portrait, copperish):
    frame, _ = portrait
    for mask in (np.zeros(frame.shape[:2], np.float32), np.full(frame.shape[:2], 1e-7, np.float32)):
        for r in _renderers(gl_context):
            res = r.render(frame, mask, copperish)
            np.testing.assert_array_equal(res.frame, frame)
            assert res.intensity is None and res.weight is None
            assert res.frame is not frame


@pytest.mark.gl
def test_a_renderer_takes_what_recolor_takes_and_refuses_the_rest(gl_context, portrait):
    """Renderers are public (make_renderer): a uint8 0..255 mask once came out up to 254
    levels off on the CPU and failed in moderngl on GL, a half-size mask was stretched, and
    a float frame failed in OpenCV. They now take frames, masks and colours as recolor()
    does, and give the same pictures, or an InputError that names what is wrong."""
    import cv2
    from PIL import Image

    import hairfx
    from hairfx.errors import InputError

    frame, mask = portrait
    expected = hairfx.recolor(frame, "copper", mask=mask, renderer="cpu")
    m8 = np.round(mask * 255).astype(np.uint8)
    half = cv2.resize(mask, (frame.shape[1] // 2, frame.shape[0] // 2), interpolation=cv2.INTER_AREA)
    for r in _renderers(gl_context):
        for m in (mask, m8, m8 > 127, mask.astype(np.float64), Image.fromarray(m8)):
            out = r.render(Image.fromarray(frame), m, "copper").frame
            ref = hairfx.recolor(frame, "copper", mask=m, renderer="cpu")
            assert np.abs(out.astype(int) - ref).max() <= TOL_LEVELS, (r.name, type(m), getattr(m, "dtype", None))
        assert np.abs(r.render(frame, m8, "copper").frame.astype(int) - expected).max() <= TOL_LEVELS + 1  # 1/255 steps
        scaled = hairfx.recolor(frame, "copper", mask=half, renderer="cpu")
        assert np.abs(r.render(frame, half, "copper").frame.astype(int) - scaled).max() <= TOL_LEVELS
        for bad, said in ((frame.astype(np.float32) / 255, "uint8"), (frame[:, :, 0], "3"),
                          (np.zeros((0, 4, 3), np.uint8), "empty")):
            with pytest.raises(InputError, match=said):
                r.render(bad, mask, "copper")
        with pytest.raises(InputError, match="mask"):
            r.render(frame, mask[:10, :10], "copper")
        with pytest.raises(InputError, match="strength"):
            r.render(frame, mask, "copper", strength=2)
        with pytest.raises(hairfx.UnknownColorError):
            r.render(frame, mask, "no-such-colour")
        r.close()


@pytest.mark.gl
def test_measure_takes_what_render_takes_and_refuses_the_rest(gl_context, portrait):
    """measure() is public beside render(): on GL it once read any input unchecked (a list
    or a PIL image failed inside it, a NaN mask measured as no hair, a half-size mask
    measured the wrong pixels), and the CPU refused the scaled mask render() takes. Both
    now measure what render() measures, or raise an InputError naming what is wrong."""
    import cv2
    from PIL import Image

    frame, mask = portrait
    m8 = np.round(mask * 255).astype(np.uint8)
    half = cv2.resize(mask, (frame.shape[1] // 2, frame.shape[0] // 2), interpolation=cv2.INTER_AREA)
    for r in _renderers(gl_context):
        for m in (mask, m8, m8 > 127, mask.astype(np.float64), Image.fromarray(m8), half):
            want = r.render(frame, m, "copper").intensity
            assert r.measure(Image.fromarray(frame), m) == pytest.approx(want, abs=1e-6), (r.name, type(m))
        assert r.measure(frame, np.zeros_like(mask)) is None
        nan = mask.copy()
        nan[mask > 0.5] = np.nan
        for bad_frame, bad_mask, said in ((frame.astype(np.float32), mask, "uint8"), (frame, mask.tolist(), "list"),
                                          (frame, nan, "NaN"), (frame, mask * 2, r"\[0, 1\]"),
                                          (frame, mask[:10, :20], "aspect")):
            with pytest.raises(InputError, match=said):
                r.measure(bad_frame, bad_mask)
        r.close()


@pytest.mark.gl
def test_a_pil_image_with_a_colour_profile_is_rendered_and_measured_in_srgb(gl_context, portrait):
    """render(), measure() and hair_intensity() take a frame as recolor() takes it: a
    Display P3 image is recoloured and measured in sRGB, as the LUTs and their reference
    intensities were made. They had read its P3 values as sRGB: another intensity, another
    blend, and hair up to 14 levels off recolor()'s, with no error."""
    from PIL import Image

    import hairfx
    from hairfx.icc import matrix_shaper_profile
    from hairfx.intensity import hair_intensity

    frame, soft = portrait
    mask = mask_at_8_bits(soft).astype(np.float32)  # as the renderers take it: hair_intensity() takes it as given
    image = Image.fromarray(frame)
    image.info["icc_profile"] = matrix_shaper_profile("Display P3")
    with hairfx.RecolorSession("copper", renderer="cpu") as s:
        want = np.asarray(s.process(image, mask=mask))
        intensity = s.last_raw_intensity
    assert hair_intensity(image, mask) == pytest.approx(intensity, abs=1e-6)
    assert hair_intensity(image, mask) != pytest.approx(hair_intensity(frame, mask), abs=1e-4)  # P3 is not sRGB here
    for r in _renderers(gl_context):
        res = r.render(image, mask, "copper")
        assert res.intensity == pytest.approx(intensity, abs=1e-6), r.name
        assert r.measure(image, mask) == pytest.approx(intensity, abs=1e-6), r.name
        assert isinstance(res.frame, np.ndarray) and _max_diff(res.frame, want) <= TOL_LEVELS, r.name  # its own profile's values
        np.testing.assert_array_equal(res.frame[mask == 0], frame[mask == 0])
        r.close()


def test_a_render_result_pickles(portrait, copperish):
    """A worker process's render() result reaches its parent pickled: its unpickling once
    failed (RenderResult.__new__ takes three arguments), which a ProcessPoolExecutor
    reports as a BrokenProcessPool, not as anything about the result."""
    import pickle

    frame, mask = portrait
    res = CpuRenderer().render(frame, mask, copperish)
    back = pickle.loads(pickle.dumps(res))
    assert type(back) is type(res)
    np.testing.assert_array_equal(back.frame, res.frame)
    assert (back.intensity, back.weight) == (res.intensity, res.weight)


@pytest.mark.parametrize("interpolation, threads", [("trilinear", None), ("tetrahedral", 2)])
def test_a_cpu_renderer_pickles_as_its_options(portrait, copperish, interpolation, threads):
    """A CPU renderer handed to a worker process is made again there with its options (it
    holds only caches and a thread pool): pickling it raised TypeError naming a lock."""
    import pickle

    frame, mask = portrait
    r = CpuRenderer(interpolation=interpolation, threads=threads)
    want = r.render(frame, mask, copperish).frame  # its caches and pool in use
    back = pickle.loads(pickle.dumps(r))
    assert type(back) is CpuRenderer and back is not r
    assert (back.interpolation, back._threads_given, back._threads) == (interpolation, threads, r._threads)
    np.testing.assert_array_equal(back.render(frame, mask, copperish).frame, want)
    r.close()
    back.close()


def _tiny_frame_and_mask():
    """A 24 x 40 frame of random colours and a soft mask that leaves a corner out."""
    rng = np.random.default_rng(5)
    frame = rng.integers(0, 256, (24, 40, 3), dtype=np.uint8)
    mask = rng.random((24, 40), dtype=np.float32)
    mask[:8, :16] = 0.0
    return frame, mask


@pytest.mark.gl
@pytest.mark.parametrize("interpolation", ["trilinear", "tetrahedral"])
def test_a_gl_renderer_pickles_and_copies_as_its_options(gl_context, copperish, interpolation):
    """A GL renderer handed to a worker process is made again there with its options and
    a context of its own: pickling it raised TypeError, so make_renderer("auto")'s result
    pickled only where it had fallen back to the CPU renderer. Copies are made the same way."""
    import copy
    import pickle

    frame, mask = _tiny_frame_and_mask()
    r = GLRenderer(interpolation=interpolation, backend="egl")
    want = r.render(frame, mask, copperish).frame  # its textures and LUT in use
    assert _max_diff(want, CpuRenderer(interpolation=interpolation).render(frame, mask, copperish).frame) <= TOL_LEVELS
    for made in (lambda: pickle.loads(pickle.dumps(r)), lambda: copy.copy(r), lambda: copy.deepcopy(r)):
        back = made()
        assert type(back) is GLRenderer and back is not r and back.ctx is not r.ctx
        assert (back.interpolation, back._backend) == (interpolation, "egl")
        np.testing.assert_array_equal(back.render(frame, mask, copperish).frame, want)
        back.close()  # its own context: the original's is untouched
        np.testing.assert_array_equal(r.render(frame, mask, copperish).frame, want)
    r.close()


@pytest.mark.gl
def test_make_renderers_result_pickles_whichever_it_made(gl_context, monkeypatch, copperish):
    """Its GL renderer was the one renderer of make_renderer() that did not pickle. One made
    under "auto" is made again as "auto" makes one, one of "gl" as a GL renderer; the CPU
    renderer "auto" falls back to is made again as the same CPU renderer."""
    import pickle
    import sys

    rec = sys.modules["hairfx.recolor"]
    frame, mask = _tiny_frame_and_mask()
    cpu = CpuRenderer(interpolation="tetrahedral").render(frame, mask, copperish).frame
    for choice in ("auto", "gl"):
        r = rec.make_renderer(choice, interpolation="tetrahedral")
        back = pickle.loads(pickle.dumps(r))
        assert type(back) is GLRenderer and back.interpolation == "tetrahedral" and back._auto == (choice == "auto")
        assert _max_diff(back.render(frame, mask, copperish).frame, cpu) <= TOL_LEVELS
        r.close()
        back.close()
    monkeypatch.setattr(rec, "_gl_unavailable", "no EGL here")  # as after "auto" failed to make a context
    r = rec.make_renderer("auto", interpolation="tetrahedral")
    back = pickle.loads(pickle.dumps(r))
    assert type(back) is CpuRenderer and (back.interpolation, back._threads_given) == ("tetrahedral", None)
    np.testing.assert_array_equal(back.render(frame, mask, copperish).frame, cpu)


@pytest.mark.gl
def test_a_closed_gl_renderer_or_one_in_a_callers_context_refuses_to_be_pickled(gl_context):
    """A closed renderer draws no more, and a context given with context= cannot leave its
    process: either raises a TypeError that says so, for a pickle and a copy alike."""
    import copy
    import pickle

    closed = GLRenderer()
    closed.close()
    given = GLRenderer(context=gl_context)
    for attempt in (pickle.dumps, copy.copy, copy.deepcopy):
        with pytest.raises(TypeError, match=r"^cannot pickle a GLRenderer: it has been closed; pickle or copy it "):
            attempt(closed)
        with pytest.raises(TypeError, match=r"^cannot pickle a GLRenderer: it draws in the OpenGL context given with "
                                           r"context=, .*pickle one that makes its own context"):
            attempt(given)
    frame, mask = _tiny_frame_and_mask()
    assert given.render(frame, mask, "copper").intensity is not None  # refused, not broken
    given.close()


@pytest.mark.gl
def test_a_gl_renderer_unpickled_where_gl_cannot_start_raises_at_its_first_call(gl_context, monkeypatch, copperish):
    """Where no context can be made, an unpickled GL renderer raises the error GLRenderer()
    raises there, at its first call: raised while unpickling, it ended a multiprocessing
    pool's worker before its task began, and the pool waited for the task for ever."""
    import copy
    import pickle
    import sys
    import warnings

    import moderngl

    rec = sys.modules["hairfx.recolor"]
    frame, mask = _tiny_frame_and_mask()
    r, auto = GLRenderer(interpolation="tetrahedral"), rec.make_renderer("auto")
    sent, sent_auto = pickle.dumps(r), pickle.dumps(auto)
    r.close()
    auto.close()

    def no_context(*args, **kwargs):
        raise Exception("eglInitialize failed (0x3001)")  # as moderngl says it without a driver

    monkeypatch.setattr(moderngl, "create_standalone_context", no_context)
    with pytest.raises(RendererUnavailable) as direct:
        GLRenderer()
    back = pickle.loads(sent)
    assert type(back) is GLRenderer and back.interpolation == "tetrahedral"
    for call in (lambda: back.render(frame, mask, copperish), lambda: back.measure(frame, mask)):
        with pytest.raises(RendererUnavailable, match="^a GLRenderer unpickled in this process cannot draw: ") as got:
            call()
        assert str(direct.value) in str(got.value) and got.value.reason == direct.value.reason
    again = copy.copy(back)  # still its options: made again where GL can start
    monkeypatch.undo()
    again = pickle.loads(pickle.dumps(again))
    assert _max_diff(again.render(frame, mask, copperish).frame,
                     CpuRenderer(interpolation="tetrahedral").render(frame, mask, copperish).frame) <= TOL_LEVELS
    again.close()
    back.close()
    with pytest.raises(RendererUnavailable, match="has been closed"):
        back.render(frame, mask, copperish)
    with pytest.raises(TypeError, match="it has been closed"):
        pickle.dumps(back)

    # "auto" falls back to the CPU renderer there, with its warning
    monkeypatch.setattr(moderngl, "create_standalone_context", no_context)
    monkeypatch.setattr(rec, "_fallback_warned", False)
    monkeypatch.setattr(rec, "_gl_unavailable", None)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        back = pickle.loads(sent_auto)
    assert type(back) is CpuRenderer
    assert [str(w.message) for w in seen] == [f"hairfx: OpenGL unavailable ({direct.value.reason}); fell back to the "
                                              "CPU renderer (ask for renderer='cpu' to use it without this warning)"]


def _render_in_worker(renderer, frame, mask, color):
    """A worker's task: what the renderer it was sent is, and its output."""
    with renderer:
        return type(renderer).__name__, renderer.interpolation, os.getpid(), renderer.render(frame, mask, color).frame


@pytest.mark.gl
def test_a_gl_renderer_sent_to_spawned_workers_renders_there_as_in_its_own_process(gl_context, copperish):
    """Independent oracle: the CPU renderer. Each worker makes a context of its own."""
    import multiprocessing

    from hairfx.recolor import make_renderer

    frame, mask = _tiny_frame_and_mask()
    sent = [GLRenderer(interpolation="tetrahedral"), make_renderer("auto"), make_renderer("gl")]
    want = [r.render(frame, mask, copperish).frame for r in sent]
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        got = pool.starmap_async(_render_in_worker, [(r, frame, mask, copperish) for r in sent]).get(timeout=120)
    for r, w, (name, interpolation, pid, out) in zip(sent, want, got):
        assert (name, interpolation, pid != os.getpid()) == ("GLRenderer", r.interpolation, True)
        np.testing.assert_array_equal(out, w)  # the same driver's output, from another context
        cpu = CpuRenderer(interpolation=r.interpolation).render(frame, mask, copperish).frame
        assert _max_diff(out, cpu) <= TOL_LEVELS
        r.close()


@pytest.mark.gl
def test_a_gl_renderer_sent_to_a_child_forked_after_gl_was_set_up_says_so_at_its_first_call(gl_context, copperish):
    """The child cannot use OpenGL (Mesa's EGL would hang): the explicit GL renderer's task
    raises the error that says to spawn, which reaches the parent (raised while unpickling,
    the pool waited for ever), and "auto"'s is the CPU renderer there."""
    import multiprocessing

    from hairfx.recolor import make_renderer

    frame, mask = _tiny_frame_and_mask()
    gl, auto = make_renderer("gl"), make_renderer("auto")
    want = auto.render(frame, mask, copperish).frame
    with multiprocessing.get_context("fork").Pool(1) as pool:
        with pytest.raises(RendererUnavailable, match=r"GLRenderer unpickled in this process cannot draw: .*'spawn'"):
            pool.apply_async(_render_in_worker, (gl, frame, mask, copperish)).get(timeout=60)
        name, _, _, out = pool.apply_async(_render_in_worker, (auto, frame, mask, copperish)).get(timeout=60)
    assert name == "CpuRenderer" and _max_diff(out, want) <= TOL_LEVELS
    gl.close()
    auto.close()


@pytest.mark.gl
def test_strength_zero_is_identity(gl_context, portrait, copperish):
    frame, mask = portrait
    for r in _renderers(gl_context):
        np.testing.assert_array_equal(r.render(frame, mask, copperish, strength=0.0).frame, frame)


# -- blending by intensity ---------------------------------------------------------------
def _flat(level: int, n: int = 8) -> np.ndarray:
    return np.full((n, n, 3), level, np.uint8)


def _solid_lut(rgb) -> LUT3D:
    return LUT3D(np.broadcast_to(np.asarray(rgb, np.float32), (2, 2, 2, 3)).copy())


@pytest.fixture
def two_tone() -> Color:
    """Dark LUT maps everything to red, light LUT to blue: the output shows the weight."""
    return Color("two", "Two", "#ff00ff", light=_solid_lut((0, 0, 1)), dark=_solid_lut((1, 0, 0)),
                 light_intensity=0.8, dark_intensity=0.2)  # fmt: skip


@pytest.mark.gl
@pytest.mark.parametrize(
    "level, weight",
    [
        (0, 0.0),  # beyond the dark reference: clamped to the dark LUT
        (51, 0.0),  # at the dark reference (I = 0.2)
        (127, (127 / 255 - 0.2) / 0.6),  # between: linear
        (204, 1.0),  # at the light reference (I = 0.8)
        (255, 1.0),  # beyond the light reference: clamped
    ],
)
def test_weight_at_between_and_beyond_references(gl_context, two_tone, level, weight):
    frame = _flat(level)
    mask = np.ones((8, 8), np.float32)
    for r in _renderers(gl_context):
        res = r.render(frame, mask, two_tone)
        assert res.intensity == pytest.approx(level / 255, abs=1e-6)
        assert res.weight == pytest.approx(weight, abs=1e-6)
        expected = np.round(255 * np.array([1 - weight, 0, weight]))
        assert np.abs(res.frame[0, 0].astype(int) - expected).max() <= TOL_LEVELS, r.name


@pytest.mark.gl
def test_intensity_is_mask_weighted_mean_luma(gl_context):
    """With the mask at 8 bits, as the renderers take it: 0.5 is level 128, 128/255."""
    frame = np.zeros((4, 4, 3), np.uint8)
    frame[:, :2] = (255, 0, 0)  # luma 0.2126
    frame[:, 2:] = (0, 0, 255)  # luma 0.0722
    mask = np.zeros((4, 4), np.float32)
    mask[:, 1] = 1.0
    mask[:, 2] = 0.5
    half = 128 / 255
    expected = (0.2126 * 1.0 + 0.0722 * half) / (1.0 + half)
    for r in _renderers(gl_context):
        assert r.measure(frame, mask) == pytest.approx(expected, abs=1e-6), r.name
        assert r.render(frame, mask, "copper").intensity == pytest.approx(expected, abs=1e-6), r.name


@pytest.mark.gl
@pytest.mark.parametrize("strength", [1.0, 0.6])
def test_renderers_take_a_float_mask_at_8_bits(gl_context, portrait, copperish, strength):
    """A mask off the 1/255 steps (the portrait's blurred one, jittered) recolours exactly as
    its 8-bit levels do, on both renderers, and within a level of the recolouring its
    unrounded values would give: each pixel's mask moves by at most half a step."""
    from hairfx.frames import mask_levels
    from hairfx.intensity import LUMA_WEIGHTS

    frame, soft = portrait
    jitter = np.random.default_rng(5).uniform(-0.5, 0.5, soft.shape).astype(np.float32) / 255
    mask = np.where(soft > 0, np.clip(soft + jitter, 0, 1), 0).astype(np.float32)
    assert (np.abs(mask_at_8_bits(mask) - mask) > 1e-6)[mask > 0].mean() > 0.5  # mostly off the steps
    at_8_bits = mask_levels(mask).astype(np.float32) / np.float32(255)
    for r in _renderers(gl_context):
        a = r.render(frame, mask, copperish, strength=strength)
        b = r.render(frame, at_8_bits, copperish, strength=strength)
        np.testing.assert_array_equal(a.frame, b.frame, err_msg=r.name)
        assert a.intensity == b.intensity, r.name
    # the same math on the float mask as it was given, in float64
    f = frame.astype(np.float64)
    m = mask.astype(np.float64)
    intensity = (m * (f @ np.array(LUMA_WEIGHTS) / 255.0)).sum() / m.sum()
    lut = sample_trilinear(copperish.blended(copperish.weight(intensity)), frame / 255.0).astype(np.float64) * 255.0
    expected = np.clip(np.floor(f + strength * m[..., None] * (lut - f) + 0.5), 0, 255).astype(np.uint8)
    res = CpuRenderer().render(frame, mask, copperish, strength=strength)
    assert res.intensity == pytest.approx(intensity, abs=1e-4)  # 1.1e-5 here
    assert _max_diff(res.frame, expected) <= TOL_LEVELS


@pytest.mark.gl
def test_a_mask_below_half_a_step_leaves_its_pixels_untouched(gl_context, copperish):
    """Level 0 is no hair: pixels (and on GL whole tiles) whose mask rounds to it are
    left as they were by both renderers."""
    frame = np.random.default_rng(9).integers(0, 256, (64, 128, 3), dtype=np.uint8)
    mask = np.zeros((64, 128), np.float32)
    mask[:, :40] = 0.8
    mask[:, 40:] = 0.49 / 255  # columns 64 on: tiles with no level above 0
    for r in _renderers(gl_context):
        out = r.render(frame, mask, copperish).frame
        np.testing.assert_array_equal(out[:, 40:], frame[:, 40:], err_msg=r.name)
        assert (out[:, :40] != frame[:, :40]).any(axis=2).mean() > 0.9, r.name


def test_intensity_filter_sets_the_weight(two_tone):
    frame, mask = _flat(0), np.ones((8, 8), np.float32)
    res = CpuRenderer().render(frame, mask, two_tone, intensity_filter=lambda i: 0.5)
    assert res.intensity == 0.0 and res.weight == pytest.approx(0.5)


def test_graded_helper_is_not_identity():
    assert np.abs(graded(5, (1.0, 0.5, 0.5), 1.0).table - LUT3D.identity(5).table).max() > 0.4


@pytest.mark.gl
def test_gl_sparse_mask_every_touched_tile_is_shaded(gl, copperish):
    """Single hair pixels on tile corners and edges: the GL renderer shades only the tiles
    the mask touches, so each lone pixel must still be recoloured, and nothing else."""
    rng = np.random.default_rng(11)
    frame = rng.integers(0, 256, (150, 170, 3), dtype=np.uint8)
    mask = np.zeros((150, 170), np.float32)
    for y, x in [(5, 7), (31, 31), (32, 32), (63, 64), (95, 127), (96, 128), (149, 169), (100, 3)]:
        mask[y, x] = 1.0
    a = CpuRenderer().render(frame, mask, copperish)
    b = gl.render(frame, mask, copperish)
    assert _max_diff(a.frame, b.frame) <= TOL_LEVELS
    np.testing.assert_array_equal(b.frame[mask == 0], frame[mask == 0])
    assert (b.frame[mask > 0] != frame[mask > 0]).any(axis=1).all()


def test_gl_atlas_holds_every_touched_tile_once_in_the_boxs_row_order():
    """The GL renderer packs the touched tiles into atlas rows as wide as the box: tile k
    (in the box's row order) at slot k, in pieces that are adjacent in both."""
    from hairfx.render_gl import _atlas_pieces

    rng = np.random.default_rng(4)
    for shape, p in [((1, 1), 1.0), ((3, 5), 0.5), ((7, 4), 0.9), ((23, 36), 0.35), ((5, 9), 0.0)]:
        touched = rng.random(shape) < p
        pieces = _atlas_pieces(touched)
        tiles, slots = [], []
        for bx, by, ax, ay, n in pieces.tolist():
            assert n >= 1 and ax + n <= shape[1]  # a piece never passes an atlas row's end
            tiles += [(by, bx + i) for i in range(n)]
            slots += [ay * shape[1] + ax + i for i in range(n)]
        assert tiles == list(zip(*np.nonzero(touched)))
        assert slots == list(range(int(touched.sum())))


@pytest.mark.gl
def test_gl_runs_split_across_atlas_rows_land_in_place(gl, copperish):
    """Runs of touched tiles that the atlas splits where its rows end, and tiles cut by
    the box's edges, come back in place: within a level of the CPU, the rest untouched."""
    rng = np.random.default_rng(12)
    frame = rng.integers(0, 256, (100, 150, 3), dtype=np.uint8)
    mask = np.zeros((100, 150), np.float32)
    mask[2:30, 40:90] = 0.8  # two tiles of the first tile row
    mask[40:70, 3:147] = rng.random((30, 144), dtype=np.float32)  # a whole row, split in the atlas
    mask[97, 149] = 1.0  # the box's far corner: a tile cut to 22 x 2 pixels
    a = CpuRenderer().render(frame, mask, copperish)
    b = gl.render(frame, mask, copperish)
    assert b.intensity == pytest.approx(a.intensity, abs=1e-6)
    assert _max_diff(a.frame, b.frame) <= TOL_LEVELS
    np.testing.assert_array_equal(b.frame[mask == 0], frame[mask == 0])
    hair = mask_at_8_bits(mask) > 0.1
    assert (b.frame[hair] != frame[hair]).any(axis=1).mean() > 0.9


@pytest.mark.gl
def test_gl_releases_its_objects(gl_context, copperish):
    """Growing the box and closing must free the old GL objects, renderbuffers included
    (moderngl does not release a framebuffer's attachments with it)."""
    import ctypes

    try:
        libgl = ctypes.CDLL("libGL.so.1")
    except OSError:
        pytest.skip("libGL.so.1 not loadable to query object names")
    r = GLRenderer(context=gl_context)
    r.render(np.zeros((40, 40, 3), np.uint8), np.ones((40, 40), np.float32), copperish)
    old = [r._rb.glo, r._sum_rb.glo]
    old_tex = r._frame_tex.glo
    r.render(np.zeros((300, 300, 3), np.uint8), np.ones((300, 300), np.float32), copperish)
    current = [r._rb.glo, r._sum_rb.glo]
    assert [bool(libgl.glIsRenderbuffer(g)) for g in old] == [False, False]
    assert not libgl.glIsTexture(old_tex)
    r.close()
    assert [bool(libgl.glIsRenderbuffer(g)) for g in current] == [False, False]


@pytest.mark.parametrize("mask_dtype", [np.float32, np.float64])
def test_hair_intensity_matches_the_float64_definition(portrait, mask_dtype):
    from hairfx.intensity import LUMA_WEIGHTS, hair_intensity

    frame, soft = portrait
    rng = np.random.default_rng(7)
    mask = (soft * rng.uniform(0.2, 1.0, soft.shape)).astype(mask_dtype)
    y = frame.astype(np.float64) @ np.array(LUMA_WEIGHTS) / 255.0
    expected = (mask.astype(np.float64) * y).sum() / mask.astype(np.float64).sum()
    assert hair_intensity(frame, mask) == pytest.approx(expected, abs=1e-6)
    # a strided view (every other column) is read as such, not as its memory
    assert hair_intensity(frame[:, ::2], mask[:, ::2]) == pytest.approx(
        (mask[:, ::2] * y[:, ::2]).sum() / mask[:, ::2].sum(), abs=1e-6
    )


def test_hair_intensity_refuses_mismatched_inputs(portrait):
    from hairfx.errors import InputError
    from hairfx.intensity import hair_intensity

    frame, soft = portrait
    with pytest.raises(InputError, match="HxWx3"):
        hair_intensity(frame[:, :, 0], soft)  # grayscale
    with pytest.raises(InputError, match="HxWx3"):
        hair_intensity(np.dstack([frame, frame[:, :, :1]]), soft)  # RGBA
    with pytest.raises(InputError, match=r"mask is \d+x\d+ but the frame is \d+x\d+: their aspect ratios differ"):
        hair_intensity(frame, soft[:-1])  # as recolor() and the renderers refuse it


def test_hair_intensity_takes_a_scaled_copy_of_the_mask_as_recolor_does(portrait):
    """recolor(), render(), measure() and RecolorSession take a mask at another size with the
    frame's aspect ratio (a model's low-resolution output), resized bilinearly; hair_intensity()
    refused it. The oracle: the float64 definition over the mask resized by OpenCV."""
    import cv2

    from hairfx.intensity import LUMA_WEIGHTS, hair_intensity

    frame, soft = portrait
    h, w = soft.shape
    small = cv2.resize(soft, (w // 4, h // 4), interpolation=cv2.INTER_AREA)
    resized = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR).astype(np.float64)
    y = frame.astype(np.float64) @ np.array(LUMA_WEIGHTS) / 255.0
    assert hair_intensity(frame, small) == pytest.approx((resized * y).sum() / resized.sum(), abs=1e-6)
    levels = mask_at_8_bits(cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)).astype(np.float32)
    r = CpuRenderer()
    assert r.measure(frame, small) == pytest.approx(hair_intensity(frame, levels), abs=1e-6)  # the renderers' 8 bits
    big = cv2.resize(soft, (w * 2, h * 2), interpolation=cv2.INTER_LINEAR)
    assert hair_intensity(frame, big) == pytest.approx(r.measure(frame, big), abs=2e-3)


def test_hair_intensity_refuses_wrong_dtypes(portrait):
    from hairfx.errors import InputError
    from hairfx.intensity import hair_intensity

    frame, soft = portrait
    with pytest.raises(InputError, match=r"uint8 RGB, got \(\d+, \d+, 3\) float32"):
        hair_intensity(frame.astype(np.float32) / 255.0, soft)  # float in [0, 1], not 0..255
    with pytest.raises(InputError, match=r"values must lie in \[0, 1\], got range \[0, 255\]"):
        hair_intensity(frame, soft * 255.0)  # a mask in 0..255 as float
    with pytest.raises(InputError, match="int64"):
        hair_intensity(frame, (soft > 0.5).astype(np.int64))
    # uint8 and bool masks mean what they mean elsewhere in hairfx
    hard = soft > 0.5
    assert hair_intensity(frame, hard) == pytest.approx(hair_intensity(frame, hard.astype(np.uint8) * 255), abs=1e-6)


def test_blend_weight_refuses_inverted_references():
    from hairfx.errors import InputError
    from hairfx.intensity import blend_weight

    assert blend_weight(0.4, 0.2, 0.6) == pytest.approx(0.5)
    with pytest.raises(InputError, match="light intensity 0.2 must exceed dark intensity 0.6"):
        blend_weight(0.4, 0.6, 0.2)


def test_unknown_interpolation_is_an_input_error():
    from hairfx.errors import InputError

    with pytest.raises(InputError, match="interpolation must be one of"):
        CpuRenderer(interpolation="cubic")
    with pytest.raises(InputError, match="interpolation must be one of"):
        GLRenderer(interpolation="cubic")  # checked before a context is made


@pytest.mark.gl
def test_gl_refuses_a_box_over_the_texture_size_limit(gl_context, monkeypatch, copperish):
    """A real context told that its textures stop at 64 pixels (llvmpipe's real limit is
    far larger, but some drivers' is below a 4K frame's side)."""
    from hairfx.errors import RendererUnavailable

    monkeypatch.setitem(gl_context.info, "GL_MAX_TEXTURE_SIZE", 64)
    rng = np.random.default_rng(5)
    frame = rng.integers(0, 256, (100, 120, 3), dtype=np.uint8)
    mask = np.zeros((100, 120), np.float32)
    with GLRenderer(context=gl_context) as r:
        mask[10:90, 10:110] = 0.8
        with pytest.raises(RendererUnavailable, match=r"120x100 frame .* GL_MAX_TEXTURE_SIZE of 64"):
            r.render(frame, mask, copperish)
        assert r._cap == (0, 0)  # refused before any texture was made
        # hair within 64 x 64 pixels, in whole 32-pixel tiles, still renders
        mask[:] = 0.0
        mask[20:60, 30:90] = 0.8
        ours = r.render(frame, mask, copperish)
        assert _max_diff(ours.frame, CpuRenderer().render(frame, mask, copperish).frame) <= TOL_LEVELS


@pytest.mark.gl
def test_gl_renderers_sharing_a_thread_each_render_in_their_own_context(gl_context, portrait, copperish):
    """A thread may hold several GL renderers (a session's and recolor()'s, or one per
    interpolation), each with its own context; every call, and closing one of them, works
    on its own renderer's context, not on whichever was made current last."""
    frame, mask = portrait
    want = {i: CpuRenderer(interpolation=i).render(frame, mask, copperish).frame for i in ("trilinear", "tetrahedral")}
    first, second = GLRenderer(), GLRenderer(interpolation="tetrahedral")
    shared = GLRenderer(context=gl_context)  # made on a context that is not current now
    try:
        for r in (first, second, shared, first, second):
            assert _max_diff(r.render(frame, mask, copperish).frame, want[r.interpolation]) <= TOL_LEVELS
        second.close()  # frees its own objects, not the first's that share their names
        for r in (first, shared):
            assert _max_diff(r.render(frame, mask, copperish).frame, want[r.interpolation]) <= TOL_LEVELS
            assert r.measure(frame, mask) == pytest.approx(CpuRenderer().measure(frame, mask), abs=1e-6)
    finally:
        for r in (first, second, shared):
            r.close()


@pytest.mark.gl
def test_a_context_given_to_a_renderer_stays_usable_by_its_owner(portrait, copperish):
    """The caller's own context, passed with context=, is still current for the caller's
    next GL call after the renderer is made, renders and closes."""
    from hairfx.render_gl import create_context

    frame, mask = portrait
    ctx = create_context()
    try:
        r = GLRenderer(context=ctx)
        r.render(frame, mask, copperish)
        fbo = ctx.simple_framebuffer((8, 8))
        fbo.use()
        fbo.clear(1.0, 0.0, 0.0, 1.0)
        assert fbo.read(components=3)[:3] == b"\xff\x00\x00"
        r.close()
        ctx.simple_framebuffer((4, 4)).release()
    finally:
        ctx.release()


@pytest.mark.gl
def test_a_gl_renderer_dropped_without_close_frees_its_context(portrait, copperish):
    """A session never closed must not keep its GL context (tens of MB) for the process's life."""
    import gc
    import weakref

    frame, mask = portrait
    r = GLRenderer()
    r.render(frame, mask, copperish)
    finalizer, renderer = r._finalizer, weakref.ref(r)
    assert finalizer.alive
    del r
    gc.collect()
    assert renderer() is None and not finalizer.alive  # collected, and its context released with it


def _resident_mb() -> float:
    """Resident memory of this process, after glibc has handed back the free memory its
    per-thread arenas keep: how much of that there is depends on every thread the process
    has had (a runtime's worker threads pin arenas, so short-lived threads make new ones),
    and it is not a leak."""
    import ctypes
    import ctypes.util

    try:
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: measure as it is
        pass
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


@pytest.mark.gl
@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs Linux's /proc to read memory use")
@pytest.mark.parametrize("ending", ["closed", "dropped"])
def test_short_lived_threads_that_recolour_do_not_leak(portrait, copperish, ending):
    """Each thread that made a context current kept ~5 MB of Mesa's EGL state after its
    renderer closed (a pool that recolours, its threads replaced over time), and a
    thread that ended with the renderer's context still current, its renderer dropped
    without close(), kept it too (234 MB over 40 threads)."""

    frame, mask = portrait

    def worker():
        if ending == "closed":
            with GLRenderer() as r:
                r.render(frame, mask, copperish)
        else:
            GLRenderer().render(frame, mask, copperish)

    def threads(n):
        for _ in range(n):
            in_thread(worker)

    threads(5)  # the driver's one-time allocations
    before = _resident_mb()
    threads(40)
    assert _resident_mb() - before < 40  # 40 x 5 MB before the fix


@pytest.mark.gl
def test_closing_a_renderer_leaves_the_callers_context_usable(portrait, copperish):
    """Making, using and closing a renderer of its own leaves a context of the caller's
    usable with moderngl's `with`."""
    from hairfx.render_gl import create_context

    frame, mask = portrait
    ctx = create_context()
    try:
        fbo = ctx.simple_framebuffer((4, 4))
        with GLRenderer() as r:
            r.render(frame, mask, copperish)
        with ctx:
            fbo.use()
            fbo.clear(0.0, 1.0, 0.0, 1.0)
            assert fbo.read(components=3)[:3] == b"\x00\xff\x00"
    finally:
        ctx.release()


@pytest.mark.gl
def test_closing_a_renderer_from_another_thread_leaves_that_threads_context_bound(portrait, copperish):
    """A session handed to another thread and closed there must not release that
    thread's EGL state: it would unbind the context the thread itself has current."""
    import ctypes

    from hairfx.render_gl import _egl_library, create_context

    lib = _egl_library()
    if lib is None:
        pytest.skip("needs libEGL")
    lib.eglGetCurrentContext.restype = ctypes.c_void_p
    frame, mask = portrait
    made = {}
    in_thread(lambda: made.setdefault("r", GLRenderer()).render(frame, mask, copperish))
    own = create_context()
    try:
        own.__enter__()
        current = lib.eglGetCurrentContext()
        made["r"].close()
        assert current and lib.eglGetCurrentContext() == current
    finally:
        own.release()


@pytest.mark.gl
def test_a_gl_renderer_can_be_used_from_any_thread_one_call_at_a_time(portrait, copperish):
    """A renderer (a session's) made in one thread and used in others, in turn and at
    once, renders what the CPU renders; it used to draw into no context in a second
    thread and return black hair without an error."""

    frame, mask = portrait
    want = CpuRenderer().render(frame, mask, copperish).frame
    r = GLRenderer()
    got = [r.render(frame, mask, copperish).frame]

    def work(n):
        for _ in range(n):
            got.append(r.render(frame, mask, copperish).frame)

    for _ in range(2):  # in turn: another thread, then back here
        in_thread(work, 1)
        work(1)
    assert in_threads(lambda i: work(3), 3) == [None] * 3  # at once
    assert len(got) == 14
    assert max(_max_diff(g, want) for g in got) <= TOL_LEVELS
    in_thread(r.close)  # and closed from yet another thread
    assert r.ctx is None


@pytest.mark.gl
def test_a_gl_renderer_puts_back_the_context_its_thread_had_current(portrait, copperish):
    """A caller drawing with a context of its own between recolours finds it still
    current after each call, and after the renderer closes."""
    from hairfx.render_gl import _current_egl_context, create_context

    frame, mask = portrait
    ctx = create_context()
    try:
        ctx.__enter__()
        mine = _current_egl_context()
        if mine is None:
            pytest.skip("needs libEGL")
        fbo = ctx.simple_framebuffer((4, 4))
        r = GLRenderer()
        for step in ("made", "rendered", "closed"):
            if step == "rendered":
                r.render(frame, mask, copperish)
            elif step == "closed":
                r.close()
            assert _current_egl_context() == mine, step
            fbo.use()
            fbo.clear(0.0, 0.0, 1.0, 1.0)
            assert fbo.read(components=3)[:3] == b"\x00\x00\xff", step
    finally:
        ctx.release()


@pytest.mark.gl
def test_a_callers_context_current_in_another_thread_is_refused_not_drawn_over(portrait, copperish):
    """EGL cannot make a context current in two threads; moderngl does not say so, and
    the draw would go to whatever the thread has current."""

    from hairfx.render_gl import _current_egl_context, create_context

    if _current_egl_context() is None:
        pytest.skip("needs libEGL")
    frame, mask = portrait
    made = {}

    def owner():  # makes the context, and the renderer on it, and keeps it current here
        made["ctx"] = create_context()
        made["r"] = GLRenderer(context=made["ctx"])

    in_thread(owner)
    try:
        with pytest.raises(RendererUnavailable, match="current in another thread"):
            made["r"].render(frame, mask, copperish)
        made["r"].close()  # leaves the objects to go with the context, without an error
    finally:
        made["ctx"].release()


def _recolor_in_child(renderer: str):
    import warnings

    import hairfx

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            out = hairfx.recolor(np.full((16, 16, 3), 90, np.uint8), "copper", mask=np.ones((16, 16), np.float32),
                                 renderer=renderer)  # fmt: skip
        except RendererUnavailable as exc:
            return "unavailable", str(exc)
    return out[0, 0].tolist(), " ".join(str(w.message) for w in caught)


@pytest.mark.gl
def test_a_child_forked_after_gl_was_set_up_gets_an_error_or_the_cpu_not_a_hang(gl_context):
    """Mesa's EGL hangs a forked child's first read from the GPU once the parent has used
    GL (a multiprocessing pool with the default start method on Linux)."""
    import multiprocessing

    import hairfx

    expected = hairfx.recolor(np.full((16, 16, 3), 90, np.uint8), "copper", mask=np.ones((16, 16), np.float32),
                              renderer="gl")[0, 0].tolist()  # fmt: skip
    with multiprocessing.get_context("fork").Pool(1) as pool:
        gl, auto, cpu = pool.map_async(_recolor_in_child, ["gl", "auto", "cpu"]).get(timeout=120)
    assert gl[0] == "unavailable" and "'spawn' method" in gl[1]
    assert max(abs(a - b) for a, b in zip(auto[0], expected)) <= TOL_LEVELS
    assert "OpenGL unavailable (" in auto[1] and "fell back to the CPU renderer" in auto[1]
    assert max(abs(a - b) for a, b in zip(cpu[0], expected)) <= TOL_LEVELS


def test_a_cpu_renderer_keeps_a_few_kernels_not_one_per_domain_it_ever_saw():
    """40 colours over 40 domains grew a renderer by about 16 MB each, for good."""
    from hairfx.render_cpu import _KERNELS_KEPT

    r = CpuRenderer(threads=1)
    frame, mask = np.full((8, 8, 3), 90, np.uint8), np.ones((8, 8), np.float32)
    for i in range(_KERNELS_KEPT + 3):
        hi = (1.0 + i / 10,) * 3
        lut = LUT3D(LUT3D.identity(5).table, domain_min=(0, 0, 0), domain_max=hi)
        color = Color(f"d{i}", f"D{i}", "#112233", light=lut, dark=lut, light_intensity=0.6, dark_intensity=0.2)
        out = r.render(frame, mask, color).frame
        assert abs(int(out[0, 0, 0]) - round(90 / (1.0 + i / 10))) <= TOL_LEVELS  # each domain's own lookup
    assert len(r._kernels) == _KERNELS_KEPT
