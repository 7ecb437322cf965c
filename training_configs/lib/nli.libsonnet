// SNLI / MultiNLI from `allennlp make-dataset snli|multinli <raw> -o data/<name>` (SNLI-reduced and
// MultiNLI-reduced: `--protocol reduced -o data/<name>_reduced`); micro-F1 as the paper.
local pair = import 'pair.libsonnet';

function(method, dataset) pair(
  method,
  reader={ type: 'nli' },
  train='data/%s/train.jsonl' % dataset,
  validation='data/%s/validation.jsonl' % dataset,
  test='data/%s/test.jsonl' % dataset,
  per_label_f1=true,
  validation_metric='+micro_f1',
)
