"""`allennlp serve-compare`: a local page comparing trained models' attention and word importance.
The web framework is imported here only, so that other commands do not pay for it."""
