// 20 Newsgroups, baseball vs hockey, from `allennlp make-dataset 20news <raw> -o data/20news`.
// Words seen fewer than 2 times in train become unknown (the authors' min_df=2).
local classification = import 'classification.libsonnet';

function(method) classification(
  method,
  reader={ type: 'text_classification' },
  train='data/20news/train.jsonl',
  validation='data/20news/validation.jsonl',
  test='data/20news/test.jsonl',
) + { vocabulary: { min_count: { tokens: 2 } } }
