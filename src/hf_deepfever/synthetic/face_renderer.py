"""A procedural face renderer for the synthetic demo corpus (PIL ImageDraw + numpy, no assets).

A face is drawn from three small parameter sets:

* :class:`ExpressionParams` — the interpretable expression (brows, eyelids, mouth, nose
  wrinkle, one-sided lip raise). Prototypes for the eight AffectNet expressions plus
  per-sample jitter and a random intensity make classes overlap the way real ones do.
* :class:`FaceAppearance` — who the face belongs to: face shape, feature sizes and spacing,
  skin, hair and eye colours, hair style.
* :class:`SceneParams` — how it was photographed: in-plane rotation, mild yaw, scale,
  position in the frame, lighting gradient, background clutter, pixel noise, JPEG quality.

Geometry lives in a canonical face frame (x right, y down, the face oval spanning y in
[-1, 1]); every point, including the 68 iBUG landmarks, goes through one affine pose
transform, so the landmarks returned always match the pixels drawn.

Two styles exist: ``"affectnet"`` (photo-like: shaded skin, cluttered blurred backgrounds,
lighting gradients, noise) and ``"rafdb"`` (flat cartoon with black outlines, a different
palette, plain backgrounds, upright faces), so that transfer from one to the other is a
real domain shift.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, fields
from typing import Literal

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

Style = Literal["affectnet", "rafdb"]
STYLES: tuple[str, ...] = ("affectnet", "rafdb")

# AffectNet's expression ids 0-7, in AffectNet's order.
AFFECTNET_EXPRESSION_NAMES: tuple[str, ...] = (
    "neutral",
    "happy",
    "sad",
    "surprise",
    "fear",
    "disgust",
    "anger",
    "contempt",
)

_SUPERSAMPLE = 2  # draw at 2x and downsample: cheap anti-aliasing


@dataclass(frozen=True)
class ExpressionParams:
    """Interpretable expression controls; 0 everywhere (``eye_open`` 1) is a neutral face.

    Attributes:
        brow_raise: whole-brow raise (+, surprise/fear) or lowering (-, anger/disgust).
        brow_inner: inner brow ends lowered and drawn together (+, anger) or raised (-, sadness/fear).
        eye_open: eyelid opening, 1 is relaxed, below 1 narrowed, above 1 widened.
        mouth_curve: mouth-corner lift (+, smile) or drop (-, sadness).
        mouth_open: jaw drop / lip parting, 0 closed.
        mouth_stretch: horizontal lip stretch (+, fear) or rounding (-, surprise).
        nose_wrinkle: nose wrinkle with raised upper lip (disgust).
        lip_raise_side: one-sided mouth-corner raise (contempt).
    """

    brow_raise: float = 0.0
    brow_inner: float = 0.0
    eye_open: float = 1.0
    mouth_curve: float = 0.0
    mouth_open: float = 0.0
    mouth_stretch: float = 0.0
    nose_wrinkle: float = 0.0
    lip_raise_side: float = 0.0

    def as_array(self) -> np.ndarray:
        """The parameters as a float vector, in field order."""
        return np.array([getattr(self, f.name) for f in fields(self)], dtype=np.float64)

    @classmethod
    def from_array(cls, values: np.ndarray) -> ExpressionParams:
        """Inverse of :meth:`as_array`, clipping each parameter to its drawable range."""
        kwargs = {f.name: float(v) for f, v in zip(fields(cls), values, strict=True)}
        return cls(**kwargs).clipped()

    def clipped(self) -> ExpressionParams:
        """The same expression with every parameter clipped to the range the renderer draws well."""
        return ExpressionParams(
            brow_raise=float(np.clip(self.brow_raise, -1.0, 1.3)),
            brow_inner=float(np.clip(self.brow_inner, -1.2, 1.3)),
            eye_open=float(np.clip(self.eye_open, 0.2, 1.8)),
            mouth_curve=float(np.clip(self.mouth_curve, -1.1, 1.2)),
            mouth_open=float(np.clip(self.mouth_open, 0.0, 1.2)),
            mouth_stretch=float(np.clip(self.mouth_stretch, -0.8, 1.0)),
            nose_wrinkle=float(np.clip(self.nose_wrinkle, 0.0, 1.3)),
            lip_raise_side=float(np.clip(self.lip_raise_side, 0.0, 1.3)),
        )


# Prototypes in AffectNet order (0 Neutral ... 7 Contempt), loosely after FACS action units.
EXPRESSION_PROTOTYPES: tuple[ExpressionParams, ...] = (
    ExpressionParams(),
    ExpressionParams(brow_raise=0.1, eye_open=0.7, mouth_curve=1.0, mouth_open=0.35, mouth_stretch=0.35),
    ExpressionParams(brow_raise=0.0, brow_inner=-0.95, eye_open=0.65, mouth_curve=-0.85),
    ExpressionParams(brow_raise=1.1, brow_inner=-0.1, eye_open=1.65, mouth_open=1.0, mouth_stretch=-0.5),
    ExpressionParams(
        brow_raise=0.75, brow_inner=-0.8, eye_open=1.5, mouth_curve=-0.3, mouth_open=0.45, mouth_stretch=0.9
    ),
    ExpressionParams(
        brow_raise=-0.4, brow_inner=0.45, eye_open=0.6, mouth_curve=-0.45, mouth_open=0.15, nose_wrinkle=1.1
    ),
    ExpressionParams(
        brow_raise=-0.5, brow_inner=1.15, eye_open=0.9, mouth_curve=-0.35, mouth_stretch=-0.15, nose_wrinkle=0.2
    ),
    ExpressionParams(brow_inner=0.1, eye_open=0.85, lip_raise_side=1.1),
)

# Per-parameter jitter (standard deviation), in field order.
_JITTER_STD = np.array([0.22, 0.22, 0.16, 0.22, 0.14, 0.2, 0.14, 0.14])


def sample_expression(expression: int, rng: np.random.Generator, *, jitter: float = 1.0) -> ExpressionParams:
    """A random face of one AffectNet expression (0-7): its prototype at a random intensity, plus noise.

    The intensity (0.45-1.2 of the prototype's departure from neutral) and the Gaussian jitter
    make neighbouring classes overlap, as real expressions do.
    """
    if not 0 <= expression < len(EXPRESSION_PROTOTYPES):
        raise ValueError(f"expression must be an AffectNet id 0-7, got {expression}")
    neutral = EXPRESSION_PROTOTYPES[0].as_array()
    prototype = EXPRESSION_PROTOTYPES[expression].as_array()
    intensity = rng.uniform(0.45, 1.2) if expression != 0 else 1.0
    values = neutral + intensity * (prototype - neutral) + jitter * _JITTER_STD * rng.standard_normal(len(neutral))
    return ExpressionParams.from_array(values)


def valence_arousal_of(params: ExpressionParams) -> tuple[float, float]:
    """The (valence, arousal) a face with these parameters conveys, without noise, in [-1, 1].

    A fixed, hand-set linear map: smiles raise valence; frowns, wrinkles and a one-sided lip
    raise lower it; wide eyes, raised brows, an open mouth and a tense frown raise arousal.
    """
    p = params
    frown = max(p.brow_inner, 0.0)
    inner_raise = max(-p.brow_inner, 0.0)
    valence = (
        0.72 * p.mouth_curve
        - 0.3 * p.nose_wrinkle
        - 0.28 * frown
        - 0.22 * inner_raise
        - 0.22 * p.lip_raise_side
        + 0.05 * p.mouth_open * (p.mouth_curve > 0.3)
    )
    arousal = (
        0.5 * (p.eye_open - 1.0)
        + 0.3 * p.brow_raise
        + 0.45 * p.mouth_open
        + 0.45 * frown
        + 0.15 * p.nose_wrinkle
        + 0.15 * max(p.mouth_stretch, 0.0)
        + 0.08 * abs(p.mouth_curve)
    )
    return float(np.clip(valence, -1.0, 1.0)), float(np.clip(arousal, -1.0, 1.0))


def sample_valence_arousal(
    params: ExpressionParams, rng: np.random.Generator, *, noise: float = 0.08
) -> tuple[float, float]:
    """:func:`valence_arousal_of` plus annotator-like Gaussian noise, clipped to [-1, 1]."""
    valence, arousal = valence_arousal_of(params)
    valence += noise * rng.standard_normal()
    arousal += noise * rng.standard_normal()
    return float(np.clip(valence, -1.0, 1.0)), float(np.clip(arousal, -1.0, 1.0))


def expression_from_valence_arousal(valence: float, arousal: float) -> ExpressionParams:
    """A face that shows (valence, arousal): the renderer's controls as smooth functions of the two.

    Used to animate continuous-emotion recordings; roughly inverts :func:`valence_arousal_of`.
    """
    v, a = float(np.clip(valence, -1, 1)), float(np.clip(arousal, -1, 1))
    negative, positive_arousal = max(-v, 0.0), max(a, 0.0)
    return ExpressionParams(
        brow_raise=0.8 * a * (1.0 - 0.6 * negative) - 0.3 * negative * positive_arousal,
        # Negative and aroused -> angry frown; negative and calm -> sad raised inner brows.
        brow_inner=negative * (1.4 * positive_arousal - 0.9 * max(-a, 0.0) - 0.2),
        eye_open=1.0 + 0.55 * a - 0.25 * max(v, 0.0),
        mouth_curve=1.1 * v,
        mouth_open=0.8 * positive_arousal + 0.2 * max(v, 0.0) * positive_arousal,
        mouth_stretch=0.3 * max(v, 0.0) + 0.4 * negative * positive_arousal,
        nose_wrinkle=0.5 * negative * max(0.3 - abs(a), 0.0),
        lip_raise_side=0.0,
    ).clipped()


@dataclass(frozen=True)
class FaceAppearance:
    """Identity: face shape, feature layout and colours (RGB tuples, 0-255)."""

    face_width: float  # half-width of the face oval, in face half-heights
    jaw_taper: float  # how much the lower face narrows towards the chin
    eye_spacing: float
    eye_size: float
    eye_height: float
    brow_thickness: float
    nose_length: float
    mouth_width: float
    lip_thickness: float
    skin: tuple[int, int, int]
    hair: tuple[int, int, int]
    iris: tuple[int, int, int]
    lips: tuple[int, int, int]
    clothes: tuple[int, int, int]
    hair_style: int  # 0 short, 1 long, 2 fringe, 3 bald


_PHOTO_SKIN_TONES = np.array(
    [[255, 224, 196], [241, 194, 160], [224, 172, 135], [198, 140, 105], [160, 106, 72], [118, 76, 50], [87, 55, 38]],
    dtype=np.float64,
)
_CARTOON_SKIN_TONES = np.array(
    [[255, 214, 170], [250, 190, 150], [230, 160, 120], [190, 120, 85], [255, 226, 130], [205, 170, 230]],
    dtype=np.float64,
)
_HAIR_COLOURS = np.array(
    [[25, 20, 18], [60, 40, 25], [110, 75, 40], [175, 135, 80], [225, 200, 140], [150, 150, 150], [120, 40, 20]],
    dtype=np.float64,
)
_IRIS_COLOURS = np.array([[70, 45, 25], [40, 30, 25], [60, 110, 160], [80, 120, 70], [120, 95, 50]], dtype=np.float64)


def _colour(palette: np.ndarray, rng: np.random.Generator, spread: float) -> tuple[int, int, int]:
    """A palette colour picked at random, interpolated towards a neighbour and jittered."""
    index = rng.integers(len(palette))
    neighbour = min(len(palette) - 1, index + 1)
    mix = rng.uniform(0, 1)
    colour = (1 - mix) * palette[index] + mix * palette[neighbour] + spread * rng.standard_normal(3)
    return tuple(int(c) for c in np.clip(colour, 0, 255))  # type: ignore[return-value]


def sample_appearance(rng: np.random.Generator, style: Style = "affectnet") -> FaceAppearance:
    """A random identity, with colours drawn from the given style's palette."""
    _check_style(style)
    cartoon = style == "rafdb"
    skin = _colour(_CARTOON_SKIN_TONES if cartoon else _PHOTO_SKIN_TONES, rng, 4 if cartoon else 8)
    lips = tuple(int(c) for c in np.clip(np.array(skin) * [0.85, 0.55, 0.55] + [40, 0, 10], 0, 255))
    if cartoon:
        lips = (210, 70, 80) if rng.uniform() < 0.5 else lips
    return FaceAppearance(
        face_width=rng.uniform(0.68, 0.84),
        jaw_taper=rng.uniform(0.05, 0.45),
        eye_spacing=rng.uniform(0.9, 1.1),
        eye_size=rng.uniform(0.85, 1.15) * (1.2 if cartoon else 1.0),
        eye_height=rng.uniform(-0.05, 0.05),
        brow_thickness=rng.uniform(0.7, 1.3),
        nose_length=rng.uniform(0.85, 1.15),
        mouth_width=rng.uniform(0.88, 1.12),
        lip_thickness=rng.uniform(0.7, 1.3),
        skin=skin,  # type: ignore[arg-type]
        hair=_colour(_HAIR_COLOURS, rng, 10),
        iris=_colour(_IRIS_COLOURS, rng, 10),
        lips=lips,  # type: ignore[arg-type]
        clothes=tuple(int(c) for c in rng.integers(20, 235, size=3)),  # type: ignore[arg-type]
        hair_style=int(rng.integers(4)),
    )


@dataclass(frozen=True)
class SceneParams:
    """Pose, framing and photography of one picture.

    ``scale`` is pixels per face half-height; (``center_x``, ``center_y``) is where the face centre
    lands, in pixels; ``roll`` and ``yaw`` are in degrees.
    """

    width: int
    height: int
    center_x: float
    center_y: float
    scale: float
    roll: float = 0.0
    yaw: float = 0.0
    gaze: float = 0.0
    light_angle: float = 0.0
    light_strength: float = 0.0
    background: tuple[int, int, int] = (200, 200, 200)
    clutter: int = 0  # number of random background shapes
    clutter_seed: int = 0
    noise_std: float = 0.0
    jpeg_quality: int = 95


def sample_scene(
    rng: np.random.Generator,
    style: Style = "affectnet",
    *,
    width: int,
    height: int,
    face_fraction: tuple[float, float] | None = None,
    aligned: bool = False,
) -> SceneParams:
    """Random framing for a ``width`` x ``height`` picture.

    ``face_fraction`` bounds the face height as a share of the picture's shorter side
    (default: 0.8-0.92 for aligned crops, 0.6-0.85 otherwise). ``aligned`` gives an upright,
    frontal, centred face (a face-aligned crop).
    """
    _check_style(style)
    cartoon = style == "rafdb"
    if face_fraction is None:
        face_fraction = (0.8, 0.92) if aligned else (0.6, 0.85)
    short_side = min(width, height)
    scale = rng.uniform(*face_fraction) * short_side / 2.0
    if aligned:
        center_x, center_y = width / 2 + rng.normal(0, 0.01 * width), height / 2 + 0.04 * height
        roll = yaw = 0.0
    else:
        # Keep the face oval inside the frame, mostly.
        margin_x = max(0.0, width / 2 - scale * 0.8)
        margin_y = max(0.0, height / 2 - scale * 0.95)
        center_x = width / 2 + rng.uniform(-margin_x, margin_x)
        center_y = height / 2 + rng.uniform(-margin_y, margin_y)
        roll = float(np.clip(rng.normal(0, 4 if cartoon else 9), -25, 25))
        yaw = float(np.clip(rng.normal(0, 5 if cartoon else 14), -35, 35))
    framing = (width, height, center_x, center_y, scale, roll, yaw)
    if cartoon:
        background = tuple(int(c) for c in rng.integers(150, 250, size=3))
        return SceneParams(
            *framing,
            gaze=float(rng.normal(0, 0.015)),
            background=background,  # type: ignore[arg-type]
            clutter=int(rng.integers(0, 3)) if not aligned else 0,
            clutter_seed=int(rng.integers(2**31)),
            jpeg_quality=int(rng.integers(85, 96)),
        )
    return SceneParams(
        *framing,
        gaze=float(rng.normal(0, 0.02)),
        light_angle=float(rng.uniform(0, 2 * math.pi)),
        light_strength=float(rng.uniform(0.0, 0.4)),
        background=tuple(int(c) for c in rng.integers(30, 230, size=3)),  # type: ignore[arg-type]
        clutter=int(rng.integers(3, 12)),
        clutter_seed=int(rng.integers(2**31)),
        noise_std=float(rng.uniform(0.0, 7.0)),
        jpeg_quality=int(rng.integers(30, 95)),
    )


@dataclass(frozen=True)
class RenderedFace:
    """A drawn picture with its 68 iBUG landmarks (pixels) and face box ``[x, y, w, h]`` (pixels)."""

    image: Image.Image
    landmarks: np.ndarray
    face_box: tuple[float, float, float, float]


def _check_style(style: str) -> None:
    if style not in STYLES:
        raise ValueError(f"style must be one of {STYLES}, got {style!r}")


class _Pose:
    """Canonical face frame -> supersampled pixels: yaw squash/parallax, roll, scale, shift."""

    def __init__(self, scene: SceneParams, factor: int) -> None:
        self.factor = factor
        roll = math.radians(scene.roll)
        self.cos_r, self.sin_r = math.cos(roll), math.sin(roll)
        yaw = math.radians(scene.yaw)
        self.cos_y, self.sin_y = math.cos(yaw), math.sin(yaw)
        self.scale = scene.scale * factor
        self.cx, self.cy = scene.center_x * factor, scene.center_y * factor

    def __call__(self, points: np.ndarray, depth: float | np.ndarray = 0.0) -> np.ndarray:
        """Transforms (n, 2) canonical points lying ``depth`` in front of the face plane."""
        points = np.asarray(points, dtype=np.float64)
        x = points[:, 0] * self.cos_y + np.asarray(depth) * self.sin_y
        y = points[:, 1]
        rx = x * self.cos_r - y * self.sin_r
        ry = x * self.sin_r + y * self.cos_r
        return np.stack([self.cx + self.scale * rx, self.cy + self.scale * ry], axis=1)


def _ellipse(cx: float, cy: float, rx: float, ry: float, n: int = 24) -> np.ndarray:
    t = np.linspace(0, 2 * math.pi, n, endpoint=False)
    return np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], axis=1)


