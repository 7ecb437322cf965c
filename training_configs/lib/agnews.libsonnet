// AG News, World vs Business, from `allennlp make-dataset agnews <raw> -o data/agnews`.
// Words seen fewer than 5 times in train become unknown (the authors' min_df=5).
local classification = import 'classification.libsonnet';

function(method) classification(
  method,
  reader={ type: 'text_classification' },
  train='data/agnews/train.jsonl',
  validation='data/agnews/validation.jsonl',
  test='data/agnews/test.jsonl',
) + { vocabulary: { min_count: { tokens: 5 } } }
