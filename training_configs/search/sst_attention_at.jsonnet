// SST with attention_at for `allennlp tune search` (ε from EPSILON etc.; see search.libsonnet).
local search = import 'search.libsonnet';
local sst = import '../lib/sst.libsonnet';

search.trial(sst('attention_at'), 'attention_at')
