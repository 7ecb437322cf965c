// Binary SST (sentence level, neutral dropped) from the PTB trees shipped in data/sst/.
local classification = import 'classification.libsonnet';

function(method) classification(
  method,
  reader={ type: 'sst_trees' },
  train='data/sst/train.txt',
  validation='data/sst/dev.txt',
  test='data/sst/test.txt',
)