def _shade(colour: tuple[int, int, int], factor: float) -> tuple[int, int, int]:
    return tuple(min(255, max(0, int(c * factor))) for c in colour)  # type: ignore[return-value]


def _face_outline(app: FaceAppearance, theta: np.ndarray) -> np.ndarray:
    """Points of the face oval at angles ``theta`` (0 = top of the head, pi = chin)."""
    y = -np.cos(theta)
    narrowing = 1.0 - app.jaw_taper * np.clip(y, 0, None) ** 2
    x = app.face_width * np.sin(theta) * narrowing
    return np.stack([x, y], axis=1)


class _FaceGeometry:
    """The canonical-frame shapes of one face with one expression, landmarks included."""

    def __init__(self, expr: ExpressionParams, app: FaceAppearance, gaze: float) -> None:
        self.expr, self.app = expr, app
        e = expr
        # Jaw 0-16: from the image-left temple, down round the chin, up to the image-right one.
        theta = 1.55 * math.pi - np.arange(17) * (1.1 * math.pi / 16)
        jaw = _face_outline(app, theta)
        jaw[:, 1] += 0.06 * e.mouth_open * np.clip(jaw[:, 1], 0, None)  # an open jaw lengthens the chin
        self.outline = _face_outline(app, np.linspace(0, 2 * math.pi, 64, endpoint=False))
        self.outline[:, 1] += 0.06 * e.mouth_open * np.clip(self.outline[:, 1], 0, None)

        eye_y = -0.1 + app.eye_height
        eye_x = 0.31 * app.eye_spacing
        half_width = 0.13 * app.eye_size
        upper = 0.08 * e.eye_open * app.eye_size
        lower = 0.045 * app.eye_size * min(e.eye_open, 1.2) * (1.0 - 0.45 * max(e.mouth_curve, 0.0))
        self.eye_shapes: list[dict[str, np.ndarray | float]] = []
        eye_landmarks = []
        for side in (-1, 1):  # image-left eye (iBUG 36-41), then image-right (42-47)
            cx = side * eye_x
            u = np.linspace(-1, 1, 15)
            up = np.stack([cx + u * half_width, eye_y - upper * (1 - u**2) ** 0.9], axis=1)
            low = np.stack([cx + u * half_width, eye_y + lower * (1 - u**2)], axis=1)
            self.eye_shapes.append(
                {"cx": cx, "cy": eye_y, "hw": half_width, "up": upper, "low": lower, "upper": up, "lower": low}
            )
            lid_u = np.array([-0.4, 0.4])
            upper_pts = np.stack([cx + lid_u * half_width, eye_y - upper * (1 - lid_u**2) ** 0.9], axis=1)
            lower_pts = np.stack([cx + lid_u[::-1] * half_width, eye_y + lower * (1 - lid_u**2)], axis=1)
            eye_landmarks.append(np.vstack([[cx - half_width, eye_y], upper_pts, [cx + half_width, eye_y], lower_pts]))
        self.gaze = gaze

        # Brows 17-21 (image-left, outer -> inner) and 22-26 (image-right, inner -> outer).
        brow_base = -0.36 + app.eye_height - 0.15 * e.brow_raise
        t = np.linspace(0, 1, 5)  # 0 inner end, 1 outer end
        inner_x = 0.11 * app.eye_spacing - 0.035 * max(e.brow_inner, 0.0)
        outer_x = 0.53 * app.eye_spacing
        brow_y = brow_base - 0.07 * np.sin(np.pi * (0.15 + 0.7 * t)) + 0.14 * e.brow_inner * (1 - t) ** 1.6
        brow_y += 0.03 * e.brow_inner * t  # sadness droops the outer end a little, anger lifts it
        self.brows = []
        for side in (-1, 1):
            pts = np.stack([side * (inner_x + t * (outer_x - inner_x)), brow_y], axis=1)
            self.brows.append(pts[::-1] if side == -1 else pts)

        # Nose 27-35.
        nose_len = app.nose_length
        bridge = np.stack([np.zeros(4), eye_y - 0.06 + np.linspace(0, 0.3 * nose_len, 4)], axis=1)
        wrinkle = e.nose_wrinkle
        nostril_y = eye_y + 0.33 * nose_len - 0.06 * wrinkle
        wing = 0.12 * (1 + 0.25 * wrinkle)
        nostrils = np.stack(
            [np.array([-1, -0.5, 0, 0.5, 1]) * wing, nostril_y + np.array([-0.01, 0.02, 0.03, 0.02, -0.01])], axis=1
        )
        self.nose_tip_y = bridge[-1, 1]

        # Mouth 48-67 around a mid-line that smiles, droops, opens and rises on one side.
        mouth_y = 0.54 + 0.03 * (nose_len - 1)
        half_mouth = 0.25 * app.mouth_width * (1 + 0.22 * e.mouth_stretch)
        lift = 0.13 * e.mouth_curve
        side_lift = 0.13 * e.lip_raise_side
        gap = 0.26 * e.mouth_open
        upper_raise = 0.06 * wrinkle
        thick_up, thick_low = 0.055 * app.lip_thickness, 0.075 * app.lip_thickness
        rounding = max(-e.mouth_stretch, 0.0)

        def midline(u: np.ndarray) -> np.ndarray:
            return mouth_y - lift * u**2 - side_lift * np.clip(u, 0, None) ** 1.5

        def mouth_x(u: np.ndarray) -> np.ndarray:
            return u * half_mouth + 0.03 * e.lip_raise_side * np.clip(u, 0, None)

        def inner_upper(u: np.ndarray) -> np.ndarray:
            return midline(u) - (0.25 * gap + upper_raise) * (1 - u**2) ** (1 - 0.5 * rounding)

        def inner_lower(u: np.ndarray) -> np.ndarray:
            return midline(u) + 0.75 * gap * (1 - u**2) ** (1 - 0.5 * rounding)

        def outer_upper(u: np.ndarray) -> np.ndarray:
            bow = 0.012 * np.cos(np.pi * u * 3) * (1 - u**2)  # cupid's bow
            return inner_upper(u) - thick_up * (1 - 0.7 * u**2) - bow

        def outer_lower(u: np.ndarray) -> np.ndarray:
            return inner_lower(u) + thick_low * (1 - 0.6 * u**2)

        self.mouth_fns = (mouth_x, inner_upper, inner_lower, outer_upper, outer_lower)
        self.mouth_gap = gap

        u_up = np.array([-1, -0.66, -0.3, 0, 0.3, 0.66, 1])
        u_low = np.array([0.66, 0.3, 0, -0.3, -0.66])
        outer = np.vstack(
            [
                np.stack([mouth_x(u_up), np.where(np.abs(u_up) == 1, midline(u_up), outer_upper(u_up))], axis=1),
                np.stack([mouth_x(u_low), outer_lower(u_low)], axis=1),
            ]
        )
        ui_up = np.array([-0.85, -0.4, 0, 0.4, 0.85])
        ui_low = np.array([0.4, 0, -0.4])
        inner = np.vstack(
            [
                np.stack([mouth_x(ui_up), np.where(np.abs(ui_up) == 0.85, midline(ui_up), inner_upper(ui_up))], axis=1),
                np.stack([mouth_x(ui_low), inner_lower(ui_low)], axis=1),
            ]
        )
        self.landmarks = np.vstack([jaw, self.brows[0], self.brows[1], bridge, nostrils, *eye_landmarks, outer, inner])
        # How far in front of the face plane each landmark sits (drives yaw parallax).
        depth = np.full(68, 0.35)
        depth[:17] = 0.0
        depth[27:31] = np.linspace(0.45, 0.7, 4)
        depth[31:36] = 0.5
        self.landmark_depth = depth


