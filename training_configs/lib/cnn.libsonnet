// CNN question answering from `allennlp make-dataset cnn <raw> -o data/cnn` (or, for the CNN-sample
// protocol, `--protocol reduced -o data/cnn_sample`); accuracy as the paper.
// Words seen fewer than 8 times in train become unknown (the authors' min_df=8), but every entity
// marker stays in the vocabulary, as in the authors' code: the markers are the answer candidates,
// and one answering only a validation or test question must still be a known label.
local pair = import 'pair.libsonnet';
local max_entities = 1000;  // the reader refuses, naming file and line, an example with @entity1000 or above
local entities = ['@entity' + i for i in std.range(0, max_entities - 1)];

function(method, dataset='cnn') pair(
  method,
  reader={ type: 'cnn', max_entities: max_entities },
  train='data/%s/train.jsonl' % dataset,
  validation='data/%s/validation.jsonl' % dataset,
  test='data/%s/test.jsonl' % dataset,
) + {
  vocabulary: {
    min_count: { tokens: 8 },
    tokens_to_add: { tokens: entities, labels: entities },
  },
}
