// SST with word_at for `allennlp tune search` (ε from EPSILON etc.; see search.libsonnet).
local search = import 'search.libsonnet';
local sst = import '../lib/sst.libsonnet';

search.trial(sst('word_at'), 'word_at')