def _draw_polygon(draw: ImageDraw.ImageDraw, points: np.ndarray, fill, outline=None, width: int = 0) -> None:
    flat = np.asarray(points, dtype=np.float64).ravel().tolist()
    draw.polygon(flat, fill=fill, outline=outline, width=width if outline is not None else 0)


def _draw_line(draw: ImageDraw.ImageDraw, points: np.ndarray, fill, width: int) -> None:
    flat = np.asarray(points, dtype=np.float64).ravel().tolist()
    draw.line(flat, fill=fill, width=max(1, int(round(width))), joint="curve")


def _draw_background(image: Image.Image, scene: SceneParams, style: str, factor: int) -> None:
    """Flat colour plus random shapes; photo style blurs them like a shallow depth of field."""
    draw = ImageDraw.Draw(image)
    rng = np.random.default_rng(scene.clutter_seed)
    w, h = image.size
    if style == "affectnet":
        # A vertical gradient gives the backdrop some depth.
        top = np.array(scene.background, dtype=np.float64)
        bottom = np.clip(top * rng.uniform(0.5, 1.2) + rng.normal(0, 20, 3), 0, 255)
        ramp = np.linspace(0, 1, h)[:, None, None]
        column = (top * (1 - ramp) + bottom * ramp).astype(np.uint8)  # h x 1 x 3, stretched sideways
        image.paste(Image.fromarray(column).resize((w, h), Image.Resampling.NEAREST))
    for _ in range(scene.clutter):
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        x0, y0 = rng.uniform(-0.2, 1.0) * w, rng.uniform(-0.2, 1.0) * h
        x1, y1 = x0 + rng.uniform(0.1, 0.6) * w, y0 + rng.uniform(0.1, 0.6) * h
        kind = rng.integers(3)
        outline = (40, 40, 40) if style == "rafdb" else None
        if kind == 0:
            draw.rectangle([x0, y0, x1, y1], fill=colour, outline=outline, width=2 * factor)
        elif kind == 1:
            draw.ellipse([x0, y0, x1, y1], fill=colour, outline=outline, width=2 * factor)
        else:
            draw.line([x0, y0, x1, y1], fill=colour, width=int(rng.integers(2, 8)) * factor)
    if style == "affectnet" and scene.clutter:
        image.paste(image.filter(ImageFilter.BoxBlur(radius=1.5 * factor)))


