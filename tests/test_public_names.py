"""Every name the package exports at its top level (``hf_deepfever.__all__``) imports, in a fresh interpreter."""

from __future__ import annotations

import json
import subprocess
import sys


def test_every_public_name_imports_in_a_fresh_interpreter():
    script = (
        "import json, hf_deepfever\n"
        "found = {name: type(getattr(hf_deepfever, name)).__name__ for name in hf_deepfever.__all__}\n"
        "star = {}\n"
        "exec('from hf_deepfever import *', star)\n"
        "print(json.dumps({'found': found, 'star': sorted(k for k in star if not k.startswith('__')) }))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    names = json.loads(result.stdout.strip().splitlines()[-1])
    import hf_deepfever

    exported = [name for name in hf_deepfever.__all__ if name != "__version__"]
    assert sorted(names["found"]) == sorted(hf_deepfever.__all__)
    assert names["star"] == sorted(exported)


def test_the_audio_visual_family_is_at_the_top_level():
    from hf_deepfever import (
        VALENCE_AROUSAL,
        DeepFeverAudioFeatureExtractor,
        DeepFeverAVConfig,
        DeepFeverAVModel,
        DeepFeverAVOutput,
        DeepFeverAVPreTrainedModel,
        DeepFeverAVProcessor,
    )
    from hf_deepfever.models.deepfever import configuration_deepfever_av, modeling_deepfever_av

    assert DeepFeverAVModel is modeling_deepfever_av.DeepFeverAVModel
    assert DeepFeverAVConfig is configuration_deepfever_av.DeepFeverAVConfig
    assert issubclass(DeepFeverAVModel, DeepFeverAVPreTrainedModel)
    assert {"valence_arousal", "loss", "hidden_states"} <= set(DeepFeverAVOutput.__dataclass_fields__)
    assert DeepFeverAudioFeatureExtractor.__name__ == "DeepFeverAudioFeatureExtractor"
    assert DeepFeverAVProcessor.__name__ == "DeepFeverAVProcessor"
    assert VALENCE_AROUSAL == ("valence", "arousal")
