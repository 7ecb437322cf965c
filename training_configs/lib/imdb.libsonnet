// IMDB from `allennlp make-dataset imdb <raw> -o data/imdb`. Words seen fewer than 10 times in
// train become unknown (the authors' min_df=10).
local classification = import 'classification.libsonnet';

function(method) classification(
  method,
  reader={ type: 'text_classification' },
  train='data/imdb/train.jsonl',
  validation='data/imdb/validation.jsonl',
  test='data/imdb/test.jsonl',
) + { vocabulary: { min_count: { tokens: 10 } } }
