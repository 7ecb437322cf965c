"""The saliency interpreters (`allennlp predict`'s and `SaliencyInterpreter.by_name`'s) and the
bug-compatible measure against allennlp's own gradient machinery, on a tiny trained archive."""
import numpy
import pytest
from allennlp.interpret.saliency_interpreters import SaliencyInterpreter
from allennlp.predictors import Predictor

from tests.archives import attention_iat_archive  # noqa: F401  (a session fixture)

SENTENCE = {"sentence": "the plot is thin but the acting is wonderful ."}


@pytest.fixture
def predictor(attention_iat_archive):
    return Predictor.from_path(str(attention_iat_archive), predictor_name="attention_saliency")


def test_batched_gradient_equals_allennlp_gradients_and_stock_interpreters_run(predictor):
    ours = SaliencyInterpreter.by_name("batched-gradient")(predictor).saliency_interpret_from_json(SENTENCE)
    # allennlp's own gradient machinery, times the input, L1-normalised.
    labeled = predictor.json_to_labeled_instances(SENTENCE)
    embeddings = []
    handle = predictor.get_interpretable_layer().register_forward_hook(lambda m, i, o: embeddings.append(o.detach()))
    gradient = predictor.get_gradients(labeled)[0]["grad_input_1"][0]
    handle.remove()
    scores = numpy.abs((gradient * embeddings[0][0].numpy()).sum(-1))
    numpy.testing.assert_allclose(ours["instance_1"]["grad_input_1"], scores / scores.sum(), atol=1e-6)
    for name in ("simple-gradient", "integrated-gradient", "smooth-gradient"):
        maps = SaliencyInterpreter.by_name(name)(predictor).saliency_interpret_from_json(SENTENCE)
        assert len(maps["instance_1"]["grad_input_1"]) == 10
        assert sum(maps["instance_1"]["grad_input_1"]) == pytest.approx(1.0)
    attention = SaliencyInterpreter.by_name("attention")(predictor).saliency_interpret_batch([SENTENCE, SENTENCE])
    assert sum(attention["instance_2"]["grad_input_1"]) == pytest.approx(1.0)


def test_simple_gradient_allennlp_is_allennlps_own_simple_gradient(attention_iat_archive):
    """The bug-compatible measure gives allennlp 2.10.1's `SimpleGradient` maps (every token's gradient
    times the first token's embedding), which differ from gradient × input."""
    overrides = {"model.agreement_measures": [{"type": "simple_gradient_allennlp"}]}
    predictor = Predictor.from_path(str(attention_iat_archive), predictor_name="attention_saliency", overrides=overrides)
    ours = predictor.predict_json(SENTENCE)
    stock = SaliencyInterpreter.by_name("simple-gradient")(predictor).saliency_interpret_from_json(SENTENCE)
    numpy.testing.assert_allclose(ours["importance_simple_gradient_allennlp"], stock["instance_1"]["grad_input_1"],
                                  atol=1e-6)
    assert numpy.abs(numpy.subtract(ours["importance_simple_gradient_allennlp"], ours["gradient_importance"])).max() > 1e-3
    assert ours["pearson_simple_gradient_allennlp"] == pytest.approx(
        numpy.corrcoef(ours["attention"], ours["importance_simple_gradient_allennlp"])[0, 1], abs=1e-6)
