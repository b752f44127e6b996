"""Pairs of SYNTHETIC faces that differ in one controlled factor only: a nuisance (pose, lighting or identity)
or the expression. The renderer draws expression, identity and photography from separate parameters, so a pair
can change one of them and keep everything else, pixel noise included.

Each *base* face (a random AffectNet expression, identity and photo-like scene, as the demo corpus draws them)
gives one pair of every kind, all sharing that base as their first face:

* ``pose``: another head pose and framing (roll, yaw, scale, position in the frame);
* ``lighting``: another lighting gradient (direction and strength);
* ``identity``: another person (face shape, feature layout, colours, hair);
* ``expression``: another of the eight AffectNet expressions (same person, pose and lighting).

What a model's vector does with these pairs is measured by :mod:`hf_deepfever.training.nuisance_ratio`.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, replace

import numpy as np
from PIL import Image

from .face_renderer import (
    EXPRESSION_PROTOTYPES,
    ExpressionParams,
    FaceAppearance,
    SceneParams,
    draw_background,
    encode_jpeg,
    render_face,
    sample_appearance,
    sample_expression,
    sample_scene,
)

NUISANCE_KINDS: tuple[str, ...] = ("pose", "lighting", "identity")
"""What a nuisance pair changes; an ``expression`` pair changes the expression instead."""

PAIR_KINDS: tuple[str, ...] = (*NUISANCE_KINDS, "expression")

DEFAULT_IMAGE_SIZE = 160  # inside the demo AffectNet's 144-208 px pictures


@dataclass(frozen=True)
class PairFace:
    """One drawn face: the picture (JPEG-decoded, as the corpus stores it), its face box ``[x, y, w, h]`` and 68
    landmarks in pixels, and what it shows (``expression``: an AffectNet id; ``expression_params``: the
    renderer's controls, :meth:`ExpressionParams.as_array`)."""

    image: Image.Image
    face_box: tuple[float, float, float, float]
    landmarks: np.ndarray
    expression: int
    expression_params: np.ndarray


@dataclass(frozen=True)
class FacePair:
    """Two faces that differ in ``kind`` only (one of :data:`PAIR_KINDS`); ``base`` numbers the shared first face."""

    kind: str
    base: int
    first: PairFace
    second: PairFace


def _draw(
    expression: int,
    params: ExpressionParams,
    appearance: FaceAppearance,
    scene: SceneParams,
    *,
    noise_seed: int,
    background: Image.Image,
) -> PairFace:
    rendered = render_face(params, appearance, scene, seed=noise_seed, background=background)
    # The corpus stores JPEGs: both faces of a pair go through the same compression as their training faces.
    image = Image.open(io.BytesIO(encode_jpeg(rendered.image, scene.jpeg_quality))).convert("RGB")
    return PairFace(image, rendered.face_box, rendered.landmarks, expression, params.as_array())


def _other_expression(expression: int, rng: np.random.Generator) -> int:
    others = [index for index in range(len(EXPRESSION_PROTOTYPES)) if index != expression]
    return int(rng.choice(others))


def render_nuisance_pairs(bases: int, *, seed: int = 0, image_size: int = DEFAULT_IMAGE_SIZE) -> list[FacePair]:
    """``bases`` base faces, each with one pair of every kind (``4 * bases`` pairs, in base order, kinds in
    :data:`PAIR_KINDS` order). A pure function of its arguments: the same seed draws the same pixels."""
    if bases < 1:
        raise ValueError(f"bases must be at least 1, got {bases}")
    pairs: list[FacePair] = []
    for base in range(bases):
        rng = np.random.default_rng([seed, base])
        expression = int(rng.integers(len(EXPRESSION_PROTOTYPES)))
        params = sample_expression(expression, rng)
        appearance = sample_appearance(rng)
        scene = sample_scene(rng, width=image_size, height=image_size)
        noise_seed = int(rng.integers(2**31))
        # The backdrop depends on the scene's colours and clutter, not on the pose or light: drawn once per base.
        background = draw_background(scene)

        framing = sample_scene(rng, width=image_size, height=image_size)
        posed = replace(
            scene, center_x=framing.center_x, center_y=framing.center_y, scale=framing.scale, roll=framing.roll, yaw=framing.yaw
        )
        lit = replace(scene, light_angle=float(rng.uniform(0, 2 * np.pi)), light_strength=float(rng.uniform(0.0, 0.4)))
        other_person = sample_appearance(rng)
        other_expression = _other_expression(expression, rng)
        other_params = sample_expression(other_expression, rng)

        def draw(
            what: int = expression, how: ExpressionParams = params, who: FaceAppearance = appearance, where: SceneParams = scene
        ) -> PairFace:
            return _draw(what, how, who, where, noise_seed=noise_seed, background=background)

        first = draw()
        seconds = {
            "pose": draw(where=posed),
            "lighting": draw(where=lit),
            "identity": draw(who=other_person),
            "expression": draw(what=other_expression, how=other_params),
        }
        pairs += [FacePair(kind, base, first, seconds[kind]) for kind in PAIR_KINDS]
    return pairs


__all__ = ["DEFAULT_IMAGE_SIZE", "NUISANCE_KINDS", "PAIR_KINDS", "FacePair", "PairFace", "render_nuisance_pairs"]
