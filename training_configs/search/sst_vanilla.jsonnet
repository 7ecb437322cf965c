// SST with vanilla for `allennlp tune search` (ε from EPSILON etc.; see search.libsonnet).
local search = import 'search.libsonnet';
local sst = import '../lib/sst.libsonnet';

search.trial(sst('vanilla'), 'vanilla')
