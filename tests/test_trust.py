"""Sanity (cascading model-parameter randomisation, Adebayo et al. 2018) and stability (the
photo moved by 1-8 pixels), with known answers: a map that ignores the weights must fail
the randomisation test, a map of the photo itself must be stable, a map that is redrawn at
random must not; and "Which map should I believe?" on a real model."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from vit_gui.explain.compare import compare_maps
from vit_gui.explain.maps import MapSpec
from vit_gui.explain.trust import map_function, randomisation_test, rank_correlation, stability_test
from vit_gui.predict import Predictor


def brightness_map(model, pixels):
    """A 'map' made of the photo alone: each patch's mean brightness. No weight is read."""
    grid = model.grid_for(*pixels.shape[-2:])
    patch = model.patch_size
    values = pixels[0].mean(dim=0)[: grid[0] * patch, : grid[1] * patch]
    return values.reshape(grid[0], patch, grid[1], patch).mean(dim=(1, 3)).numpy()


def noise_map(model, pixels):
    """A 'map' drawn afresh from the input's bytes: it changes completely when the photo moves."""
    seed = int(torch.as_tensor(pixels).float().sum().item() * 1000) % (2**32)
    return np.random.default_rng(seed).random(model.grid_for(*pixels.shape[-2:]))


def test_rank_correlation_is_spearmans_rho_with_average_ranks():
    a = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    assert rank_correlation(a, a * 10 + 3) == pytest.approx(1.0)
    assert rank_correlation(a, -a) == pytest.approx(-1.0)
    tied = np.array([1.0, 1.0, 2.0, 3.0])  # ranks 0.5, 0.5, 2, 3
    other = np.array([4.0, 3.0, 2.0, 1.0])  # ranks 3, 2, 1, 0
    ra, rb = np.array([0.5, 0.5, 2, 3]) - 1.5, np.array([3, 2, 1, 0]) - 1.5
    assert rank_correlation(tied, other) == pytest.approx((ra * rb).sum() / np.sqrt((ra**2).sum() * (rb**2).sum()))
    assert rank_correlation(np.ones(4), a[:4]) == 0.0


@pytest.fixture
def tiny(tiny_checkpoint):
    return Predictor.from_file(tiny_checkpoint)


@pytest.fixture
def chelsea_pixels(tiny, photos):
    pixels, _ = tiny.prepare([Image.fromarray(photos["chelsea"])])
    return pixels


def test_known_answer_a_map_that_ignores_the_weights_fails_the_randomisation_test(tiny, chelsea_pixels):
    result = randomisation_test(tiny.model, chelsea_pixels, brightness_map)
    # the cascade now goes on down to the embeddings (issue #29, item 5): each step named
    assert [what for what, _ in result.steps] == [
        "the head", "the head and the final norm", "the head, the final norm and block 4",
        "the head, the final norm and blocks 3–4", "the head, the final norm and blocks 2–4",
        "the head, the final norm and blocks 1–4", "the head, the final norm, blocks 1–4 and the position embedding",
        "the head, the final norm, blocks 1–4, the position embedding and the class token",
        "every weight (the head, the final norm, blocks 1–4, the position embedding, the class token and the patch "
        "embedding)"]
    assert all(rho == pytest.approx(1.0) for _, rho in result.steps)
    assert not result.depends_on_weights and result.sentence().startswith("Careful")


@pytest.mark.parametrize("spec", [MapSpec("rollout"), MapSpec("class", class_index=3), MapSpec("gradcam", class_index=3),
                                  MapSpec("legrad", class_index=3)])
def test_real_maps_change_when_the_weights_are_scrambled(tiny, chelsea_pixels, spec):
    before = {k: v.clone() for k, v in tiny.model.state_dict().items()}
    result = randomisation_test(tiny.model, chelsea_pixels, map_function(spec, None))
    assert result.depends_on_weights and result.final < 0.5, result.steps
    assert all(torch.equal(before[k], v) for k, v in tiny.model.state_dict().items())  # the model itself untouched


def test_known_answer_a_map_of_the_photo_is_stable_and_one_drawn_at_random_is_not(tiny, chelsea_pixels):
    steady = stability_test(tiny.model, chelsea_pixels, brightness_map)
    assert [d for d, _, _ in steady.shifts] == [1, 2, 4, 8]
    assert steady.stable and steady.correlation > 0.9 and steady.sentence().startswith("Moving")
    jumpy = stability_test(tiny.model, chelsea_pixels, noise_map)
    assert not jumpy.stable and jumpy.correlation < 0.3 and jumpy.sentence().startswith("Careful")


def test_cli_sanity_adds_both_tests_to_each_image(tiny_checkpoint, photo_folder, capsys):
    from vit_gui.cli import main

    code = main(["classify", str(photo_folder / "chelsea.jpg"), "--model", str(tiny_checkpoint), "--sanity",
                 "--map", "gradcam"])
    record = json.loads(capsys.readouterr()[0])[0]
    sanity = record["sanity"]
    assert code == 0 and sanity["map"] == f"gradcam{record['top'][0]['index']}"  # the top class without --class-index
    # 9 steps, was 5: head, final norm, 4 blocks, position embedding, class token, patch embedding (item 5)
    assert len(sanity["randomisation"]["scrambled"]) == 9 and len(sanity["stability"]["shifts"]) == 4
    assert isinstance(sanity["randomisation"]["depends_on_weights"], bool) and len(sanity["in_words"]) == 2


def test_which_map_to_believe_ranks_every_method_on_one_photo(tiny, photos):
    """Was: the same random orders for every method, ranked by stability, verdict, margin. Now
    each map meets its own copies, moved by moves drawn for it, and the randomisation test
    comes first in the ranking (issue #29, items 2 and 4)."""
    from vit_gui.explain.compare import rank

    image = Image.fromarray(photos["coffee"])
    scores = compare_maps(tiny, image, with_stability=True)
    titles = [s.title for s in scores]
    assert sorted(titles) == sorted(["Rollout from block 1", "Block 4", "Class evidence", "Grad-CAM", "LeGrad"])
    moves = [tuple(s.faithfulness.copies.moves) for s in scores]
    assert all(len(set(m)) == len(m) for m in moves) and len(set(moves)) == len(moves)  # each map its own draw
    ranks = [rank(s) for s in scores]
    assert ranks == sorted(ranks, reverse=True)  # sane first, then the verdict, stability, p-value, margin
    assert all(s.line().startswith(s.title) and "scrambled" in s.line() for s in scores)
