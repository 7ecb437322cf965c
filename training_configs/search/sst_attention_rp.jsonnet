// SST with attention_rp for `allennlp tune search` (ε from EPSILON etc.; see search.libsonnet).
local search = import 'search.libsonnet';
local sst = import '../lib/sst.libsonnet';

search.trial(sst('attention_rp'), 'attention_rp')