def _draw_face(image: Image.Image, geo: _FaceGeometry, scene: SceneParams, style: str, factor: int) -> None:
    """Draws neck, hair, face and features in painter's order."""
    app, e = geo.app, geo.expr
    pose = _Pose(scene, factor)
    draw = ImageDraw.Draw(image)
    cartoon = style == "rafdb"
    ink = (25, 20, 20)
    stroke = max(1, int(round(pose.scale * 0.035)))  # the cartoon outline width
    line_unit = pose.scale * 0.02  # a feature line width, in pixels
    skin = app.skin
    skin_dark = _shade(skin, 0.72)
    outline = ink if cartoon else None
    outline_width = stroke if cartoon else 0

    # Shoulders and neck, behind the head.
    shoulders = np.array([[-1.6, 2.6], [-1.5, 1.55], [-0.5, 1.25], [0.5, 1.25], [1.5, 1.55], [1.6, 2.6]])
    _draw_polygon(draw, pose(shoulders), app.clothes, outline, outline_width)
    neck = np.array([[-0.33, 0.4], [0.33, 0.4], [0.36, 1.35], [-0.36, 1.35]])
    _draw_polygon(draw, pose(neck), skin_dark if not cartoon else _shade(skin, 0.9), outline, outline_width)

    if app.hair_style == 1:  # long hair falls behind the face
        back = np.vstack(
            [_face_outline(app, np.linspace(-0.55 * math.pi, 0.55 * math.pi, 20)) * 1.15, [[0.95, 1.1], [-0.95, 1.1]]]
        )
        _draw_polygon(draw, pose(back), app.hair, outline, outline_width)
    for side in (-1, 1):  # ears
        ear = _ellipse(side * app.face_width * 0.98, -0.02, 0.1, 0.17, 16)
        _draw_polygon(draw, pose(ear), skin_dark if not cartoon else skin, outline, outline_width)

    _draw_polygon(draw, pose(geo.outline), skin, outline, outline_width)
    if not cartoon:
        # Soft cheek highlight: a lighter inner oval.
        highlight = _face_outline(app, np.linspace(0, 2 * math.pi, 32, endpoint=False)) * [0.7, 0.75] + [0.0, -0.05]
        _draw_polygon(draw, pose(highlight, 0.2), _shade(skin, 1.06))

    if app.hair_style != 3:  # hair cap with a hairline
        hairline_y = -0.62 if app.hair_style != 2 else -0.42
        cap = np.vstack(
            [
                _face_outline(app, np.linspace(-0.52 * math.pi, 0.52 * math.pi, 24)) * [1.06, 1.06],
                np.array(
                    [
                        [0.92, -0.15],
                        [0.55, hairline_y + 0.12],
                        [0.2, hairline_y],
                        [-0.2, hairline_y],
                        [-0.55, hairline_y + 0.12],
                        [-0.92, -0.15],
                    ]
                )
                * [app.face_width, 1.0],
            ]
        )
        _draw_polygon(draw, pose(cap, 0.1), app.hair, outline, outline_width)

    # Nose: side shading, wrinkles, nostrils.
    nose_ink = ink if cartoon else _shade(skin, 0.6)
    lm = geo.landmarks
    for side in (-1, 1):
        side_line = np.array([[side * 0.05, lm[28, 1]], [side * 0.07, lm[30, 1]], [side * 0.11, lm[31, 1] - 0.03]])
        if not cartoon:
            _draw_line(draw, pose(side_line, 0.55), _shade(skin, 0.8), line_unit * 1.2)
    _draw_line(draw, pose(lm[31:36], 0.5), nose_ink, line_unit * (1.4 if cartoon else 1.1))
    for side in (-1, 1):
        nostril = _ellipse(side * 0.045, lm[33, 1] - 0.015, 0.03, 0.018, 10)
        _draw_polygon(draw, pose(nostril, 0.5), _shade(skin, 0.4))
    if e.nose_wrinkle > 0.2:
        strength = min(1.0, e.nose_wrinkle)
        for k in range(3):
            y = lm[27, 1] + 0.04 + 0.05 * k
            wrinkle = np.array([[-0.08, y + 0.015], [0.0, y - 0.01], [0.08, y + 0.015]])
            _draw_line(
                draw,
                pose(wrinkle, 0.45),
                _shade(skin, 1.0 - 0.45 * strength) if not cartoon else ink,
                line_unit * strength * 1.3,
            )
    # Nasolabial folds deepen with smiles and disgust.
    fold = max(e.mouth_curve, 0.0) * 0.9 + 0.7 * e.nose_wrinkle
    if fold > 0.25:
        mouth_x, _, _, _, _ = geo.mouth_fns
        for side in (-1, 1):
            corner = lm[48] if side == -1 else lm[54]
            pts = np.array(
                [
                    [side * 0.16, lm[31, 1] - 0.02],
                    [side * 0.24, (lm[31, 1] + corner[1]) / 2],
                    [corner[0] + side * 0.06, corner[1] + 0.04],
                ]
            )
            _draw_line(
                draw,
                pose(pts, 0.3),
                ink if cartoon else _shade(skin, 1.0 - 0.3 * min(fold, 1.2)),
                line_unit * min(fold, 1.2),
            )

    # Eyes: sclera, iris clipped to the lids, lids, crease.
    for shape in geo.eye_shapes:
        cx, cy, hw = shape["cx"], shape["cy"], shape["hw"]
        sclera = np.vstack([shape["upper"], shape["lower"][::-1]])
        _draw_polygon(draw, pose(sclera, 0.35), (245, 245, 240) if cartoon else (235, 232, 225))
        iris_r = 0.065 * geo.app.eye_size
        for radius, colour in ((iris_r, app.iris), (iris_r * 0.45, (10, 10, 10))):
            circle = _ellipse(cx + geo.gaze, cy, radius, radius, 20)
            u = np.clip((circle[:, 0] - cx) / hw, -1, 1)
            top = cy - shape["up"] * (1 - u**2) ** 0.9
            bottom = cy + shape["low"] * (1 - u**2)
            circle[:, 1] = np.clip(circle[:, 1], top, bottom)
            _draw_polygon(draw, pose(circle, 0.35), colour)
        _draw_line(draw, pose(shape["upper"], 0.35), ink, line_unit * (1.6 if cartoon else 1.3))
        _draw_line(draw, pose(shape["lower"], 0.35), ink if cartoon else _shade(skin, 0.55), line_unit * 0.7)
        crease = shape["upper"][2:-2].copy()
        crease[:, 1] -= 0.035 + 0.2 * shape["up"]
        _draw_line(draw, pose(crease, 0.35), ink if cartoon else _shade(skin, 0.7), line_unit * 0.6)

    # Brows as tapered bands, frown lines between them.
    for brow in geo.brows:
        inner_first = brow if abs(brow[0, 0]) < abs(brow[-1, 0]) else brow[::-1]
        thickness = 0.055 * app.brow_thickness * np.linspace(1.0, 0.55, 5)
        band = np.vstack(
            [inner_first - [0, 1] * thickness[:, None] / 2, (inner_first + [0, 1] * thickness[:, None] / 2)[::-1]]
        )
        # Brows are darker than the hair so that they read on any skin.
        _draw_polygon(draw, pose(band, 0.35), _shade(app.hair, 0.55) if not cartoon else ink)
    if e.brow_inner > 0.35:
        strength = min(1.0, e.brow_inner)
        for side in (-1, 1):
            frown = np.array([[side * 0.035, lm[21, 1] - 0.05], [side * 0.045, lm[21, 1] + 0.08]])
            _draw_line(
                draw, pose(frown, 0.4), ink if cartoon else _shade(skin, 1.0 - 0.35 * strength), line_unit * strength
            )
    if e.brow_raise > 0.5:  # forehead lines of raised brows
        strength = min(1.0, e.brow_raise - 0.3)
        for k in range(2):
            y = lm[19, 1] - 0.1 - 0.07 * k
            line = np.array([[-0.3, y + 0.02], [0.0, y], [0.3, y + 0.02]])
            _draw_line(
                draw,
                pose(line, 0.3),
                ink if cartoon else _shade(skin, 1.0 - 0.25 * strength),
                line_unit * 0.8 * strength,
            )

    # Mouth: lips, dark opening, teeth.
    mouth_x, inner_upper, inner_lower, outer_upper, outer_lower = geo.mouth_fns
    u = np.linspace(-1, 1, 21)
    lips = np.vstack(
        [np.stack([mouth_x(u), outer_upper(u)], axis=1), np.stack([mouth_x(u[::-1]), outer_lower(u[::-1])], axis=1)]
    )
    lips[0, 1] = lips[-1, 1] = inner_upper(np.array([-1.0]))[0]
    _draw_polygon(draw, pose(lips, 0.35), app.lips, outline, max(1, outline_width // 2) if cartoon else 0)
    if geo.mouth_gap > 0.012:
        opening = np.vstack(
            [np.stack([mouth_x(u), inner_upper(u)], axis=1), np.stack([mouth_x(u[::-1]), inner_lower(u[::-1])], axis=1)]
        )
        _draw_polygon(draw, pose(opening, 0.35), (60, 15, 20) if cartoon else (45, 18, 20))
        if e.mouth_curve > -0.35:  # teeth show in smiles, fear and surprise
            tooth_depth = min(0.055, 0.45 * geo.mouth_gap)
            ut = np.linspace(-0.75, 0.75, 13)
            teeth = np.vstack(
                [
                    np.stack([mouth_x(ut), inner_upper(ut)], axis=1),
                    np.stack([mouth_x(ut[::-1]), inner_upper(ut[::-1]) + tooth_depth], axis=1),
                ]
            )
            _draw_polygon(draw, pose(teeth, 0.35), (240, 238, 230))
    mouth_line = np.stack([mouth_x(u), inner_upper(u)], axis=1)
    _draw_line(
        draw, pose(mouth_line, 0.35), ink if cartoon else _shade(app.lips, 0.45), line_unit * (1.1 if cartoon else 0.9)
    )


def _apply_photo_effects(array: np.ndarray, scene: SceneParams, rng: np.random.Generator) -> np.ndarray:
    """Lighting gradient across the frame plus sensor noise, on a float32 HxWx3 array."""
    h, w = array.shape[:2]
    if scene.light_strength > 0:
        direction = (math.cos(scene.light_angle), math.sin(scene.light_angle))
        half_extent = 0.5 * max(w, h)
        across = (np.arange(w, dtype=np.float32) - w / 2) * (direction[0] / half_extent)
        down = (np.arange(h, dtype=np.float32) - h / 2) * (direction[1] / half_extent)
        array = array * (1.0 + scene.light_strength * (down[:, None] + across[None, :]))[..., None]
    if scene.noise_std > 0:
        array = array + np.float32(scene.noise_std) * rng.standard_normal(array.shape, dtype=np.float32)
    return np.clip(array, 0, 255)


def draw_background(scene: SceneParams, *, style: Style = "affectnet") -> Image.Image:
    """The scene's backdrop (colour, gradient, clutter), at the renderer's internal supersampled size."""
    _check_style(style)
    # Drawn at 1x and enlarged: the backdrop is blurred or flat anyway, so it needs no supersampling.
    image = Image.new("RGB", (scene.width, scene.height), scene.background)
    _draw_background(image, scene, style, 1)
    return image.resize((scene.width * _SUPERSAMPLE, scene.height * _SUPERSAMPLE), Image.Resampling.BILINEAR)


def render_face(
    expression: ExpressionParams | None,
    appearance: FaceAppearance,
    scene: SceneParams,
    *,
    style: Style = "affectnet",
    seed: int = 0,
    background: Image.Image | None = None,
) -> RenderedFace:
    """Draws one picture.

    Args:
        expression: the face's expression, or ``None`` for a picture with no face (background only).
        appearance: the identity.
        scene: framing and photography.
        style: ``"affectnet"`` (photo-like) or ``"rafdb"`` (flat cartoon).
        seed: seeds the pixel noise, so a render is a pure function of its arguments.
        background: a backdrop from :func:`draw_background` for this scene, to reuse across
            the frames of a video instead of drawing it again.

    Returns:
        The RGB image, the 68 landmarks in pixels and the face box ``[x, y, w, h]`` in pixels (the
        box of the face oval, clipped to the frame); without a face, those of an undrawn neutral one.
    """
    _check_style(style)
    factor = _SUPERSAMPLE
    if background is None:
        big = draw_background(scene, style=style)
    else:
        big = background.copy()
    # Without a face, the landmarks and box are where a neutral face would be: what a face
    # detector's false positive reports (AffectNet's No-Face rows carry such boxes).
    geo = _FaceGeometry(expression if expression is not None else ExpressionParams(), appearance, scene.gaze)
    if expression is not None:
        _draw_face(big, geo, scene, style, factor)
    pose_1x = _Pose(scene, 1)
    landmarks = pose_1x(geo.landmarks, geo.landmark_depth)
    head = np.vstack([pose_1x(geo.outline[np.abs(geo.outline[:, 1]) < 0.9]), landmarks[:17]])
    x0, y0 = np.clip(head.min(axis=0), 0, [scene.width, scene.height])
    x1, y1 = np.clip(head.max(axis=0), 0, [scene.width, scene.height])
    face_box = (float(x0), float(y0), float(x1 - x0), float(y1 - y0))
    image = big.resize((scene.width, scene.height), Image.Resampling.BOX)
    if style == "affectnet":
        rng = np.random.default_rng(seed)
        image = Image.fromarray(_apply_photo_effects(np.asarray(image, dtype=np.float32), scene, rng).astype(np.uint8))
    return RenderedFace(image=image, landmarks=landmarks, face_box=face_box)


def encode_jpeg(image: Image.Image, quality: int) -> bytes:
    """JPEG bytes of ``image`` at ``quality`` (the compression noise of web photos)."""
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=int(quality))
    return buffer.getvalue()


def expression_grid(*, seed: int = 0, photo_columns: int = 5, cartoon_columns: int = 2, tile: int = 96) -> Image.Image:
    """A picture of sample faces: one row per AffectNet expression, photo style then cartoon style.

    Each face is a random identity at a random intensity of its row's expression, as the demo
    corpus draws them; the row's name is written at its left.
    """
    label_width = 70
    columns = photo_columns + cartoon_columns
    grid = Image.new("RGB", (label_width + columns * tile, len(AFFECTNET_EXPRESSION_NAMES) * tile), (255, 255, 255))
    draw = ImageDraw.Draw(grid)
    for row, name in enumerate(AFFECTNET_EXPRESSION_NAMES):
        draw.text((6, row * tile + tile // 2 - 6), name, fill=(0, 0, 0))
        for column in range(columns):
            style: Style = "affectnet" if column < photo_columns else "rafdb"
            rng = np.random.default_rng([seed, row, column])
            params = sample_expression(row, rng)
            appearance = sample_appearance(rng, style)
            scene = sample_scene(rng, style, width=tile, height=tile, aligned=style == "rafdb")
            face = render_face(params, appearance, scene, style=style, seed=column).image
            grid.paste(face, (label_width + column * tile, row * tile))
    return grid
