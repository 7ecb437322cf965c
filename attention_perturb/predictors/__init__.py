from attention_perturb.predictors.attention_saliency import AttentionSaliencyPredictor  # noqa: F401
