from attention_perturb.substitutions.wordnet import WordNetSubstitutions  # noqa: F401
