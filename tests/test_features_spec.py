"""Feature specs are validated data with a stable hash (it keys features in messages and storage)."""

import pytest

from oceanwatch.audio.features import DEFAULT_SPEC, FeatureSpec


def test_default_spec_gives_the_model_input_of_the_original_deployment() -> None:
    assert DEFAULT_SPEC.input_shape == (160, 128, 1)
    assert FeatureSpec(channels=4).input_shape == (160, 128, 4)


def test_hash_is_stable_and_changes_with_any_parameter() -> None:
    assert FeatureSpec().hash == FeatureSpec.from_dict(DEFAULT_SPEC.to_dict()).hash == "a5bea319f63cd12b"
    assert FeatureSpec(n_mels=64).hash != DEFAULT_SPEC.hash
    assert FeatureSpec(fmin=20.0).hash != DEFAULT_SPEC.hash


@pytest.mark.parametrize("bad", [dict(frame_length=2048), dict(fmax=2500.0), dict(fmin=3000.0), dict(channels=0)])
def test_invalid_specs_are_refused(bad: dict) -> None:
    with pytest.raises(ValueError):
        FeatureSpec(**bad)


def test_unknown_fields_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown"):
        FeatureSpec.from_dict({**DEFAULT_SPEC.to_dict(), "hop": 1})
